"""The command line: exit codes, streams, stdin, output files, schema, and help for every command."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import Result

from clusteradvisor.cli import main

from .conftest import EXAMPLES, REPO

OTA = str(EXAMPLES / "ota-ward.yaml")


def test_assess_prints_markdown_on_stdout(cli: Callable[..., Result]) -> None:
    result = cli("assess", OTA)
    assert result.exit_code == 0
    assert result.stdout.startswith("# Cluster policy advice: Ota ward")
    assert result.stderr == ""


def test_assess_json_carries_the_contract_fields(cli: Callable[..., Result]) -> None:
    data = json.loads(cli("assess", OTA, "--format", "json").stdout)
    assert data["region"]["name"] == "Ota ward"
    assert len(data["knowledge_base"]["version"]) == 12
    # Knowledge map section 15: the output contract other programs rely on.
    contract = {"id", "kind", "stage", "priority", "dimension", "actor", "evidence", "variant", "title", "advice", "because", "source"}
    for rec in data["recommendations"]:
        assert contract <= set(rec)
        assert rec["because"] and all("text" in b for b in rec["because"])
    assert data["recommendations"][0]["id"] == "build-market-orientation"
    assert [r["kind"] for r in data["recommendations"]] == sorted((r["kind"] for r in data["recommendations"]), key=lambda k: k != "remedy")
    assert all({"field", "reason"} <= set(g) for g in data["gaps"])
    assert {"id"} <= set(data["patterns"][0]) and all("id" in d for d in data["derived"])
    assert data["superseded"] == [] and data["conflicts"] == []
    assert set(data["scores"]) == {"F1", "F2", "F3", "F4", "S1", "S2", "S3", "N"}
    assert all({"status", "figure", "fired", "met", "not_applicable", "undecided"} <= set(s) for s in data["scores"].values())


def test_assess_reads_stdin(cli: Callable[..., Result]) -> None:
    result = cli("assess", "-", input=(EXAMPLES / "ota-ward.yaml").read_text(encoding="utf-8"))
    assert result.exit_code == 0
    assert result.stdout == cli("assess", OTA).stdout


def test_assess_bad_stdin_names_stdin(cli: Callable[..., Result]) -> None:
    result = cli("assess", "-", input="name: X\nsme_count: many\n")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: <stdin>:2: sme_count:")


def test_assess_writes_a_file(cli: Callable[..., Result], tmp_path: Path) -> None:
    target = tmp_path / "memo.md"
    result = cli("assess", OTA, "-o", str(target))
    assert result.exit_code == 0 and result.stdout == ""
    assert target.read_text(encoding="utf-8") == cli("assess", OTA).stdout
    assert [p.name for p in tmp_path.iterdir()] == ["memo.md"]


def test_assess_to_a_missing_folder_fails_cleanly(cli: Callable[..., Result], tmp_path: Path) -> None:
    result = cli("assess", OTA, "-o", str(tmp_path / "nowhere" / "memo.md"))
    assert result.exit_code == 1
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr


def test_several_regions_in_one_file(cli: Callable[..., Result], tmp_path: Path) -> None:
    path = tmp_path / "two.yaml"
    path.write_text("name: A\nsmes: {innovation: none}\n---\nname: B\n", encoding="utf-8")
    data = json.loads(cli("assess", str(path), "-f", "json").stdout)
    assert [d["region"]["name"] for d in data] == ["A", "B"]
    assert cli("assess", str(path)).stdout.count("# Cluster policy advice:") == 2


def test_misuse_exits_2(cli: Callable[..., Result]) -> None:
    assert cli("assess", OTA, "--format", "pdf").exit_code == 2
    assert cli("assess").exit_code == 2


def test_schema_is_valid_and_accepts_every_example(cli: Callable[..., Result]) -> None:
    schema = json.loads(cli("schema").stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for path in sorted(EXAMPLES.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            assert list(validator.iter_errors(document)) == [], path
    assert list(validator.iter_errors({"name": "X", "network": {"form": ["many"]}}))
    assert list(validator.iter_errors({"name": "X", "colour": "red"}))
    assert list(validator.iter_errors({"name": "X", "panel": {"roles": ["firm"]}}))
    assert not list(validator.iter_errors({"name": "X", "uig": {"official_channel": "unknown"}}))


def test_rules_lists_the_rule_base(cli: Callable[..., Result]) -> None:
    out = cli("rules", "--kind", "pattern").stdout
    assert "policy-supported-alliance" in out and "diversify-clients" not in out
    lines = cli("rules").stdout.splitlines()
    assert lines[1].split() == ["id", "kind", "stage", "priority", "dim", "evidence", "title"]
    assert any(line.startswith("diversify-clients") and "networks" in line and "observed" in line for line in lines)


def test_rules_show_prints_one_rule_with_its_conditions(cli: Callable[..., Result]) -> None:
    out = cli("rules", "--show", "diversify-clients").stdout
    assert "applies when: network.form has one_to_many and network.single_client_dependency in {high, medium, low}" in out
    assert "variant castle_town when: district_type has company_castle_town" in out
    assert "evidence: observed" in out
    result = cli("rules", "--show", "nope")
    assert result.exit_code == 2 and "is not a rule id" in result.stderr


@pytest.mark.parametrize("command", sorted(main.commands))
def test_every_command_has_help_and_is_in_the_readme(cli: Callable[..., Result], command: str) -> None:
    result = cli(command, "--help")
    assert result.exit_code == 0 and "Usage:" in result.stdout
    assert f"clusteradvisor {command}" in (REPO / "README.md").read_text(encoding="utf-8")


def test_console_script_runs_without_traceback_on_bad_input(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: X\nnetwork:\n  form: [many]\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "clusteradvisor", "assess", str(bad)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    assert result.stderr.startswith(f"Error: {bad}:3: network.form[0]:")
    assert "Traceback" not in result.stderr


def test_the_command_lines_roles_are_the_vocabularys() -> None:
    from clusteradvisor.cli import ROLES
    from clusteradvisor.vocabulary import ROLES as VOCABULARY_ROLES
    from clusteradvisor.vocabulary import load_vocabulary

    assert ROLES == VOCABULARY_ROLES == tuple(r.value for r in load_vocabulary().roles)
