"""`explain`: the status of a rule for a region, its conditions, and flips checked against brute force."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from click.testing import Result

from clusteradvisor.explain import Explanation, UnknownRuleError, explain, render
from clusteradvisor.knowledge import FieldTest, KnowledgeBase, evaluate_all, iter_tests, load_knowledge_base
from clusteradvisor.region import Region, load_regions, read_text
from clusteradvisor.vocabulary import Field

from .conftest import EXAMPLES, generated_regions, make_region

HITACHI = str(EXAMPLES / "hitachi-city.yaml")
OSAKA = str(EXAMPLES / "higashi-osaka.yaml")
OTA = str(EXAMPLES / "ota-ward.yaml")
SKIP = {"name", "schema_version"}  # identity and format, never facts a rule tests


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return load_knowledge_base()


def example(path: str) -> Region:
    return load_regions(read_text(path), path)[0]


def test_hitachi_diversify_clients_does_not_apply_because_the_main_client_left(kb: KnowledgeBase) -> None:
    e = explain(kb, example(HITACHI), "diversify-clients")
    assert (e.status, e.detail) == ("does_not_apply", "not_applicable")
    applies = dict(e.parts)["applies"]
    tests = {c.field: c for c in applies.children}
    assert tests["network.single_client_dependency"].holds is False
    assert tests["network.single_client_dependency"].value == "main_client_left"
    assert tests["network.form"].holds is True
    # A remaining dependency on the parent firm would bring the advice back, in its castle-town wording.
    assert {"changes": {"network.single_client_dependency": "high"}, "status": "applies"} in [f.to_dict() for f in e.flips]
    assert e.flip_size == 1 and e.variant == "castle_town"
    assert all(set(f.changes) == {"network.single_client_dependency"} for f in e.flips)


@pytest.mark.parametrize(
    ("path", "rule_id", "status", "detail"),
    [
        (HITACHI, "form-product-development-groups", "does_not_apply", "no_deficit"),  # the groups exist (map 13.1)
        (HITACHI, "innovate-to-survive", "applies", "superseded"),  # covered by scale-product-groups
        (HITACHI, "dependency-crisis", "applies", "holds"),
        (HITACHI, "bottom-up-emergence", "undecided", "undecided"),  # does not fire; who started the groups is open
        (OSAKA, "fund-grassroots-initiatives", "applies", "kept"),
        (OTA, "build-market-orientation", "applies", "kept"),
    ],
)
def test_paper_cases(kb: KnowledgeBase, path: str, rule_id: str, status: str, detail: str) -> None:
    region = example(path)
    e = explain(kb, region, rule_id)
    expected = {True: "applies", False: "does_not_apply", None: "undecided"}[evaluate_all(kb, region.facts)[rule_id]]
    assert (e.status, e.detail) == (expected, detail) and expected == status
    assert_flips_flip(kb, region, e)


def test_superseded_rule_says_by_whom(kb: KnowledgeBase) -> None:
    e = explain(kb, example(HITACHI), "innovate-to-survive")
    assert e.superseded_by == ("scale-product-groups",)
    assert "covered by scale-product-groups" in render(e, "text")


def test_derived_facts_are_expanded_one_level(kb: KnowledgeBase) -> None:
    rule = next(r for r in kb.recommendations if r.derived_refs)
    e = explain(kb, make_region(), rule.id)
    nodes = [n for _, tree in e.parts for n in walk(tree)]
    derived = [n for n in nodes if n.kind == "derived"]
    assert derived and all(n.title for n in derived)
    assert any(n.children for n in derived)
    for node in derived:  # a derived fact inside a derived fact shows its status only
        for inner in (m for child in node.children for m in walk(child) if m.kind == "derived"):
            assert inner.children == ()


def test_unknown_rule_names_the_file(kb: KnowledgeBase) -> None:
    with pytest.raises(UnknownRuleError, match=r"hitachi-city\.yaml: 'no-such-rule' is not a rule id"):
        explain(kb, example(HITACHI), "no-such-rule")


def test_answers_in_well_under_a_second_for_every_rule(kb: KnowledgeBase) -> None:
    regions = [make_region(), example(HITACHI), example(OSAKA), *generated_regions(kb, 20, seed=7)]
    slowest = 0.0
    for region in regions:
        for rule in kb.rules:
            start = time.perf_counter()
            explain(kb, region, rule.id)
            slowest = max(slowest, time.perf_counter() - start)
    assert slowest < 0.25


# ---------------------------------------------------------------- the property test: brute force


def test_flips_agree_with_brute_force_on_200_generated_regions(kb: KnowledgeBase) -> None:
    rng = random.Random(20261125)
    regions = generated_regions(kb, 200, seed=11)
    rules = [r.id for r in kb.rules]
    pair_cases = 0
    for region in regions:
        rule_id = rng.choice(rules)
        e = explain(kb, region, rule_id)
        assert e.status == {True: "applies", False: "does_not_apply", None: "undecided"}[evaluate_all(kb, region.facts)[rule_id]]
        assert_flips_flip(kb, region, e)
        brute = brute_single_flips(kb, region.facts, rule_id)
        reported = {(p, freeze(v)) for f in e.flips if len(f.changes) == 1 for p, v in f.changes.items()}
        if e.flip_size == 1:
            fields = kb.vocabulary.fields
            assert {p for p, _ in brute} == {p for p, _ in reported}, (region.facts, rule_id)
            exact = {(p, v) for p, v in brute if fields[p].type != "integer" and not (isinstance(v, tuple) and "someword" in v)}
            assert exact == {(p, v) for p, v in reported if fields[p].type != "integer"}, (region.facts, rule_id)
        else:
            assert brute == set(), (region.facts, rule_id)
            pair_cases += e.flip_size == 2
    assert pair_cases > 0  # the generator reaches rules that only two changes flip


def assert_flips_flip(kb: KnowledgeBase, region: Region, e: Explanation) -> None:
    """Every reported flip changes the status, and no flip contains a smaller reported flip."""
    before = evaluate_all(kb, region.facts)[e.rule.id]
    for flip in e.flips:
        assert not (set(flip.changes) & {p for p, f in kb.vocabulary.fields.items() if f.computed})
        after = evaluate_all(kb, apply(region.facts, flip.changes))[e.rule.id]
        assert after is not before and after is flip.status
    singles = [f for f in e.flips if len(f.changes) == 1]
    if singles:
        assert len(singles) == len(e.flips)  # pairs only when no single change flips


def brute_single_flips(kb: KnowledgeBase, facts: Mapping[str, Any], rule_id: str) -> set[tuple[str, Any]]:
    """Every single-field change over the whole vocabulary that changes the rule's status."""
    before = evaluate_all(kb, facts)[rule_id]
    found: set[tuple[str, Any]] = set()
    for f in kb.vocabulary.file_fields:
        if f.path in SKIP or f.type == "text":
            continue
        for value in all_values(kb, f, facts.get(f.path)):
            if evaluate_all(kb, apply(facts, {f.path: value}))[rule_id] is not before:
                found.add((f.path, freeze(value)))
    return found


def all_values(kb: KnowledgeBase, f: Field, current: Any) -> list[Any]:
    """Values a field can take, written out independently of explain's own enumeration."""
    values: list[Any]
    if f.type == "boolean":
        values = [True, False]
    elif f.type == "choice":
        values = list(f.allowed)
    elif f.type in ("choices", "words"):
        items = list(f.allowed) if f.type == "choices" else [*sorted(kb.industry_words_read), "someword"]
        base = list(current or [])
        values = [[]] + [[*base, i] for i in items if i not in base] + [[x for x in base if x != i] for i in base]
    else:
        tested = {t.value for r in kb.rules for c in r.conditions for t in iter_tests(c) if t.field == f.path and isinstance(t.value, int)}
        values = sorted({0, 1, 2, 5, 10, 100, 10_000} | {v + d for v in tested for d in (-1, 0, 1)})
    values.append(None)
    return [v for v in values if v != current or (v is None and current is not None)]


def apply(facts: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    changed = dict(facts)
    for path, value in changes.items():
        if value is None:
            changed.pop(path, None)
        else:
            changed[path] = value
    return changed


def freeze(value: Any) -> Any:
    return tuple(sorted(value)) if isinstance(value, list) else value


def walk(node: Any) -> list[Any]:
    return [node, *(m for child in node.children for m in walk(child))]


def find_region(kb: KnowledgeBase, wanted: Callable[[dict[str, Any]], bool]) -> Region:
    for region in generated_regions(kb, 3000, seed=3):
        if wanted(evaluate_all(kb, region.facts)):
            return region
    raise AssertionError("no generated region has the wanted status")


# ---------------------------------------------------------------- the command


@pytest.mark.parametrize("fmt", ["text", "md", "json"])
def test_cli_every_format(cli: Callable[..., Result], fmt: str) -> None:
    result = cli("explain", HITACHI, "diversify-clients", "--format", fmt)
    assert result.exit_code == 0 and result.stderr == ""
    if fmt == "json":
        data = json.loads(result.stdout)
        assert data["rule"] == "diversify-clients" and data["status"] == "does_not_apply"
        assert data["region"]["source"] == HITACHI
        assert {"changes": {"network.single_client_dependency": None}, "status": "undecided"} in data["flips"]
        assert [c["part"] for c in data["conditions"]] == ["applies", "deficit"]
    else:
        assert "hitachi-city.yaml" in result.stdout and "diversify-clients" in result.stdout
        assert "main client has left" in result.stdout
        assert "network.single\\_client\\_dependency" in result.stdout if fmt == "md" else "network.single_client_dependency → high" in result.stdout
    assert result.stdout == render(explain(load_knowledge_base(), example(HITACHI), "diversify-clients"), fmt)


def test_cli_unknown_rule_is_a_usage_error(cli: Callable[..., Result]) -> None:
    result = cli("explain", HITACHI, "no-such-rule")
    assert result.exit_code == 2
    assert "hitachi-city.yaml: 'no-such-rule' is not a rule id" in result.stderr
    assert "`clusteradvisor rules` lists them" in result.stderr


def test_cli_bad_region_file(cli: Callable[..., Result], tmp_path: Any) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: X\nschema_version: 2\nsme_count: many\n", encoding="utf-8")
    result = cli("explain", str(bad), "diversify-clients")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {bad}:3: sme_count:")
    assert "Traceback" not in result.stderr


def test_markdown_keeps_region_text_literal(kb: KnowledgeBase) -> None:
    region = make_region(name="*Bold* <b>town</b>", **{"network.form": ["one_to_many"]})
    text = render(explain(kb, region, "diversify-clients"), "md")
    assert "\\*Bold\\* \\<b\\>town\\</b\\>" in text and "<b>" not in text


def test_field_tests_cover_every_candidate_type(kb: KnowledgeBase) -> None:
    # The vocabulary types the flips enumerate: a new field type would need a new enumeration.
    types = {kb.vocabulary.fields[t.field].type for r in kb.rules for c in r.conditions for t in iter_tests(c) if isinstance(t, FieldTest)}
    assert types <= {"boolean", "choice", "choices", "words", "integer"}


def test_candidate_values_enumerate_each_field_type() -> None:
    def field(ftype: str, **extra: Any) -> Field:
        return Field("x.y", ftype, "s", "X", "?", "help", **extra)

    from clusteradvisor.explain import candidate_values
    from clusteradvisor.vocabulary import Choice

    abc = tuple(Choice(v, v, "") for v in "abc")
    assert candidate_values(field("boolean"), True, ()) == [False, None]
    assert candidate_values(field("boolean"), None, ()) == [True, False]  # already unknown: no "make unknown"
    assert candidate_values(field("choice", choices=abc), "b", ()) == ["a", "c", None]
    assert candidate_values(field("choices", choices=abc), ["a"], ()) == [[], ["a", "b"], ["a", "c"], None]
    assert candidate_values(field("words"), ["silk"], (), words={"metal", "textile"}) == [[], ["silk", "metal"], ["silk", "textile"], None]
    tests = (FieldTest("x.y", "gte", 10), FieldTest("x.y", "in", (0, 3)))
    assert candidate_values(field("integer", minimum=0), 10, tests) == [0, 1, 2, 3, 4, 9, 11, None]


def test_panel_facts_are_never_flipped(kb: KnowledgeBase) -> None:
    region = make_region(**{"respondent.role": "firm", "panel.roles": ["official", "firm"], "panel.perception_gaps": ["policy.officials_visit_firms"]})
    e = explain(kb, region, "perception-gap")
    assert e.status == "applies" and e.reads_panel
    assert all(not p.startswith("panel.") for f in e.flips for p in f.changes)
    assert "panel of respondents" in render(e, "text")


def test_cli_explains_every_region_of_a_file(cli: Callable[..., Result], tmp_path: Any) -> None:
    two = tmp_path / "two.yaml"
    two.write_text("name: A\nschema_version: 2\nnetwork:\n  form: [one_to_many]\n---\nname: B\nschema_version: 2\n", encoding="utf-8")
    data = json.loads(cli("explain", str(two), "diversify-clients", "--format", "json").stdout)
    assert [d["region"]["name"] for d in data] == ["A", "B"] and [d["status"] for d in data] == ["undecided", "undecided"]
    text = cli("explain", str(two), "diversify-clients").stdout
    assert f"{two}: diversify-clients" in text and f"{two} (region 2): diversify-clients" in text
