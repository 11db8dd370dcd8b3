"""`compare`: advice added, removed and kept, dimensions, causes, and rule-base changes shown apart."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from clusteradvisor.advisor import default_advisor
from clusteradvisor.compare import compare, compare_files, read_side
from clusteradvisor.errors import RegionError
from clusteradvisor.knowledge import KnowledgeBase, load_knowledge_base
from clusteradvisor.region import load_regions, read_text

from .conftest import DATA, EXAMPLES, make_region

HITACHI = EXAMPLES / "hitachi-city.yaml"
KIRYU = str(EXAMPLES / "kiryu-style-textile.yaml")
KIRYU_V1 = str(EXAMPLES / "v1" / "kiryu-style-textile.yaml")
KIRYU_01 = str(DATA / "kiryu-v0.1-verdict.json")  # written by `assess --format json` of ClusterAdvisor 0.1 (commit 1c7f8e2)


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return load_knowledge_base()


@pytest.fixture
def hitachi_dependent(tmp_path: Path) -> str:
    """Hitachi-city in the counterfactual of map 13.1: suppliers still depend on the parent firm."""
    text = HITACHI.read_text(encoding="utf-8").replace("single_client_dependency: main_client_left", "single_client_dependency: high")
    path = tmp_path / "hitachi-dependent.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def plan_ids(path: str) -> list[str]:
    region = load_regions(read_text(path), path)[0]
    return [r.id for r in default_advisor().assess(region).recommendations]


def test_hitachi_with_high_dependency_adds_diversify_clients_in_castle_town_wording(kb: KnowledgeBase, hitachi_dependent: str) -> None:
    data = compare_files(str(HITACHI), hitachi_dependent).to_dict()
    assert data["added"] == ["diversify-clients"] and data["removed"] == []
    assert data["kept"] == plan_ids(str(HITACHI))
    assert data["from_rule_base"] is None
    added = data["from_facts"]["added"][0]
    assert added["variant"] == "castle_town"
    cause = {"field": "network.single_client_dependency", "before": "main_client_left", "after": "high"}
    assert [{k: c[k] for k in cause} for c in data["causes"]["diversify-clients"]] == [cause]
    assert [c["field"] for c in data["facts_changed"]] == ["network.single_client_dependency"]
    changed = [d for d, v in data["dimensions"].items() if v["changed"]]
    assert changed == ["N"] and data["dimensions"]["N"]["after"]["status"] == "act"
    assert data["causes"]["N"][0]["field"] == "network.single_client_dependency"
    after_plan = plan_ids(hitachi_dependent)
    assert after_plan.index("scale-product-groups") < after_plan.index("diversify-clients")  # map 13.1


def test_v1_file_against_v2_file_compares_migrated_facts(kb: KnowledgeBase) -> None:
    c = compare_files(KIRYU_V1, KIRYU)
    data = c.to_dict()
    assert data["before"]["input"] == "region_v1" and data["after"]["input"] == "region"
    assert data["from_rule_base"] is None and "migration" in data["note"]
    assert "before" in data["migration"] and "after" not in data["migration"]
    # The v2 file knows more: every fact change is a field the migration could not decide, or a new answer.
    before, after = read_side(KIRYU_V1, kb), read_side(KIRYU, kb)
    assert {x["field"] for x in data["facts_changed"]} == {p for p in set(before.facts) | set(after.facts) if before.facts.get(p) != after.facts.get(p)} - {"name"}
    assert set(data["added"]) == set(plan_ids(KIRYU)) - set(plan_ids(KIRYU_V1))
    for rule_id in data["added"] + data["removed"]:
        assert data["causes"][rule_id], rule_id
        assert {x["field"] for x in data["causes"][rule_id]} <= kb.reads[rule_id] | {f for by in kb.superseded_by.get(rule_id, ()) for f in kb.reads[by]}


def test_old_verdict_against_v2_file_shows_rule_base_changes_apart(kb: KnowledgeBase) -> None:
    data = compare_files(KIRYU_01, KIRYU).to_dict()
    old = json.loads(Path(KIRYU_01).read_text(encoding="utf-8"))
    old_ids = [r["id"] for r in old["recommendations"]]
    assert data["before"]["knowledge_base"] == old["knowledge_base"]["version"] != kb.version
    assert data["added"] == [i for i in plan_ids(KIRYU) if i not in old_ids]
    assert data["removed"] == [i for i in old_ids if i not in plan_ids(KIRYU)]
    rule_base = data["from_rule_base"]
    # Identical facts (the old verdict's, migrated) under the installed rule base.
    same_facts = plan_ids(KIRYU_V1)
    assert [a["id"] for a in rule_base["added"]] == [i for i in same_facts if i not in old_ids]
    assert [r["id"] for r in rule_base["removed"]] == [i for i in old_ids if i not in same_facts]
    assert ["textile-consumer-focus", "consumer-facing-innovation"] in rule_base["renamed"]
    assert {"id": "appoint-key-person", "why": "covered by back-emerging-outsiders"}.items() <= next(r for r in rule_base["removed"] if r["id"] == "appoint-key-person").items()
    facts = data["from_facts"]
    assert [a["id"] for a in facts["added"]] == [i for i in plan_ids(KIRYU) if i not in same_facts]
    assert all(data["causes"][a["id"]] for a in facts["added"])


def test_verdict_of_the_same_region_changes_nothing(tmp_path: Path, cli: Callable[..., Result]) -> None:
    verdict = tmp_path / "hitachi.json"
    verdict.write_text(cli("assess", str(HITACHI), "--format", "json").stdout, encoding="utf-8")
    data = compare_files(str(verdict), str(HITACHI)).to_dict()
    assert data["added"] == data["removed"] == [] and data["facts_changed"] == []
    assert not any(d["changed"] for d in data["dimensions"].values())


def test_two_old_rule_bases_cannot_be_separated(tmp_path: Path) -> None:
    old = json.loads(Path(KIRYU_01).read_text(encoding="utf-8"))
    old["knowledge_base"]["version"] = "000000000000"
    other = tmp_path / "other.json"
    other.write_text(json.dumps(old), encoding="utf-8")
    data = compare_files(KIRYU_01, str(other)).to_dict()
    assert data["from_facts"] is None and data["from_rule_base"] is None
    assert "cannot be told apart" in data["note"]


def test_generated_changes_are_explained_by_facts_the_rules_read(kb: KnowledgeBase) -> None:
    rng = random.Random(5)
    fields = [f for f in kb.vocabulary.file_fields if f.type in ("boolean", "choice") and kb.readers[f.path]]
    advisor = default_advisor()
    for _ in range(40):
        chosen = rng.sample(fields, 12)
        facts: dict[str, Any] = {f.path: (rng.random() < 0.5 if f.type == "boolean" else rng.choice(f.allowed)) for f in chosen}
        changed = dict(facts)
        f = rng.choice(chosen)
        changed[f.path] = (not facts[f.path]) if f.type == "boolean" else rng.choice(f.allowed)
        a, b = make_region(**facts), make_region(**changed)
        side_a = read_side_of(a, kb)
        side_b = read_side_of(b, kb)
        result = compare(side_a, side_b, kb)
        a_ids = [r.id for r in advisor.assess(a).recommendations]
        b_ids = [r.id for r in advisor.assess(b).recommendations]
        data = result.to_dict()
        assert data["added"] == [i for i in b_ids if i not in a_ids]
        assert data["removed"] == [i for i in a_ids if i not in b_ids]
        for rule_id in data["added"] + data["removed"]:
            assert [x["field"] for x in data["causes"][rule_id]] == [f.path]


def read_side_of(region: Any, kb: KnowledgeBase) -> Any:
    from clusteradvisor.compare import side_of_facts

    template = read_side(str(HITACHI), kb)
    return side_of_facts(region.facts, template, kb)


# ---------------------------------------------------------------- the command


@pytest.mark.parametrize("fmt", ["md", "html", "json"])
def test_cli_every_format(cli: Callable[..., Result], hitachi_dependent: str, fmt: str) -> None:
    result = cli("compare", str(HITACHI), hitachi_dependent, "--format", fmt)
    assert result.exit_code == 0 and result.stderr == ""
    if fmt == "json":
        assert json.loads(result.stdout)["added"] == ["diversify-clients"]
    else:
        assert "diversify-clients" in result.stdout and "main client has left" in result.stdout
        assert ("<h1>What changed" in result.stdout) if fmt == "html" else result.stdout.startswith("# What changed: Hitachi-city")


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_cli_rule_base_changes_are_a_section_of_their_own(cli: Callable[..., Result], fmt: str) -> None:
    out = cli("compare", KIRYU_01, KIRYU, "--format", fmt).stdout
    assert "From the rule base (identical facts)" in out and "From the facts" in out
    assert out.index("From the rule base") < out.index("textile-consumer-focus") < out.index("From the facts")


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_region_names_stay_text(cli: Callable[..., Result], tmp_path: Path, fmt: str) -> None:
    text = HITACHI.read_text(encoding="utf-8").replace("name: Hitachi-city", 'name: "<script>x</script> *town*"')
    path = tmp_path / "odd.yaml"
    path.write_text(text, encoding="utf-8")
    out = cli("compare", str(HITACHI), str(path), "--format", fmt).stdout
    assert "<script>" not in out
    assert ("&lt;script&gt;" in out) if fmt == "html" else ("\\<script\\>x\\</script\\> \\*town\\*" in out)


def test_cli_errors_name_the_file(cli: Callable[..., Result], tmp_path: Path) -> None:
    not_verdict = tmp_path / "other.json"
    not_verdict.write_text('{"knowledge_base": 1}', encoding="utf-8")
    result = cli("compare", str(not_verdict), str(HITACHI))
    assert result.exit_code == 1 and result.stderr.startswith(f"Error: {not_verdict}: is JSON but not a verdict")
    flow = tmp_path / "flow.yaml"  # a region written as a JSON object is still a region file
    flow.write_text('{"name": "Hitachi-city", "schema_version": 2, "hollowing_out": "severe"}', encoding="utf-8")
    assert cli("compare", str(flow), str(HITACHI), "--format", "json").exit_code == 0
    two = tmp_path / "two.yaml"
    two.write_text("name: A\nschema_version: 2\n---\nname: B\nschema_version: 2\n", encoding="utf-8")
    result = cli("compare", str(two), str(HITACHI))
    assert result.exit_code == 1 and f"{two}: holds 2 regions" in result.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: X\nschema_version: 2\nsme_count: many\n", encoding="utf-8")
    result = cli("compare", str(HITACHI), str(bad))
    assert result.exit_code == 1 and result.stderr.startswith(f"Error: {bad}:3: sme_count:")
    assert "Traceback" not in result.stderr


def test_a_bad_verdict_facts_block_is_reported(tmp_path: Path, kb: KnowledgeBase) -> None:
    old = json.loads(Path(KIRYU_01).read_text(encoding="utf-8"))
    old["region"]["facts"]["hollowing_out"] = "extreme"
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(old), encoding="utf-8")
    with pytest.raises(RegionError, match=r"edited\.json \(region\.facts\)"):
        read_side(str(path), kb)
