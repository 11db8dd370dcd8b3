"""HTML and text memos: escaping, the radar chart, 78 columns, user templates, a real browser."""

from __future__ import annotations

import html
import re
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from clusteradvisor.advisor import Advisor
from clusteradvisor.errors import TemplateError
from clusteradvisor.memo import render
from clusteradvisor.panel import combine, load_panel
from clusteradvisor.region import load_regions, read_text
from clusteradvisor.verdict import Verdict

from .conftest import EXAMPLES, make_region

SVG = "{http://www.w3.org/2000/svg}"
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def example(advisor: Advisor, name: str = "ota-ward") -> Verdict:
    path = EXAMPLES / f"{name}.yaml"
    (region,) = load_regions(read_text(str(path)), str(path))
    return advisor.assess(region)


def chart(memo: str) -> ET.Element:
    """The memo's radar chart, parsed as the XML it is."""
    match = re.search(r"<svg .*?</svg>", memo, re.S)
    assert match, "no inline SVG in the memo"
    return ET.fromstring(match.group(0))


def test_region_text_is_escaped_and_never_template_code(advisor: Advisor) -> None:
    region = make_region(name="<script>alert(1)</script>", area="{{ 7*7 }}", country='"Q" & <b>A</b>', **{"smes.innovation": "none"})
    memo = render(advisor.assess(region), "html")
    assert "<script" not in memo.lower()
    assert "<h1 id=\"region-name\">&lt;script&gt;alert(1)&lt;/script&gt;</h1>" in memo
    assert "<title>Cluster policy advice: &lt;script&gt;alert(1)&lt;/script&gt;</title>" in memo
    assert "{{ 7*7 }}, &#34;Q&#34; &amp; &lt;b&gt;A&lt;/b&gt;" in memo
    assert "49" not in memo.split("<main>")[0]
    assert "<b>" not in memo


def test_html_memo_is_self_contained_and_print_friendly(advisor: Advisor) -> None:
    memo = render(example(advisor), "html")
    assert memo.startswith("<!DOCTYPE html>") and memo.rstrip().endswith("</html>")
    assert re.findall(r"https?://[^\s\"']+", memo) == ["http://www.w3.org/2000/svg"]  # the SVG namespace, never fetched
    for external in ("<script", "<link", "<img", " src=", "@import", "url("):
        assert external not in memo
    assert "@media print" in memo and "@page" in memo


def test_scorecard_chart_draws_a_bar_only_for_dimensions_with_a_figure(advisor: Advisor) -> None:
    verdict = example(advisor, "techno-valley")
    svg = chart(render(verdict, "html"))
    bars = [r for r in svg.findall(f"{SVG}rect") if r.get("class") == "bar"]
    with_figure = [s for s in verdict.scores if s.figure is not None]
    assert len(bars) == len(with_figure) >= 3
    for bar, score in zip(bars, with_figure, strict=True):
        assert int(bar.get("width", "")) == round(280 * (score.figure or 0) / 100)
    statuses = [t.text for t in svg.findall(f"{SVG}text") if t.get("class") == "status"]
    assert len(statuses) == len(verdict.scores) - len(with_figure)
    labels = [t.text for t in svg.findall(f"{SVG}text") if t.get("class") == "label"]
    assert labels[0] == "F1 Autonomous development" and len(labels) == 8


def test_a_not_assessed_dimension_is_never_drawn_as_zero(advisor: Advisor) -> None:
    verdict = advisor.assess(make_region())
    svg = chart(render(verdict, "html"))
    assert not [r for r in svg.findall(f"{SVG}rect") if r.get("class") == "bar"]
    assert [t.text for t in svg.findall(f"{SVG}text") if t.get("class") == "status"] == ["not assessed"] * 8
    assert "F2 not assessed" in (svg.findtext(f"{SVG}title") or "")


def test_action_plan_is_grouped_by_stage_in_plan_order(advisor: Advisor) -> None:
    verdict = example(advisor, "kiryu-style-textile")
    memo = render(verdict, "html")
    steps = [int(n) for n in re.findall(r'<article class="card[ \w]*" id="step-(\d+)">', memo)]
    assert steps == list(range(1, len(verdict.recommendations) + 1))
    stages = re.findall(r"<h3>(.+?)</h3>", memo.split('id="plan"')[1].split("</section>")[0])
    assert stages == ["Find out and listen", "People", "Policy design", "Money", "Networks and markets"]


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_html_and_text_carry_the_markdown_memos_content(advisor: Advisor, path: Path) -> None:
    (region,) = load_regions(read_text(str(path)), str(path))
    verdict = advisor.assess(region)
    page, text = render(verdict, "html"), render(verdict, "txt")
    flat = " ".join(text.split())
    data = verdict.to_dict()
    pieces = [f["title"] for key in ("recommendations", "patterns", "derived") for f in data[key]]
    pieces += [f["source"] for f in data["recommendations"]] + [f["advice"] for f in data["recommendations"]]
    pieces += [g.label for g in verdict.gaps] + [g.question for g in verdict.gaps]
    for piece in pieces:
        assert piece in html.unescape(page), piece
        assert " ".join(piece.split()) in flat, piece
    for heading in ("Brief", "Action plan", "Scorecard", "Which case of the study this region resembles", "Information gaps"):
        assert f"<h2>{heading}</h2>" in page
        assert f"\n{heading.upper()}\n{'-' * 78}\n" in text


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_text_memo_lines_fit_78_columns(advisor: Advisor, path: Path) -> None:
    (region,) = load_regions(read_text(str(path)), str(path))
    text = render(advisor.assess(region), "txt")
    assert max(len(line) for line in text.splitlines()) <= 78
    assert "None" not in text.replace("None:", "")


def test_text_memo_wraps_even_a_hostile_name(advisor: Advisor) -> None:
    name = "Ota" + "x" * 150 + " {{ 7*7 }} <b>ward</b>"
    text = render(advisor.assess(make_region(name=name, area="A" * 120)), "txt")
    assert max(len(line) for line in text.splitlines()) <= 78
    assert "{{ 7*7 }} <b>ward</b>" in text and "49" not in text.splitlines()[0]
    assert "not assessed" in text


def test_a_user_template_overrides_the_shipped_one(cli: Callable[..., Result], tmp_path: Path) -> None:
    office = tmp_path / "office"
    office.mkdir()
    (office / "memo.html.j2").write_text("<p>Ministry memo: {{ region.name }} / {{ scores[0].status_label }}</p>\n", encoding="utf-8")
    region = tmp_path / "r.yaml"
    region.write_text("name: '<i>{{ 7*7 }}</i>'\n", encoding="utf-8")
    result = cli("assess", str(region), "--format", "html", "--templates", str(office))
    assert result.exit_code == 0
    assert result.stdout == "<p>Ministry memo: &lt;i&gt;{{ 7*7 }}&lt;/i&gt; / not assessed</p>\n"
    batch = cli("batch", str(region), "--out", str(tmp_path / "out"), "--format", "html", "--templates", str(office))
    assert batch.exit_code == 0
    assert (tmp_path / "out" / "i-7-7-i.html").read_text(encoding="utf-8") == result.stdout
    text = cli("assess", str(region), "--format", "txt", "--templates", str(office))  # no txt template there: the shipped one
    assert text.exit_code == 0 and text.stdout.startswith("CLUSTER POLICY ADVICE: <i>{{ 7*7 }}</i>\n")


@pytest.mark.parametrize("fmt", ["html", "txt"])
def test_a_broken_user_template_is_named_with_its_line(cli: Callable[..., Result], tmp_path: Path, fmt: str) -> None:
    office = tmp_path / "office"
    office.mkdir()
    (office / f"memo.{fmt}.j2").write_text("{{ region.name }}\n\n{% if %}\n", encoding="utf-8")
    out = tmp_path / "out"
    result = cli("batch", str(EXAMPLES / "ota-ward.yaml"), "--out", str(out), "--format", fmt, "--templates", str(office))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {office}/memo.{fmt}.j2:3: template error: ")
    assert "Traceback" not in result.stderr
    assert not out.exists()  # nothing is written before the template compiles
    assessed = cli("assess", str(EXAMPLES / "ota-ward.yaml"), "--format", fmt, "--templates", str(office))
    assert assessed.exit_code == 1 and assessed.stderr == result.stderr


def test_a_user_template_failing_while_rendering_fails_each_region_cleanly(cli: Callable[..., Result], tmp_path: Path) -> None:
    office = tmp_path / "office"
    office.mkdir()
    (office / "memo.txt.j2").write_text("{{ region.name }}\n{{ region.nope }}\n", encoding="utf-8")
    result = cli("batch", str(EXAMPLES / "ota-ward.yaml"), "--out", str(tmp_path / "out"), "--format", "txt", "--templates", str(office))
    assert result.exit_code == 1
    assert f"Error: {office}/memo.txt.j2:2: template failed while rendering: " in result.stderr
    with pytest.raises(TemplateError, match=r"memo\.txt\.j2:2: template failed"):
        render(make_region_verdict(), "txt", office)


def make_region_verdict() -> Verdict:
    from clusteradvisor.advisor import default_advisor

    return default_advisor().assess(make_region())


def _png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Decode an 8-bit RGB(A), non-interlaced PNG (what Chromium writes) into rows of pixels."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    assert depth == 8 and colour in (2, 6) and data[28] == 0
    channels = 4 if colour == 6 else 3
    chunks, offset = [], 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        if data[offset + 4 : offset + 8] == b"IDAT":
            chunks.append(data[offset + 8 : offset + 8 + length])
        offset += 12 + length
    raw = zlib.decompress(b"".join(chunks))
    stride = width * channels
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for x in range(stride):
            left = line[x - channels] if x >= channels else 0
            up, corner = previous[x], previous[x - channels] if x >= channels else 0
            if kind == 1:
                line[x] = (line[x] + left) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + up) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[x] = (line[x] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
        rows.append(bytes(line) if channels == 3 else bytes(b for i, b in enumerate(line) if i % 4 != 3))
        previous = line
    return width, height, rows


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium); .ci/run installs it")
def test_chromium_renders_the_region_name_and_the_chart(cli: Callable[..., Result], tmp_path: Path) -> None:
    region = tmp_path / "r.yaml"
    region.write_text((EXAMPLES / "ota-ward.yaml").read_text(encoding="utf-8").replace("name: Ota ward", "name: Ota <ward> & co"), encoding="utf-8")
    page = tmp_path / "ota.html"
    assert cli("assess", str(region), "--format", "html", "-o", str(page)).exit_code == 0
    browser = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]  # fmt: skip
    dom = subprocess.run([*browser, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120, check=True).stdout
    assert '<h1 id="region-name">Ota &lt;ward&gt; &amp; co</h1>' in dom
    assert re.search(r'<svg class="chart"[^>]*>.*<rect class="bar"', dom, re.S)
    shot = tmp_path / "shot.png"
    subprocess.run([*browser, "--window-size=1000,6000", f"--screenshot={shot}", page.as_uri()], capture_output=True, timeout=120, check=True)
    width, height, rows = _png_pixels(shot.read_bytes())
    assert (width, height) == (1000, 6000)
    # The chart's bars are the accent blue (31, 78, 121): a visible shape.
    fill = sum(
        1 for row in rows for i in range(0, len(row), 3)
        if abs(row[i] - 31) <= 3 and abs(row[i + 1] - 78) <= 3 and abs(row[i + 2] - 121) <= 3
    )  # fmt: skip
    assert fill > 2000, f"only {fill} pixels of the chart's fill colour"


def _pdf_pages(browser: list[str], page: Path, pdf: Path) -> int:
    subprocess.run([*browser, "--no-pdf-header-footer", f"--print-to-pdf={pdf}", page.as_uri()], capture_output=True, timeout=120, check=True)
    return len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf.read_bytes()))


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium); .ci/run installs it")
def test_printed_brief_fits_one_a4_page_for_every_example(advisor: Advisor, tmp_path: Path) -> None:
    browser = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]  # fmt: skip
    for path in EXAMPLE_FILES:
        (region,) = load_regions(read_text(str(path)), str(path))
        memo = render(advisor.assess(region), "html")
        # Print only the header and the brief: the annex starts on a new page by design.
        brief_only = memo.replace("</style>", "main > :not(.brief), footer { display: none; }\n</style>")
        page = tmp_path / f"{path.stem}.html"
        page.write_text(brief_only, encoding="utf-8")
        assert _pdf_pages(browser, page, tmp_path / f"{path.stem}.pdf") == 1, path.stem
    # A panel's brief leads with the perception gap: it must still fit.
    memo = render(advisor.assess(combine(load_panel([str(EXAMPLES / "panels" / "higashi-osaka")]))), "html")
    page = tmp_path / "panel.html"
    page.write_text(memo.replace("</style>", "main > :not(.brief), footer { display: none; }\n</style>"), encoding="utf-8")
    assert _pdf_pages(browser, page, tmp_path / "panel.pdf") == 1, "panel"
