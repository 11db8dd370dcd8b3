"""Shared fixtures: repository paths, the advisor, a CLI runner, and --update-golden."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from clusteradvisor.advisor import Advisor, default_advisor
from clusteradvisor.cli import main
from clusteradvisor.knowledge import KnowledgeBase
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


def nest(facts: dict[str, Any], document: dict[str, Any] | None = None) -> dict[str, Any]:
    """Put flat dotted facts into a region document's shape (into `document`, when given)."""
    document = {} if document is None else document
    for path, value in facts.items():
        *groups, leaf = path.split(".")
        target = document
        for group in groups:
            target = target.setdefault(group, {})
        target[leaf] = value
    return document


# Knowledge map section 4.2: how each version-1 answer reads in version 2, written out here
# independently of clusteradvisor.migrate (test_migrate and test_engine check against it).
MAP_V1_VALUES: dict[str, dict[Any, dict[str, Any]]] = {
    "uig.status": {
        "none": {"uig.official_channel": "none", "uig.firm_formed_links": False},
        "national_institutions_only": {"uig.official_channel": "institute_transfer"},
        "private_university_links": {"uig.firm_formed_links": True},
        "active_liaison": {"uig.official_channel": "brokered_liaison"},
    },
    "policy.regional_interpretation": {True: {"policy.local_adaptation": True}, False: {"policy.local_adaptation": False}},
    "policy.one_stop_platform": {
        "none": {"policy.regional_platform": False},
        "formal": {"policy.regional_platform": True, "policy.regional_platform_use": "little_used"},
        "effective": {"policy.regional_platform": True, "policy.regional_platform_use": "connects_firms"},
    },
    "policy.ambition_vs_resources": {
        "matched": {"policy.ambition_exceeds_budget": False, "policy.incentives_attract": True},
        "over_ambitious": {"policy.ambition_exceeds_budget": True},
        "weak_incentives": {"policy.incentives_attract": False},
    },
    "policy.subsidy_allocation": {"egalitarian": {"policy.subsidy_allocation": "mostly_uniform"}, "selective": {"policy.subsidy_allocation": "mostly_competitive"}},
    "policy.field_focus": {"specific_fields": {"policy.support_outside_fields": False}, "flexible": {"policy.support_outside_fields": True}},
    "policy.supports_grassroots": {True: {"policy.supports_grassroots": "timely"}, False: {"policy.supports_grassroots": "none"}},
}


def make_region(**facts: Any) -> Region:
    """Build a version-2 region from flat dotted facts: make_region(**{"network.form": ["one_to_many"]}).

    Facts of the computed panel block (`panel.*`) cannot come from a file; they are attached after
    the rest has been validated, as panel combination does.
    """
    panel = {p: facts.pop(p) for p in list(facts) if p.startswith("panel.")}
    document = nest(facts, {"schema_version": 2, "name": facts.pop("name", "Testville")})
    region = region_from_mapping(document)
    if not panel:
        return region
    return Region(region.name, {**region.facts, **panel}, region.source, region.document, region.migration)


def generated_regions(kb: KnowledgeBase, count: int, seed: int) -> list[Region]:
    """Random valid regions: each field known with probability one half, lists of up to three items."""
    rng = random.Random(seed)
    fields = [f for f in kb.vocabulary.file_fields if f.path not in ("name", "schema_version") and f.type != "text" and f.path != "respondent.role"]
    regions = []
    for _ in range(count):
        facts: dict[str, Any] = {}
        for f in fields:
            if rng.random() < 0.5:
                continue
            if f.type == "boolean":
                facts[f.path] = rng.random() < 0.5
            elif f.type == "choice":
                facts[f.path] = rng.choice(f.allowed)
            elif f.type == "choices":
                facts[f.path] = rng.sample(list(f.allowed), k=rng.randint(0, min(3, len(f.allowed))))
            elif f.type == "words":
                facts[f.path] = rng.sample(sorted(kb.industry_words_read), k=rng.randint(0, 2))
            elif f.type == "integer":
                facts[f.path] = rng.randint(f.minimum or 0, min(f.maximum or 1000, 1000))
        regions.append(make_region(**facts))
    return regions
