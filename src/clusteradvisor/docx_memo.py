"""Word memos: the only module that imports python-docx. A verdict in, the bytes of a .docx out.

The content is `context.memo_context`, the same as the HTML memo's; only the layout is Word's. Every
paragraph uses a built-in style (Title, Heading 1-3, List Bullet, List Number), so an office can
restyle the whole memo in Word and the navigation pane lists its sections. Region text goes in as
plain text runs: Word never interprets it.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Iterable, Mapping
from typing import Any

import docx
from docx.document import Document
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_BREAK
from docx.oxml import OxmlElement
from docx.shared import Mm, Pt, RGBColor
from docx.text.paragraph import Paragraph

from .context import memo_context
from .output import stable_zip
from .verdict import Verdict

# Fixed stamps make the same verdict give the same bytes (goldens, diffs, caches). Word shows the
# core-property dates as "created"/"modified"; the memo's own footer carries the versions instead.
FIXED_TIME = dt.datetime(2001, 1, 1, tzinfo=dt.UTC)
TABLE_STYLE = "Light Grid Accent 1"
PRIORITY_COLOURS = {
    "critical": RGBColor(0xA6, 0x1B, 0x1B),
    "high": RGBColor(0xB6, 0x50, 0x0B),
    "medium": RGBColor(0x8A, 0x6D, 0x00),
    "low": RGBColor(0x4A, 0x56, 0x68),
}
MUTED = RGBColor(0x5B, 0x64, 0x75)
SCORE_HEADINGS = ("Area", "Status", "In place", "To act", "Not applicable", "Undecided")
SCORE_WIDTHS_MM = (46, 32, 20, 18, 28, 26)  # 170 mm: the A4 text width below
# XML 1.0 cannot hold these code points at all; python-docx would refuse them with a ValueError.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_safe(text: Any) -> str:
    """Return `text` as a string Word can store: code points XML forbids become U+FFFD."""
    return _NOT_XML.sub("\ufffd", str(text))


def _run(paragraph: Paragraph, text: Any, *, bold: bool = False, italic: bool = False, colour: RGBColor | None = None, size: float | None = None) -> None:
    run = paragraph.add_run(xml_safe(text))
    run.bold = bold or None
    run.italic = italic or None
    if colour is not None:
        run.font.color.rgb = colour
    if size is not None:
        run.font.size = Pt(size)


def _priority(paragraph: Paragraph, priority: str) -> None:
    _run(paragraph, f" {priority.upper()}", bold=True, colour=PRIORITY_COLOURS.get(priority), size=8)


def _para(doc: Document, *parts: tuple[str, str] | str, style: str | None = None) -> Paragraph:
    """Add a paragraph of runs: a plain string is normal text, ("b", text) bold, ("m", text) muted."""
    paragraph = doc.add_paragraph(style=style)
    for part in parts:
        if isinstance(part, str):
            _run(paragraph, part)
        elif part[0] == "b":
            _run(paragraph, part[1], bold=True)
        else:
            _run(paragraph, part[1], colour=MUTED)
    return paragraph


def _labelled(doc: Document, label: str, text: str) -> None:
    paragraph = _para(doc, ("b", f"{label}: "), text)
    paragraph.paragraph_format.left_indent = Mm(5)
    paragraph.paragraph_format.space_after = Pt(2)


def _joined(items: Iterable[str], sep: str = "; ") -> str:
    return sep.join(xml_safe(i) for i in items)


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _page_setup(doc: Document) -> None:
    # The default template is US Letter at 11 pt; the memo's readers print on A4, and at 10 pt (the
    # printed HTML memo's size) the brief fits its one page.
    normal = doc.styles["Normal"]
    normal.font.size = Pt(10)
    normal.paragraph_format.space_after = Pt(6)
    section = doc.sections[0]
    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin = section.bottom_margin = Mm(18)
    section.left_margin = section.right_margin = Mm(20)


def _header(doc: Document, ctx: Mapping[str, Any]) -> None:
    region = ctx["region"]
    doc.add_heading(xml_safe(region["name"]), level=0)
    where = ", ".join(xml_safe(w) for w in (region["area"], region["country"]) if w)
    line = "Cluster policy advice" + (f" · {where}" if where else "")
    if region["respondent"]:
        line += f" · answered by one {region['respondent']}"
    doc.add_paragraph(xml_safe(line), style="Subtitle")


def _brief(doc: Document, ctx: Mapping[str, Any]) -> None:
    doc.add_heading("Brief", level=1)
    titles = _joined(p["title"] for p in ctx["patterns"])
    if ctx["situation"]:
        _para(doc, ("b", "Situation. "), f"On the facts given: {_joined(ctx['situation'])}." + (f" It resembles: {titles}." if titles else ""))
    elif titles:
        _para(doc, ("b", "Situation. "), f"The region resembles: {titles}.")
    if not ctx["region"]["firms_heard"]:
        _para(
            doc,
            ("b", "Firms have not been asked. "),
            "On how policy is experienced this is one side's account: the study found officials and firms see it differently.",
            style="Intense Quote",
        )
    migration = ctx["migration"]
    if migration:
        unknown = f", which leaves unknown: {_joined(migration['unknown'], ', ')}" if migration["unknown"] else ""
        _para(
            doc,
            ("b", "Read from an older file. "),
            f"This region file uses format version 1; it was read through the version-2 table{unknown}. The command clusteradvisor migrate rewrites it.",
            style="Intense Quote",
        )
    _para(doc, ("b", "What to do first."))
    plan = ctx["plan"]
    if ctx["first_actions"]:
        for item in ctx["first_actions"]:
            paragraph = doc.add_paragraph(style="List Number")
            _run(paragraph, item["title"], bold=True)
            _priority(paragraph, item["priority"])
            _run(paragraph, f"  step {item['step']}; {item['actors']}; {item['evidence_label']}", colour=MUTED)
        more = ctx["more_actions"]
        if more:
            tail = " of medium or low priority follows" if more == 1 else "s of medium or low priority follow"
            _para(doc, f"{more} further action{tail} in the action plan.")
    elif plan:
        _para(doc, f"No critical or high-priority action on the facts given; the action plan lists {len(plan)} of medium or low priority.")
    else:
        _para(doc, "No action on the facts given.")
    if ctx["top_gaps"]:
        _para(doc, ("b", "What would change this advice most."))
        for gap in ctx["top_gaps"]:
            effects = " ".join(f"{_cap(xml_safe(e))}." for e in gap["effects"]) or f"It would help decide: {_joined(gap['decides'])}."
            _para(doc, gap["question"], ("m", f" Ask: {gap['ask']}. "), effects, style="List Bullet")
    about = _para(doc, ("b", "About this advice. "), ctx["study"])
    for run in about.runs:
        run.font.size = Pt(9)
    # The brief is page one: what follows is the annex.
    about.add_run().add_break(WD_BREAK.PAGE)


def _step(doc: Document, item: Mapping[str, Any], *, remedy: bool) -> None:
    heading = doc.add_heading(level=3)
    _run(heading, f"{item['step']}. {item['title']}")
    if remedy:
        _priority(heading, item["priority"])
        meta = f"Who acts: {item['actors']} · {item['evidence_label']}"
    else:
        meta = f"{_cap(item['priority'])} · who acts: {item['actors']} · {item['evidence_label']}"
    _para(doc, ("m", meta))
    _para(doc, item["advice"])
    _labelled(doc, "Why here", f"{_joined(item['because'])}.")
    if item["case_fact"]:
        _labelled(doc, "From the study", item["case_fact"])
    for c in item["conflicts"]:
        _labelled(doc, "Weigh against", f"step {c['step']}, {c['title']}: {c['reconcile']}")
    if remedy:
        _labelled(doc, "Done once", item["success"])
    _labelled(doc, "Source", f"{item['source']} (lines {item['lines']})")


def _plan(doc: Document, ctx: Mapping[str, Any]) -> None:
    doc.add_heading("Action plan", level=1)
    if not ctx["plan"]:
        _para(doc, "No remedy applies on the facts given.")
    for group in ctx["plan_by_stage"]:
        doc.add_heading(group["stage"], level=2)
        for item in group["items"]:
            _step(doc, item, remedy=True)
    if ctx["next_steps"]:
        doc.add_heading("Build on what works", level=1)
        for item in ctx["next_steps"]:
            _step(doc, item, remedy=False)
    if ctx["superseded"]:
        doc.add_heading("Covered by other advice", level=1)
        for s in ctx["superseded"]:
            by = _joined(f"step {b['step']}, {b['title']}" for b in s["by"])
            _para(doc, f"{s['title']}: covered by {by}.", style="List Bullet")


def _scorecard(doc: Document, ctx: Mapping[str, Any]) -> None:
    doc.add_heading("Scorecard", level=1)
    intro = _para(
        doc,
        "Per area of the paper's framework, over the remedies the known facts decide. Advice that does not apply here is not "
        "counted as followed; next steps never count. A figure (share in place) needs at least 3 decided remedies; * marks a "
        "figure that open questions could still change.",
    )
    intro.paragraph_format.keep_with_next = True
    table = doc.add_table(rows=1, cols=len(SCORE_HEADINGS))
    table.style = doc.styles[TABLE_STYLE]
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    for cell, heading in zip(table.rows[0].cells, SCORE_HEADINGS, strict=True):
        cell.text = heading
    for s in ctx["scores"]:
        figure = f" ({s['figure']}{'*' if s['provisional'] else ''})" if s["figure"] is not None else ""
        values = (f"{s['dimension']} {s['name']}", f"{s['status_label']}{figure}", s["met"], s["fired"], s["not_applicable"], s["undecided"])
        cells = table.add_row().cells
        for cell, value in zip(cells, values, strict=True):
            cell.text = xml_safe(value)
    for column_obj, width in zip(table.columns, SCORE_WIDTHS_MM, strict=True):
        column_obj.width = Mm(width)  # the grid LibreOffice reads; Word reads the cell widths below
    last = len(table.rows) - 1
    for index, row in enumerate(table.rows):
        # The table is short: keep it on one page, as the HTML memo does when printed.
        row._tr.get_or_add_trPr().append(OxmlElement("w:cantSplit"))
        for column, (cell, width) in enumerate(zip(row.cells, SCORE_WIDTHS_MM, strict=True)):
            cell.width = Mm(width)
            paragraph = cell.paragraphs[0]
            paragraph.paragraph_format.keep_with_next = index < last
            if column >= 2:
                paragraph.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    # Marks the first row as the header: Word and LibreOffice show it as one and repeat it on a new page.
    table.rows[0]._tr.get_or_add_trPr().append(OxmlElement("w:tblHeader"))


def _cases(doc: Document, ctx: Mapping[str, Any]) -> None:
    doc.add_heading("Which case of the study this region resembles", level=1)
    if ctx["patterns"]:
        for p in ctx["patterns"]:
            doc.add_heading(xml_safe(p["title"]), level=3)
            _para(doc, ("m", f"{p['case']}; peers: {_joined(p['peers'], ', ')}"))
            _para(doc, _cap(p["meaning"]))
            _para(doc, ("m", f"Why: {_joined(p['because'])}."))
    else:
        _para(
            doc,
            "On the known facts the region resembles none of the study's cases (Higashi Osaka's entrepreneur-led project, "
            "Hitachi-city's policy-supported alliance, Ota ward's coordinator firms, a former supplier pyramid in transition).",
        )
    if ctx["derived"]:
        doc.add_heading("The situation in detail", level=1)
        for d in ctx["derived"]:
            _para(doc, ("b", f"{d['title']}. "), f"{_cap(d['meaning'])} ", ("m", f"Because: {_joined(d['because'])}."), style="List Bullet")


def _gaps(doc: Document, ctx: Mapping[str, Any]) -> None:
    doc.add_heading("Information gaps", level=1)
    if not ctx["gaps"]:
        _para(doc, "None: every fact the rule base reads is known, or cannot change the advice.")
        return
    _para(doc, "Ordered by how much the answer could change the advice.")
    for g in ctx["gaps"]:
        _para(doc, ("b", f"{g['label']}. "), f"{g['question']} ", ("m", f"Ask: {g['ask']}. Would decide: {_joined(g['decides'])}."), style="List Bullet")


def _in_place(doc: Document, ctx: Mapping[str, Any]) -> None:
    if ctx["in_place"]:
        doc.add_heading("Already in place", level=1)
        for r in ctx["in_place"]:
            _para(doc, f"{r['title']} ", ("m", f"({r['dimension_name'].lower()})"), ": no action needed.", style="List Bullet")
    if ctx["unused_industries"]:
        _para(doc, f"Industry words not used by any rule: {_joined(ctx['unused_industries'], ', ')}.")


def _footer(doc: Document, ctx: Mapping[str, Any]) -> None:
    text = (
        f"ClusterAdvisor {ctx['tool_version']}, rule base {ctx['kb_version']} ({ctx['kb_rules']} rules). Advice in our own words; "
        "each step names the section of the study it rests on and whether the paper prescribes it, observed it, or we inferred it."
    )
    paragraph = _para(doc, ("m", text))
    paragraph.paragraph_format.space_before = Pt(18)
    for run in paragraph.runs:
        run.font.size = Pt(8)
    # The page footer repeats the region on every printed page, since pages get separated.
    page_footer = doc.sections[0].footer.paragraphs[0]
    _run(page_footer, f"Cluster policy advice: {ctx['region']['name']} · ClusterAdvisor {ctx['tool_version']}", colour=MUTED, size=8)


def _properties(doc: Document, ctx: Mapping[str, Any]) -> None:
    props = doc.core_properties
    props.title = xml_safe(f"Cluster policy advice: {ctx['region']['name']}")[:255]
    props.subject = "Cluster policy advice"
    props.author = props.last_modified_by = f"ClusterAdvisor {ctx['tool_version']}"
    props.comments = f"Rule base {ctx['kb_version']}."
    props.keywords = "cluster policy"
    props.language = "en"
    props.created = props.modified = FIXED_TIME
    props.last_printed = FIXED_TIME
    props.revision = 1


def render_docx(verdict: Verdict) -> bytes:
    """Render a verdict as a Word memo and return the bytes of the .docx file."""
    ctx = memo_context(verdict)
    doc = docx.Document()
    _page_setup(doc)
    _properties(doc, ctx)
    _header(doc, ctx)
    _brief(doc, ctx)
    _plan(doc, ctx)
    _scorecard(doc, ctx)
    _cases(doc, ctx)
    _gaps(doc, ctx)
    _in_place(doc, ctx)
    _footer(doc, ctx)
    buffer = io.BytesIO()
    doc.save(buffer)
    return stable_zip(buffer.getvalue())
