"""Panels: the map's worked examples (section 10.7), order independence, a panel of one, privacy, the CLI."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from hypothesis import given, settings
from hypothesis import strategies as st

from clusteradvisor.advisor import Advisor
from clusteradvisor.errors import RegionError
from clusteradvisor.knowledge import evaluate_all
from clusteradvisor.panel import combine, group_panels, load_panel, panel_facts_only, side_view
from clusteradvisor.region import Region, load_regions, read_text
from clusteradvisor.report import assess_panel
from clusteradvisor.vocabulary import load_vocabulary

from .conftest import EXAMPLES, GOLDEN, make_region
from .test_memo import normalise

PANEL_EXAMPLE = EXAMPLES / "panels" / "higashi-osaka"
LABELS = ("city industry promotion office", "parts maker in the satellite group", "specialised machining workshop")


def respondent(role: str | None, source: str, **facts: Any) -> Region:
    """A respondent's file as a Region (role None: a file that does not say who answered)."""
    if role is not None:
        facts["respondent.role"] = role
    region = make_region(**facts)
    return Region(region.name, region.facts, source, region.document, region.migration)


def example_a() -> list[Region]:
    """Map 10.7, example A: one official and two firms."""
    official = respondent(
        "official", "official.yaml",
        hollowing_out="severe",
        **{
            "network.form": ["one_to_many"],
            "network.skill_coordinators": True,
            "policy.officials_visit_firms": True,
            "policy.officials_know_firms": True,
            "policy.objectives_clear": True,
            "policy.incentives_attract": True,
            "policy.unrooted_projects": False,
            "uig.coordinator": True,
            "leadership.key_persons": ["local_official"],
            "leadership.style": "directive",
            "policy.long_term_relationships": True,
            "policy.supports_grassroots": "timely",
        },
    )  # fmt: skip
    firm_1 = respondent(
        "firm", "firm-1.yaml",
        hollowing_out="moderate",
        **{
            "network.form": ["flexible_many_to_many"],
            "policy.officials_visit_firms": False,
            "policy.officials_know_firms": False,
            "policy.objectives_clear": False,
            "policy.incentives_attract": False,
            "policy.unrooted_projects": True,
            "uig.coordinator": True,
            "leadership.key_persons": ["entrepreneur"],
            "leadership.style": "equal_partners",
            "policy.long_term_relationships": True,
            "policy.supports_grassroots": "late",
        },
    )  # fmt: skip
    firm_2 = respondent(
        "firm", "firm-2.yaml",
        **{
            "network.skill_coordinators": False,
            "policy.officials_visit_firms": False,
            "policy.officials_know_firms": False,
            "policy.objectives_clear": False,
            "policy.incentives_attract": False,
            "policy.unrooted_projects": True,
            "uig.coordinator": True,
            "leadership.key_persons": ["entrepreneur"],
            "leadership.style": "directive",
            "policy.long_term_relationships": False,
            "policy.supports_grassroots": "none",
        },
    )  # fmt: skip
    return [official, firm_1, firm_2]


def example_b() -> list[Region]:
    """Map 10.7, example B: two officials, three firms, a support staff member and a researcher."""
    officials = [
        respondent("official", f"official-{i}.yaml", industries=industries, **{
            "policy.officials_visit_firms": visits,
            "policy.officials_know_firms": True,
            "policy.objectives_clear": True,
            "policy.long_term_relationships": True,
            "uig.coordinator": True,
            "leadership.key_persons": ["entrepreneur"],
        })
        for i, (visits, industries) in enumerate([(True, ["metal"]), (False, ["metal"])], start=1)
    ]  # fmt: skip
    firms = [
        respondent("firm", f"firm-{i}.yaml", industries=industries, **{
            "policy.officials_visit_firms": vote,
            "policy.officials_know_firms": vote,
            "policy.objectives_clear": False,
            "policy.long_term_relationships": vote,
            "uig.coordinator": True,
            "leadership.key_persons": people,
        })
        for i, (vote, people, industries) in enumerate(
            [(False, ["entrepreneur"], ["textile"]), (False, ["entrepreneur"], None), (True, ["entrepreneur", "skill_coordinator"], None)], start=1
        )
    ]  # fmt: skip
    support = respondent("support", "support.yaml", **{"uig.official_channel": "institute_transfer", "uig.official_channel_fit": "meets_needs"})
    researcher = respondent("researcher", "researcher.yaml", **{"uig.official_channel_fit": "mismatched"})
    return [*officials, *firms, support, researcher]


# ---------------------------------------------------------------- the worked examples


def test_example_a_combined_facts_and_findings(advisor: Advisor) -> None:
    region = combine(example_a())
    facts, panel = region.facts, region.panel
    assert panel is not None
    # The rules see the firms' answers on perception fields.
    assert facts["policy.officials_visit_firms"] is False
    assert facts["policy.officials_know_firms"] is False
    assert facts["leadership.key_persons"] == ["entrepreneur"]
    assert facts["uig.coordinator"] is True
    # Three fact disagreements and three firm splits: unknown to the rules.
    assert [d.field for d in panel.fact_disagreements] == ["hollowing_out", "network.form", "network.skill_coordinators"]
    assert sorted(s.field for s in panel.splits) == ["leadership.style", "policy.long_term_relationships", "policy.supports_grassroots"]
    assert all(s.side == "firm" for s in panel.splits)
    for path in ("hollowing_out", "network.form", "network.skill_coordinators", "leadership.style", "policy.long_term_relationships", "policy.supports_grassroots"):
        assert path not in facts
    # 6 gaps of 7 comparable points: 86%.
    assert len(panel.perception_gaps) == 6
    assert panel.comparable_fields == facts["panel.comparable_fields"] == 7
    assert panel.gap_share_pct == facts["panel.gap_share_pct"] == 86
    assert "uig.coordinator" not in facts["panel.perception_gaps"]
    assert facts["panel.roles"] == ["official", "firm"]
    assert panel.counts == {"official": 1, "firm": 2}
    # A split side writes no side view; a determined one does.
    assert facts["panel.official.policy.long_term_relationships"] is True
    assert "panel.firm.policy.long_term_relationships" not in facts
    visits = next(g for g in panel.perception_gaps if g.field == "policy.officials_visit_firms")
    assert (visits.official, visits.firm) == (True, False)
    assert [(a.role, a.value) for a in visits.answers] == [("official", True), ("firm", False), ("firm", False)]


def test_example_a_advice_listens_to_firms_first(advisor: Advisor) -> None:
    verdict = advisor.assess(combine(example_a()))
    assert verdict.recommendations[0].id == "listen-to-firms-first"
    assert [(s.rule.id, s.by) for s in verdict.superseded if s.rule.id == "reconcile-views"] == [("reconcile-views", ("listen-to-firms-first",))]
    assert {"perception-gap", "officials-overrate-reach"} <= {d.id for d in verdict.derived}
    reasons = {g.field: g.reason for g in verdict.gaps}
    assert reasons["hollowing_out"] == "respondents_disagree"
    assert reasons["network.skill_coordinators"] == "respondents_disagree"
    assert reasons["policy.supports_grassroots"] == "firms_split"


def test_example_b_majorities_splits_and_share(advisor: Advisor) -> None:
    region = combine(example_b())
    facts, panel = region.facts, region.panel
    assert panel is not None
    # A 2-1 firm majority decides what the rules see.
    assert facts["policy.officials_know_firms"] is False
    assert facts["policy.officials_visit_firms"] is False
    # Two officials split on visits: no officials' view, so visits are not comparable.
    assert "panel.official.policy.officials_visit_firms" not in facts
    assert "policy.officials_visit_firms" not in facts["panel.perception_gaps"]
    # Support and researcher tie on channel fit, and no firm answered: unknown, a pooled split.
    assert "uig.official_channel_fit" not in facts
    assert [(s.field, s.side) for s in panel.splits] == [("uig.official_channel_fit", "all")]
    # Agreement on the coordinator and key persons (the lone skill coordinator is a minority item).
    assert facts["leadership.key_persons"] == ["entrepreneur"]
    assert {"uig.coordinator", "leadership.key_persons"}.isdisjoint(facts["panel.perception_gaps"])
    # Industries differ between an official and a firm: a fact disagreement.
    assert [d.field for d in panel.fact_disagreements] == ["industries"]
    assert "industries" not in facts
    assert (len(panel.perception_gaps), panel.comparable_fields, panel.gap_share_pct) == (3, 5, 60)
    assert panel.counts == {"official": 2, "firm": 3, "support": 1, "researcher": 1}
    status = evaluate_all(advisor.kb, facts)
    assert status["metal-machinery-upgrade"] is None


def test_example_c_v1_file_and_a_firm_measure_no_gap(advisor: Advisor) -> None:
    (old,) = load_regions(read_text(str(EXAMPLES / "v1" / "kiryu-style-textile.yaml")), "kiryu-v1.yaml")
    assert old.migration is not None
    firm = respondent("firm", "firm.yaml", name=old.name, **{"policy.officials_visit_firms": False, "policy.objectives_clear": True})
    region = combine([old, firm])
    assert region.panel is not None
    assert region.facts["panel.roles"] == ["firm", "unknown"]
    assert region.panel.comparable_fields == 0 and region.panel.gap_share_pct is None
    assert "panel.gap_share_pct" not in region.facts
    assert region.facts["policy.objectives_clear"] is True  # the firm's view
    status = evaluate_all(advisor.kb, region.facts)
    assert status["listen-to-firms-first"] is False  # not applicable: no official answered
    verdict = advisor.assess(region)
    assert "listen-to-firms-first" not in {r.id for r in verdict.recommendations}
    assert next(s for s in verdict.scores if s.dimension == "S2").status in ("act", "on_track", "not_assessed")


# ---------------------------------------------------------------- the combination rules


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([["entrepreneur"], ["entrepreneur", "local_official"], ["entrepreneur"]], ["entrepreneur"]),
        ([["entrepreneur"], ["local_official"]], None),  # exactly half: split
        ([[], [], ["entrepreneur"]], []),
    ],
)
def test_lists_take_a_strict_majority_per_item(values: list[list[str]], expected: list[str] | None) -> None:
    view = side_view(load_vocabulary().fields["leadership.key_persons"], values)
    assert (None if view.split else view.value) == expected


def test_scalars_take_the_plurality_and_a_tie_splits() -> None:
    f = load_vocabulary().fields["policy.supports_grassroots"]
    assert side_view(f, ["late", "late", "none", "timely"]).value == "late"
    assert side_view(f, ["late", "none"]).split


def test_lists_compare_as_sets_for_facts() -> None:
    a = respondent("official", "a.yaml", **{"network.form": ["one_to_many", "fragmented"]})
    b = respondent("firm", "b.yaml", **{"network.form": ["fragmented", "one_to_many"]})
    region = combine([a, b])
    assert set(region.facts["network.form"]) == {"one_to_many", "fragmented"}
    assert region.panel is not None and not region.panel.fact_disagreements


def test_respondent_is_never_combined() -> None:
    region = combine(example_a())
    assert not any(p.startswith("respondent.") for p in region.facts)


def test_different_names_are_an_error_naming_the_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("schema_version: 2\nname: Ota ward\nrespondent: {role: official}\n", encoding="utf-8")
    (tmp_path / "b.yaml").write_text("schema_version: 2\nname: Higashi Osaka\nrespondent: {role: firm}\n", encoding="utf-8")
    with pytest.raises(RegionError) as err:
        combine(load_panel([str(tmp_path)]))
    message = str(err.value)
    assert str(tmp_path / "a.yaml") in message and str(tmp_path / "b.yaml") in message
    assert '"Ota ward"' in message and '"Higashi Osaka"' in message


def test_group_panels_groups_by_name_deterministically() -> None:
    regions = [*example_a(), respondent("firm", "z.yaml", name="Another")]
    groups = group_panels(reversed(regions))
    assert [g[0].name for g in groups] == ["Another", "Testville"]
    assert [r.source for r in groups[1]] == ["firm-1.yaml", "firm-2.yaml", "official.yaml"]


def test_a_bad_file_in_a_panel_is_reported_with_its_place(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("schema_version: 2\nname: Ota ward\nrespondent: {role: mayor}\n", encoding="utf-8")
    with pytest.raises(RegionError, match=r"a\.yaml:3: respondent\.role: \"mayor\" is not one of official, firm"):
        load_panel([str(tmp_path / "a.yaml")])


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.stem)
def test_a_panel_of_one_is_a_plain_assessment(advisor: Advisor, path: Path) -> None:
    (region,) = load_regions(read_text(str(path)), str(path))
    plain, panel = advisor.assess(region), advisor.assess(combine([region]))
    assert [(r.id, r.variant, r.advice) for r in panel.recommendations] == [(r.id, r.variant, r.advice) for r in plain.recommendations]
    assert [d.id for d in panel.derived] == [d.id for d in plain.derived]
    assert [p.id for p in panel.patterns] == [p.id for p in plain.patterns]
    expected = {p: v for p, v in region.facts.items() if not p.startswith("respondent.")}
    assert {p: (set(v) if isinstance(v, list) else v) for p, v in panel_facts_only(panel.region.facts).items()} == {
        p: (set(v) if isinstance(v, list) else v) for p, v in expected.items()
    }


# A small answer space, so that random panels often agree, disagree, tie and split.
_FIELDS: dict[str, list[Any]] = {
    "hollowing_out": ["severe", "moderate", "none"],
    "network.form": [["one_to_many"], ["fragmented"], ["one_to_many", "fragmented"]],
    "industries": [["metal"], ["textile"]],
    "policy.officials_visit_firms": [True, False],
    "policy.supports_grassroots": ["none", "late", "timely"],
    "leadership.key_persons": [[], ["entrepreneur"], ["entrepreneur", "local_official"]],
    "uig.coordinator": [True, False],
}
_respondent = st.fixed_dictionaries(
    {"role": st.sampled_from(["official", "firm", "support", "researcher", None])},
    optional={path: st.sampled_from(values) for path, values in _FIELDS.items()},
)


@settings(max_examples=60, deadline=None)
@given(answers=st.lists(_respondent, min_size=1, max_size=6), seed=st.integers(0, 2**16))
def test_combination_does_not_depend_on_file_order(answers: list[dict[str, Any]], seed: int) -> None:
    regions = [respondent(a.pop("role"), f"r{i}.yaml", **a) for i, a in enumerate(answers)]
    shuffled = list(regions)
    random.Random(seed).shuffle(shuffled)
    one, two = combine(regions), combine(shuffled)
    assert dict(one.facts) == dict(two.facts)
    assert one.panel == two.panel
    assert one.source == two.source


# ---------------------------------------------------------------- output: JSON, memos, privacy


def test_panel_json_has_the_contract_keys(cli: Callable[..., Result]) -> None:
    result = cli("assess", "--panel", str(PANEL_EXAMPLE), "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["panel"] == {"roles": ["official", "firm"], "respondents": {"official": 1, "firm": 2}, "comparable_fields": 6, "gap_share_pct": 83}
    assert {"field", "official", "firm", "answers"} <= set(data["perception_gaps"][0])
    assert all({"role", "value"} == set(a) for g in data["perception_gaps"] for a in g["answers"])
    assert data["fact_disagreements"] == [] and data["splits"] == []
    assert data["recommendations"][0]["id"] == "listen-to-firms-first"
    assert {"id": "reconcile-views", "by": "listen-to-firms-first"} in data["superseded"]


@pytest.mark.parametrize(("fmt", "heading"), [("md", "## Where officials and firms see it differently"), ("html", "<h2>Where officials and firms see it differently</h2>"), ("txt", "WHERE OFFICIALS AND FIRMS SEE IT DIFFERENTLY")])
def test_panel_memo_in_every_format(cli: Callable[..., Result], fmt: str, heading: str) -> None:
    files = [str(PANEL_EXAMPLE / n) for n in ("firm-2.yaml", "official.yaml", "firm-1.yaml")]
    result = cli("assess", "--panel", *files, "--format", fmt)
    assert result.exit_code == 0, result.output
    memo = result.stdout
    assert heading in memo
    assert "disagree on 5 of 6 comparable points (83%)" in re.sub(r"\s+", " ", memo)
    assert memo.index("see it differently") < memo.index("What to do first")  # the brief leads with the gap
    assert "policy.officials_visit_firms" not in memo  # plain words, never field paths
    for label in LABELS:
        assert label not in memo


@pytest.mark.parametrize("fmt", ["md", "json", "txt", "html"])
def test_respondent_labels_only_with_show_respondents(cli: Callable[..., Result], fmt: str) -> None:
    shown = cli("assess", "--panel", str(PANEL_EXAMPLE), "--format", fmt, "--show-respondents").stdout
    hidden = cli("assess", "--panel", str(PANEL_EXAMPLE), "--format", fmt).stdout
    for label in LABELS[1:]:  # the firms answered the disputed points
        assert label in re.sub(r"\s+", " ", shown)
        assert label not in hidden


def test_panel_options_are_checked(cli: Callable[..., Result]) -> None:
    two = cli("assess", str(EXAMPLES / "ota-ward.yaml"), str(EXAMPLES / "hitachi-city.yaml"))
    assert two.exit_code == 2 and "--panel" in two.stderr
    show = cli("assess", str(EXAMPLES / "ota-ward.yaml"), "--show-respondents")
    assert show.exit_code == 2 and "only applies to a panel" in show.stderr
    folder = cli("assess", str(PANEL_EXAMPLE))
    assert folder.exit_code == 2 and "is a folder" in folder.stderr


def test_a_panel_with_different_names_exits_1(cli: Callable[..., Result], tmp_path: Path) -> None:
    other = tmp_path / "other.yaml"
    other.write_text("schema_version: 2\nname: Ota ward\nrespondent: {role: firm}\n", encoding="utf-8")
    result = cli("assess", "--panel", str(PANEL_EXAMPLE / "official.yaml"), str(other))
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: panel: the files name different regions")
    assert str(other) in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("fmt", ["md", "json"])
def test_golden_panel_memo(fmt: str, update_golden: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(EXAMPLES.parent)  # relative file names, so the golden holds no machine's paths
    files = [f"examples/panels/higashi-osaka/{n}" for n in ("official.yaml", "firm-1.yaml", "firm-2.yaml")]
    content = assess_panel(files, fmt)
    assert isinstance(content, str)
    text = normalise(content, fmt, "panel-higashi-osaka")
    golden = GOLDEN / f"panel-higashi-osaka.{fmt}"
    if update_golden:
        golden.write_text(text, encoding="utf-8")
    assert golden.is_file(), f"no golden file {golden}: run pytest --update-golden and review the diff"
    assert text == golden.read_text(encoding="utf-8"), "memo changed: review, then pytest --update-golden"


def test_the_interview_role_option_offers_the_vocabulary_roles() -> None:
    from clusteradvisor.cli import ROLE_CHOICE
    from clusteradvisor.vocabulary import ROLES

    assert tuple(ROLE_CHOICE.choices) == ROLES == tuple(r.value for r in load_vocabulary().roles)


def test_panel_json_names_no_file_unless_asked(cli: Callable[..., Result]) -> None:
    plain = json.loads(cli("assess", "--panel", str(PANEL_EXAMPLE), "-f", "json").stdout)
    assert plain["region"]["source"] == "a panel of 3 respondents' files"
    shown = json.loads(cli("assess", "--panel", str(PANEL_EXAMPLE), "-f", "json", "--show-respondents").stdout)
    assert "firm-1.yaml" in shown["region"]["source"]
