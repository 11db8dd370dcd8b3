"""Shared fixtures: repository paths, the advisor, a CLI runner, and --update-golden."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from clusteradvisor.advisor import Advisor, default_advisor
from clusteradvisor.cli import main
from clusteradvisor.region import Region, region_from_mapping

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
DATA = Path(__file__).resolve().parent / "data"
GOLDEN = Path(__file__).resolve().parent / "golden"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="Rewrite tests/golden/ from the current output.")


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


@pytest.fixture(scope="session")
def advisor() -> Advisor:
    return default_advisor()


@pytest.fixture
def cli() -> Callable[..., Result]:
    """Run the clusteradvisor CLI in-process: cli("assess", "x.yaml", input=...)."""

    def run(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)

    return run


def make_region(**facts: Any) -> Region:
    """Build a version-2 region from flat dotted facts: make_region(**{"network.form": ["one_to_many"]}).

    Facts of the computed panel block (`panel.*`) cannot come from a file; they are attached after
    the rest has been validated, as panel combination does.
    """
    panel = {p: facts.pop(p) for p in list(facts) if p.startswith("panel.")}
    document: dict[str, Any] = {"schema_version": 2, "name": facts.pop("name", "Testville")}
    for path, value in facts.items():
        *groups, leaf = path.split(".")
        target = document
        for group in groups:
            target = target.setdefault(group, {})
        target[leaf] = value
    region = region_from_mapping(document)
    if not panel:
        return region
    return Region(region.name, {**region.facts, **panel}, region.source, region.document, region.migration)
