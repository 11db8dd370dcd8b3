"""The Python API: a mapping, YAML text or a file in, a verdict out; records from pandas work as they come."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import clusteradvisor
from clusteradvisor import assess, assess_many, render
from clusteradvisor.api import RegionSource, plain
from clusteradvisor.errors import RegionError

from .conftest import EXAMPLES, REPO


def test_assess_takes_a_mapping_yaml_text_or_a_path() -> None:
    path = EXAMPLES / "ota-ward.yaml"
    from_path = assess(path)
    from_text = assess(path.read_text(encoding="utf-8"))
    assert [r.id for r in from_path.recommendations] == [r.id for r in from_text.recommendations]
    mapping = {"name": "Ota ward", "smes": {"innovation": "incremental", "market_orientation": "clients_only"}}
    assert assess(mapping).recommendations[0].id == "build-market-orientation"
    assert render(from_path, "md") == render(from_text, "md").replace("<text>", str(path))


def test_flat_dotted_keys_are_nested_and_conflicts_refused() -> None:
    verdict = assess({"name": "X", "smes.innovation": "incremental", "smes.market_orientation": "clients_only"})
    assert verdict.recommendations[0].id == "build-market-orientation"
    with pytest.raises(RegionError, match="given twice"):
        assess({"name": "X", "smes": {"innovation": "none"}, "smes.innovation": {"a": 1}})


class FakeNumpyInt:
    """Stands in for numpy.int64 (numpy is not a dependency): a 0-d scalar with .item()."""

    __module__ = "numpy"
    ndim = 0

    def __init__(self, value: int) -> None:
        self.value = value

    def item(self) -> int:
        return self.value


class NAType:
    """Stands in for pandas.NA."""


def test_values_from_pandas_are_coerced_at_the_boundary() -> None:
    assert plain(6000.0) == 6000 and isinstance(plain(6000.0), int)
    assert plain(FakeNumpyInt(12)) == 12
    assert plain([1.0, float("nan"), None]) == [1]
    record: dict[str, Any] = {
        "name": "Ota ward",
        "sme_count": 6000.0,  # an integer column with a missing value elsewhere arrives as float64
        "hollowing_out": float("nan"),  # missing: unknown
        "premises_pressure": None,
        "network.skill_coordinators": True,
        "network.form": ["rigid_many_to_many"],
        "policy.officials_visit_firms": NAType(),
    }
    verdict = assess(record)
    assert verdict.region.facts["sme_count"] == 6000
    assert "hollowing_out" not in verdict.region.facts and "policy.officials_visit_firms" not in verdict.region.facts
    with pytest.raises(RegionError, match=r"6000\.5 is a decimal number"):
        assess({"name": "X", "sme_count": 6000.5})


def test_assess_many_streams_one_row_per_record_and_reports_failures() -> None:
    records: list[RegionSource] = [{"name": "A", "smes.innovation": "none"}, {"name": "B", "sme_count": "lots"}, EXAMPLES / "hitachi-city.yaml"]
    rows = list(assess_many(records))
    assert [r["status"] for r in rows] == ["ok", "failed", "ok"]
    assert rows[1]["name"] == "B" and "sme_count" in rows[1]["error"]
    assert rows[2]["first_action"] == "scale-product-groups" and rows[2]["S3_status"] == "on_track" and rows[2]["S3_figure"] == 100
    assert all(isinstance(v, (str, int, bool, type(None))) for row in rows for v in row.values())
    with pytest.raises(RegionError):
        list(assess_many(records, errors="raise"))


def test_importing_the_package_does_not_load_the_engine() -> None:
    code = "import sys, clusteradvisor; print('durable_rules_engine' in sys.modules, clusteradvisor.__version__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", clusteradvisor.__version__]


def test_the_package_is_typed() -> None:
    assert (Path(clusteradvisor.__file__).parent / "py.typed").is_file()


def test_the_readmes_python_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Python API", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code, "the README's Python API section has no python example"
    monkeypatch.chdir(REPO)
    exec(compile(textwrap.dedent(code.group(1)), "README.md", "exec"), {})
