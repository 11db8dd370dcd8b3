"""Loading the rule base checks every rule against the vocabulary and reports all problems at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from clusteradvisor.errors import KnowledgeBaseError
from clusteradvisor.knowledge import load_knowledge_base
from clusteradvisor.resources import data_dir

GOOD = """\
theme: test
rules:
  - id: {id}
    kind: recommendation
    dimension: N
    priority: high
    when: {when}
    title: A title
    advice: One sentence. Two sentences.
    source: Section 5
"""


def write(folder: Path, name: str, text: str) -> None:
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")


def test_shipped_rule_base_loads_and_has_a_version() -> None:
    kb = load_knowledge_base()
    assert len(kb.version) == 12
    assert {r.kind for r in kb.rules} == {"derived", "pattern", "recommendation", "strength"}
    assert len(kb.of_kind("recommendation")) >= 39


def test_every_problem_is_reported_with_file_line_and_rule(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    write(rules, "a.yaml", GOOD.format(id="r1", when="{field: network.shape, eq: x}"))
    write(rules, "b.yaml", GOOD.format(id="r2", when="{field: network.form, eq: pyramid}"))
    write(rules, "c.yaml", GOOD.format(id="r3", when="{field: sme_count, in_range: 5}"))
    write(rules, "d.yaml", GOOD.format(id="r1", when="{derived: nowhere}"))
    write(rules, "e.yaml", GOOD.format(id="r5", when="{field: sme_count, gte: '500'}"))
    write(rules, "f.yaml", "theme: x\nrules: [\n")
    with pytest.raises(KnowledgeBaseError) as info:
        load_knowledge_base(str(rules))
    text = "\n".join(info.value.messages)
    assert "rules/a.yaml:3: rule r1: when.field: 'network.shape' is not a field" in text
    assert "rules/b.yaml:3: rule r2: when.eq: 'pyramid' does not fit network.form (allowed: one_to_many" in text
    assert "rule r3: when: sme_count needs exactly one operator of eq, ne, in, gte, gt, lte, lt; got in_range" in text
    assert "rule r5: when.gte: '500' does not fit sme_count" in text
    assert "rules/f.yaml:3: not valid YAML" in text
    assert "rules/d.yaml: rule r1: reads derived fact 'nowhere', which no derived rule defines" in text
    assert len(info.value.messages) == 6


def test_duplicate_ids_and_unknown_derived_facts(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    write(rules, "a.yaml", GOOD.format(id="r1", when="{field: network.form, eq: fragmented}"))
    write(rules, "b.yaml", GOOD.format(id="r1", when="{derived: nowhere}"))
    with pytest.raises(KnowledgeBaseError) as info:
        load_knowledge_base(str(rules))
    assert info.value.messages == (
        "rules/b.yaml: rule r1: duplicate id (first in rules/a.yaml)",
        "rules/b.yaml: rule r1: reads derived fact 'nowhere', which no derived rule defines",
    )


def test_rule_shape_errors(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    write(rules, "a.yaml", "theme: t\nrules:\n  - id: x\n    kind: advice\n    colour: red\n    when: {all: []}\n")
    with pytest.raises(KnowledgeBaseError) as info:
        load_knowledge_base(str(rules))
    text = "\n".join(info.value.messages)
    for fragment in ("unknown key `colour`", "`title` is required", "kind 'advice' is not one of", "when.all: must be the only key and hold a non-empty list"):
        assert fragment in text


def test_derived_cycles_are_refused(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    derived = "  - {{id: {id}, kind: derived, title: t, advice: a, source: s, when: {{derived: {other}}}}}\n"
    write(rules, "a.yaml", "theme: t\nrules:\n" + derived.format(id="x", other="y") + derived.format(id="y", other="x"))
    with pytest.raises(KnowledgeBaseError, match="cycle: x, y"):
        load_knowledge_base(str(rules))


def test_version_changes_with_rule_content(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    write(rules, "a.yaml", GOOD.format(id="r1", when="{field: network.form, eq: fragmented}"))
    first = load_knowledge_base(str(rules)).version
    load_knowledge_base.cache_clear()
    write(rules, "a.yaml", GOOD.format(id="r1", when="{field: network.form, eq: one_to_many}"))
    assert load_knowledge_base(str(rules)).version != first
    load_knowledge_base.cache_clear()


def test_shipped_data_is_found_without_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert (data_dir("rules") / "derived.yaml").is_file()
    assert (data_dir("templates") / "memo.md.j2").is_file()
