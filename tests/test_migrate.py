"""Version-1 region files keep working: read through the map's v1 -> v2 table, and rewritten by `migrate`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from clusteradvisor.errors import RegionError
from clusteradvisor.region import load_regions, region_from_mapping, upgrade_text
from clusteradvisor.vocabulary import load_vocabulary_v1

from .conftest import EXAMPLES, MAP_V1_VALUES, nest

# Knowledge map section 4.2, written out independently of clusteradvisor.migrate: for each v1 field
# and value, the v2 facts it becomes (None = the field keeps its name and value).
UNKNOWN_AFTER = {
    ("uig.status", "national_institutions_only"): {"uig.firm_formed_links"},
    ("uig.status", "private_university_links"): {"uig.official_channel"},
    ("uig.status", "active_liaison"): {"uig.firm_formed_links"},
    ("policy.one_stop_platform", "none"): {"policy.local_support_centre"},
    ("policy.one_stop_platform", "formal"): {"policy.local_support_centre"},
    ("policy.one_stop_platform", "effective"): {"policy.local_support_centre"},
    ("policy.ambition_vs_resources", "over_ambitious"): {"policy.incentives_attract"},
    ("policy.ambition_vs_resources", "weak_incentives"): {"policy.ambition_exceeds_budget"},
    ("network.product_development_groups", True): {"network.product_groups_origin"},
}


def v1_document(path: str, value: Any) -> dict[str, Any]:
    return nest({path: value}, {"schema_version": 1, "name": "Oldtown"})


def every_v1_answer() -> list[tuple[str, Any]]:
    answers: list[tuple[str, Any]] = []
    for path, field in load_vocabulary_v1().fields.items():
        if path in ("schema_version", "name"):
            continue
        if field.type == "boolean":
            answers += [(path, True), (path, False)]
        elif field.type == "choice":
            answers += [(path, v) for v in field.allowed]
        elif field.type == "choices":
            answers += [(path, list(field.allowed[:2])), (path, [])]
        elif field.type == "words":
            answers.append((path, ["textiles", "ceramic", "tea"]))
        elif field.type == "integer":
            answers.append((path, 6000))
        else:
            answers.append((path, "Somewhere"))
    return answers


@pytest.mark.parametrize(("path", "value"), every_v1_answer(), ids=lambda x: str(x))
def test_every_v1_value_is_read_as_the_map_says(path: str, value: Any) -> None:
    region = region_from_mapping(v1_document(path, value))
    expected: dict[str, Any] = {"name": "Oldtown", "schema_version": 2}
    if path in MAP_V1_VALUES:
        expected.update(MAP_V1_VALUES[path][value])
    elif path in ("district_type", "network.form"):
        expected[path] = [value]
    elif path == "industries":
        expected[path] = ["textile", "ceramics", "tea"]
    else:
        expected[path] = value
    assert dict(region.facts) == expected
    assert region.migration is not None
    key = (path, value) if not isinstance(value, list) else (path, None)
    assert set(region.migration.unknown) == UNKNOWN_AFTER.get(key, set())


def test_a_file_without_a_version_is_v1_when_valid_under_v1_else_v2() -> None:
    (old,) = load_regions("name: Old\ndistrict_type: city_type\nuig:\n  status: none\n", "old.yaml")
    assert old.migration is not None and old.facts["district_type"] == ["city_type"]
    (new,) = load_regions("name: New\ndistrict_type: [city_type]\nuig:\n  official_channel: none\n", "new.yaml")
    assert new.migration is None and new.facts["uig.official_channel"] == "none"
    (both,) = load_regions("name: Both\nhollowing_out: severe\n", "both.yaml")
    assert both.migration is None and dict(both.facts) == {"name": "Both", "hollowing_out": "severe", "schema_version": 2}


def test_errors_of_an_unversioned_file_are_reported_against_the_closer_vocabulary() -> None:
    with pytest.raises(RegionError) as info:
        load_regions("name: Old\ndistrict_type: castle\nuig:\n  status: none\n", "old.yaml")
    (message,) = info.value.messages
    assert message.startswith('old.yaml:2: district_type: "castle" is not one of company_castle_town')
    with pytest.raises(RegionError) as info:
        load_regions("name: New\ndistrict_type: [castle]\nrespondent: {role: firm}\n", "new.yaml")
    assert info.value.messages[0].startswith('new.yaml:2: district_type[0]: "castle" is not one of')


def test_an_explicit_v1_file_is_never_read_as_v2() -> None:
    with pytest.raises(RegionError, match="is not a known field"):
        load_regions("schema_version: 1\nname: Old\nrespondent: {role: firm}\n", "old.yaml")


def test_the_v1_example_is_migrated_and_says_so(cli: Callable[..., Result]) -> None:
    result = cli("assess", str(EXAMPLES / "v1" / "kiryu-style-textile.yaml"), "--format", "json")
    assert result.exit_code == 0, result.output
    assert '"from_version": 1' in result.output


def test_migrate_rewrites_keeping_comments_and_reads_back_the_same(tmp_path: Path, cli: Callable[..., Result]) -> None:
    source = (EXAMPLES / "v1" / "kiryu-style-textile.yaml").read_text(encoding="utf-8")
    target = tmp_path / "old.yaml"
    target.write_text(source, encoding="utf-8")
    before = load_regions(source, "old.yaml")
    check = cli("migrate", "--check", str(target))
    assert check.exit_code == 1 and "version 1" in check.output
    assert target.read_text(encoding="utf-8") == source
    result = cli("migrate", str(target))
    assert result.exit_code == 0, result.output
    text = target.read_text(encoding="utf-8")
    assert "# uniform grants through the local weavers' association" in text
    assert "schema_version: 2" in text and "uig:\n  official_channel: none\n  firm_formed_links: false" in text
    assert [dict(r.facts) for r in load_regions(text, "old.yaml")] == [dict(r.facts) for r in before]
    assert cli("migrate", "--check", str(target)).exit_code == 0


def test_upgrade_text_leaves_v2_files_alone() -> None:
    assert upgrade_text((EXAMPLES / "ota-ward.yaml").read_text(encoding="utf-8"), "ota.yaml") is None


def test_migrate_reports_a_bad_file_and_carries_on(tmp_path: Path, cli: Callable[..., Result]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: X\ndistrict_type: castle\n", encoding="utf-8")
    good = tmp_path / "good.yaml"
    good.write_text("name: Y\ndistrict_type: city_type\n", encoding="utf-8")
    result = cli("migrate", str(bad), str(good))
    assert result.exit_code == 1
    assert 'bad.yaml:2: district_type: "castle"' in result.output
    assert "district_type: [city_type]" in good.read_text(encoding="utf-8")
