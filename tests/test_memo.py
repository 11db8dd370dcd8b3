"""Memos: golden files for the examples, byte-identical output, a brief on top, region text kept as data."""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from hypothesis import given, settings
from hypothesis import strategies as st

from clusteradvisor import __version__
from clusteradvisor.advisor import Advisor
from clusteradvisor.errors import TemplateError
from clusteradvisor.memo import render
from clusteradvisor.region import load_regions, read_text
from clusteradvisor.report import assess_text
from clusteradvisor.verdict import Verdict

from .conftest import EXAMPLES, GOLDEN, make_region

EXAMPLE_NAMES = sorted(p.stem for p in EXAMPLES.glob("*.yaml"))
FULL_HTML = "ota-ward"  # one HTML golden keeps the page's head and CSS; the others protect only the body


def normalise(text: str, fmt: str, example: str) -> str:
    """What a golden protects: the content, not the rule-base hash or the tool version (issue 11)."""
    text = re.sub(r"\b[0-9a-f]{12}\b", "<rule-base>", text).replace(__version__, "<version>")
    if fmt == "html" and example != FULL_HTML:
        text = text[text.index("<body>") :]
    return text


def example(advisor: Advisor, name: str) -> Verdict:
    (region,) = load_regions(read_text(str(EXAMPLES / f"{name}.yaml")), f"examples/{name}.yaml")
    return advisor.assess(region)


@pytest.mark.parametrize("fmt", ["md", "html", "txt", "json"])
@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_golden_memo(name: str, fmt: str, update_golden: bool) -> None:
    path = EXAMPLES / f"{name}.yaml"
    text = normalise(assess_text(read_text(str(path)), f"examples/{name}.yaml", fmt), fmt, name)
    golden = GOLDEN / f"{name}.{fmt}"
    if update_golden:
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert golden.is_file(), f"no golden file {golden}: run pytest --update-golden and review the diff"
    assert text == golden.read_text(encoding="utf-8"), "memo changed: review, then pytest --update-golden"


def test_identical_input_gives_identical_bytes(advisor: Advisor) -> None:
    text = read_text(str(EXAMPLES / "techno-valley.yaml"))
    first = assess_text(text, "x.yaml", "md")
    advisor.assess(make_region(**{"network.form": ["one_to_many"]}))  # other work in between
    assert assess_text(text, "x.yaml", "md") == first
    assert assess_text(text, "x.yaml", "json") == assess_text(text, "x.yaml", "json")


@pytest.mark.parametrize("name", ["{{ 7*7 }}", "{% raw %}x", "<script>alert(1)</script>", "Ota | *ward* [x](y) #1"])
def test_region_text_is_never_template_code(advisor: Advisor, name: str) -> None:
    verdict = advisor.assess(make_region(name=name, area="{{ config }}", **{"smes.innovation": "none"}))
    memo = render(verdict, "md")
    title = memo.split("\n", 1)[0]
    assert title.replace("\\", "") == f"# Cluster policy advice: {name}"
    assert "{{ config }}" in memo.replace("\\", "")
    data = json.loads(render(verdict, "json"))
    assert data["region"]["name"] == name


def test_markdown_escapes_markup_in_region_text(advisor: Advisor) -> None:
    memo = render(advisor.assess(make_region(name="<script>alert(1)</script>", industries=["tea_ceremony"])), "md")
    assert "<script>" not in memo
    assert "\\<script\\>" in memo
    assert "tea\\_ceremony" in memo


def test_memo_opens_with_a_brief_and_the_plan_follows_in_order(advisor: Advisor) -> None:
    memo = render(example(advisor, "higashi-osaka"), "md")
    headings = re.findall(r"^## (.+)$", memo, re.M)
    assert headings[:3] == ["Brief", "Action plan", "Build on what works"]
    assert {"Scorecard", "Which case of the study this region resembles", "Information gaps"} <= set(headings)
    brief = memo.split("## Brief")[1].split("## Action plan")[0]
    assert "1. **Reconnect the programme with what firms are doing** (step 1; critical;" in brief
    assert "Prescribed by the paper." in brief and "Firms have not been asked." in brief
    assert brief.count("\n- ") == 3  # the three questions that would change the advice most
    assert "about 40 interviews" in brief
    steps = [int(n) for n in re.findall(r"^#### (\d+)\. ", memo, re.M)]
    assert steps == list(range(1, len(steps) + 1))


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_the_brief_is_one_screenful_and_names_only_urgent_actions(advisor: Advisor, name: str) -> None:
    verdict = example(advisor, name)
    memo = render(verdict, "md")
    brief = memo.split("## Brief")[1].split("## Action plan")[0]
    assert len(brief.strip().splitlines()) <= 30
    named = re.findall(r"^\d\. \*\*(.+?)\*\* \(step \d+; (\w+);", brief, re.M)
    assert len(named) <= 5 and all(priority in ("critical", "high") for _, priority in named)
    assert [t for t, _ in named] == [r.rule.title for r in verdict.remedies if r.rule.priority in ("critical", "high")][:5]


def test_every_recommendation_shows_its_evidence_and_success_test(advisor: Advisor) -> None:
    verdict = example(advisor, "kiryu-style-textile")
    memo = render(verdict, "md")
    for rec in verdict.remedies:
        section = memo.split(f"#### {rec.step}. {rec.rule.title}")[1].split("####")[0]
        assert rec.rule.source in section and rec.rule.advice not in ("",)
        assert f"No longer needed once {rec.rule.success}" in section
        assert any(label in section for label in ("prescribed by the paper", "observed in the study", "inferred by ClusterAdvisor"))
    assert "## Covered by other advice" in memo and "covered by step" in memo
    assert "Weigh against step" in memo  # the declared conflict is shown with its reconciliation


def test_no_field_paths_and_no_python_values_leak_into_the_memo(advisor: Advisor) -> None:
    for name in EXAMPLE_NAMES:
        memo = render(example(advisor, name), "md")
        assert not re.search(r"\b(policy|network|uig|leadership|smes|governance)\.[a-z_]+", memo), name
        assert "None" not in memo.replace("None:", "") and "True" not in memo and "False" not in memo, name
        lists = re.findall(r"(?:Why here|Because|Why|Would decide|It would help decide): (.+)", memo)
        assert lists and not [line for line in lists if re.search(r"; [A-Z][a-z]", line)], name


def test_a_region_with_no_advice_still_gets_a_sensible_memo(advisor: Advisor) -> None:
    memo = render(advisor.assess(make_region()), "md")
    assert "No action on the facts given." in memo
    assert "not assessed" in memo


def test_a_migrated_file_says_so(advisor: Advisor) -> None:
    (region,) = load_regions(read_text(str(EXAMPLES / "v1" / "kiryu-style-textile.yaml")), "old.yaml")
    memo = render(advisor.assess(region), "md")
    assert "**Read from an older file.**" in memo and "`clusteradvisor migrate`" in memo


def test_broken_user_template_names_template_and_line(advisor: Advisor, tmp_path: Path) -> None:
    (tmp_path / "memo.md.j2").write_text("# {{ region.name }}\n{% for x in %}\n", encoding="utf-8")
    with pytest.raises(TemplateError, match=r"memo\.md\.j2:2: template error"):
        render(advisor.assess(make_region()), "md", tmp_path)
    (tmp_path / "memo.md.j2").write_text("# {{ region.name }}\n{{ no_such_thing }}\n", encoding="utf-8")
    with pytest.raises(TemplateError, match=r"memo\.md\.j2:2: template failed while rendering: 'no_such_thing' is undefined"):
        render(advisor.assess(make_region()), "md", tmp_path)


@pytest.mark.parametrize("fmt", ["md", "txt", "html"])
def test_brief_prints_the_first_page_alone(cli: Callable[..., Result], fmt: str) -> None:
    path = str(EXAMPLES / "higashi-osaka.yaml")
    whole = cli("assess", path, "-f", fmt).stdout
    brief = cli("assess", path, "-f", fmt, "--brief").stdout
    assert "Reconnect the programme with what firms are doing" in brief and "about 40 interviews" in brief
    assert len(brief) < len(whole) / 3
    assert "Action plan" not in brief and "ACTION PLAN" not in brief and "Information gaps" not in brief
    if fmt == "html":
        assert brief.rstrip().endswith("</html>") and "</main>" in brief
    assert cli("assess", path, "-f", "json", "--brief").exit_code == 2


_WORDS = st.lists(st.sampled_from(["a", "bc", "xyz", "-", "é", "\u00a0", " ", "  ", "\t", "\n", "longwordlongword"]), max_size=80).map("".join)


@settings(max_examples=1500, deadline=None)
@given(_WORDS, st.integers(-2, 90), st.sampled_from(["", " ", "   ", "      "]), st.one_of(st.none(), st.sampled_from(["", "- ", "12. ", "          "])))
def test_the_txt_wrap_filter_fills_exactly_as_textwrap(text: str, width: int, indent: str, first: str | None) -> None:
    # memo._wrap cuts lines itself for speed; textwrap is the definition it must match, errors included.
    from clusteradvisor.memo import _wrap

    def reference() -> str:
        return textwrap.fill(
            " ".join(text.split()), width=width, initial_indent=indent if first is None else first,
            subsequent_indent=indent, break_long_words=True, break_on_hyphens=False,
        )

    try:
        expected = reference()
    except ValueError:
        with pytest.raises(ValueError):
            _wrap(text, width, indent, first)
        return
    assert _wrap(text, width, indent, first) == expected


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=80))
def test_markdown_escaping_puts_a_backslash_before_each_markup_character(text: str) -> None:
    from clusteradvisor.memo import escape_markdown

    assert escape_markdown(text) == "".join("\\" + c if c in "\\`*_[]<>|#" else c for c in text)
