"""Memos: golden files for the examples, byte-identical output, region text kept as data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clusteradvisor.advisor import Advisor
from clusteradvisor.errors import TemplateError
from clusteradvisor.memo import render
from clusteradvisor.region import load_regions, read_text
from clusteradvisor.report import assess_text

from .conftest import EXAMPLES, GOLDEN, make_region

EXAMPLE_NAMES = sorted(p.stem for p in EXAMPLES.glob("*.yaml"))


@pytest.mark.parametrize("fmt", ["md", "html", "txt", "json"])
@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_golden_memo(example: str, fmt: str, update_golden: bool) -> None:
    path = EXAMPLES / f"{example}.yaml"
    text = assess_text(read_text(str(path)), f"examples/{example}.yaml", fmt)
    golden = GOLDEN / f"{example}.{fmt}"
    if update_golden:
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert golden.is_file(), f"no golden file {golden}: run pytest --update-golden and review the diff"
    assert text == golden.read_text(encoding="utf-8"), "memo changed: review, then pytest --update-golden"


def test_identical_input_gives_identical_bytes(advisor: Advisor) -> None:
    text = read_text(str(EXAMPLES / "techno-valley.yaml"))
    first = assess_text(text, "x.yaml", "md")
    advisor.assess(make_region(**{"network.form": "one_to_many"}))  # other work in between
    assert assess_text(text, "x.yaml", "md") == first
    assert assess_text(text, "x.yaml", "json") == assess_text(text, "x.yaml", "json")


@pytest.mark.parametrize("name", ["{{ 7*7 }}", "{% raw %}x", "<script>alert(1)</script>", "Ota | *ward* [x](y) #1"])
def test_region_text_is_never_template_code(advisor: Advisor, name: str) -> None:
    verdict = advisor.assess(make_region(name=name, area="{{ config }}", **{"smes.innovation": "none"}))
    memo = render(verdict, "md")
    assert "49" not in memo.split("\n", 1)[0]
    title = memo.split("\n", 1)[0]
    unescaped = title.replace("\\", "")
    assert unescaped == f"# Cluster policy advice: {name}"
    assert "{{ config }}" in memo
    data = json.loads(render(verdict, "json"))
    assert data["region"]["name"] == name


def test_markdown_escapes_markup_in_region_text(advisor: Advisor) -> None:
    memo = render(advisor.assess(make_region(name="<script>alert(1)</script>")), "md")
    assert "<script>" not in memo
    assert "\\<script\\>" in memo


def test_memo_reads_as_a_memo(advisor: Advisor) -> None:
    (region,) = load_regions(read_text(str(EXAMPLES / "hitachi-city.yaml")), "hitachi-city.yaml")
    memo = render(advisor.assess(region), "md")
    for heading in ("## Summary", "## Scorecard", "## Which case of the study", "## Recommendations", "## Information gaps", "## Strengths to keep"):
        assert heading in memo
    assert "Why this applies: Network form: one-to-many; Dependence on a single client: high." in memo
    assert "Answering it would decide:" in memo
    assert "Source: Section 4.4" in memo
    assert "None" not in memo.replace("None:", "").replace("None recorded", "")  # no Python values leak


def test_a_region_with_no_advice_still_gets_a_sensible_memo(advisor: Advisor) -> None:
    memo = render(advisor.assess(make_region()), "md")
    assert "none of the rule base's recommendations applies" in memo
    assert "n/a" in memo


def test_broken_user_template_names_template_and_line(advisor: Advisor, tmp_path: Path) -> None:
    (tmp_path / "memo.md.j2").write_text("# {{ region.name }}\n{% for x in %}\n", encoding="utf-8")
    with pytest.raises(TemplateError, match=r"memo\.md\.j2:2: template error"):
        render(advisor.assess(make_region()), "md", tmp_path)
    (tmp_path / "memo.md.j2").write_text("# {{ region.name }}\n{{ no_such_thing }}\n", encoding="utf-8")
    with pytest.raises(TemplateError, match=r"memo\.md\.j2:2: template failed while rendering: 'no_such_thing' is undefined"):
        render(advisor.assess(make_region()), "md", tmp_path)
