"""summary.csv, summary.md and summary.json: built row by row without holding the rows, written together."""

from __future__ import annotations

import contextlib
import csv
import html
import io
import itertools
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .. import __version__
from ..errors import OutputError
from ..knowledge import DIMENSIONS, PRIORITIES, STAGES, KnowledgeBase
from ..xlsx import write_workbook
from .discovery import UNSAFE, escape_char, shown
from .jobs import Outcome

SHARED_NAMES = 10  # regions named per recommendation in summary.md; the rest are counted
FREQUENT = 15  # recommendations listed in summary.md's "shared recommendations" table
FORMAT_NAMES = {"md": "Markdown", "html": "HTML", "txt": "plain text", "json": "JSON", "docx": "Word"}
STATUS = {"act": "act", "on_track": "on track", "not_assessed": "not assessed"}
# Verdict.summary_row() keys, in column order, with their spelled-out headings.
ROW_COLUMNS: tuple[tuple[str, str], ...] = (
    ("critical", "critical"),
    ("high", "high"),
    ("medium", "medium"),
    ("low", "low"),
    ("next_steps", "next steps"),
    ("first_action", "first action"),
    ("most_urgent", "most urgent"),
    *((f"{d}_{part}", f"{d} {name.lower()}: {label}") for d, name in DIMENSIONS.items() for part, label in (("status", "status"), ("figure", "share in place"))),
    ("patterns", "resembles"),
    ("recommendations", "recommendations"),
    ("migrated", "read from version 1"),
    ("respondents", "respondents by role"),
    ("perception_gap_pct", "perception gap (% of comparable points)"),
)
CSV_COLUMNS = ("file", "document", "name", "status", "memo", "error", *(heading for _, heading in ROW_COLUMNS))

_MARKUP = re.compile(r"[\\`*_\[\]|#~]")


def md(text: str) -> str:
    """Keep text literal on one line of Markdown: markup escaped, HTML as entities, controls visible."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MARKUP.sub(lambda m: "\\" + m[0], text)
    # A newline would end the table row or start a heading: show every control character instead.
    text = UNSAFE.sub(lambda m: "\\" + escape_char(m), text)  # doubled: Markdown would eat one backslash
    return "\\" + text if text[:1] in ("-", "+", "=") else text


def _cell(text: str) -> str:
    """Keep a spreadsheet from reading region text as a formula (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def open_temp(folder: Path, name: str) -> tuple[str, IO[str]]:
    """Create a hidden temporary file for `name` in `folder`; return its path and a text handle."""
    fd, path = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
    return path, os.fdopen(fd, "w+", encoding="utf-8", newline="")


def write_together(folder: Path, files: list[tuple[str, Callable[[IO[str]], None] | bytes]]) -> None:
    """Write every file to a temporary file first, then rename them all: all are replaced or none.

    On any failure every temporary file is removed, even when closing it fails (a full disk
    reports itself at close), and the files already in `folder` stay as they were.
    """
    temps: list[str] = []
    name = ""
    try:
        for name, fill in files:
            handle: IO[Any]
            if isinstance(fill, bytes):  # the workbook
                fd, path = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
                handle = binary = os.fdopen(fd, "wb")
            else:
                path, handle = text = open_temp(folder, name)
            temps.append(path)
            try:
                if isinstance(fill, bytes):
                    binary.write(fill)
                else:
                    fill(text[1])
                handle.flush()
                os.fsync(handle.fileno())  # written once per run: unlike memos, worth an fsync
            finally:
                handle.close()
            os.chmod(path, 0o644)
        for (name, _), path in zip(files, temps, strict=True):
            os.replace(path, folder / name)
    except BaseException as err:
        for path in temps:
            with contextlib.suppress(OSError):
                os.unlink(path)
        if isinstance(err, OSError):
            raise OutputError(
                f"{shown(str(folder / name))}: cannot be written ({err.strerror}); the summary files were left as they were."
            ) from None
        raise


class _Spool:
    """A temporary file in the output folder that gathers part of a summary as the run goes."""

    def __init__(self, folder: Path, name: str) -> None:
        try:
            fd, self.path = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
        except OSError as err:
            raise OutputError(f"{shown(str(folder))}: cannot write the summary ({err.strerror}).") from None
        self.handle: IO[str] = os.fdopen(fd, "w+", encoding="utf-8", newline="")

    def copy_to(self, target: IO[str]) -> None:
        self.handle.flush()
        self.handle.seek(0)
        while chunk := self.handle.read(1 << 16):
            target.write(chunk)

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self.handle.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)


class _Rows(list[Any]):
    """The JSON rows of a spool, read back one at a time while json encodes the summary.

    json's pure-Python encoder (what `iterencode` uses) iterates a list; this one never holds more
    than one row, so summary.json is built by json itself without holding every region.
    """

    def __init__(self, spool: _Spool, count: int) -> None:
        super().__init__()
        self._spool, self._count = spool, count

    def __iter__(self) -> Iterator[Any]:
        self._spool.handle.flush()
        self._spool.handle.seek(0)
        for line in self._spool.handle:
            yield json.loads(line)

    def __len__(self) -> int:
        return self._count


@dataclass
class _Shared:
    count: int = 0
    regions: list[tuple[str, str]] = field(default_factory=list)  # (name, memo file), the first few


def _score_text(row: dict[str, Any], dimension: str) -> str:
    figure = row.get(f"{dimension}_figure")
    status = STATUS[str(row.get(f"{dimension}_status"))]
    return status if figure is None else f"{status} ({figure})"


class Summary:
    """The summaries of one run (csv, md, html, xlsx; json with --format json), fed one row per region."""

    def __init__(self, out: Path, fmt: str, kb: KnowledgeBase) -> None:
        self._out, self._fmt, self._kb = out, fmt, kb
        self.assessed = self.failed = 0
        self._shared: dict[str, _Shared] = {}
        self._spools: list[_Spool] = []
        self._csv = self._spool("summary.csv")
        self._table = self._spool("summary.md")
        self._failures = self._spool("summary.md")
        self._html_rows = self._spool("summary.html")
        self._html_failures = self._spool("summary.html")
        self._json = self._spool("summary.json") if fmt == "json" else None
        self._csv_writer = csv.writer(self._csv.handle, lineterminator="\n")
        self._csv_writer.writerow(CSV_COLUMNS)
        self._cells = self._spool("summary.xlsx")  # the workbook's rows as JSON lines, typed, until the end

    def _spool(self, name: str) -> _Spool:
        spool = _Spool(self._out, name)
        self._spools.append(spool)
        return spool

    def add(self, o: Outcome, memo: str) -> None:
        """Record one region's row (`memo` is its memo's file name, "" when it failed)."""
        try:
            self._add(o, memo)
        except OSError as err:  # the spools live in --out: a full disk shows here first
            raise OutputError(f"{shown(str(self._out))}: cannot write the summary ({err.strerror}).") from None

    def _add(self, o: Outcome, memo: str) -> None:
        row = dict(o.row)
        if o.ok:
            self.assessed += 1
            for rule_id in o.recommendations:
                shared = self._shared.get(rule_id)
                if shared is None:  # not setdefault: that would build a _Shared for every row
                    shared = self._shared[rule_id] = _Shared()
                shared.count += 1
                if len(shared.regions) < SHARED_NAMES:
                    shared.regions.append((o.name, memo))
        else:
            self.failed += 1
        status = "ok" if o.ok else "failed"
        error = " | ".join(o.errors)
        document = str(o.document) if o.document else ""
        values = [row.get(key) for key, _ in ROW_COLUMNS]
        cells = [_cell(o.source), document, _cell(o.name), status, memo, _cell(error), *("" if v is None else _cell(str(v)) if isinstance(v, str) else v for v in values)]
        self._csv_writer.writerow(cells)
        raw = [o.source, o.document or None, o.name, status, memo, error, *values]
        self._cells.handle.write(json.dumps(raw, ensure_ascii=False) + "\n")
        where = md(o.source) + (f" #{o.document}" if o.document else "")
        html_where = html.escape(o.source) + (f" #{o.document}" if o.document else "")
        if o.ok:
            advice = "/".join(str(row[p]) for p in PRIORITIES)
            first = str(row.get("first_action") or "")
            title = self._kb.by_id[first].title if first else "none"
            scores = [_score_text(row, d) for d in DIMENSIONS]
            resembles = ", ".join(self._kb.by_id[p].title for p in str(row.get("patterns") or "").split()) or "none"
            self._table.handle.write(f"| [{md(o.name)}]({memo}) | {where} | ok | {advice} | {md(title)} | {' | '.join(scores)} | {md(resembles)} |\n")
            self._html_rows.handle.write(
                f'<tr><td><a href="{html.escape(memo)}">{html.escape(o.name)}</a></td><td>{html_where}</td><td>{advice}</td>'
                f"<td>{html.escape(title)}</td>{''.join(f'<td>{html.escape(t)}</td>' for t in scores)}<td>{html.escape(resembles)}</td></tr>\n"
            )
        else:
            region = md(o.name) if o.name else "(not assessed)"
            self._table.handle.write(f"| {region} | {where} | failed |  |  | {' | '.join('' for _ in DIMENSIONS)} |  |\n")
            self._html_rows.handle.write(
                f"<tr class=\"failed\"><td>{html.escape(o.name) or '(not assessed)'}</td><td>{html_where}</td><td colspan=\"{3 + len(DIMENSIONS)}\">failed</td></tr>\n"
            )
            for message in o.errors:
                self._failures.handle.write(f"- {md(message)}\n")
                self._html_failures.handle.write(f"<li>{html.escape(message)}</li>\n")
        if self._json is not None:
            data = {"file": o.source, "document": o.document or None, "name": o.name or None, "status": status, "memo": memo or None, "errors": list(o.errors)}
            data |= {key: row.get(key) for key, _ in ROW_COLUMNS}
            self._json.handle.write(json.dumps(data, ensure_ascii=False) + "\n")

    def _ranked(self) -> list[tuple[str, _Shared]]:
        """Shared recommendations in the order a reader acts on them: priority, stage, then how many regions."""
        by_id = self._kb.by_id
        return sorted(
            self._shared.items(),
            key=lambda item: (by_id[item[0]].kind != "remedy", *_rank(by_id[item[0]]), -item[1].count, by_id[item[0]].order),
        )

    def _heading(self, counted: str) -> str:
        return (
            f"{counted}: {self.assessed} assessed, {self.failed} failed. One {FORMAT_NAMES[self._fmt]} memo per assessed region "
            f"in this folder; rule base version {self._kb.version} ({len(self._kb.rules)} rules), ClusterAdvisor {__version__}."
        )

    def _markdown(self, handle: IO[str], counted: str) -> None:
        lines = ["# Batch assessment summary\n\n", self._heading(counted) + "\n\n", "## Shared recommendations\n\n"]
        ranked = self._ranked()
        if ranked:
            lines.append("Remedies first, by priority and stage as the memos' action plans order them; then next steps.\n\n")
            lines.append("| Recommendation | Kind | Priority | Stage | Regions | Shared by |\n|---|---|---|---|---:|---|\n")
            for rule_id, shared in ranked[:FREQUENT]:
                rule = self._kb.by_id[rule_id]
                names = ", ".join(f"[{md(name)}]({memo})" for name, memo in shared.regions)
                if shared.count > len(shared.regions):
                    names += f" and {shared.count - len(shared.regions)} more"
                kind = "remedy" if rule.kind == "remedy" else "next step"
                lines.append(f"| {md(rule.title)} (`{rule_id}`) | {kind} | {rule.priority} | {rule.stage} | {shared.count} of {self.assessed} | {names} |\n")
            if len(ranked) > FREQUENT:
                lines.append(f"\n{_plural(len(ranked) - FREQUENT, 'other recommendation')} apply too; see the memos.\n")
        else:
            lines.append("No recommendation applies to any assessed region.\n")
        headings = " | ".join(f"{d} {name}" for d, name in DIMENSIONS.items())
        lines += [
            "\n## Regions\n\n",
            "Advice: remedies by priority (critical/high/medium/low). First action: the plan's first step. Each area of the "
            "paper's framework shows its status (act, on track, not assessed) and, where at least 3 remedies are decided, "
            "the share already in place.\n\n",
            f"| Region | File | Status | Advice | First action | {headings} | Resembles |\n",
            f"|---|---|---|---|---|{'---|' * len(DIMENSIONS)}---|\n",
        ]
        handle.write("".join(lines))
        self._table.copy_to(handle)
        if self.failed:
            handle.write("\n## Failed\n\n")
            self._failures.copy_to(handle)

    def _html(self, handle: IO[str], counted: str) -> None:
        e = html.escape
        handle.write(_HTML_HEAD)
        handle.write(f"<h1>Batch assessment summary</h1>\n<p>{e(self._heading(counted))}</p>\n<h2>Shared recommendations</h2>\n")
        ranked = self._ranked()
        if ranked:
            handle.write("<p>Remedies first, by priority and stage as the memos' action plans order them; then next steps.</p>\n")
            handle.write("<table><thead><tr><th>Recommendation</th><th>Kind</th><th>Priority</th><th>Stage</th><th class=num>Regions</th><th>Shared by</th></tr></thead><tbody>\n")
            for rule_id, shared in ranked:
                rule = self._kb.by_id[rule_id]
                names = ", ".join(f'<a href="{e(memo)}">{e(name)}</a>' for name, memo in shared.regions)
                if shared.count > len(shared.regions):
                    names += f" and {shared.count - len(shared.regions)} more"
                kind = "remedy" if rule.kind == "remedy" else "next step"
                handle.write(
                    f"<tr><td>{e(rule.title)}</td><td>{kind}</td><td>{rule.priority}</td><td>{rule.stage}</td>"
                    f"<td class=num>{shared.count} of {self.assessed}</td><td>{names}</td></tr>\n"
                )
            handle.write("</tbody></table>\n")
        else:
            handle.write("<p>No recommendation applies to any assessed region.</p>\n")
        handle.write("<h2>Regions</h2>\n<table><thead><tr><th>Region</th><th>File</th><th>Advice</th><th>First action</th>")
        handle.write("".join(f"<th>{d} {e(name)}</th>" for d, name in DIMENSIONS.items()) + "<th>Resembles</th></tr></thead><tbody>\n")
        self._html_rows.copy_to(handle)
        handle.write("</tbody></table>\n")
        if self.failed:
            handle.write("<h2>Failed</h2>\n<ul>\n")
            self._html_failures.copy_to(handle)
            handle.write("</ul>\n")
        handle.write("</body>\n</html>\n")

    def _xlsx(self) -> bytes:
        """The workbook, built at the end from the typed rows (streamed: one row in memory at a time)."""
        regions = ([_xlsx(value) for value in raw] for raw in _Rows(self._cells, self.assessed + self.failed))
        rules = self._kb.by_id
        shared = ((i, rules[i].title, rules[i].kind, rules[i].priority, rules[i].stage, item.count) for i, item in self._ranked())
        buffer = io.BytesIO()
        write_workbook(
            buffer,
            [
                ("Regions", itertools.chain([CSV_COLUMNS], regions)),
                ("Shared recommendations", itertools.chain([("id", "recommendation", "kind", "priority", "stage", "regions")], shared)),
            ],
        )
        return buffer.getvalue()

    def _json_document(self, handle: IO[str], files: int) -> None:
        assert self._json is not None
        document = {
            "assessed": self.assessed,
            "failed": self.failed,
            "files": files,
            "knowledge_base": {"version": self._kb.version, "rules": len(self._kb.rules)},
            "regions": _Rows(self._json, self.assessed + self.failed),
            "recommendations": [
                {
                    "id": rule_id,
                    "title": self._kb.by_id[rule_id].title,
                    "kind": self._kb.by_id[rule_id].kind,
                    "priority": self._kb.by_id[rule_id].priority,
                    "stage": self._kb.by_id[rule_id].stage,
                    "regions": shared.count,
                    "first_regions": [name for name, _ in shared.regions],
                }
                for rule_id, shared in self._ranked()
            ],
        }
        for chunk in json.JSONEncoder(ensure_ascii=False).iterencode(document):
            handle.write(chunk)
        handle.write("\n")

    def write(self, files: int, counted: str) -> list[str]:
        """Write the summary files together, remove the spools, and return the names written."""
        workbook = self._xlsx()
        parts: list[tuple[str, Callable[[IO[str]], None] | bytes]] = [
            ("summary.csv", self._csv.copy_to),
            ("summary.md", lambda handle: self._markdown(handle, counted)),
            ("summary.html", lambda handle: self._html(handle, counted)),
            ("summary.xlsx", workbook),
        ]
        if self._json is not None:
            parts.append(("summary.json", lambda handle: self._json_document(handle, files)))
        try:
            write_together(self._out, parts)
        finally:
            self.discard()
        return [name for name, _ in parts]

    def discard(self) -> None:
        """Remove the spools (after writing, or when the run stops early)."""
        for spool in self._spools:
            spool.discard()


def _rank(rule: Any) -> tuple[int, int]:
    return (PRIORITIES.index(str(rule.priority)), STAGES.index(str(rule.stage)))


def _xlsx(value: Any) -> Any:
    """A cell value for the workbook: text with control and format characters made visible (as in the memos)."""
    if isinstance(value, str) and not value.isprintable():  # every character UNSAFE matches is unprintable
        return UNSAFE.sub(escape_char, value)
    return value


_HTML_HEAD = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Batch assessment summary</title>
<style>
body { margin: 2rem; color: #1d2430; font: 14px/1.45 "Segoe UI", "Helvetica Neue", Arial, "Liberation Sans", sans-serif; }
h1 { font-size: 1.6rem; margin: 0 0 .5rem; } h2 { color: #1f4e79; font-size: 1.2rem; margin: 1.8rem 0 .5rem; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; }
th, td { padding: .25rem .5rem; border-bottom: 1px solid #d8dde6; text-align: left; vertical-align: top; }
th { color: #5b6475; font-weight: 600; } td.num, th.num { text-align: right; }
tr.failed td { color: #a61b1b; } a { color: #1f4e79; }
</style>
</head>
<body>
"""
