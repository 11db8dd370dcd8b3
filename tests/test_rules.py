"""Every rule fires on its case and stops when one condition flips; the paper's cases say what the paper says."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from clusteradvisor.advisor import Advisor
from clusteradvisor.knowledge import iter_tests, load_knowledge_base
from clusteradvisor.region import load_regions, read_text
from clusteradvisor.verdict import Verdict

from .conftest import DATA, EXAMPLES, make_region

CASES: dict[str, dict[str, dict[str, Any]]] = yaml.safe_load((DATA / "rule_cases.yaml").read_text(encoding="utf-8"))
KB = load_knowledge_base()


def fired(verdict: Verdict) -> set[str]:
    return {f.id for f in verdict.recommendations + verdict.derived + verdict.patterns + verdict.strengths}


def test_every_rule_has_a_case_and_every_case_a_rule() -> None:
    rule_ids = {r.id for r in KB.rules}
    assert sorted(rule_ids - set(CASES)) == [], "rules without a firing/non-firing case in tests/data/rule_cases.yaml"
    assert sorted(set(CASES) - rule_ids) == [], "cases for rules that do not exist"


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_fires(advisor: Advisor, rule_id: str) -> None:
    verdict = advisor.assess(make_region(**CASES[rule_id]["fires"]))
    assert rule_id in fired(verdict)


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_stops_when_one_condition_flips(advisor: Advisor, rule_id: str) -> None:
    case = CASES[rule_id]
    assert len(case["not_when"]) == 1, "flip exactly one field"
    (field, value), = case["not_when"].items()
    assert field in case["fires"] and case["fires"][field] != value, "the flip must change a field the case sets"
    assert field in KB.reads[rule_id], "the flipped field must be one the rule reads"
    verdict = advisor.assess(make_region(**{**case["fires"], field: value}))
    assert rule_id not in fired(verdict)


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_does_not_fire_when_its_fields_are_unknown(advisor: Advisor, rule_id: str) -> None:
    verdict = advisor.assess(make_region())
    assert rule_id not in fired(verdict)
    assert any(rule_id in gap.decides for gap in verdict.gaps), "an unknown field must list the rule it would decide"


@pytest.mark.parametrize(
    ("rule_id", "field", "yes", "no"),
    [
        ("work-through-coordinators", "sme_count", 1000, 999),
        ("foster-skill-coordinators", "sme_count", 500, 499),
    ],
)
def test_thresholds_are_inclusive(advisor: Advisor, rule_id: str, field: str, yes: int, no: int) -> None:
    base = CASES[rule_id]["fires"]
    assert rule_id in fired(advisor.assess(make_region(**{**base, field: yes})))
    assert rule_id not in fired(advisor.assess(make_region(**{**base, field: no})))


def test_derived_fact_chains_into_recommendations(advisor: Advisor) -> None:
    verdict = advisor.assess(make_region(**CASES["open-industry-support-center"]["fires"]))
    orders = {f.rule: f.order for f in verdict.trace}
    assert orders["dependency-crisis"] < orders["open-industry-support-center"]
    finding = next(f for f in verdict.recommendations if f.id == "open-industry-support-center")
    derived = next(r for r in finding.because if r.derived == "dependency-crisis")
    assert {r.field for r in derived.because} >= {"network.single_client_dependency", "hollowing_out"}


def test_every_rule_cites_a_section_and_is_written_out() -> None:
    for rule in KB.rules:
        assert rule.source.startswith("Section"), rule.id
        assert len(rule.advice.split(". ")) >= 2, f"{rule.id}: advice needs several sentences"
        assert list(iter_tests(rule.when)) or rule.derived_refs, rule.id


def assess_example(advisor: Advisor, name: str) -> Verdict:
    path = EXAMPLES / name
    (region,) = load_regions(read_text(str(path)), str(path))
    return advisor.assess(region)


def ids(findings: Any) -> set[str]:
    return {f.id for f in findings}


def test_hitachi_resembles_the_policy_supported_alliance(advisor: Advisor) -> None:
    verdict = assess_example(advisor, "hitachi-city.yaml")
    assert ids(verdict.patterns) == {"policy-supported-alliance"}
    assert "dependency-crisis" in ids(verdict.derived)
    assert "diversify-clients" in ids(verdict.recommendations)
    # The paper credits Hitachi's industry support centre and its product groups (Bioclean).
    assert "open-industry-support-center" not in ids(verdict.recommendations)
    assert "form-product-development-groups" not in ids(verdict.recommendations)
    assert {"strength-uig-coordinator", "strength-shared-crisis-awareness", "strength-product-groups"} <= ids(verdict.strengths)


def test_higashi_osaka_links_private_universities_and_funds_grassroots(advisor: Advisor) -> None:
    verdict = assess_example(advisor, "higashi-osaka.yaml")
    assert "entrepreneur-led-emergence" in ids(verdict.patterns)
    assert {"link-private-universities", "fund-grassroots-initiatives", "bridge-mentality-gap"} <= ids(verdict.recommendations)
    assert "bottom-up-emergence" in ids(verdict.derived)


def test_ota_works_through_its_skill_coordinators(advisor: Advisor) -> None:
    verdict = assess_example(advisor, "ota-ward.yaml")
    assert "skill-coordinating-network" in ids(verdict.patterns)
    assert "work-through-coordinators" in ids(verdict.recommendations)
    assert "foster-skill-coordinators" not in ids(verdict.recommendations)
    assert "strength-skill-coordinators" in ids(verdict.strengths)


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.glob("*.yaml")))
def test_examples_assess_with_advice(advisor: Advisor, example: str) -> None:
    verdict = assess_example(advisor, example)
    assert verdict.recommendations
    assert all(s.score is None or 0 <= s.score <= 100 for s in verdict.scores)


def test_examples_directory_is_what_the_readme_promises() -> None:
    names = {p.name for p in Path(EXAMPLES).glob("*.yaml")}
    assert {"hitachi-city.yaml", "higashi-osaka.yaml", "ota-ward.yaml"} <= names
    assert len(names) >= 6
