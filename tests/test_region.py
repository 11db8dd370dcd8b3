"""Region files: every kind of bad input gives one clear message with file, line, field, value, allowed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from clusteradvisor.errors import RegionError
from clusteradvisor.region import load_regions, parse_regions, to_document

BAD_INPUTS = {
    "not-yaml": ("name: [Ota\nnetwork: {}\n", [":2:", "not valid YAML"]),
    "unclosed-at-end": ("name: Ota\nindustries: [metal\n", [":2:", "not valid YAML"]),
    "not-a-mapping": ("- Ota\n- Hitachi\n", [":1:", "is a list, not a mapping"]),
    "scalar": ("just a sentence\n", [":1:", "is text, not a mapping"]),
    "unknown-key": ("name: Ota\nnetwrok:\n  form: fragmented\n", [":2:", "netwrok", 'Did you mean "network"?', "Allowed:"]),
    "unknown-nested-key": ("name: Ota\nnetwork:\n  shape: fragmented\n", [":3:", "network.shape", "Allowed under network: form"]),
    "wrong-type": ("name: Ota\nsme_count: lots\n", [":2:", "sme_count", '"lots"', "expected a whole number"]),
    "negative": ("name: Ota\nsme_count: -5\n", [":2:", "sme_count", "-5", "from 0 to 10000000"]),
    "bool-as-text": ("name: Ota\npolicy:\n  officials_visit_firms: 'yes'\n", [":3:", "policy.officials_visit_firms", '"yes"', "true, false or unknown"]),
    "outside-vocabulary": (
        "name: Ota\nnetwork:\n  form: many\n",
        [":3:", "network.form", '"many"', "one_to_many, rigid_many_to_many, flexible_many_to_many, fragmented"],
    ),
    "yaml-no-trap": ("name: Ota\nhollowing_out: no\n", [":2:", "hollowing_out", "false", "severe, moderate, none", "yes/no"]),
    "list-item": ("name: Ota\nleadership:\n  key_persons: [entrepreneur, mayor]\n", [":3:", "leadership.key_persons[1]", '"mayor"', "local_official"]),
    "list-expected": ("name: Ota\nleadership:\n  key_persons: entrepreneur\n", [":3:", "expected a list", "[] for none"]),
    "group-not-mapping": ("name: Ota\nnetwork: one_to_many\n", [":2:", "network", "expected a mapping of form"]),
    "missing-name": ("district_type: city_type\n", [":1:", "no name", "name:"]),
    "empty-name": ("name: '  '\n", [":1:", "name", "is empty"]),
    "duplicate-key": ("name: Ota\nsme_count: 1\nsme_count: 2\n", [":3:", "appears twice"]),
    "multiline-name": ('name: "Ota\\nward"\n', [":1:", "line break"]),
    "empty-file": ("", ["holds no region"]),
    "bad-second-document": ("name: Ota\n---\nname: Hitachi\nnetwork:\n  form: pyramid\n", [":5:", "network.form", '"pyramid"']),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_region_file_gives_a_clear_error(tmp_path: Path, cli: Callable[..., Result], case: str) -> None:
    text, expected = BAD_INPUTS[case]
    path = tmp_path / f"{case}.yaml"
    path.write_text(text, encoding="utf-8")
    result = cli("assess", str(path))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(f"Error: {path}")
    for fragment in expected:
        assert fragment in result.stderr, f"{fragment!r} missing from: {result.stderr}"


def test_every_problem_of_a_file_is_reported_at_once() -> None:
    with pytest.raises(RegionError) as info:
        load_regions("name: Ota\nsme_count: x\nnetwork:\n  form: y\nfoo: 1\n", "r.yaml")
    assert [m.split(":")[1] for m in info.value.messages] == ["2", "4", "5"]


def test_unreadable_files(tmp_path: Path, cli: Callable[..., Result]) -> None:
    binary = tmp_path / "latin1.yaml"
    binary.write_bytes("name: M\xfcnchen\n".encode("latin-1"))
    for path, fragment in ((tmp_path / "missing.yaml", "no such file"), (binary, "not UTF-8")):
        result = cli("assess", str(path))
        assert result.exit_code == 1
        assert fragment in result.stderr and "Traceback" not in result.stderr


def test_unknown_means_unknown() -> None:
    (region,) = load_regions("name: Ota\nsme_count: unknown\nnetwork: unknown\nuig:\n  status:\n", "r.yaml")
    assert region.facts == {"name": "Ota"}


def test_valid_documents_before_a_syntax_error_are_kept() -> None:
    items = list(parse_regions("name: A\n---\nname: B\n---\nname: [C\n", "r.yaml"))
    assert [type(i).__name__ for i in items] == ["Region", "Region", "RegionError"]


def test_round_trip_through_the_file_format() -> None:
    text = "name: Ota\nsme_count: 6000\nnetwork:\n  form: rigid_many_to_many\nleadership:\n  key_persons: []\n"
    (region,) = load_regions(text, "r.yaml")
    assert to_document(region.facts) == {
        "name": "Ota",
        "sme_count": 6000,
        "network": {"form": "rigid_many_to_many"},
        "leadership": {"key_persons": []},
    }


@pytest.mark.parametrize("name", ["yes", "Plant #3", "a: b", "{{ 7*7 }}", "'quoted'", "1984", "Ōta — 大田区", "- dash", "null"])
def test_format_region_writes_what_load_regions_reads_back(name: str) -> None:
    from clusteradvisor.region import format_region

    facts = {"name": name, "sme_count": 6000, "network.form": "one_to_many", "leadership.key_persons": [], "uig.coordinator": False}
    text = format_region(facts, ["# header"])
    assert text.startswith("# header\nschema_version: 1\n")
    (region,) = load_regions(text, "saved.yaml")
    assert dict(region.facts) == {"schema_version": 1, **facts}
