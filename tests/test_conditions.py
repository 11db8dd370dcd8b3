"""The compiled conditions agree with a plain recursive reading of docs/knowledge-model.md.

conditions.py turns conditions into Python source for speed; these tests hold every compiled form
(truth, rule statuses, reasons, gap walkers) to a slow reference written from the definitions, on
generated conditions and facts, and check that no value from a rule file becomes code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from clusteradvisor.conditions import (
    ALWAYS,
    All,
    AnyOf,
    Condition,
    Derived,
    FieldTest,
    Truth,
    compile_holding,
    compile_status,
    compile_truth,
    compile_truths,
    compile_walkers,
)
from clusteradvisor.operators import OPERATORS

# A small world: three scalar fields, one list field, two derived facts.
_TESTS = st.one_of(
    st.builds(FieldTest, st.just("a"), st.sampled_from(["eq", "ne"]), st.booleans()),
    st.builds(FieldTest, st.just("n"), st.sampled_from(["gte", "gt", "lte", "lt", "eq"]), st.integers(0, 4)),
    st.builds(FieldTest, st.just("n"), st.just("in"), st.lists(st.integers(0, 4), min_size=1, max_size=3).map(tuple)),
    st.builds(FieldTest, st.just("c"), st.just("eq"), st.sampled_from(["x", "y", "z"])),
    st.builds(FieldTest, st.just("w"), st.just("contains"), st.sampled_from(["p", "q"])),
    st.builds(FieldTest, st.just("w"), st.just("contains_any"), st.lists(st.sampled_from(["p", "q", "r"]), min_size=1, max_size=2).map(tuple)),
    st.builds(FieldTest, st.just("w"), st.just("empty"), st.booleans()),
)


def _conditions(derived: bool) -> st.SearchStrategy[Condition]:
    leaf = st.one_of(_TESTS, st.builds(Derived, st.sampled_from(["d1", "d2"]))) if derived else _TESTS
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.builds(All, st.lists(inner, min_size=0, max_size=3).map(tuple)),
            st.builds(AnyOf, st.lists(inner, min_size=0, max_size=3).map(tuple)),
        ),
        max_leaves=8,
    )


_FACTS = st.fixed_dictionaries(
    {},
    optional={
        "a": st.booleans(),
        "n": st.integers(0, 4),
        "c": st.sampled_from(["x", "y", "z"]),
        "w": st.lists(st.sampled_from(["p", "q", "r"]), max_size=3, unique=True),
    },
)
_STATUS = st.fixed_dictionaries({"d1": st.sampled_from([True, False, None]), "d2": st.sampled_from([True, False, None])})


def reference(condition: Condition, facts: Mapping[str, Any], status: Mapping[str, Truth]) -> Truth:
    """Kleene's three-valued logic, read straight from the definition."""
    if isinstance(condition, FieldTest):
        if condition.field not in facts:
            return None
        return OPERATORS[condition.op].decide(facts[condition.field], condition.value)
    if isinstance(condition, Derived):
        return status.get(condition.id)
    values = [reference(item, facts, status) for item in condition.items]
    if isinstance(condition, All):
        return False if False in values else (None if None in values else True)
    return True if True in values else (None if None in values else False)


def reference_holding(condition: Condition, facts: Mapping[str, Any], derived: Mapping[str, Any]) -> list[Any]:
    if isinstance(condition, FieldTest):
        return [condition.field] if reference(condition, facts, {}) is True else []
    if isinstance(condition, Derived):
        return [("derived", condition.id)] if condition.id in derived else []
    return [key for item in condition.items for key in reference_holding(item, facts, derived)]


def reference_walk(condition: Condition, facts: Mapping[str, Any], status: Mapping[str, Truth], found: set[str]) -> None:
    if isinstance(condition, FieldTest):
        if condition.field not in facts:
            found.add(condition.field)
    elif isinstance(condition, (All, AnyOf)):
        for item in condition.items:
            if reference(item, facts, status) is None:
                reference_walk(item, facts, status, found)
    # a derived reference descends into the derived fact's own walker (tested below with a chain)


@settings(max_examples=400, deadline=None)
@given(_conditions(derived=True), _FACTS, _STATUS)
def test_compiled_truth_agrees_with_the_definition(condition: Condition, facts: dict[str, Any], status: dict[str, Truth]) -> None:
    assert compile_truth(condition)(facts, status) is reference(condition, facts, status)
    assert compile_truths({"x": condition})["x"](facts, status) is reference(condition, facts, status)
    assert compile_status([("x", condition)])(facts, dict(status))["x"] is reference(condition, facts, status)


@settings(max_examples=300, deadline=None)
@given(st.lists(_conditions(derived=False), min_size=1, max_size=4), _FACTS)
def test_one_status_function_reads_earlier_results_as_derived_facts(conditions: list[Condition], facts: dict[str, Any]) -> None:
    # rule k reads every earlier rule as a derived fact, the way derived facts chain
    named = [(f"r{k}", AnyOf((c, *(Derived(f"r{j}") for j in range(k))))) for k, c in enumerate(conditions)]
    expected: dict[str, Truth] = {}
    for key, condition in named:
        expected[key] = reference(condition, facts, expected)
    assert compile_status(named)(facts, {}) == expected


@settings(max_examples=300, deadline=None)
@given(_conditions(derived=True), _FACTS, st.sets(st.sampled_from(["d1", "d2"])))
def test_compiled_reasons_list_the_parts_that_hold_in_order(condition: Condition, facts: dict[str, Any], holding: set[str]) -> None:
    derived = dict.fromkeys(holding, "finding")
    assert compile_holding({"x": condition})["x"](facts, derived) == reference_holding(condition, facts, derived)


@settings(max_examples=300, deadline=None)
@given(_conditions(derived=False), _FACTS)
def test_compiled_walker_finds_the_open_fields_of_undecided_parts(condition: Condition, facts: dict[str, Any]) -> None:
    found: set[str] = set()
    compile_walkers({"x": condition})["x"](facts, {}, found, set())
    expected: set[str] = set()
    reference_walk(condition, facts, {}, expected)
    assert found == expected


def test_walker_descends_through_undecided_derived_facts_once() -> None:
    walkers = compile_walkers(
        {
            "d1": AnyOf((FieldTest("a", "eq", True), Derived("d2"))),
            "d2": All((FieldTest("n", "gt", 2), Derived("d1"))),  # a cycle: visited once
            "rule": All((Derived("d1"), FieldTest("c", "eq", "x"))),
        }
    )
    found: set[str] = set()
    walkers["rule"]({}, {"d1": None, "d2": None}, found, set())
    assert found == {"a", "n", "c"}
    found = set()
    walkers["rule"]({}, {"d1": True}, found, set())  # a decided derived fact has nothing to ask
    assert found == {"c"}


def test_always_holds_and_an_empty_any_never_does() -> None:
    assert compile_truth(ALWAYS)({}, {}) is True
    assert compile_truth(AnyOf(()))({}, {}) is False
    found: set[str] = set()
    compile_walkers({"x": ALWAYS})["x"]({}, {}, found, set())
    assert found == set()


def test_values_from_rule_files_never_become_code() -> None:
    hostile = '"); import os; os._exit(3); ("'
    test = FieldTest(hostile, "eq", hostile)
    evaluate = compile_truth(All((test, Derived(hostile))))
    assert evaluate({hostile: hostile}, {hostile: True}) is True
    assert evaluate({hostile: "other"}, {hostile: True}) is False
    assert compile_holding({"x": test})["x"]({hostile: hostile}, {}) == [hostile]
    found: set[str] = set()
    compile_walkers({hostile: test})[hostile]({}, {}, found, set())
    assert found == {hostile}
