"""Benchmark: `batch` over many region files, with one and with several worker processes.

Generates N varied region files (fixed seed) in a temporary folder, 100 per sub-folder, then times
the library call behind `clusteradvisor batch` (clusteradvisor.batch.run_batch) for each --jobs
value, checks that every run wrote byte-identical output, and prints regions per second.

    python bench/bench_batch.py                        # 10,000 files, --jobs 1 and 2, Markdown
    python bench/bench_batch.py -n 2000 --repeat 1     # a quick run
    python bench/bench_batch.py --cli                  # also time the console script end to end
    python bench/bench_batch.py --profile              # cProfile of --jobs 1, top functions
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from bench import region_documents  # bench/bench.py: the same generated regions


def generate(folder: Path, n: int, seed: int = 11) -> None:
    """Write n varied region files under `folder` (100 per sub-folder)."""
    for i, document in enumerate(region_documents(n, seed, name="District {i:05d}")):
        sub = folder / f"part-{i // 100:03d}"
        sub.mkdir(exist_ok=True)
        (sub / f"district-{i:05d}.yaml").write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True), encoding="utf-8")


def tree_digest(folder: Path) -> str:
    """One hash over every file name and content in `folder`."""
    digest = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def time_library(inputs: Path, out: Path, fmt: str, jobs: int) -> float:
    """Run batch in this process (the pool forks from here); return the seconds taken."""
    from clusteradvisor.batch import run_batch

    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    result = run_batch([str(inputs)], out, fmt, jobs)
    seconds = time.perf_counter() - start
    assert result.failed == 0 and not result.interrupted, result
    return seconds


def time_cli(inputs: Path, out: Path, fmt: str, jobs: int) -> float:
    """Run the console script; return the wall-clock seconds, start-up included."""
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, "-m", "clusteradvisor", "batch", str(inputs), "--out", str(out), "--format", fmt, "--jobs", str(jobs)]
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=10_000, help="region files to generate (default 10,000)")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2], help="--jobs values to time (default 1 2)")
    parser.add_argument("--format", default="md", choices=["md", "html", "txt", "json"])
    parser.add_argument("--repeat", type=int, default=3, help="runs per --jobs value; the median is reported")
    parser.add_argument("--cli", action="store_true", help="also time the console script")
    parser.add_argument("--profile", action="store_true", help="profile one --jobs 1 run with cProfile")
    args = parser.parse_args()

    from clusteradvisor.advisor import default_advisor

    default_advisor()  # load the rule base once, outside the timings
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as temp:
        root = Path(temp)
        inputs = root / "regions"
        inputs.mkdir()
        generate(inputs, args.n)
        print(f"{args.n:,} region files, format {args.format}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            time_library(inputs, root / "profiled", args.format, 1)
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        digests: dict[str, str] = {}
        baseline = 0.0
        for jobs in args.jobs:
            out = root / f"out-{jobs}"
            runs = [time_library(inputs, out, args.format, jobs) for _ in range(args.repeat)]
            seconds = statistics.median(runs)
            digests[f"library --jobs {jobs}"] = tree_digest(out)
            rate = args.n / seconds
            baseline = baseline or rate
            spread = ", ".join(f"{args.n / s:,.0f}" for s in runs)
            print(f"library --jobs {jobs}: {rate:8,.0f} regions/s  ({seconds:.2f} s median; runs {spread}/s; x{rate / baseline:.2f})")
            if args.cli:
                cli_seconds = time_cli(inputs, out, args.format, jobs)
                digests[f"cli --jobs {jobs}"] = tree_digest(out)
                print(f"cli     --jobs {jobs}: {args.n / cli_seconds:8,.0f} regions/s  ({cli_seconds:.2f} s, start-up included)")
        identical = len(set(digests.values())) == 1
        print("output byte-identical across runs:", "yes" if identical else f"NO {digests}")
        if not identical:
            sys.exit(1)


if __name__ == "__main__":
    main()
