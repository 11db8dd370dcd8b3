"""Loading the rule base checks every rule against the vocabulary and the map's attributes, reporting all problems at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from clusteradvisor.errors import KnowledgeBaseError
from clusteradvisor.knowledge import ACTORS, DIMENSIONS, EVIDENCE, KINDS, PRIORITIES, STAGES, load_knowledge_base
from clusteradvisor.resources import data_dir

REMEDY = """\
  - id: {id}
    order: {order}
    title: A title
    dimension: N
    stage: networks
    kind: remedy
    priority: high
    actor: [firms]
    evidence: observed
    lines: "L1-2"
    source: Section 5
    deficit: {deficit}
    advice: One sentence. Two sentences.
    success: it is done.
"""


def write(folder: Path, name: str, text: str) -> None:
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")


def remedies(*items: tuple[str, int, str]) -> str:
    return "theme: test\nrecommendations:\n" + "".join(REMEDY.format(id=i, order=o, deficit=d) for i, o, d in items)


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    load_knowledge_base.cache_clear()


def test_shipped_rule_base_has_every_rule_of_the_map() -> None:
    kb = load_knowledge_base()
    assert len(kb.version) == 12
    assert len(kb.of_category("derived")) == 8
    assert len(kb.of_category("pattern")) == 4
    assert len(kb.recommendations) == 56
    assert [r.order for r in kb.recommendations] == list(range(1, 57))
    assert len(kb.conflicts) == 5
    assert sum(r.kind == "next_step" for r in kb.recommendations) == 7
    # Map section 11: remedies per dimension.
    sizes = {d: sum(1 for r in kb.recommendations if r.is_remedy and r.dimension == d) for d in DIMENSIONS}
    assert sizes == {"F1": 6, "F2": 3, "F3": 6, "F4": 3, "S1": 4, "S2": 7, "S3": 5, "N": 15}


def test_every_recommendation_carries_the_maps_attributes() -> None:
    kb = load_knowledge_base()
    for rule in kb.recommendations:
        assert rule.stage in STAGES and rule.kind in KINDS and rule.priority in PRIORITIES, rule.id
        assert rule.evidence in EVIDENCE and rule.lines.strip(), rule.id
        assert rule.actor and set(rule.actor) <= set(ACTORS), rule.id
        assert rule.source.startswith(("Section", "footnote")), rule.id
        assert rule.advice.count(".") >= 1 and rule.success, rule.id
        assert (rule.deficit is not None) == rule.is_remedy, rule.id


def test_every_problem_is_reported_with_file_line_and_rule(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    write(rules, "a.yaml", remedies(("r1", 1, "{field: network.shape, eq: x}")))
    write(rules, "b.yaml", remedies(("r2", 2, "{field: network.form, contains: pyramid}")))
    write(rules, "c.yaml", remedies(("r3", 3, "{field: sme_count, in_range: 5}")))
    write(rules, "e.yaml", remedies(("r5", 5, "{field: sme_count, gte: '500'}")))
    write(rules, "f.yaml", "theme: x\nrecommendations: [\n")
    with pytest.raises(KnowledgeBaseError) as info:
        load_knowledge_base(str(rules))
    text = "\n".join(info.value.messages)
    assert "rules/a.yaml:3: recommendation r1: deficit.field: 'network.shape' is not a field" in text
    assert "rules/b.yaml:3: recommendation r2: deficit.contains: 'pyramid' does not fit network.form (allowed: one_to_many" in text
    assert "recommendation r3: deficit: sme_count needs exactly one operator of eq, ne, in, gte, gt, lte, lt; got in_range" in text
    assert "recommendation r5: deficit.gte: '500' does not fit sme_count" in text
    assert "rules/f.yaml:3: not valid YAML" in text
    assert len(info.value.messages) == 5


def test_a_recommendation_without_the_maps_attributes_is_refused(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    text = remedies(("r1", 1, "{field: network.skill_coordinators, eq: false}"))
    text = text.replace("    evidence: observed\n", "").replace("stage: networks", "stage: later").replace("actor: [firms]", "actor: [mayor]")
    write(rules, "a.yaml", text + "    colour: red\n")
    with pytest.raises(KnowledgeBaseError) as info:
        load_knowledge_base(str(rules))
    text = "\n".join(info.value.messages)
    for fragment in ("unknown key `colour`", "`evidence` is required", "stage 'later' is not one of diagnose", "actor must be a list of distinct actors"):
        assert fragment in text


def test_remedies_and_next_steps_take_their_own_conditions(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    text = remedies(("r1", 1, "{field: network.skill_coordinators, eq: false}"))
    write(rules, "a.yaml", text.replace("    deficit:", "    when:"))
    write(rules, "b.yaml", remedies(("r2", 2, "{field: network.skill_coordinators, eq: true}")).replace("kind: remedy", "kind: next_step"))
    with pytest.raises(KnowledgeBaseError) as info:
        load_knowledge_base(str(rules))
    text = "\n".join(info.value.messages)
    assert "recommendation r1: a remedy takes `applies` and `deficit`, not `when`" in text
    assert "recommendation r2: a next step takes `when`, not `applies` or `deficit`" in text


def test_conflicts_and_supersessions_must_name_real_rules(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    write(rules, "a.yaml", remedies(("r1", 1, "{field: network.skill_coordinators, eq: false}"), ("r2", 2, "{field: premises_pressure, eq: true}")) + "    supersedes: [ghost]\n")
    write(rules, "conflicts.yaml", "theme: c\nconflicts:\n  - pair: [r1, nowhere]\n    reconcile: Do both.\n  - pair: [r1, r1]\n    reconcile: Do both.\n")
    with pytest.raises(KnowledgeBaseError) as info:
        load_knowledge_base(str(rules))
    text = "\n".join(info.value.messages)
    assert "recommendation r2: supersedes 'ghost', which is not another recommendation" in text
    assert "pair ['r1', 'nowhere'] names nowhere, which is not a recommendation" in text
    assert "pair ['r1', 'r1'] must name two different recommendations" in text


def test_supersession_cycles_and_chains_are_refused(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    a = remedies(("r1", 1, "{field: network.skill_coordinators, eq: false}")) + "    supersedes: [r2]\n"
    b = remedies(("r2", 2, "{field: premises_pressure, eq: true}")).split("recommendations:\n")[1] + "    supersedes: [r1]\n"
    write(rules, "a.yaml", a + b)
    with pytest.raises(KnowledgeBaseError, match="no chains"):
        load_knowledge_base(str(rules))


def test_derived_cycles_are_refused(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    derived = "  - {{id: {id}, title: t, meaning: m, lines: L1, source: s, when: {{derived: {other}}}}}\n"
    write(rules, "a.yaml", "theme: t\nderived:\n" + derived.format(id="x", other="y") + derived.format(id="y", other="x"))
    with pytest.raises(KnowledgeBaseError, match="cycle: x, y"):
        load_knowledge_base(str(rules))


def test_duplicate_ids_orders_and_unknown_derived_facts(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    write(rules, "a.yaml", remedies(("r1", 1, "{field: network.skill_coordinators, eq: false}")))
    write(rules, "b.yaml", remedies(("r1", 1, "{derived: nowhere}")))
    with pytest.raises(KnowledgeBaseError) as info:
        load_knowledge_base(str(rules))
    assert info.value.messages == (
        "rules/b.yaml: recommendation r1: duplicate id (first in rules/a.yaml)",
        "rules/b.yaml: recommendation r1: reads derived fact 'nowhere', which no derived rule defines",
        "rules/b.yaml: recommendation r1: order 1 is also r1's",
    )


def test_version_changes_with_rule_content(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    write(rules, "a.yaml", remedies(("r1", 1, "{field: network.form, contains: fragmented}")))
    first = load_knowledge_base(str(rules)).version
    load_knowledge_base.cache_clear()
    write(rules, "a.yaml", remedies(("r1", 1, "{field: network.form, contains: one_to_many}")))
    assert load_knowledge_base(str(rules)).version != first


def test_shipped_data_is_found_without_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert (data_dir("rules") / "derived.yaml").is_file()
    assert (data_dir("templates") / "memo.md.j2").is_file()


def test_questionnaire_preconditions_are_parsed_conditions() -> None:
    kb = load_knowledge_base()
    assert set(kb.ask_when) >= {"governance.joint_body", "policy.market_measurement", "uig.official_channel_fit"}
