"""Batch assessment: mixed inputs, file names, the summary, --jobs, atomic writes, Ctrl-C."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clusteradvisor.batch import CSV_COLUMNS, BatchResult, Job, Outcome, Task, md, region_files, run_batch
from clusteradvisor.batch import jobs as batch_jobs
from clusteradvisor.batch import run as batch_run
from clusteradvisor.cli import BatchScreen
from clusteradvisor.errors import OutputError, WorkerError
from clusteradvisor.report import assess_file

from .conftest import EXAMPLES

OTA = EXAMPLES / "ota-ward.yaml"
BAD = "name: Broken\nnetwork:\n  form: many\n"
SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
HOSTILE = ["../../etc/passwd", "{{ 7*7 }}", "<script>alert(1)</script>", "東京都 大田区", "...", "summary", "=HYPERLINK(\"x\")"]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def documents(*names: str) -> str:
    return "---\n".join(yaml.safe_dump({"name": n}, allow_unicode=True) for n in names)


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` by relative path, hidden ones included."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def outputs(out: Path) -> list[str]:
    """The files in `out` a user sees (not hidden ones)."""
    return sorted(p.name for p in out.iterdir() if not p.name.startswith("."))


def temporaries(out: Path) -> list[str]:
    """Hidden files in `out` other than the manifest: temporary files that a run left behind."""
    return sorted(p.name for p in out.iterdir() if p.name.startswith(".") and p.name != ".clusteradvisor-manifest.json")


def rows(out: Path) -> list[dict[str, str]]:
    with open(out / "summary.csv", encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    """A folder of good and bad region files, nested, with a name collision and a multi-document file."""
    root = tmp_path / "regions"
    write(root / "a-ota.yaml", OTA.read_text(encoding="utf-8"))
    write(root / "b-bad.yaml", BAD)
    write(root / "c-two.yml", documents("Kiryu", "Ota ward"))  # a second "Ota ward"
    write(root / "nested" / "d-syntax.yaml", "name: Fine\n---\nname: [unclosed\n")
    write(root / "nested" / "e-empty.yaml", "")
    write(root / "notes.txt", "not a region file")
    write(root / ".hidden" / "x.yaml", BAD)
    (root / "nested" / "f-binary.yaml").write_bytes(b"name: \xff\xfe\n")
    return root


def run(inputs: list[str | Path], out: Path, fmt: str = "md", jobs: int = 1, templates: str | None = None, **options: Any) -> tuple[BatchResult, str]:
    """Run the library call with the command line's screen; return the result and what stderr showed."""
    stderr = io.StringIO()
    screen = BatchScreen(stderr)
    result = run_batch([str(i) for i in inputs], out, fmt, jobs, templates, on_event=screen, **options)
    screen.finish(result)
    return result, stderr.getvalue()


def test_inputs_are_found_recursively_in_sorted_order_once(mixed: Path) -> None:
    found = list(region_files([str(mixed), str(mixed / "a-ota.yaml"), str(mixed / "missing.yaml")]))
    relative = [os.path.relpath(p.path, mixed) for p in found]
    assert relative == ["a-ota.yaml", "b-bad.yaml", "c-two.yml", "nested/d-syntax.yaml", "nested/e-empty.yaml",
                        "nested/f-binary.yaml", "missing.yaml"]  # fmt: skip


def test_mixed_inputs_write_the_good_report_the_bad_and_exit_1(cli: Callable[..., Result], mixed: Path, tmp_path: Path) -> None:
    out = tmp_path / "memos"
    result = cli("batch", str(mixed), str(tmp_path / "missing.yaml"), "--out", str(out))
    assert result.exit_code == 1
    assert result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert errors == [
        f'Error: {mixed}/b-bad.yaml:3: network.form: "many" is not one of one_to_many, rigid_many_to_many, '
        "flexible_many_to_many, fragmented (or unknown).",
        f"Error: {mixed}/nested/d-syntax.yaml:3: not valid YAML: while parsing a flow sequence, did not find expected ',' or ']'.",
        f"Error: {mixed}/nested/e-empty.yaml: holds no region (the file is empty). Add at least `name: ...`.",
        f"Error: {mixed}/nested/f-binary.yaml: is not UTF-8 text (byte 6). Save it as UTF-8.",
        f"Error: {tmp_path}/missing.yaml: no such file.",
    ]
    closing = result.stderr.splitlines()[-1]
    assert re.fullmatch(rf"8 regions from 6 files and 1 unusable input: 4 assessed, 5 failed, in \d+\.\d\d s; memos and summary in {out}/", closing)
    assert visible(out) == [".clusteradvisor-manifest.json", "fine.md", "kiryu.md", "ota-ward-2.md", "ota-ward.md", "summary.csv", "summary.html", "summary.md", "summary.xlsx"]
    assert (out / "ota-ward.md").read_text(encoding="utf-8") == assess_file(f"{mixed}/a-ota.yaml")
    table = rows(out)
    assert [(r["name"], r["status"], r["memo"]) for r in table] == [
        ("Ota ward", "ok", "ota-ward.md"),
        ("", "failed", ""),
        ("Kiryu", "ok", "kiryu.md"),
        ("Ota ward", "ok", "ota-ward-2.md"),
        ("Fine", "ok", "fine.md"),
        ("", "failed", ""),
        ("", "failed", ""),
        ("", "failed", ""),
        ("", "failed", ""),
    ]
    assert table[1]["error"].startswith(f"{mixed}/b-bad.yaml:3: network.form:")
    assert [r["document"] for r in table[2:5]] == ["1", "2", "1"]


def test_a_folder_without_region_files_fails(cli: Callable[..., Result], tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = cli("batch", str(tmp_path / "empty"), str(OTA), "--out", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {tmp_path / 'empty'}: holds no region files (*.yaml or *.yml).\n")
    assert (tmp_path / "out" / "ota-ward.md").is_file()


def test_the_same_message_as_assess(cli: Callable[..., Result], tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.yaml", BAD)
    assessed = cli("assess", str(bad))
    batched = cli("batch", str(bad), "--out", str(tmp_path / "out"))
    assert assessed.exit_code == batched.exit_code == 1
    assert assessed.stderr.splitlines()[0] == batched.stderr.splitlines()[0]


def test_a_clean_run_exits_0(cli: Callable[..., Result], tmp_path: Path) -> None:
    result = cli("batch", str(EXAMPLES), "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.stderr
    # examples/v1/ holds a seventh file; examples/panels/higashi-osaka/ three respondents' files, one panel
    assert "8 regions from 10 files: 8 assessed, 0 failed" in result.stderr
    assert len(rows(tmp_path / "out")) == 8


def test_summary_csv_has_one_row_per_region_with_counts_statuses_and_patterns(tmp_path: Path) -> None:
    result, _ = run([EXAMPLES], tmp_path)
    assert (result.assessed, result.failed, result.files) == (8, 0, 10)
    with open(tmp_path / "summary.csv", encoding="utf-8", newline="") as handle:
        header = tuple(next(csv.reader(handle)))
    assert header == CSV_COLUMNS
    assert "F1 autonomous development: status" in header and "N networks and innovation: share in place" in header
    ota = next(r for r in rows(tmp_path) if r["name"] == "Ota ward")
    verdict = json.loads(assess_file(str(OTA), "json"))
    assert {p: int(ota[p]) for p in ("critical", "high", "medium", "low")} == verdict["summary"]["counts"]
    assert ota["most urgent"].split() == verdict["summary"]["most_urgent"]
    assert ota["first action"] == verdict["recommendations"][0]["id"] == "build-market-orientation"
    for dimension, score in verdict["scores"].items():
        name = score["name"].lower()
        assert ota[f"{dimension} {name}: status"] == score["status"]
        assert ota[f"{dimension} {name}: share in place"] == ("" if score["figure"] is None else str(score["figure"]))
    assert ota["resembles"].split() == [p["id"] for p in verdict["patterns"]]
    kiryu_v1 = next(r for r in rows(tmp_path) if r["file"].endswith("v1/kiryu-style-textile.yaml"))
    assert kiryu_v1["read from version 1"] == "True"


def test_summary_md_orders_shared_recommendations_as_a_plan_and_links_the_memos(tmp_path: Path) -> None:
    run([EXAMPLES], tmp_path)
    summary = (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert summary.startswith("# Batch assessment summary\n\n8 regions from 10 files: 8 assessed, 0 failed.")
    shared = summary.split("## Shared recommendations")[1].split("## Regions")[0]
    table = [line for line in shared.splitlines() if line.startswith("| ") and "`" in line]
    kinds = [line.split(" | ")[1] for line in table]
    assert kinds == sorted(kinds, key=lambda k: k != "remedy")  # remedies first
    priorities = [line.split(" | ")[2] for line in table if line.split(" | ")[1] == "remedy"]
    order = ["critical", "high", "medium", "low"]
    assert [order.index(p) for p in priorities] == sorted(order.index(p) for p in priorities)
    assert "[Higashi Osaka](higashi-osaka.md)" in shared and "| F1 Autonomous development | F2 Innovation and flexibility |" in summary
    assert "| [Ota ward](ota-ward.md) | " in summary.split("## Regions")[1]
    assert "## Failed" not in summary


def test_summary_html_and_xlsx_carry_the_same_rows(tmp_path: Path) -> None:
    from openpyxl import load_workbook

    run([EXAMPLES], tmp_path)
    page = (tmp_path / "summary.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert '<a href="ota-ward.md">Ota ward</a>' in page and "Shared recommendations" in page
    assert "<script" not in page and "http" not in page
    book = load_workbook(tmp_path / "summary.xlsx", read_only=True)
    sheet = book["Regions"]
    table = [[c for c in row] for row in sheet.iter_rows(values_only=True)]
    assert tuple(table[0]) == CSV_COLUMNS
    assert [row[2] for row in table[1:]] == [r["name"] for r in rows(tmp_path)]
    ota = next(row for row in table[1:] if row[2] == "Ota ward")
    assert isinstance(ota[CSV_COLUMNS.index("high")], int)
    assert len(list(book["Shared recommendations"].iter_rows(values_only=True))) > 1
    book.close()  # a read-only workbook keeps its file open until closed


def test_summary_xlsx_keeps_region_text_as_text(tmp_path: Path) -> None:
    from openpyxl import load_workbook

    write(tmp_path / "in" / "a.yaml", "name: '=HYPERLINK(\"http://x\")'\n")
    run([tmp_path / "in"], tmp_path / "out")
    book = load_workbook(tmp_path / "out" / "summary.xlsx")
    cell = book["Regions"]["C2"]
    assert cell.value == '=HYPERLINK("http://x")' and cell.data_type == "s"


def openpyxl_workbook(summary: dict[str, Any]) -> bytes:
    """summary.xlsx as openpyxl's write-only mode wrote it before xlsx.py, rebuilt from summary.json: the reference."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    from clusteradvisor.batch.discovery import UNSAFE, escape_char
    from clusteradvisor.batch.summary import ROW_COLUMNS

    book = Workbook(write_only=True)
    sheet = book.create_sheet("Regions")
    sheet.append(list(CSV_COLUMNS))
    for r in summary["regions"]:
        raw = [r["file"], r["document"], r["name"] or "", r["status"], r["memo"] or "", " | ".join(r["errors"]), *(r[k] for k, _ in ROW_COLUMNS)]
        cells = []
        for value in raw:
            cell = WriteOnlyCell(sheet, value=UNSAFE.sub(escape_char, value) if isinstance(value, str) else value)
            if isinstance(value, str):
                cell.data_type = "s"
            cells.append(cell)
        sheet.append(cells)
    shared = book.create_sheet("Shared recommendations")
    shared.append(["id", "recommendation", "kind", "priority", "stage", "regions"])
    for item in summary["recommendations"]:
        shared.append([item[k] for k in ("id", "title", "kind", "priority", "stage", "regions")])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def workbook_cells(data: bytes, read_only: bool) -> dict[str, list[list[tuple[Any, str]]]]:
    """Every sheet of a workbook, in order, as rows of (value, data type) as openpyxl reads them."""
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(data), read_only=read_only)
    try:
        return {sheet.title: [[(c.value, c.data_type) for c in row] for row in sheet.iter_rows()] for sheet in book.worksheets}
    finally:
        book.close()


def test_summary_xlsx_reads_back_as_openpyxl_wrote_it(tmp_path: Path, mixed: Path) -> None:
    hostile = tmp_path / "hostile"
    for i, name in enumerate([*HOSTILE, "=1+1", " lead", "0123", "TRUE", "1e5", "a & b < c > d \" ' ]]>", "emoji \U0001f600", "tab\tx", "bom\ufeffx"]):
        write(hostile / f"h{i:02d}.yaml", yaml.safe_dump({"name": name}))
    result, _ = run([mixed, EXAMPLES, hostile], tmp_path / "out", "json")
    assert result.failed > 1 and result.assessed > 10
    ours = (tmp_path / "out" / "summary.xlsx").read_bytes()
    reference = openpyxl_workbook(json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8")))
    for read_only in (False, True):
        new, old = workbook_cells(ours, read_only), workbook_cells(reference, read_only)
        assert list(new) == list(old) == ["Regions", "Shared recommendations"]
        for title in old:
            assert len(new[title]) == len(old[title])
            for got, expected in zip(new[title], old[title], strict=True):
                assert got == expected
    kinds = {kind for row in workbook_cells(ours, False)["Regions"] for _, kind in row}
    assert kinds == {"s", "n", "b", "inlineStr"}  # text, numbers, booleans, and empty text ("" memo, error)


def test_summary_xlsx_shows_characters_xml_forbids(tmp_path: Path) -> None:
    # A file name or a region name (through a YAML escape) with U+FFFE used to stop the whole run at the workbook.
    write(tmp_path / "in" / "odd\ufffe.yaml", 'name: "Odd"\n---\nname: "x\\uFFFEy"\n')
    result, _ = run([tmp_path / "in"], tmp_path / "out")
    assert (result.assessed, result.failed) == (1, 1)
    table = workbook_cells((tmp_path / "out" / "summary.xlsx").read_bytes(), False)["Regions"]
    assert table[1][0][0].endswith("odd\\ufffe.yaml") and table[1][2][0] == "Odd"
    assert "x\\ufffey" in table[2][CSV_COLUMNS.index("error")][0]


@pytest.mark.skipif(SOFFICE is None or not (Path(os.path.realpath(SOFFICE)).parent / "libsclo.so").exists(), reason="LibreOffice Calc is not installed")
def test_libreoffice_opens_summary_xlsx_with_the_rows_of_summary_csv(tmp_path: Path, mixed: Path) -> None:
    assert SOFFICE is not None
    hostile = tmp_path / "hostile"
    for i, name in enumerate([*HOSTILE, "0123", "TRUE", "bom\ufeffx"]):
        write(hostile / f"h{i:02d}.yaml", yaml.safe_dump({"name": name}))
    run([mixed, EXAMPLES, hostile], tmp_path / "out")
    profile = (tmp_path / "profile").as_uri()  # a private profile: a running LibreOffice would take the job otherwise
    subprocess.run(
        [SOFFICE, f"-env:UserInstallation={profile}", "--headless", "--norestore", "--convert-to", "csv:Text - txt - csv (StarCalc):44,34,76",
         "--outdir", str(tmp_path / "lo"), str(tmp_path / "out" / "summary.xlsx")],
        capture_output=True, timeout=300, check=True,
    )  # fmt: skip
    with open(tmp_path / "lo" / "summary.csv", encoding="utf-8", newline="") as handle:
        calc = list(csv.reader(handle))  # the first sheet, as Calc shows it

    def shown_by_calc(value: str) -> str:  # summary.csv guards formulas with ' and keeps controls; Calc shows TRUE/FALSE
        value = value[1:] if value[:1] == "'" and value[1:2] in ("=", "+", "-", "@") else value
        value = {"True": "TRUE", "False": "FALSE"}.get(value, value)
        return re.sub("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]", lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 0x100 else f"\\u{ord(m[0]):04x}", value)

    with open(tmp_path / "out" / "summary.csv", encoding="utf-8", newline="") as handle:
        expected = [[shown_by_calc(v) for v in row] for row in csv.reader(handle)]
    assert len(calc) == len(expected) > 20
    for got, want in zip(calc, expected, strict=True):
        assert got == want + [""] * (len(got) - len(want))
    assert {'=HYPERLINK("x")', "0123", "TRUE"} <= {row[2] for row in calc}  # text stays text: no formula, number or boolean


def test_summary_json_only_with_json_format(tmp_path: Path, mixed: Path) -> None:
    run([mixed], tmp_path / "md")
    assert not (tmp_path / "md" / "summary.json").exists()
    result, _ = run([mixed], tmp_path / "json", "json")
    data = json.loads((tmp_path / "json" / "summary.json").read_text(encoding="utf-8"))
    assert (data["assessed"], data["failed"]) == (result.assessed, result.failed) == (4, 4)
    assert [r["status"] for r in data["regions"]] == [r["status"] for r in rows(tmp_path / "json")]
    assert data["regions"][0]["memo"] == "ota-ward.json"
    memo = json.loads((tmp_path / "json" / "ota-ward.json").read_text(encoding="utf-8"))
    assert data["regions"][0]["recommendations"].split() == [r["id"] for r in memo["recommendations"]]
    assert all(r["regions"] >= 1 for r in data["recommendations"])


def test_failed_regions_are_listed_in_summary_md(tmp_path: Path, mixed: Path) -> None:
    run([mixed], tmp_path)
    summary = (tmp_path / "summary.md").read_text(encoding="utf-8")
    failed = summary.split("## Failed")[1]
    assert "b-bad.yaml:3: network.form:" in failed
    assert "| (not assessed) | " in summary


def test_hostile_names_stay_inside_the_output_folder(tmp_path: Path) -> None:
    source = write(tmp_path / "in" / "hostile.yaml", documents(*HOSTILE, "Ota ward", "Ota ward", "ota-ward-2", "", "x" * 201)[:-1])
    out = tmp_path / "deep" / "out"
    result, errors = run([source], out)
    # "" and 201 characters fail validation; everything else is written under a safe name.
    assert (result.assessed, result.failed) == (len(HOSTILE) + 3, 2), errors
    names = outputs(out)
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*\.md", n) for n in names if not n.startswith("summary.")), names
    assert [r["memo"] for r in rows(out) if r["status"] == "ok"] == [
        "etc-passwd.md", "7-7.md", "script-alert-1-script.md", "region.md", "region-2.md", "summary-region.md",
        "hyperlink-x.md", "ota-ward.md", "ota-ward-2.md", "ota-ward-2-2.md",
    ]  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep", "in"]  # nothing escaped the folder
    assert sorted(p.name for p in (tmp_path / "deep").iterdir()) == ["out"]
    memo = (out / "7-7.md").read_text(encoding="utf-8")
    assert "{{ 7\\*7 }}" in memo and "49" not in memo.split("\n", 1)[0]


def test_csv_cells_cannot_become_spreadsheet_formulas(tmp_path: Path) -> None:
    source = write(tmp_path / "f.yaml", documents('=HYPERLINK("http://x")', "+1", "@SUM(A1)", "-2", "Plain"))
    run([source], tmp_path / "out")
    assert [r["name"] for r in rows(tmp_path / "out")] == ["'=HYPERLINK(\"http://x\")", "'+1", "'@SUM(A1)", "'-2", "Plain"]


@pytest.mark.parametrize("fmt", ["md", "json"])
def test_jobs_1_and_2_write_byte_identical_trees(tmp_path: Path, mixed: Path, fmt: str) -> None:
    many = tmp_path / "many"
    for i in range(40):  # more files than one chunk, so several tasks run in each worker
        write(many / f"r{i:02d}.yaml", documents(f"District {i % 7}", f"Town {i}"))
    inputs: list[str | Path] = [mixed, EXAMPLES, many]
    one, _ = run(inputs, tmp_path / "one", fmt, jobs=1)
    two, _ = run(inputs, tmp_path / "two", fmt, jobs=2)
    assert (one.assessed, one.failed) == (two.assessed, two.failed) == (92, 4)
    assert tree(tmp_path / "one") == tree(tmp_path / "two")


def test_no_temporary_files_are_left(tmp_path: Path, mixed: Path) -> None:
    run([mixed, EXAMPLES], tmp_path / "out", "json", jobs=2)
    assert not temporaries(tmp_path / "out")
    assert not [p.name for p in (tmp_path / "out").iterdir() if p.suffix == ".tmp"]


def test_a_failed_write_leaves_earlier_and_existing_memos_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    out.mkdir()
    write(out / "kiryu.md", "an earlier memo\n")
    write(out / "summary.csv", "an earlier summary\n")
    source = write(tmp_path / "two.yaml", documents("Ota ward", "Kiryu", "Third"))
    real_replace = os.replace

    def failing_replace(src: str, dst: Path) -> None:
        if Path(dst).name == "kiryu.md":
            assert Path(src).read_text(encoding="utf-8").startswith("# Cluster policy advice: Kiryu")
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OutputError, match=r"kiryu\.md: cannot be written \(No space left on device\)"):
        run([source], out)
    assert (out / "ota-ward.md").read_text(encoding="utf-8").startswith("# Cluster policy advice: Ota ward")
    assert (out / "kiryu.md").read_text(encoding="utf-8") == "an earlier memo\n"
    assert (out / "summary.csv").read_text(encoding="utf-8") == "an earlier summary\n"
    assert outputs(out) == ["kiryu.md", "ota-ward.md", "summary.csv"] and not temporaries(out)


def test_keyboard_interrupt_stops_cleanly_in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(5):
        write(tmp_path / "in" / f"r{i}.yaml", documents(f"Town {i}"))
    real = batch_jobs.run_tasks

    def interrupted(job: Job, tasks: tuple[Task, ...]) -> list[list[Outcome]]:
        if any(task.path.endswith("r3.yaml") for task in tasks):
            raise KeyboardInterrupt
        return real(job, tasks)

    monkeypatch.setattr(batch_jobs, "run_tasks", interrupted)
    monkeypatch.setattr(batch_run, "CHUNKSIZE", 1)  # one file per unit: those before r3 are done
    result, errors = run([tmp_path / "in"], tmp_path / "out")
    assert result.interrupted and result.assessed == 3
    assert errors.startswith("Interrupted after ") and "3 memos written to" in errors and "no summary was written" in errors
    assert outputs(tmp_path / "out") == ["town-0.md", "town-1.md", "town-2.md"] and not temporaries(tmp_path / "out")


def _region_folder(folder: Path, files: int, per_file: int) -> None:
    text = OTA.read_text(encoding="utf-8")
    for i in range(files):
        write(folder / f"r{i:04d}.yaml", "---\n".join(text.replace("name: Ota ward", f"name: Ota ward {i}-{j}") for j in range(per_file)))


def _signal_mid_batch(tmp_path: Path, jobs: str, signum: int) -> tuple[subprocess.Popen[str], str, str]:
    """Start a batch of 3,000 regions (seconds of work, cheap to create) into tmp_path/out, send its
    process group `signum` once 20 memos are written, and return the process and what it printed."""
    _region_folder(tmp_path / "in", 200, 15)
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "clusteradvisor", "batch", str(tmp_path / "in"), "--out", str(out), "--jobs", jobs],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (out.is_dir() and len(list(out.glob("*.md"))) >= 20):
        time.sleep(0.02)
    os.killpg(process.pid, signum)
    stdout, stderr = process.communicate(timeout=30)
    return process, stdout, stderr


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_ctrl_c_stops_the_console_script_cleanly(tmp_path: Path, jobs: str) -> None:
    out = tmp_path / "out"
    process, stdout, stderr = _signal_mid_batch(tmp_path, jobs, signal.SIGINT)  # what Ctrl-C does: the whole foreground group
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and stdout == ""
    match = re.search(r"Interrupted after [\d.]+ s: (\d+) memos written to ", stderr)
    assert match, stderr
    memos = sorted(out.glob("*.md"))
    assert len(memos) == int(match.group(1)) < 3000
    assert not (out / "summary.csv").exists()
    assert not temporaries(out)
    for memo in memos:  # every memo complete
        assert memo.read_text(encoding="utf-8").rstrip().endswith("or we inferred it.")


def test_a_crashed_worker_is_reported_not_waited_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(4):
        write(tmp_path / "in" / f"r{i}.yaml", documents(f"Town {i}"))
    real = batch_jobs._entries

    def crashing(task: Task) -> Iterator[Any]:
        if task.path.endswith("r2.yaml"):
            os._exit(3)  # as a segfault in the engine would end a worker
        return real(task)

    monkeypatch.setattr(batch_jobs, "_entries", crashing)  # forked workers inherit the patch
    monkeypatch.setattr(batch_run, "CHUNKSIZE", 1)
    with pytest.raises(WorkerError, match=r"a worker process stopped abruptly"):
        run([tmp_path / "in"], tmp_path / "out", jobs=2)
    assert not temporaries(tmp_path / "out")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal_and_only_for_several_files(tmp_path: Path) -> None:
    for i in range(8):
        write(tmp_path / "in" / f"r{i}.yaml", documents(f"Town {i}"))
    terminal = _Terminal()
    screen = BatchScreen(terminal)
    screen.finish(run_batch([str(tmp_path / "in")], tmp_path / "a", on_event=screen))
    shown = terminal.getvalue()
    assert "\r[##############################] 8/8 files, 8 regions" in shown
    assert shown.split("\r\x1b[K")[-1].startswith("8 regions from 8 files: 8 assessed, 0 failed")
    _, plain = run([tmp_path / "in"], tmp_path / "b")
    assert "\r" not in plain
    small = _Terminal()
    screen = BatchScreen(small)
    screen.finish(run_batch([str(tmp_path / "in" / "r0.yaml")], tmp_path / "c", on_event=screen))
    assert "\r" not in small.getvalue()


def test_out_must_be_a_folder(cli: Callable[..., Result], tmp_path: Path) -> None:
    target = write(tmp_path / "file", "x")
    result = cli("batch", str(OTA), "--out", str(target / "sub"))
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and "Traceback" not in result.stderr


def test_batch_needs_inputs_and_out(cli: Callable[..., Result], tmp_path: Path) -> None:
    assert cli("batch", "--out", str(tmp_path)).exit_code == 2
    assert cli("batch", str(OTA)).exit_code == 2
    assert cli("batch", str(OTA), "--out", str(tmp_path), "--jobs", "0").exit_code == 2


@pytest.mark.parametrize("fmt", ["html", "txt"])
def test_every_format_gets_its_extension(tmp_path: Path, fmt: str) -> None:
    run([OTA], tmp_path, fmt)
    assert outputs(tmp_path) == [f"ota-ward.{fmt}", "summary.csv", "summary.html", "summary.md", "summary.xlsx"]


# --- issue 7: hostile input and faults (each test failed on the code before the batch package) ---------


def visible(out: Path) -> list[str]:
    """Every name in `out`, hidden ones included."""
    return sorted(p.name for p in out.iterdir())


def test_item4_a_large_multi_document_file_is_streamed_and_split_across_jobs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = OTA.read_text(encoding="utf-8")
    source = write(tmp_path / "many.yaml", "---\n".join(text.replace("name: Ota ward", f"name: Ota ward {i}") for i in range(120)))
    monkeypatch.setattr("clusteradvisor.batch.jobs.STREAM_BYTES", 20_000, raising=False)
    monkeypatch.setattr("clusteradvisor.batch.jobs.SLICE_DOCUMENTS", 4, raising=False)  # 30 slices to share
    seen = tmp_path / "seen.txt"
    real_load = __import__("clusteradvisor.region").region.load_documents

    def spy(text: str) -> Any:
        with open(seen, "a", encoding="utf-8") as handle:  # workers are forked: they append too
            handle.write(f"{os.getpid()} {len(text)}\n")
        return real_load(text)

    monkeypatch.setattr("clusteradvisor.region.load_documents", spy)
    one, _ = run([source], tmp_path / "one", jobs=1)
    largest = max(int(line.split()[1]) for line in seen.read_text(encoding="utf-8").splitlines())
    assert largest < source.stat().st_size / 10  # never parsed whole
    seen.unlink()
    two, _ = run([source], tmp_path / "two", jobs=2)
    assert (one.assessed, one.failed) == (two.assessed, two.failed) == (120, 0)
    assert tree(tmp_path / "one") == tree(tmp_path / "two")
    workers = {line.split()[0] for line in seen.read_text(encoding="utf-8").splitlines()}
    assert len(workers) == 2 and str(os.getpid()) not in workers  # the file was split across both workers
    assert [r["document"] for r in rows(tmp_path / "two")] == [str(i) for i in range(1, 121)]


def test_item4_errors_in_a_streamed_file_keep_their_line_and_document(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("clusteradvisor.batch.jobs.STREAM_BYTES", 100, raising=False)
    body = "".join(f"---\nname: Town {i}\n# padding line to make the file large enough to stream\n" for i in range(8))
    tail = "---\nname: Bad\nnetwork:\n  form: many\n---\n# only a comment\n--- ~\n---\nname: Last\n"
    source = write(tmp_path / "big.yaml", body + tail)
    small = write(tmp_path / "small.yaml", body + tail)
    monkeypatch.setattr("clusteradvisor.batch.jobs.SLICE_DOCUMENTS", 3, raising=False)
    for jobs in (1, 2):
        _, errors = run([source], tmp_path / f"out{jobs}", "json", jobs=jobs)
        assert errors.startswith(f'Error: {source}:28: network.form: "many" is not one of'), errors
        table = rows(tmp_path / f"out{jobs}")
        assert [(r["document"], r["status"]) for r in table][-2:] == [("9", "failed"), ("10", "ok")]
        memo = json.loads((tmp_path / f"out{jobs}" / "last.json").read_text(encoding="utf-8"))
        assert memo["region"]["document"] == 10  # the memo knows its place in the file, as when read whole
    monkeypatch.setattr("clusteradvisor.batch.jobs.STREAM_BYTES", 1 << 20, raising=False)
    _, whole = run([small], tmp_path / "whole", "json")
    assert whole.replace(str(small), str(source)).splitlines()[0] == errors.splitlines()[0]
    assert json.loads((tmp_path / "whole" / "last.json").read_text(encoding="utf-8"))["region"]["document"] == 10


def test_item5_non_utf8_file_names_are_shown_safely(cli: Callable[..., Result], tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    name = os.fsdecode(b"caf\xff.yaml")
    write(folder / name, documents("Cafe"))
    write(folder / os.fsdecode(b"bad\xfe.yaml"), BAD)
    out = tmp_path / "out"
    result = cli("batch", str(folder), "--out", str(out), "--format", "json")
    assert result.exit_code == 1, result.stderr
    assert f"Error: {folder}/bad\\xfe.yaml:3: network.form:" in result.stderr
    data = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert [r["file"] for r in data["regions"]] == [f"{folder}/bad\\xfe.yaml", f"{folder}/caf\\xff.yaml"]
    assert md(f"{folder}/caf\\xff.yaml") in (out / "summary.md").read_text(encoding="utf-8")
    assert rows(out)[1]["file"] == f"{folder}/caf\\xff.yaml"


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_item6_sigterm_is_handled_like_ctrl_c(tmp_path: Path, jobs: str) -> None:
    out = tmp_path / "out"
    process, stdout, stderr = _signal_mid_batch(tmp_path, jobs, signal.SIGTERM)  # as `timeout` does: the command and its group
    assert process.returncode == 143, stderr
    assert "Traceback" not in stderr and "Interrupted after " in stderr and stdout == ""
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == [".clusteradvisor-manifest.json"]


def test_item6_stale_temporary_files_of_a_killed_run_are_swept(cli: Callable[..., Result], tmp_path: Path) -> None:
    out = tmp_path / "out"
    stale = [".summary.csv.k2j4h6g8.tmp", ".clusteradvisor-4242-0a1b2c3d-7-1.tmp", ".ota-ward.md.ab12cd34.tmp"]
    for name in [*stale, ".notes.tmp", "keep.txt"]:
        write(out / name, "x")
    result = cli("batch", str(OTA), "--out", str(out))
    assert result.exit_code == 0, result.stderr
    assert visible(out) == [".clusteradvisor-manifest.json", ".notes.tmp", "keep.txt", "ota-ward.md", "summary.csv", "summary.html", "summary.md", "summary.xlsx"]


def test_item7_summaries_succeed_or_fail_together(cli: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    assert cli("batch", str(OTA), "--out", str(out)).exit_code == 0
    before = tree(out)

    class Full(io.StringIO):
        """A summary file on a full disk: writing fails, and so does closing."""

        def write(self, text: str) -> int:
            raise OSError(28, "No space left on device")

        def close(self) -> None:
            raise OSError(28, "No space left on device")

    import clusteradvisor.batch.summary as summary_module

    real = summary_module.open_temp

    def opener(folder: Path, name: str) -> tuple[str, Any]:
        path, handle = real(folder, name)
        if name == "summary.md":
            handle.close()
            return path, Full()
        return path, handle

    monkeypatch.setattr(summary_module, "open_temp", opener)
    result = cli("batch", str(OTA), str(EXAMPLES / "kiryu-style-textile-district-illustrative.yaml"), "--out", str(out))
    assert result.exit_code == 1
    assert "summary.md: cannot be written (No space left on device)" in result.stderr and "Traceback" not in result.stderr
    after = tree(out)
    for name in ("summary.csv", "summary.md"):
        assert after[name] == before[name]  # neither replaced
    assert not [n for n in after if n.endswith(".tmp")]


def test_item8_an_unreadable_sub_folder_is_a_failed_row(cli: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "in" / "a.yaml", documents("Alpha"))
    write(tmp_path / "in" / "locked" / "b.yaml", documents("Beta"))
    real = os.scandir
    locked = str(tmp_path / "in" / "locked")

    def scandir(path: Any = ".") -> Any:
        if os.fspath(path) == locked:  # what chmod 000 does for anyone but root
            raise PermissionError(13, "Permission denied", locked)
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    out = tmp_path / "out"
    result = cli("batch", str(tmp_path / "in"), "--out", str(out))
    assert result.exit_code == 1
    assert f"Error: {locked}: cannot be read (Permission denied)" in result.stderr
    assert [(r["file"], r["status"]) for r in rows(out)] == [(f"{tmp_path}/in/a.yaml", "ok"), (locked, "failed")]


def test_item9_a_symlink_is_followed_and_kept(tmp_path: Path) -> None:
    from clusteradvisor.output import write_atomic

    target = write(tmp_path / "real" / "memo.md", "old\n")
    link = tmp_path / "link.md"
    link.symlink_to(target)
    write_atomic(link, "new\n")
    assert link.is_symlink() and target.read_text(encoding="utf-8") == "new\n"


@pytest.mark.parametrize("jobs", [1, 2])
def test_item9_a_planted_link_in_out_is_replaced_not_followed(tmp_path: Path, jobs: int) -> None:
    outside = write(tmp_path / "outside.txt", "keep\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "ota-ward.md").symlink_to(outside)
    run([OTA], out, jobs=jobs)
    assert outside.read_text(encoding="utf-8") == "keep\n"
    assert not (out / "ota-ward.md").is_symlink() and (out / "ota-ward.md").read_text(encoding="utf-8").startswith("# Cluster policy")


def test_item9_a_fifo_is_written_through_or_refused(tmp_path: Path) -> None:
    import threading

    from clusteradvisor.output import write_atomic

    fifo = tmp_path / "pipe.md"
    os.mkfifo(fifo)
    with pytest.raises(OutputError, match=r"pipe\.md: is a FIFO that nobody is reading"):
        write_atomic(fifo, "lost\n")
    assert fifo.is_fifo()
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    for _ in range(200):  # until the reader has opened its end
        try:
            write_atomic(fifo, "through\n")
            break
        except OutputError:
            time.sleep(0.01)
    reader.join(timeout=10)
    assert received == [b"through\n"] and fifo.is_fifo()


def test_item9_a_character_device_is_written_through(tmp_path: Path) -> None:
    import stat as stat_module

    from clusteradvisor.output import write_atomic

    device = tmp_path / "null"
    try:
        os.mknod(device, stat_module.S_IFCHR | 0o666, os.makedev(1, 3))
        device.write_text("x")
    except OSError:
        pytest.skip("cannot make a device node here")
    write_atomic(device, "discarded\n")
    assert device.is_char_device()
    with pytest.raises(OutputError, match="is a folder"):
        write_atomic(tmp_path, "x")


def test_item10_a_second_batch_on_the_same_out_is_refused(cli: Callable[..., Result], tmp_path: Path) -> None:
    import fcntl

    out = tmp_path / "out"
    out.mkdir()
    with open(out / ".clusteradvisor.lock", "w") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = cli("batch", str(OTA), "--out", str(out))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {out}: another clusteradvisor batch is writing to this folder")
    assert not (out / "ota-ward.md").exists()


def test_item10_memos_of_an_earlier_run_are_named_and_clean_removes_only_ours(cli: Callable[..., Result], tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = write(tmp_path / "first.yaml", documents("Alpha", "Beta"))
    assert cli("batch", str(first), "--out", str(out), "--format", "json").exit_code == 0
    write(out / "notes.md", "my own notes\n")
    second = write(tmp_path / "second.yaml", documents("Alpha"))
    result = cli("batch", str(second), "--out", str(out))
    assert result.exit_code == 0
    assert "3 files of an earlier run are not in this run's summary (alpha.json, beta.json, summary.json); --clean removes them" in result.stderr
    assert (out / "beta.json").exists()
    result = cli("batch", str(second), "--out", str(out), "--clean")
    assert result.exit_code == 0, result.stderr
    assert "Removed 3 files of an earlier run (--clean)" in result.stderr
    assert visible(out) == [".clusteradvisor-manifest.json", "alpha.md", "notes.md", "summary.csv", "summary.html", "summary.md", "summary.xlsx"]
    manifest = json.loads((out / ".clusteradvisor-manifest.json").read_text(encoding="utf-8"))
    assert manifest["files"] == ["alpha.md", "summary.csv", "summary.html", "summary.md", "summary.xlsx"]


def test_item11_jobs_are_capped_at_the_cpu_count(cli: Callable[..., Result], tmp_path: Path) -> None:
    for i in range(8):
        write(tmp_path / "in" / f"r{i}.yaml", documents(f"Town {i}"))
    result = cli("batch", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--jobs", "1000")
    assert result.exit_code == 0
    assert f"--jobs 1000 is more than the {os.cpu_count()} CPUs here; using {os.cpu_count()}." in result.stderr


def test_item12_ctrl_c_while_listing_files_exits_130(cli: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "in" / "a.yaml", documents("Alpha"))

    def interrupted(path: Any = ".") -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "scandir", interrupted)
    result = cli("batch", str(tmp_path / "in"), "--out", str(tmp_path / "out"))
    assert result.exit_code == 130
    assert "Interrupted" in result.stderr and "Aborted!" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_item12_ctrl_c_in_assess_exits_130(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from clusteradvisor import report
    from clusteradvisor.cli import main

    def interrupted(*args: Any, **kwargs: Any) -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr(report, "assess_text", interrupted)
    result = CliRunner().invoke(main, ["assess", str(OTA)])
    assert result.exit_code == 130
    assert "Interrupted" in result.stderr and "Aborted!" not in result.stderr


@pytest.mark.parametrize("empty", [False, True])
def test_item13_nothing_to_do_creates_nothing(cli: Callable[..., Result], tmp_path: Path, empty: bool) -> None:
    given = tmp_path / "nosuch"
    if empty:
        given.mkdir()
    out = tmp_path / "x"
    result = cli("batch", str(given), "--out", str(out))
    assert result.exit_code == 1
    first = "holds no region files (*.yaml or *.yml)." if empty else "no such file."
    assert result.stderr.splitlines() == [f"Error: {given}: {first}", "Error: nothing to assess: no region file was found; nothing was written."]
    assert not out.exists()


def test_item13_missing_inputs_are_not_counted_as_files(cli: Callable[..., Result], tmp_path: Path) -> None:
    result = cli("batch", str(OTA), str(tmp_path / "nosuch.yaml"), "--out", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert "1 region from 1 file and 1 unusable input: 1 assessed, 1 failed" in result.stderr


def test_item15_everything_in_summary_md_is_escaped(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    write(folder / "x\n# Heading | cell.yaml", documents("A & <b>B</b> | C\\D"))
    write(folder / "y.yaml", "name: Y\n'odd\n## key |': 1\n")
    out = tmp_path / "out"
    run([folder], out)
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert "<b>" not in summary and "A &amp; &lt;b&gt;B&lt;/b&gt; \\| C\\\\D" in summary
    table = [line for line in summary.split("## Regions")[1].split("## Failed")[0].splitlines() if line.startswith("|")]
    cells = [len(re.sub(r"\\.", "", line).split("|")) for line in table]  # unescaped pipes only
    assert len(table) == 4 and cells == [cells[0]] * 4, table
    assert "\n# Heading" not in summary and "\n## key" not in summary
    failed = summary.split("## Failed")[1].strip().splitlines()
    assert len(failed) == 1 and failed[0].startswith("- "), failed


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has finished
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs /proc to find the workers")
def test_item6_workers_do_not_outlive_a_killed_batch_and_the_next_run_sweeps(tmp_path: Path) -> None:
    _region_folder(tmp_path / "in", 200, 15)
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "clusteradvisor", "batch", str(tmp_path / "in"), "--out", str(out), "--jobs", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (out.is_dir() and len(list(out.glob("*.md"))) >= 20):
        time.sleep(0.02)
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text(encoding="utf-8").split()
    assert len(children) == 2
    process.kill()  # SIGKILL: no handler runs
    process.communicate(timeout=30)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(int(pid)) for pid in children):
        time.sleep(0.1)
    assert not any(_alive(int(pid)) for pid in children)
    result = subprocess.run(
        [sys.executable, "-m", "clusteradvisor", "batch", str(OTA), "--out", str(out)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert not temporaries(out)


def test_a_fifo_or_device_in_a_batch_folder_is_a_failed_row_not_a_hang(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    write(folder / "a.yaml", documents("Alpha"))
    os.mkfifo(folder / "b.yaml")
    (folder / "c.yaml").symlink_to("/dev/zero")
    result, errors = run([folder], tmp_path / "out")
    assert (result.assessed, result.failed) == (1, 2)
    assert f"Error: {folder}/b.yaml: is a named pipe (FIFO), not a regular file; give a region file (.yaml)." in errors
    assert f"Error: {folder}/c.yaml: is a character device, not a regular file; give a region file (.yaml)." in errors


def test_a_streamed_file_with_a_bad_byte_keeps_the_documents_before_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("clusteradvisor.batch.jobs.STREAM_BYTES", 10, raising=False)
    source = tmp_path / "big.yaml"
    source.write_bytes(b"name: One\n---\nname: Two\n---\nname: Thr\xffee\n")
    result, errors = run([source], tmp_path / "out")
    assert (result.assessed, result.failed) == (2, 1)
    assert f"Error: {source}: is not UTF-8 text (byte 37). Save it as UTF-8." in errors  # as `assess` counts


def test_shown_and_md_spell_out_what_would_act_on_a_terminal_or_a_table() -> None:
    from clusteradvisor.batch import shown

    assert shown("a\x1b[31mb\u202ec" + os.fsdecode(b"\xff")) == "a\\x1b[31mb\\u202ec\\xff"
    assert md("x\ny|z") == "x\\\\x0ay\\|z"  # Markdown shows \x0a and a literal pipe
    assert md("- item") == "\\- item" and md("a & <i>") == "a &amp; &lt;i&gt;"


def test_batch_writes_word_memos_byte_identical_across_jobs(tmp_path: Path) -> None:
    one, _ = run([EXAMPLES], tmp_path / "one", "docx", jobs=1)
    two, _ = run([EXAMPLES], tmp_path / "two", "docx", jobs=2)
    assert (one.assessed, one.failed) == (two.assessed, two.failed) == (8, 0)
    assert (tmp_path / "one" / "ota-ward.docx").read_bytes()[:2] == b"PK"
    assert tree(tmp_path / "one") == tree(tmp_path / "two")


PANEL_FOLDER = EXAMPLES / "panels" / "higashi-osaka"


def test_a_folder_of_respondents_files_is_assessed_as_one_panel(tmp_path: Path) -> None:
    result, _ = run([PANEL_FOLDER, EXAMPLES / "ota-ward.yaml"], tmp_path / "out")
    assert (result.assessed, result.failed, result.files) == (2, 0, 4)
    panel = next(r for r in rows(tmp_path / "out") if r["name"] == "Higashi Osaka")
    assert panel["file"].endswith("panels/higashi-osaka") and panel["first action"] == "listen-to-firms-first"
    assert panel["respondents by role"] == "official 1, firm 2"
    assert panel["perception gap (% of comparable points)"] != ""
    memo = (tmp_path / "out" / panel["memo"]).read_text(encoding="utf-8")
    assert "## Where officials and firms see it differently" in memo
    single = next(r for r in rows(tmp_path / "out") if r["name"] == "Ota ward")
    assert single["respondents by role"] == "" and single["perception gap (% of comparable points)"] == ""


def test_panels_group_deterministically_and_identically_across_jobs(tmp_path: Path) -> None:
    for n in range(3):
        target = tmp_path / "in" / f"town-{n}"
        for path in PANEL_FOLDER.glob("*.yaml"):
            write(target / path.name, path.read_text(encoding="utf-8").replace("name: Higashi Osaka", f"name: Town {n}"))
    one, _ = run([tmp_path / "in"], tmp_path / "one", jobs=1)
    two, _ = run([tmp_path / "in"], tmp_path / "two", jobs=2)
    assert (one.assessed, one.failed, one.files) == (two.assessed, two.failed, two.files) == (3, 0, 9)
    assert tree(tmp_path / "one") == tree(tmp_path / "two")


def test_respondents_files_read_in_worker_processes_group_as_in_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for n in range(3):
        for path in PANEL_FOLDER.glob("*.yaml"):
            write(tmp_path / "in" / f"town-{n}" / path.name, path.read_text(encoding="utf-8").replace("name: Higashi Osaka", f"name: Town {n}"))
    write(tmp_path / "in" / "town-0" / "stray.yaml", (PANEL_FOLDER / "firm-2.yaml").read_text(encoding="utf-8").replace("Higashi Osaka", "Elsewhere"))
    one, one_shown = run([tmp_path / "in"], tmp_path / "one", jobs=1)
    monkeypatch.setattr(batch_run, "PEEKS_PER_PROCESS", 1)  # read the candidates in the pool, few as they are
    two, two_shown = run([tmp_path / "in"], tmp_path / "two", jobs=2)
    assert (one.assessed, one.failed, one.files) == (two.assessed, two.failed, two.files) == (4, 0, 10)
    assert tree(tmp_path / "one") == tree(tmp_path / "two")
    note = "respondents' files name 2 different regions (Elsewhere: 1 file; Town 0: 3 files)"
    assert note in one_shown and note in two_shown


def test_a_name_mismatch_in_a_panel_folder_is_reported_not_merged(cli: Callable[..., Result], tmp_path: Path) -> None:
    folder = tmp_path / "in"
    for path in PANEL_FOLDER.glob("*.yaml"):
        write(folder / path.name, path.read_text(encoding="utf-8"))
    stray = (PANEL_FOLDER / "firm-2.yaml").read_text(encoding="utf-8").replace("name: Higashi Osaka", "name: Higashi Osaka city")
    write(folder / "firm-3.yaml", stray)
    result = cli("batch", str(folder), "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.stderr
    assert "respondents' files name 2 different regions (Higashi Osaka: 3 files; Higashi Osaka city: 1 file)" in result.stderr
    names = sorted(r["name"] for r in rows(tmp_path / "out"))
    assert names == ["Higashi Osaka", "Higashi Osaka city"]


def test_panel_by_name_gathers_respondents_across_folders(tmp_path: Path) -> None:
    for index, path in enumerate(sorted(PANEL_FOLDER.glob("*.yaml"))):
        write(tmp_path / "in" / f"desk-{index}" / path.name, path.read_text(encoding="utf-8"))
    by_folder, _ = run([tmp_path / "in"], tmp_path / "a")
    assert by_folder.assessed == 3  # one respondent per folder: three single assessments
    from clusteradvisor.batch import run_batch

    by_name = run_batch([str(tmp_path / "in")], tmp_path / "b", panel_by="name")
    assert (by_name.assessed, by_name.files) == (1, 3)


def _exact_only(function: Callable[[str], Any], paths: list[str]) -> list[Any]:
    """Read every candidate by parsing it, as batch did before names were read without parsing."""
    from clusteradvisor.batch.discovery import respondent_name, respondent_region

    if function is respondent_name:
        return [None if (peeked := respondent_region(p)) is None else (peeked[0], True) for p in paths]
    return [function(p) for p in paths]


_RESPONDENT_FILES = st.lists(
    st.tuples(
        st.sampled_from(["f0", "f1"]),
        st.sampled_from(["A", "B", '"A"', "A  # the district", "yes", "A\n  - more"]),  # quoted and odd names are parsed
        st.sampled_from(["respondent:\n  role: firm\n", "respondent:\n  role: official\n", "respondent:\n  label: x\n", "respondent:\n  role: boss\n", ""]),
        st.sampled_from(["", "", "sme_count: x\n", "area: 'quoted'\n", "---\nname: C\n"]),  # refused, parsed, two regions
    ),
    min_size=2,
    max_size=8,
)


@settings(max_examples=120, deadline=None, database=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(_RESPONDENT_FILES)
def test_panels_group_as_if_every_respondents_file_were_parsed(files: list[tuple[str, str, str, str]]) -> None:
    from clusteradvisor.batch.discovery import group_panels

    with tempfile.TemporaryDirectory() as folder:
        for index, (sub, name, respondent, rest) in enumerate(files):
            write(Path(folder) / sub / f"r{index}.yaml", f"schema_version: 2\nname: {name}\n{respondent}{rest}")
        found = list(region_files([folder]))
        for by in ("folder", "name"):
            assert group_panels(found, by) == group_panels(found, by, _exact_only), files


def test_names_read_without_parsing_are_made_sure_where_files_may_join(tmp_path: Path) -> None:
    from clusteradvisor.batch.discovery import Found, group_panels, respondent_name

    answers = "schema_version: 2\nname: {name}\nrespondent:\n  role: {role}\n"
    a = write(tmp_path / "in" / "a.yaml", answers.format(name="Town", role="firm"))
    b = write(tmp_path / "in" / "b.yaml", answers.format(name='"Town"', role="official"))  # quoted: parsed at once
    c = write(tmp_path / "in" / "c.yaml", answers.format(name="Town", role="boss"))  # refused when parsed
    d = write(tmp_path / "in" / "d.yaml", answers.format(name="Town city", role="firm"))
    e = write(tmp_path / "other" / "e.yaml", answers.format(name="Town", role="boss"))  # alone in its folder: never parsed
    assert [respondent_name(str(p)) for p in (a, b, c, d, e)] == [("Town", False), ("Town", True), ("Town", False), ("Town city", False), ("Town", False)]
    found = list(region_files([str(tmp_path / "in"), str(tmp_path / "other")]))
    grouped, notes = group_panels(found)
    assert grouped == [Found(str(tmp_path / "in"), panel=(str(a), str(b))), Found(str(c)), Found(str(d)), Found(str(e))]
    assert notes == [f"{tmp_path / 'in'}: respondents' files name 2 different regions (Town: 2 files; Town city: 1 file); each name is assessed on its own."]


@pytest.mark.parametrize("block", [2, 5, 16])
def test_regions_taken_in_blocks_give_the_rows_of_one_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int) -> None:
    ota = OTA.read_text(encoding="utf-8")
    many = write(tmp_path / "many.yaml", "---\n".join(BAD if i % 4 == 1 else ota.replace("Ota ward", f"Ota {i}") for i in range(23)))
    one = write(tmp_path / "one.yaml", ota)
    broken = write(tmp_path / "broken.yaml", "name: [unclosed\n")
    # An office template that fails while rendering the regions whose name ends in 3: their rows fail.
    templates = tmp_path / "office"
    write(templates / "memo.md.j2", "{{ region['name'] }}{% if region['name'].endswith('3') %}{{ 1 // 0 }}{% endif %}\n")
    tasks = (
        Task(0, str(many), "many.yaml"),
        Task(1, "", "gone.yaml", "end", error="gone.yaml: no such file."),
        Task(2, str(one), "one.yaml"),
        Task(3, str(broken), "broken.yaml"),
        Task(4, str(PANEL_FOLDER), "higashi-osaka", "panel", panel=tuple(str(p) for p in sorted(PANEL_FOLDER.glob("*.yaml")))),
    )
    job = Job("md", str(templates))
    monkeypatch.setattr(batch_jobs, "BLOCK", 1)
    one_at_a_time = batch_jobs.run_tasks(job, tasks)
    monkeypatch.setattr(batch_jobs, "BLOCK", block)
    assert batch_jobs.run_tasks(job, tasks) == one_at_a_time
    rows = [o for outcomes in one_at_a_time for o in outcomes]
    assert len(rows) == 23 + 1 + 1 + 1 + 1
    assert [o.ok for o in rows].count(False) == 6 + 1 + 1 + 1  # six bad documents, Ota 3 (the template), gone, broken
    assert any("template failed while rendering" in " ".join(o.errors) for o in rows)
