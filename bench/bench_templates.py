"""Benchmark: the cost of rendering through an office template folder (the sandbox) on the whole path.

Runs bench.py's whole path (YAML text -> region -> verdict -> Markdown memo) twice in fresh child
processes: with the shipped templates, and through a folder whose memo.md.j2 only extends the
shipped one (`{% extends "default:memo.md.j2" %}`), so both print the same bytes and the difference
is the sandbox, its bounds and the freshness checks.

    python bench/bench_templates.py              # N = 10,000
    python bench/bench_templates.py --n 2000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench import region_texts  # bench/ is not a package: found through sys.path


def run_one(n: int, templates: str | None) -> dict[str, float]:
    """Time the whole path over n regions in this process."""
    from clusteradvisor.advisor import default_advisor
    from clusteradvisor.memo import render
    from clusteradvisor.region import load_regions

    advisor = default_advisor()
    render(advisor.assess(load_regions(next(region_texts(1, seed=1)), "warm.yaml")[0]), "md", templates)
    elapsed = 0.0
    for text in region_texts(n):
        start = time.perf_counter()
        (region,) = load_regions(text, "bench.yaml")
        render(advisor.assess(region), "md", templates)
        elapsed += time.perf_counter() - start
    return {"n": n, "per_second": n / elapsed, "us_per_region": elapsed / n * 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--one", nargs=2, metavar=("N", "TEMPLATES"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(int(args.one[0]), args.one[1] or None)))
        return
    with tempfile.TemporaryDirectory() as office:
        Path(office, "memo.md.j2").write_text('{% extends "default:memo.md.j2" %}\n', encoding="utf-8")
        for label, folder in (("shipped templates", ""), ("office folder (sandbox)", office)):
            child = subprocess.run(
                [sys.executable, __file__, "--one", str(args.n), folder], check=True, capture_output=True, text=True
            )
            result = json.loads(child.stdout)
            print(f"whole path, {label:<24} N={args.n:>7,}  {result['per_second']:>8,.0f} regions/s  {result['us_per_region']:>6.0f} us/region", flush=True)


if __name__ == "__main__":
    main()
