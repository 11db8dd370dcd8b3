"""The durable_rules adapter: the failure modes of ENGINE_NOTES.md stay unreachable, and it agrees
with an independent evaluator written only for these tests."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
from typing import Any

import pytest
import yaml

from clusteradvisor.advisor import Advisor
from clusteradvisor.engine import Engine, compile_rules, region_fact
from clusteradvisor.errors import EngineError
from clusteradvisor.knowledge import load_knowledge_base
from clusteradvisor.region import region_from_mapping
from clusteradvisor.resources import data_dir
from clusteradvisor.vocabulary import Vocabulary, load_vocabulary, load_vocabulary_v1

from .conftest import MAP_V1_VALUES, make_region, nest

KB = load_knowledge_base()


# ------------------------------------------------------------------ an independent evaluator
# It reads the raw YAML rule files (not clusteradvisor.knowledge) and evaluates them in plain
# two-valued logic where a test on an unknown field is simply false. Our conditions have no
# negation, so that is exactly when a rule must fire. A remedy fires on applies AND deficit.

RAW: list[dict[str, Any]] = [yaml.safe_load(path.read_text(encoding="utf-8")) for path in sorted(data_dir("rules").glob("*.yaml"))]
RAW_DERIVED = [r for doc in RAW for r in doc.get("derived", [])]
RAW_OTHERS = [r for doc in RAW for r in doc.get("patterns", []) + doc.get("recommendations", [])]


def oracle(facts: dict[str, Any]) -> set[str]:
    holds: dict[str, bool] = {}

    def ev(node: dict[str, Any]) -> bool:
        if "all" in node:
            return all(ev(n) for n in node["all"])
        if "any" in node:
            return any(ev(n) for n in node["any"])
        if "derived" in node:
            return holds.get(node["derived"], False)
        if node["field"] not in facts:
            return False
        value = facts[node["field"]]
        ((op, arg),) = ((k, v) for k, v in node.items() if k != "field")
        if op == "eq":
            return bool(value == arg)
        if op == "ne":
            return bool(value != arg)
        if op == "in":
            return value in arg
        if op == "contains":
            return arg in value
        if op == "contains_any":
            return bool(set(arg) & set(value))
        if op == "empty":
            return (value == []) is arg
        if op == "gte":
            return bool(value >= arg)
        if op == "gt":
            return bool(value > arg)
        if op == "lte":
            return bool(value <= arg)
        if op == "lt":
            return bool(value < arg)
        raise AssertionError(op)

    def fires(rule: dict[str, Any]) -> bool:
        if "deficit" in rule:
            return ev(rule.get("applies", {"all": []})) and ev(rule["deficit"])
        return ev(rule["when"])

    for _ in RAW_DERIVED:  # enough passes for any chain of derived facts
        for rule in RAW_DERIVED:
            holds[rule["id"]] = fires(rule)
    return {r["id"] for r in RAW_DERIVED if holds[r["id"]]} | {r["id"] for r in RAW_OTHERS if fires(r)}


def random_facts(rng: random.Random, vocabulary: Vocabulary | None = None) -> dict[str, Any]:
    facts: dict[str, Any] = {"name": f"Region {rng.randrange(10**6)}"}
    vocabulary = vocabulary or load_vocabulary()
    for path, field in vocabulary.fields.items():
        if field.type == "text" or field.view == "meta" or path == "schema_version" or rng.random() < 0.3:
            continue
        if field.computed and path != "panel.roles" and not path.startswith(("panel.official.", "panel.firm.", "panel.perception_gaps")):
            continue
        if field.type == "boolean":
            facts[path] = rng.random() < 0.5
        elif field.type == "choice":
            facts[path] = rng.choice(field.allowed)
        elif field.type == "choices":
            facts[path] = rng.sample(field.allowed, rng.randrange(min(len(field.allowed), 4) + 1))
        elif field.type == "words":
            facts[path] = rng.sample([*field.suggestions, "textiles", "moulds", "paper", "food"], rng.randrange(4))
        elif field.type == "integer":
            facts[path] = rng.choice([0, 1, 499, 500, 6000, rng.randrange(20000)])
    return facts


def test_engine_agrees_with_an_independent_evaluator_on_2000_v2_regions() -> None:
    rng = random.Random(20261125)
    engine = Engine(KB)
    fired_anything: set[str] = set()
    for _ in range(2000):
        facts = make_region(**random_facts(rng)).facts
        got = set(engine.infer(facts).fired)
        assert got == oracle(dict(facts)), facts
        fired_anything |= got
    # The generated regions are varied enough to exercise the whole rule base.
    assert fired_anything == {r.id for r in KB.rules}


SYNONYMS = {"textiles": "textile", "moulds": "machinery"}


def read_v1_independently(facts: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path, value in facts.items():
        if path in MAP_V1_VALUES:
            out.update(MAP_V1_VALUES[path][value])
        elif path in ("district_type", "network.form"):
            out[path] = [value]
        elif path == "industries":
            out[path] = list(dict.fromkeys(SYNONYMS.get(w, w) for w in value))
        else:
            out[path] = value
    return out


def test_engine_agrees_with_the_independent_evaluator_on_500_v1_regions() -> None:
    rng = random.Random(20021003)
    engine = Engine(KB)
    v1 = load_vocabulary_v1()
    for _ in range(500):
        facts = random_facts(rng, v1)
        region = region_from_mapping(nest(facts, {"schema_version": 1}))
        assert region.migration is not None
        expected = read_v1_independently(facts)
        assert {k: v for k, v in region.facts.items() if k != "schema_version"} == expected
        assert set(engine.infer(region.facts).fired) == oracle(expected), facts


# ------------------------------------------------------------------ ENGINE_NOTES regressions


def test_no_timer_threads_are_started(advisor: Advisor) -> None:
    before = threading.active_count()
    for _ in range(50):
        advisor.assess(make_region(**{"network.form": ["one_to_many"]}))
    assert threading.active_count() == before


def test_regions_are_isolated_from_each_other(advisor: Advisor) -> None:
    busy = make_region(**{"network.form": ["one_to_many"], "network.single_client_dependency": "high", "hollowing_out": "severe"})
    empty = make_region()
    first = advisor.assess(empty)
    advisor.assess(busy)
    again = advisor.assess(empty)
    assert first.recommendations == again.recommendations == ()
    assert advisor.assess(busy).derived
    assert first.derived == again.derived == ()


def test_more_sessions_than_durable_keeps_alive(advisor: Advisor) -> None:
    # A live sid costs memory and the 1,025th raises MemoryError: every session must be deleted.
    region = make_region(**{"policy.officials_visit_firms": False})
    results = {tuple(f.id for f in advisor.assess(region).recommendations) for _ in range(1100)}
    assert results == {("go-to-the-field",)}


def test_sessions_where_no_rule_fires_are_deleted_safely() -> None:
    # delete_state segfaults when no action ran in a session: run it in a child so a crash shows.
    code = (
        "from clusteradvisor.advisor import assess\n"
        "from clusteradvisor.region import region_from_mapping\n"
        "for i in range(300): assert assess(region_from_mapping({'name': f'r{i}'})).recommendations == ()\n"
        "import sys; print('durable.engine' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    # The Host layer (timer threads, swallowed action exceptions) is never even imported.
    assert result.stdout.strip() == "False"


def test_a_failure_inside_the_action_loop_is_raised_not_swallowed(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = Engine(KB)
    facts = make_region(**{"network.form": ["one_to_many"], "network.single_client_dependency": "high", "hollowing_out": "severe"}).facts
    expected = engine.infer(facts)
    original = Engine._assert

    def broken(self: Engine, handle: int, fact: str) -> int:
        if json.loads(fact)["t"] == "derived":
            raise RuntimeError("boom")
        return original(self, handle, fact)

    monkeypatch.setattr(Engine, "_assert", broken)
    with pytest.raises(EngineError, match="boom"):
        engine.infer(facts)
    monkeypatch.setattr(Engine, "_assert", original)
    # The engine drops the damaged ruleset and the next region is assessed correctly.
    assert engine.infer(facts) == expected


def test_no_type_coercion_reaches_the_engine() -> None:
    from clusteradvisor.errors import RegionError

    for bad in ("600", True, 600.5):
        with pytest.raises(RegionError):
            make_region(sme_count=bad)
    # A whole number written 600.0 is the integer 600 (as JSON Schema reads it): never a float in the engine.
    assert type(make_region(sme_count=600.0).facts["sme_count"]) is int
    with pytest.raises(RegionError):
        make_region(**{"policy.objectives_clear": 0})


def test_compiled_rules_use_no_negation_and_only_known_operators() -> None:
    text = json.dumps(compile_rules(KB.rules))
    assert "$not" not in text and "$nex" not in text
    operators = {token.strip('"') for token in text.split(":") if token.strip().startswith('"$')}
    assert operators <= {"$and", "$or", "$neq", "$gte", "$gt", "$lte", "$lt", "$iany", "$i"}


def test_largest_region_fact_stays_under_durables_property_limit() -> None:
    rng = random.Random(1)
    facts = random_facts(rng)
    for path, field in load_vocabulary().fields.items():
        if field.type == "choices":
            facts[path] = list(field.allowed)
    facts["industries"] = [f"industry_{i}" for i in range(30)]
    region = make_region(**facts)

    def count(node: Any) -> int:
        if isinstance(node, dict):
            return sum(count(v) for v in node.values())
        if isinstance(node, list):
            return max(1, len(node))
        return 1

    assert count(region_fact(KB, region.facts)) < 250
    assert Engine(KB).infer(region.facts).fired


def test_engine_is_rebuilt_in_a_forked_child() -> None:
    import multiprocessing

    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("fork is not available on this platform")
    global _FORKED
    region = make_region(**{"policy.officials_visit_firms": False})
    _FORKED = Engine(KB)
    parent = _FORKED.infer(region.facts).fired  # the parent's ruleset exists before the fork
    with multiprocessing.get_context("fork").Pool(2) as pool:
        children = pool.map(_infer_with_inherited_engine, [dict(region.facts)] * 4)
    assert set(children) == {parent}


_FORKED: Engine | None = None


def _infer_with_inherited_engine(facts: dict[str, Any]) -> tuple[str, ...]:
    assert _FORKED is not None
    return _FORKED.infer(facts).fired
