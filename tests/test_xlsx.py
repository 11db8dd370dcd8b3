"""The workbook writer (xlsx.py): read back with openpyxl, valid XML parts, fixed bytes, streamed rows."""

from __future__ import annotations

import io
import math
import re
import tracemalloc
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from clusteradvisor import xlsx
from clusteradvisor.xlsx import Cell, column_letters, write_workbook

PARTS = [
    "[Content_Types].xml",
    "_rels/.rels",
    "docProps/app.xml",
    "docProps/core.xml",
    "xl/workbook.xml",
    "xl/_rels/workbook.xml.rels",
    "xl/styles.xml",
    "xl/worksheets/sheet1.xml",
    "xl/worksheets/sheet2.xml",
]


def book(sheets: list[tuple[str, list[list[Cell]]]]) -> bytes:
    buffer = io.BytesIO()
    write_workbook(buffer, sheets)
    return buffer.getvalue()


def read(data: bytes, read_only: bool = False) -> dict[str, list[list[tuple[Any, str]]]]:
    """Every sheet's rows as (value, data type) pairs, as openpyxl reads them."""
    workbook = load_workbook(io.BytesIO(data), read_only=read_only)
    try:
        return {s.title: [[(c.value, c.data_type) for c in row] for row in s.iter_rows()] for s in workbook.worksheets}
    finally:
        workbook.close()


def visible(text: str) -> str:
    """What a reader sees of `text`: the characters XML 1.0 forbids spelled out, the rest as it was."""
    return re.sub(
        "[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]",
        lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 0x100 else f"\\u{ord(m[0]):04x}",
        text,
    )


@pytest.mark.parametrize(("index", "letters"), [(1, "A"), (26, "Z"), (27, "AA"), (52, "AZ"), (53, "BA"), (702, "ZZ"), (703, "AAA"), (16384, "XFD")])
def test_column_letters(index: int, letters: str) -> None:
    assert column_letters(index) == letters


@pytest.mark.parametrize("index", [0, -1, 16385])
def test_column_letters_outside_a_sheet_are_refused(index: int) -> None:
    with pytest.raises(ValueError, match="columns 1 to 16384"):
        column_letters(index)


def test_cells_read_back_with_their_values_and_types() -> None:
    rows: list[list[Cell]] = [
        ["text", "", None, 7, -3, 2.5, True, False, "=1+1", "+1", "@SUM(A1)", "0123", "TRUE", " lead", "trail ", "a & b < c > d \" ' ]]>"],
        ["東京都 大田区", "emoji \U0001f600", "tab\tand\nline", "cr\rhere", 10**15, 1e-7, 1e16],
        ["nul\x00", "esc\x1b[31m", "x\ufffey\uffff", "lone \ud800", "bidi \u202e and bom \ufeff"],  # the last is valid XML
    ]
    data = book([("One", rows), ("Two", [])])
    for read_only in (False, True):
        sheet = read(data, read_only)["One"]
        assert [v for v, _ in sheet[0]][:16] == [v if v != "" else None for v in rows[0]]
        assert [v for v, _ in sheet[1]][:7] == rows[1]
        assert [v for v, _ in sheet[2]][:5] == ["nul\\x00", "esc\\x1b[31m", "x\\ufffey\\uffff", "lone \\ud800", "bidi \u202e and bom \ufeff"]
        types = dict(zip(rows[0], (t for _, t in sheet[0]), strict=True))
        assert types["text"] == types["=1+1"] == types["0123"] == types["TRUE"] == "s"  # never a formula, number or boolean
        assert types[7] == types[2.5] == "n" and types[True] == types[False] == "b"
    cells = load_workbook(io.BytesIO(data))["One"]
    assert cells["I1"].value == "=1+1" and cells["I1"].data_type == "s"
    assert cells["C1"].value is None and cells["D1"].value == 7


def test_an_empty_string_is_an_empty_text_cell_and_none_no_cell() -> None:
    data = book([("S", [["", None, "x"]])])
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        sheet = archive.read("xl/worksheets/sheet1.xml").decode()
    assert '<c r="A1" s="1" t="inlineStr"/>' in sheet and 'r="B1"' not in sheet and '<c r="C1" s="1" t="inlineStr">' in sheet


def test_the_first_row_is_bold_and_the_rest_plain() -> None:
    sheet = load_workbook(io.BytesIO(book([("S", [["head", 1], ["body", 2]])])))["S"]
    assert sheet["A1"].font.b and sheet["B1"].font.b
    assert not sheet["A2"].font.b and not sheet["B2"].font.b


def test_references_past_column_z_and_row_9() -> None:
    rows: list[list[Cell]] = [[f"r{n}"] * 3 for n in range(1, 12)]
    rows.append(list(range(1, 730)))  # up to column ABA
    data = book([("S", rows)])
    sheet = load_workbook(io.BytesIO(data))["S"]
    assert sheet["AA12"].value == 27 and sheet["ZZ12"].value == 702 and sheet["ABA12"].value == 729
    assert sheet["C11"].value == "r11" and sheet.max_row == 12 and sheet.max_column == 729


text = st.text(st.characters(codec=None, exclude_categories=()), max_size=30)  # every code point, surrogates too
cells = st.one_of(
    st.none(),
    text,
    st.integers(-(2**53), 2**53),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(cells, max_size=30), max_size=6))
def test_any_cells_read_back_as_written(rows: list[list[Cell]]) -> None:
    data = book([("Sheet", rows)])
    for element in _parts(data).values():  # every part is well-formed XML
        assert element is not None
    sheet = read(data)["Sheet"]
    for written, got in zip(rows, sheet, strict=False):
        for value, (back, kind) in zip(written, got, strict=False):
            if value is None or value == "":
                assert back is None
            elif isinstance(value, str):
                assert (back, kind) == (visible(value), "s")
            elif isinstance(value, bool):
                assert (back, kind) == (value, "b")
            else:
                assert kind == "n" and back == value and type(back) is type(value)


def _parts(data: bytes) -> dict[str, ElementTree.Element]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: ElementTree.fromstring(archive.read(name)) for name in archive.namelist()}


def test_the_package_has_its_parts_in_a_fixed_order_with_fixed_stamps() -> None:
    sheets: list[tuple[str, list[list[Cell]]]] = [("Regions", [["a", 1]]), ("Shared & <more>", [["b", True]])]
    data = book(sheets)
    assert data == book(sheets)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = archive.infolist()
        assert [i.filename for i in infos] == PARTS
        assert {(i.date_time, i.create_system, i.external_attr, i.compress_type, i.flag_bits & 0x08) for i in infos} == {
            ((1980, 1, 1, 0, 0, 0), 0, 0o644 << 16, zipfile.ZIP_DEFLATED, 0)
        }
        assert b"2001-01-01T00:00:00Z" in archive.read("docProps/core.xml")
    assert load_workbook(io.BytesIO(data)).sheetnames == ["Regions", "Shared & <more>"]


@pytest.mark.parametrize(
    "names", [[], [""], ["x" * 32], ["a/b"], ["a[1]"], ["what?"], ["'quoted'"], ["Same", "same"], ["History"], ["bad\x01"]]
)
def test_sheet_names_excel_refuses_are_refused(names: list[str]) -> None:
    with pytest.raises(ValueError, match="sheet"):
        book([(name, []) for name in names])


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_number_a_spreadsheet_cannot_hold_is_refused(value: float) -> None:
    with pytest.raises(ValueError, match="cell B1"):
        book([("S", [["x", value]])])


def test_a_value_of_another_type_is_refused() -> None:
    with pytest.raises(TypeError, match="cell A1: bytes"):
        book([("S", [[b"x"]])])  # type: ignore[list-item]


def test_more_rows_than_excel_opens_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xlsx, "MAX_ROWS", 3)
    book([("S", [["a"]] * 3)])
    with pytest.raises(ValueError, match="more than 3 rows"):
        book([("S", [["a"]] * 4)])


def test_rows_are_streamed_not_held(tmp_path: Path) -> None:
    taken = 0

    def rows(n: int) -> Iterator[list[Cell]]:
        nonlocal taken
        for i in range(n):
            taken += 1
            yield [f"region {i:06d} with a fairly long name", i, i % 2 == 0, None, "act"]

    def peak(n: int) -> int:
        tracemalloc.start()
        try:
            with open(tmp_path / f"{n}.xlsx", "wb") as target:
                write_workbook(target, [("S", rows(n))])
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = peak(2_000), peak(40_000)  # 0.3 MB and 6 MB of sheet XML
    assert taken == 42_000
    assert large < small + 300_000, (small, large)
    last = [row[0] for row in read((tmp_path / "2000.xlsx").read_bytes(), read_only=True)["S"][-1]]
    assert last == ["region 001999 with a fairly long name", 1999, False, None, "act"]


@pytest.mark.parametrize("unit", ["e", "\u00e9", "\U0001f600", "\x01"])
def test_text_longer_than_a_cell_holds_is_cut_and_says_so(unit: str) -> None:
    long = "ab" + unit * 40_000
    ((back, kind),) = read(book([("Sheet", [[long]])]))["Sheet"][0]
    assert kind == "s" and back.endswith(xlsx.CUT_NOTE) and visible(long).startswith(back[: -len(xlsx.CUT_NOTE)])
    assert len(back.encode("utf-16-le")) // 2 <= xlsx.MAX_CELL_TEXT  # what Excel counts
    exact = "x" * xlsx.MAX_CELL_TEXT
    assert read(book([("Sheet", [[exact]])]))["Sheet"][0][0][0] == exact  # what fits is kept whole
