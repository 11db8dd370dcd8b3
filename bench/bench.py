"""Benchmark: inference alone and the whole path (YAML text -> region -> verdict -> Markdown memo).

Each (path, N) runs in a fresh child process so its peak memory (max RSS) is its own. Regions are
generated on the fly from a fixed seed and never held all at once; only the measured calls are timed.

    python bench/bench.py                 # N = 1,000 / 10,000 / 100,000
    python bench/bench.py --sizes 1000    # a quick run
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import yaml


def region_documents(n: int, seed: int = 7, name: str = "Region {i}") -> Iterator[dict[str, Any]]:
    """Yield n varied region documents (about a quarter of the fields left unknown)."""
    from clusteradvisor.vocabulary import load_vocabulary

    fields = load_vocabulary().file_fields
    rng = random.Random(seed)
    for i in range(n):
        document: dict[str, Any] = {"schema_version": 2, "name": name.format(i=i), "country": "Japan"}
        for field in fields:
            path = field.path
            if field.type == "text" or path == "schema_version" or rng.random() < 0.25:
                continue
            if field.type == "boolean":
                value: Any = rng.random() < 0.5
            elif field.type == "choice":
                value = rng.choice(field.allowed)
            elif field.type == "choices":
                value = rng.sample(field.allowed, rng.randrange(len(field.allowed) + 1))
            elif field.type == "words":
                value = rng.sample(list(field.suggestions), rng.randrange(3))
            else:
                value = rng.randrange(8000)
            *groups, leaf = path.split(".")
            target = document
            for group in groups:
                target = target.setdefault(group, {})
            target[leaf] = value
        yield document


def region_texts(n: int, seed: int = 7) -> Iterator[str]:
    """Yield n varied region files as YAML text."""
    for document in region_documents(n, seed):
        yield yaml.safe_dump(document, sort_keys=False)


def run_one(path: str, n: int) -> dict[str, float]:
    """Time one path (inference, whole or floor) over n regions in this process."""
    from clusteradvisor.advisor import default_advisor
    from clusteradvisor.memo import render
    from clusteradvisor.region import load_regions

    advisor = default_advisor()
    if path == "floor":
        return run_floor(n)
    warm = next(region_texts(1, seed=1))
    render(advisor.assess(load_regions(warm, "warm.yaml")[0]), "md")  # compile ruleset and template
    elapsed = 0.0
    memo_bytes = 0
    for text in region_texts(n):
        if path == "inference":
            region = load_regions(text, "bench.yaml")[0]
            start = time.perf_counter()
            advisor.engine.infer(region.facts)
            elapsed += time.perf_counter() - start
        else:
            start = time.perf_counter()
            (region,) = load_regions(text, "bench.yaml")
            memo = render(advisor.assess(region), "md")
            elapsed += time.perf_counter() - start
            memo_bytes += len(memo)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"n": n, "seconds": elapsed, "per_second": n / elapsed, "us_per_region": elapsed / n * 1e6, "peak_rss_mb": peak_mb, "memo_bytes": memo_bytes / n}


FLOOR_TEMPLATE = """# {{ name }}

## Brief
{% for rule in fired[:5] %}
{{ loop.index }}. {{ rule.title }}
{% endfor %}
{% for rule in fired %}
## {{ rule.title }}

{{ rule.meaning or rule.advice }}

Because: {% for path in reads[rule.id] if path in facts %}{{ labels[path] }}: {{ facts[path] }}; {% endfor %}


{{ rule.success }}

{{ rule.case_fact or "" }}

{{ rule.source }} (lines {{ rule.lines }})
{% endfor %}
{% for field in unknown %}
- {{ field.label }}: {{ field.question }} {{ field.help }}
{% endfor %}
"""


def run_floor(n: int) -> dict[str, float]:
    """The floor under the whole path: the same parts with nothing of ours around them.

    PyYAML's C loader, the compiled durable_rules ruleset (asserting the region as one fact), and one
    Jinja2 render of close to a memo's size (about 19 KB against the memo's 23 KB): each fired rule's
    texts with the known fields it reads, and the question and help of each unknown field.
    """
    import jinja2

    from clusteradvisor.advisor import default_advisor

    advisor = default_advisor()
    kb, engine = advisor.kb, advisor.engine
    template = jinja2.Environment(autoescape=False).from_string(FLOOR_TEMPLATE)
    fields = kb.vocabulary.file_fields
    labels = {f.path: f.label for f in kb.vocabulary.fields.values()}
    reads = {rule_id: sorted(paths) for rule_id, paths in kb.reads.items()}
    elapsed = 0.0
    memo_bytes = 0
    for text in region_texts(n):
        start = time.perf_counter()
        data = yaml.load(text, Loader=yaml.CSafeLoader)
        facts: dict[str, Any] = {}
        for key, value in data.items():
            if isinstance(value, dict):
                facts.update((f"{key}.{inner}", item) for inner, item in value.items())
            else:
                facts[key] = value
        fired = engine.infer(facts).fired
        memo = template.render(
            name=facts["name"],
            fired=[kb.by_id[r] for r in fired],
            unknown=[f for f in fields if f.path not in facts],
            facts=facts,
            labels=labels,
            reads=reads,
        )
        elapsed += time.perf_counter() - start
        memo_bytes += len(memo)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"n": n, "seconds": elapsed, "per_second": n / elapsed, "us_per_region": elapsed / n * 1e6, "peak_rss_mb": peak_mb, "memo_bytes": memo_bytes / n}


def wall(command: list[str], repeat: int = 10) -> float:
    """Median wall time of a command in milliseconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--one", nargs=2, metavar=("PATH", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one[0], int(args.one[1]))))
        return
    results: list[dict[str, Any]] = []
    for path in ("inference", "whole", "floor"):
        for n in args.sizes:
            child = subprocess.run(
                [sys.executable, __file__, "--one", path, str(n)], check=True, capture_output=True, text=True
            )
            result = json.loads(child.stdout) | {"path": path}
            results.append(result)
            if not args.json:
                print(
                    f"{path:<10} N={n:>7,}  {result['per_second']:>8,.0f} regions/s  "
                    f"{result['us_per_region']:>6.0f} us/region  peak RSS {result['peak_rss_mb']:>6.1f} MB",
                    flush=True,
                )
    for n in args.sizes:
        whole = next(r for r in results if r["path"] == "whole" and r["n"] == n)
        floor = next(r for r in results if r["path"] == "floor" and r["n"] == n)
        if not args.json:
            print(
                f"N={n:>7,}: whole path {whole['per_second']:,.0f}/s is {100 * whole['per_second'] / floor['per_second']:.0f}% of the "
                f"floor's {floor['per_second']:,.0f}/s (memos {whole.get('memo_bytes', 0) / 1000:.1f} KB vs {floor['memo_bytes'] / 1000:.1f} KB)"
            )
    exe = [sys.executable, "-m", "clusteradvisor"]
    example = __file__.replace("bench/bench.py", "examples/ota-ward.yaml")
    startup = {"help_ms": wall([*exe, "--help"]), "assess_ms": wall([*exe, "assess", example])}
    if args.json:
        print(json.dumps({"results": results, "startup": startup}, indent=2))
    else:
        print(f"clusteradvisor --help: {startup['help_ms']:.0f} ms   assess one region: {startup['assess_ms']:.0f} ms (median of 10, wall)")


if __name__ == "__main__":
    main()
