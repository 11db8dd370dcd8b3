"""A small streaming writer of Excel workbooks (.xlsx, Office Open XML), standard library only.

It writes what a summary needs and nothing more: sheets of text, numbers and booleans, the first
row of each sheet in bold. Rows are taken one at a time from any iterable and compressed into the
zip entry as they come, so a sheet is never held whole. Equal input gives equal bytes: the entries
come in a fixed order with a fixed date, system and mode, and the document's stamps are fixed.

Cells: `str` is inline text (never a formula, whatever it starts with), `""` an empty text cell,
`int` and `float` numbers, `bool` TRUE/FALSE, `None` no cell. Characters that XML 1.0 forbids
(C0 controls other than tab, line feed and carriage return; lone surrogates; U+FFFE, U+FFFF) are
written visibly as `\\xNN` or `\\uNNNN`; a carriage return is kept as `&#13;`. Text longer than a
cell holds (32,767 characters) is cut, and says so (`CUT_NOTE`).
"""

from __future__ import annotations

import math
import re
import zipfile
from collections.abc import Iterable, Sequence
from typing import IO

Cell = str | int | float | bool | None

MAX_ROWS = 1_048_576  # Excel's limits for one sheet
MAX_COLUMNS = 16_384
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # as output.stable_zip: the earliest date a zip entry holds
STAMP = "2001-01-01T00:00:00Z"  # the document's created and modified stamps (docx memos carry the same)
_CHUNK = 1 << 16  # characters of sheet XML gathered before they are compressed

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PACKAGE_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_SHEET_START = f'{_DECLARATION}<worksheet xmlns="{_MAIN}"><sheetData>'
_SHEET_END = "</sheetData></worksheet>"

# What XML 1.0 forbids, plus the carriage return, which a reader would turn into a line feed.
_NOT_XML = re.compile("[\x00-\x08\x0b-\x1f\ud800-\udfff\ufffe\uffff]")
_HIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")  # the same but the carriage return
_SHEET_NAME_CHARS = re.compile(r"[\[\]:*?/\\]")


def _spell(match: re.Match[str]) -> str:
    code = ord(match[0])
    if code == 0x0D:
        return "&#13;"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


MAX_CELL_TEXT = 32_767  # what a spreadsheet keeps of one cell's text (Excel counts UTF-16 units)
CUT_NOTE = " [cut here: a spreadsheet cell holds 32,767 characters; summary.csv has the whole text]"


def fit(value: str) -> str:
    """`value` cut to what one cell holds, saying so (a file with very many errors can pass it)."""
    if len(value) <= MAX_CELL_TEXT // 2:  # fits whatever its characters are: the common case
        return value
    units = value.encode("utf-16-le", "surrogatepass")
    if len(units) <= 2 * MAX_CELL_TEXT:
        return value
    # Cut to whole characters (a pair split in two is dropped), leaving room for the note.
    return units[: 2 * (MAX_CELL_TEXT - len(CUT_NOTE))].decode("utf-16-le", "ignore") + CUT_NOTE


def _cell_text(value: str) -> str:
    """A cell's text as XML: unreadable characters spelled out first, then cut to fit, then escaped."""
    if not value.isprintable():  # every character _NOT_XML matches is unprintable: the rare path
        value = _HIDDEN.sub(_spell, value)  # a carriage return stays one character until _text
    return _text(fit(value))


def _text(value: str) -> str:
    """`value` as the content of an XML element."""
    if "&" in value:
        value = value.replace("&", "&amp;")
    if "<" in value:
        value = value.replace("<", "&lt;")
    if ">" in value:
        value = value.replace(">", "&gt;")
    if not value.isprintable():  # every character _NOT_XML matches is unprintable: the rare path
        value = _NOT_XML.sub(_spell, value)
    return value


def _attribute(value: str) -> str:
    return _text(value).replace('"', "&quot;")


def column_letters(index: int) -> str:
    """The letters of a column, counted from 1: 1 -> A, 26 -> Z, 27 -> AA, 16384 -> XFD."""
    if not 1 <= index <= MAX_COLUMNS:
        raise ValueError(f"column {index}: a sheet has columns 1 to {MAX_COLUMNS}")
    letters = ""
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _check_names(names: Sequence[str]) -> None:
    """Refuse sheet names that Excel refuses."""
    if not names:
        raise ValueError("a workbook needs at least one sheet")
    seen: set[str] = set()
    for name in names:
        if not 1 <= len(name) <= 31:
            raise ValueError(f"sheet name {name!r}: must have 1 to 31 characters")
        if _SHEET_NAME_CHARS.search(name) or _NOT_XML.search(name) or name[0] == "'" or name[-1] == "'":
            raise ValueError(f"sheet name {name!r}: must not hold [ ] : * ? / \\ or control characters, nor begin or end with '")
        if name.casefold() in seen or name.casefold() == "history":
            raise ValueError(f"sheet name {name!r}: used twice or reserved")
        seen.add(name.casefold())


class _Columns(list[str]):
    """Column letters by 0-based position, computed as far as the widest row needs."""

    def at(self, position: int) -> str:
        while len(self) <= position:
            self.append(column_letters(len(self) + 1))
        return self[position]


def _row(number: int, values: Iterable[Cell], columns: _Columns, style: str) -> str:
    """One <row> element (`style` is ' s="N"' or "")."""
    r = str(number)
    parts = [f'<row r="{r}">']
    add = parts.append
    for position, value in enumerate(values):
        if value is None:
            continue
        ref = (columns[position] if position < len(columns) else columns.at(position)) + r
        if type(value) is str:
            if value:
                add(f'<c r="{ref}"{style} t="inlineStr"><is><t xml:space="preserve">{_cell_text(value)}</t></is></c>')
            else:
                add(f'<c r="{ref}"{style} t="inlineStr"/>')
        elif type(value) is int:
            add(f'<c r="{ref}"{style}><v>{value}</v></c>')
        else:
            add(_other(ref, style, value))
    parts.append("</row>")
    return "".join(parts)


def _other(ref: str, style: str, value: object) -> str:
    """A cell other than plain text or a plain int: checked more slowly, as it is rarer."""
    if isinstance(value, bool):
        return f'<c r="{ref}"{style} t="b"><v>{1 if value else 0}</v></c>'
    if isinstance(value, int):
        return f'<c r="{ref}"{style}><v>{int(value)}</v></c>'
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cell {ref}: {value!r} is not a number a spreadsheet can hold")
        return f'<c r="{ref}"{style}><v>{float(value)!r}</v></c>'
    if isinstance(value, str):  # a subclass of str
        text = str.__str__(value)
        if not text:
            return f'<c r="{ref}"{style} t="inlineStr"/>'
        return f'<c r="{ref}"{style} t="inlineStr"><is><t xml:space="preserve">{_cell_text(text)}</t></is></c>'
    raise TypeError(f"cell {ref}: {type(value).__name__} is not text, a number, a boolean or None")


def _entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 0  # otherwise the host's operating system is recorded
    info.external_attr = 0o644 << 16
    return info


def _write_sheet(book: zipfile.ZipFile, name: str, sheet: str, rows: Iterable[Iterable[Cell]], bold_header: bool) -> None:
    columns = _Columns()
    with book.open(_entry(name), "w") as entry:
        pending = [_SHEET_START]
        size = 0
        number = 0
        for number, values in enumerate(rows, 1):
            if number > MAX_ROWS:
                raise ValueError(f"sheet {sheet!r}: more than {MAX_ROWS:,} rows, more than Excel opens")
            row = _row(number, values, columns, ' s="1"' if bold_header and number == 1 else "")
            pending.append(row)
            size += len(row)
            if size >= _CHUNK:
                entry.write("".join(pending).encode("utf-8"))
                pending, size = [], 0
        pending.append(_SHEET_END)
        entry.write("".join(pending).encode("utf-8"))


def write_workbook(target: IO[bytes], sheets: Sequence[tuple[str, Iterable[Iterable[Cell]]]], *, bold_header: bool = True) -> None:
    """Write a workbook of `sheets` ((name, rows) in order) to the binary file `target`.

    `target` should be seekable (a file or io.BytesIO): the zip then carries no data descriptors,
    and the bytes depend on the cells alone. The rows are read once, in order, one at a time.
    """
    names = [name for name, _ in sheets]
    _check_names(names)
    count = len(names)
    sheet_parts = "".join(
        f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        for i in range(1, count + 1)
    )
    content_types = (
        f'{_DECLARATION}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        f"{sheet_parts}"
        '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
        '<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
        '<Override PartName="/docProps/app.xml" ContentType="application/vnd.openxmlformats-officedocument.extended-properties+xml"/>'
        "</Types>"
    )
    package_rels = (
        f'{_DECLARATION}<Relationships xmlns="{_PACKAGE_REL}">'
        f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/>'
        f'<Relationship Id="rId2" Type="{_PACKAGE_REL}/metadata/core-properties" Target="docProps/core.xml"/>'
        f'<Relationship Id="rId3" Type="{_REL}/extended-properties" Target="docProps/app.xml"/>'
        "</Relationships>"
    )
    app = (
        f'{_DECLARATION}<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties">'
        "<Application>ClusterAdvisor</Application></Properties>"
    )
    core = (
        f'{_DECLARATION}<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><dc:creator>ClusterAdvisor</dc:creator>'
        f'<dcterms:created xsi:type="dcterms:W3CDTF">{STAMP}</dcterms:created>'
        f'<dcterms:modified xsi:type="dcterms:W3CDTF">{STAMP}</dcterms:modified></cp:coreProperties>'
    )
    workbook = (
        f'{_DECLARATION}<workbook xmlns="{_MAIN}" xmlns:r="{_REL}"><bookViews><workbookView activeTab="0"/></bookViews><sheets>'
        + "".join(f'<sheet name="{_attribute(name)}" sheetId="{i}" r:id="rId{i}"/>' for i, name in enumerate(names, 1))
        + "</sheets></workbook>"
    )
    workbook_rels = (
        f'{_DECLARATION}<Relationships xmlns="{_PACKAGE_REL}">'
        + "".join(f'<Relationship Id="rId{i}" Type="{_REL}/worksheet" Target="worksheets/sheet{i}.xml"/>' for i in range(1, count + 1))
        + f'<Relationship Id="rId{count + 1}" Type="{_REL}/styles" Target="styles.xml"/></Relationships>'
    )
    with zipfile.ZipFile(target, "w") as book:
        for name, text in (
            ("[Content_Types].xml", content_types),
            ("_rels/.rels", package_rels),
            ("docProps/app.xml", app),
            ("docProps/core.xml", core),
            ("xl/workbook.xml", workbook),
            ("xl/_rels/workbook.xml.rels", workbook_rels),
            ("xl/styles.xml", _STYLES),
        ):
            book.writestr(_entry(name), text.encode("utf-8"))
        for i, (name, rows) in enumerate(sheets, 1):
            _write_sheet(book, f"xl/worksheets/sheet{i}.xml", name, rows, bold_header)


# One font and style for every cell (index 0), the same in bold for the first rows (index 1).
# Excel expects the two fills (none and gray125) and one border even when no cell uses them.
_STYLES = (
    f'{_DECLARATION}<styleSheet xmlns="{_MAIN}">'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)
