"""Batch assessment: mixed inputs, file names, the summary, --jobs, atomic writes, Ctrl-C."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from click.testing import Result

from clusteradvisor import batch
from clusteradvisor.batch import CSV_COLUMNS, region_files, run_batch
from clusteradvisor.errors import EngineError, OutputError
from clusteradvisor.report import assess_file

from .conftest import EXAMPLES

OTA = EXAMPLES / "ota-ward.yaml"
BAD = "name: Broken\nnetwork:\n  form: many\n"
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


def run(inputs: list[str | Path], out: Path, fmt: str = "md", jobs: int = 1, templates: str | None = None) -> tuple[batch.BatchResult, str]:
    stderr = io.StringIO()
    result = run_batch([str(i) for i in inputs], out, fmt, jobs, templates, stderr=stderr)
    return result, stderr.getvalue()


def test_inputs_are_found_recursively_in_sorted_order_once(mixed: Path) -> None:
    found = list(region_files([str(mixed), str(mixed / "a-ota.yaml"), str(mixed / "missing.yaml")]))
    relative = [os.path.relpath(p, mixed) for p in found]
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
    assert re.fullmatch(rf"9 regions from 7 files: 4 assessed, 5 failed, in \d+\.\d\d s; memos and summary in {out}/", closing)
    assert sorted(p.name for p in out.iterdir()) == ["fine.md", "kiryu.md", "ota-ward-2.md", "ota-ward.md", "summary.csv", "summary.md"]
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
    assert "6 regions from 6 files: 6 assessed, 0 failed" in result.stderr
    assert len(rows(tmp_path / "out")) == 6


def test_summary_csv_has_one_row_per_region_with_counts_scores_and_patterns(tmp_path: Path) -> None:
    result, _ = run([EXAMPLES], tmp_path)
    assert (result.assessed, result.failed, result.files) == (6, 0, 6)
    with open(tmp_path / "summary.csv", encoding="utf-8", newline="") as handle:
        assert tuple(next(csv.reader(handle))) == CSV_COLUMNS
    ota = next(r for r in rows(tmp_path) if r["name"] == "Ota ward")
    verdict = json.loads(assess_file(str(OTA), "json"))
    assert {p: int(ota[p]) for p in ("critical", "high", "medium", "low")} == verdict["summary"]["counts"]
    assert ota["top"].split() == verdict["summary"]["top"]
    for dimension, score in verdict["scores"].items():
        assert ota[f"score_{dimension}"] == ("" if score["score"] is None else str(score["score"]))
    assert ota["patterns"].split() == [p["id"] for p in verdict["patterns"]]


def test_summary_md_ranks_shared_recommendations_and_links_the_memos(tmp_path: Path) -> None:
    run([EXAMPLES], tmp_path)
    summary = (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert summary.startswith("# Batch assessment summary\n\n6 regions from 6 files: 6 assessed, 0 failed.")
    frequent = summary.split("## Most frequent recommendations")[1].split("## Regions")[0]
    first = frequent.splitlines()[4]  # the first data row: the most frequent recommendation
    verdicts = [json.loads(assess_file(str(path), "json")) for path in sorted(EXAMPLES.glob("*.yaml"))]
    holders = [v for v in verdicts if "metal-machinery-upgrade" in [r["id"] for r in v["recommendations"]]]
    assert "`metal-machinery-upgrade`" in first and f"| {len(holders)} of 6 |" in first
    assert "[Ota ward](ota-ward.md)" in first and "[Hitachi-city](hitachi-city.md)" in first
    assert "| [Ota ward](ota-ward.md) | " in summary.split("## Regions")[1]
    assert "## Failed" not in summary


def test_summary_json_only_with_json_format(tmp_path: Path, mixed: Path) -> None:
    run([mixed], tmp_path / "md")
    assert not (tmp_path / "md" / "summary.json").exists()
    result, _ = run([mixed], tmp_path / "json", "json")
    data = json.loads((tmp_path / "json" / "summary.json").read_text(encoding="utf-8"))
    assert (data["assessed"], data["failed"]) == (result.assessed, result.failed) == (4, 4)
    assert [r["status"] for r in data["regions"]] == [r["status"] for r in rows(tmp_path / "json")]
    assert data["regions"][0]["memo"] == "ota-ward.json"
    memo = json.loads((tmp_path / "json" / "ota-ward.json").read_text(encoding="utf-8"))
    assert data["regions"][0]["recommendations"] == [r["id"] for r in memo["recommendations"]]
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
    names = sorted(p.name for p in out.iterdir())
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
    assert (one.assessed, one.failed) == (two.assessed, two.failed) == (90, 4)
    assert tree(tmp_path / "one") == tree(tmp_path / "two")


def test_no_temporary_files_are_left(tmp_path: Path, mixed: Path) -> None:
    run([mixed, EXAMPLES], tmp_path / "out", "json", jobs=2)
    assert not [p.name for p in (tmp_path / "out").iterdir() if p.name.startswith(".") or p.suffix == ".tmp"]


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
    assert sorted(p.name for p in out.iterdir()) == ["kiryu.md", "ota-ward.md", "summary.csv"]


def test_keyboard_interrupt_stops_cleanly_in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(5):
        write(tmp_path / "in" / f"r{i}.yaml", documents(f"Town {i}"))
    real = batch.assess_path

    def interrupted(path: str) -> list[batch.Outcome]:
        if path.endswith("r3.yaml"):
            raise KeyboardInterrupt
        return real(path)

    monkeypatch.setattr(batch, "assess_path", interrupted)
    result, errors = run([tmp_path / "in"], tmp_path / "out")
    assert result.interrupted and result.assessed == 3
    assert errors.startswith("Interrupted after ") and "3 memos written to" in errors and "no summary was written" in errors
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["town-0.md", "town-1.md", "town-2.md"]


def _region_folder(folder: Path, files: int, per_file: int) -> None:
    text = OTA.read_text(encoding="utf-8")
    for i in range(files):
        write(folder / f"r{i:04d}.yaml", "---\n".join(text.replace("name: Ota ward", f"name: Ota ward {i}-{j}") for j in range(per_file)))


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_ctrl_c_stops_the_console_script_cleanly(tmp_path: Path, jobs: str) -> None:
    _region_folder(tmp_path / "in", 200, 15)  # 3,000 regions: seconds of work, cheap to create
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "clusteradvisor", "batch", str(tmp_path / "in"), "--out", str(out), "--jobs", jobs],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (out.is_dir() and len(list(out.glob("*.md"))) >= 20):
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C does: the whole foreground group
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and stdout == ""
    match = re.search(r"Interrupted after [\d.]+ s: (\d+) memos written to ", stderr)
    assert match, stderr
    memos = sorted(out.glob("*.md"))
    assert len(memos) == int(match.group(1)) < 3000
    assert not (out / "summary.csv").exists()
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no temporary files
    for memo in memos:  # every memo complete
        assert memo.read_text(encoding="utf-8").rstrip().endswith("does not replace local knowledge.")


def test_a_crashed_worker_is_reported_not_waited_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(4):
        write(tmp_path / "in" / f"r{i}.yaml", documents(f"Town {i}"))
    real = batch.assess_path

    def crashing(path: str) -> list[batch.Outcome]:
        if path.endswith("r2.yaml"):
            os._exit(3)  # as a segfault in the engine would end a worker
        return real(path)

    monkeypatch.setattr(batch, "assess_path", crashing)  # forked workers inherit the patch
    monkeypatch.setattr(batch, "CHUNKSIZE", 1)
    with pytest.raises(EngineError, match=r"a worker process stopped \(exit code 3\)"):
        run([tmp_path / "in"], tmp_path / "out", jobs=2)
    assert not [p.name for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal_and_only_for_several_files(tmp_path: Path) -> None:
    for i in range(8):
        write(tmp_path / "in" / f"r{i}.yaml", documents(f"Town {i}"))
    terminal = _Terminal()
    run_batch([str(tmp_path / "in")], tmp_path / "a", stderr=terminal)
    shown = terminal.getvalue()
    assert "\r[##############################] 8/8 files, 8 regions" in shown
    assert shown.split("\r\x1b[K")[-1].startswith("8 regions from 8 files: 8 assessed, 0 failed")
    _, plain = run([tmp_path / "in"], tmp_path / "b")
    assert "\r" not in plain
    small = _Terminal()
    run_batch([str(tmp_path / "in" / "r0.yaml")], tmp_path / "c", stderr=small)
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
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"ota-ward.{fmt}", "summary.csv", "summary.md"]
