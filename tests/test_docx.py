"""Word memos: read back with python-docx (headings, the scorecard table, literal region text), bytes, CLI, LibreOffice."""

from __future__ import annotations

import dataclasses
import html
import io
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import docx
import pytest
from click.testing import Result
from docx.document import Document

from clusteradvisor.advisor import Advisor
from clusteradvisor.context import memo_context
from clusteradvisor.docx_memo import FIXED_TIME, TABLE_STYLE, render_docx, xml_safe
from clusteradvisor.errors import FormatError, OutputError
from clusteradvisor.memo import render, render_file
from clusteradvisor.output import ZIP_TIME, write_atomic
from clusteradvisor.region import load_regions, read_text
from clusteradvisor.report import assess_docx_text
from clusteradvisor.verdict import Verdict

from .conftest import EXAMPLES, make_region

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
HOSTILE_NAME = "<b>Bold</b> {{ 7*7 }} {% raw %} 日立市 Ünïcode& *x* [y](z)"


def assess(advisor: Advisor, name: str) -> Verdict:
    path = EXAMPLES / f"{name}.yaml"
    (region,) = load_regions(read_text(str(path)), str(path))
    return advisor.assess(region)


def read_back(data: bytes) -> Document:
    return docx.Document(io.BytesIO(data))


def headings(document: Document) -> list[tuple[str, str]]:
    """The (style, text) of every Title and Heading paragraph, in document order."""
    return [(p.style.name, p.text) for p in document.paragraphs if p.style is not None and str(p.style.name).startswith(("Title", "Heading"))]


def html_headings(memo: str, tag: str) -> list[str]:
    """The text of each <tag> in the HTML memo, without the priority badge."""
    found = re.findall(rf"<{tag}[^>]*>(.*?)</{tag}>", memo, re.S)
    return [html.unescape(re.sub(r"<[^>]+>", "", text.split("<span")[0])).strip() for text in found]


@pytest.mark.parametrize("name", sorted(p.stem for p in EXAMPLES.glob("*.yaml")))
def test_sections_and_steps_match_the_html_memo_as_word_headings(advisor: Advisor, name: str) -> None:
    verdict = assess(advisor, name)
    document = read_back(render_docx(verdict))
    found = headings(document)
    html_memo = render(verdict, "html")
    assert found[0] == ("Title", verdict.region.name)
    assert [t for s, t in found if s == "Heading 1"] == html_headings(html_memo, "h2")
    assert [t for s, t in found if s == "Heading 2"] == html_headings(html_memo, "h3")
    # Step headings carry a priority run after the title; the title run alone must match the HTML card.
    steps = [p.runs[0].text for p in document.paragraphs if p.style is not None and p.style.name == "Heading 3"]
    assert steps == html_headings(html_memo, "h4")
    assert [t for s, t in found if s == "Heading 1"][:2] == ["Brief", "Action plan"]


def test_the_brief_is_page_one_and_lists_the_first_actions(advisor: Advisor) -> None:
    verdict = assess(advisor, "hitachi-city")
    context = memo_context(verdict)
    document = read_back(render_docx(verdict))
    paragraphs = document.paragraphs
    plan_at = next(i for i, p in enumerate(paragraphs) if p.text == "Action plan")
    breaks = [i for i, p in enumerate(paragraphs) if 'w:type="page"' in p._p.xml]
    assert breaks and breaks[0] == plan_at - 1, "the page break must end the brief, just before the action plan"
    numbered = [p for p in paragraphs[:plan_at] if p.style is not None and p.style.name == "List Number"]
    assert [p.runs[0].text for p in numbered] == [a["title"] for a in context["first_actions"]]
    assert context["first_actions"], "Hitachi-city's brief has first actions"
    bullets = [p.text for p in paragraphs[:plan_at] if p.style is not None and p.style.name == "List Bullet"]
    assert [b.split(" Ask: ")[0] for b in bullets] == [g["question"] for g in context["top_gaps"]]


def test_scorecard_is_a_real_table_with_a_header_and_one_row_per_area(advisor: Advisor) -> None:
    verdict = assess(advisor, "techno-valley")
    document = read_back(render_docx(verdict))
    (table,) = document.tables
    assert table.style is not None and table.style.name == TABLE_STYLE
    rows = [[cell.text for cell in row.cells] for row in table.rows]
    assert len(rows) == 1 + 8 == 1 + len(verdict.scores)
    assert rows[0] == ["Area", "Status", "In place", "To act", "Not applicable", "Undecided"]
    assert "w:tblHeader" in table.rows[0]._tr.xml
    for row, score in zip(rows[1:], memo_context(verdict)["scores"], strict=True):
        assert row[0] == f"{score['dimension']} {score['name']}"
        assert row[1].startswith(score["status_label"])
        assert row[2:] == [str(score[k]) for k in ("met", "fired", "not_applicable", "undecided")]
    figures = [r[1] for r in rows[1:] if "(" in r[1]]
    assert len(figures) == sum(1 for s in verdict.scores if s.figure is not None) >= 1


def test_region_text_is_literal_text_never_markup(advisor: Advisor) -> None:
    verdict = advisor.assess(make_region(name=HOSTILE_NAME, area="{{ area }}", country="<i>Q</i>", **{"smes.innovation": "none"}))
    data = render_docx(verdict)
    document = read_back(data)
    assert document.paragraphs[0].text == HOSTILE_NAME
    assert document.paragraphs[1].text == "Cluster policy advice · {{ area }}, <i>Q</i>"
    assert document.core_properties.title == f"Cluster policy advice: {HOSTILE_NAME}"
    assert HOSTILE_NAME in document.sections[0].footer.paragraphs[0].text
    body = zipfile.ZipFile(io.BytesIO(data)).read("word/document.xml").decode("utf-8")
    assert "&lt;b&gt;Bold&lt;/b&gt;" in body and "<b>" not in body and "<i>" not in body
    assert "49" not in body.split("Brief")[0]


def test_characters_xml_cannot_hold_are_replaced_not_a_crash(advisor: Advisor) -> None:
    verdict = advisor.assess(make_region(name="Kiryu"))
    # Region files refuse control characters; a verdict built by other code must still render.
    odd = dataclasses.replace(verdict, region=dataclasses.replace(verdict.region, name="A\x01B\x0bC\ud800D"))
    document = read_back(render_docx(odd))
    assert document.paragraphs[0].text == "A\ufffdB\ufffdC\ufffdD"
    assert xml_safe("tab\tand line\nkept") == "tab\tand line\nkept"


def test_an_empty_region_still_gives_a_whole_memo(advisor: Advisor) -> None:
    document = read_back(render_docx(advisor.assess(make_region())))
    texts = [p.text for p in document.paragraphs]
    assert "No action on the facts given." in texts
    assert ("Heading 1", "Scorecard") in headings(document)
    assert len(document.tables[0].rows) == 9


def test_a_version_1_file_says_it_was_migrated(advisor: Advisor) -> None:
    path = EXAMPLES / "v1" / "kiryu-style-textile.yaml"
    data = assess_docx_text(read_text(str(path)), str(path))
    assert any(p.text.startswith("Read from an older file.") for p in read_back(data).paragraphs)


def test_same_verdict_gives_identical_bytes_in_another_process(advisor: Advisor, tmp_path: Path) -> None:
    verdict = assess(advisor, "ota-ward")
    data = render_docx(verdict)
    assert render_docx(verdict) == data
    code = (
        "import sys; from clusteradvisor.report import assess_docx_file; "
        f"sys.stdout.buffer.write(assess_docx_file({str(EXAMPLES / 'ota-ward.yaml')!r}))"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, env={"PYTHONHASHSEED": "123", "PATH": ""}).stdout
    assert other == data
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert {info.date_time for info in archive.infolist()} == {ZIP_TIME}
    assert archive.namelist() == sorted(archive.namelist())
    props = read_back(data).core_properties
    assert props.created == props.modified == FIXED_TIME and props.revision == 1


def test_page_is_a4(advisor: Advisor) -> None:
    section = read_back(render_docx(assess(advisor, "ota-ward"))).sections[0]
    assert section.page_width is not None and section.page_height is not None
    assert (round(section.page_width.mm), round(section.page_height.mm)) == (210, 297)  # stored in twips


def test_text_render_refuses_docx_and_render_file_returns_bytes(advisor: Advisor) -> None:
    verdict = assess(advisor, "ota-ward")
    with pytest.raises(FormatError, match="binary"):
        render(verdict, "docx")
    data = render_file(verdict, "docx")
    assert isinstance(data, bytes) and data == render_docx(verdict)
    assert render_file(verdict, "md") == render(verdict, "md")


def test_write_atomic_writes_bytes_whole(tmp_path: Path) -> None:
    target = tmp_path / "memo.docx"
    write_atomic(target, b"PK\x03\x04\x00\xff")
    assert target.read_bytes() == b"PK\x03\x04\x00\xff"
    assert [p.name for p in tmp_path.iterdir()] == ["memo.docx"]
    with pytest.raises(OutputError, match="does not exist"):
        write_atomic(tmp_path / "missing" / "memo.docx", b"x")


def test_cli_writes_a_docx_with_dash_o(cli: Callable[..., Result], tmp_path: Path) -> None:
    target = tmp_path / "hitachi.docx"
    result = cli("assess", str(EXAMPLES / "hitachi-city.yaml"), "--format", "docx", "-o", str(target))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "" and f"Memo written to {target}" in result.stderr
    assert headings(read_back(target.read_bytes()))[0] == ("Title", "Hitachi-city")


def test_cli_refuses_docx_on_stdout(cli: Callable[..., Result]) -> None:
    result = cli("assess", str(EXAMPLES / "hitachi-city.yaml"), "--format", "docx")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "Error: a DOCX memo is a binary file and is not printed; add -o FILE.docx" in result.stderr


def test_cli_refuses_several_regions_in_one_docx(cli: Callable[..., Result], tmp_path: Path) -> None:
    source = tmp_path / "two.yaml"
    source.write_text("schema_version: 2\nname: One\n---\nschema_version: 2\nname: Two\n", encoding="utf-8")
    target = tmp_path / "two.docx"
    result = cli("assess", str(source), "-f", "docx", "-o", str(target))
    assert result.exit_code == 1
    assert f"Error: {source}: holds 2 regions; a DOCX memo holds one." in result.stderr
    assert not target.exists()


def test_cli_reports_a_bad_region_file_cleanly(cli: Callable[..., Result], tmp_path: Path) -> None:
    source = tmp_path / "bad.yaml"
    source.write_text("schema_version: 2\nname: [\n", encoding="utf-8")
    result = cli("assess", str(source), "-f", "docx", "-o", str(tmp_path / "bad.docx"))
    assert result.exit_code == 1 and result.stderr.startswith(f"Error: {source}")
    assert "Traceback" not in result.stderr


def test_assess_text_names_the_docx_function() -> None:
    from clusteradvisor.report import assess_text

    with pytest.raises(FormatError, match="binary file"):
        assess_text("schema_version: 2\nname: X\n", "x.yaml", "docx")


@pytest.mark.skipif(SOFFICE is None, reason="LibreOffice (soffice) is not installed")
def test_libreoffice_opens_every_example_memo_with_the_brief_alone_on_page_one(advisor: Advisor, tmp_path: Path) -> None:
    assert SOFFICE is not None
    names = sorted(p.stem for p in EXAMPLES.glob("*.yaml"))
    for name in names:
        (tmp_path / f"{name}.docx").write_bytes(render_docx(assess(advisor, name)))
    profile = (tmp_path / "profile").as_uri()  # a private profile: a running LibreOffice would take the job otherwise
    subprocess.run(
        [SOFFICE, f"-env:UserInstallation={profile}", "--headless", "--norestore", "--convert-to", "pdf", "--outdir", str(tmp_path)]
        + [str(tmp_path / f"{name}.docx") for name in names],
        capture_output=True,
        timeout=300,
        check=True,
    )
    for name in names:
        pdf = tmp_path / f"{name}.pdf"
        data = pdf.read_bytes()
        assert data.startswith(b"%PDF"), name
        assert len(re.findall(rb"/Type\s*/Page[^s]", data)) >= 3, name
        if shutil.which("pdftotext"):
            pages = [
                subprocess.run(["pdftotext", "-f", str(n), "-l", str(n), str(pdf), "-"], capture_output=True, text=True, check=True).stdout
                for n in (1, 2)
            ]
            assert "Brief" in pages[0] and "About this advice." in pages[0], f"{name}: the brief is not whole on page 1"
            assert pages[1].lstrip().startswith("Action plan"), f"{name}: page 2 does not open the annex"
