"""summary.csv, summary.md and summary.json: built row by row without holding the rows, written together."""

from __future__ import annotations

import contextlib
import csv
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
from ..knowledge import DIMENSIONS, PRIORITIES, KnowledgeBase
from .discovery import UNSAFE, escape_char, shown
from .jobs import Outcome

SHARED_NAMES = 10  # regions named per recommendation in summary.md; the rest are counted
FREQUENT = 15  # recommendations listed in summary.md's "most frequent" table
CSV_COLUMNS = (
    "file", "document", "name", "status", "memo", "error", *PRIORITIES, "top",
    *(f"score_{d}" for d in DIMENSIONS), "patterns",
)  # fmt: skip
FORMAT_NAMES = {"md": "Markdown", "html": "HTML", "txt": "plain text", "json": "JSON"}

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


def write_together(folder: Path, files: list[tuple[str, Callable[[IO[str]], None]]]) -> None:
    """Write every file to a temporary file first, then rename them all: all are replaced or none.

    On any failure every temporary file is removed, even when closing it fails (a full disk
    reports itself at close), and the files already in `folder` stay as they were.
    """
    temps: list[str] = []
    name = ""
    try:
        for name, fill in files:
            path, handle = open_temp(folder, name)
            temps.append(path)
            try:
                fill(handle)
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


class Summary:
    """The three summaries of one run, fed one row per region."""

    def __init__(self, out: Path, fmt: str, kb: KnowledgeBase) -> None:
        self._out, self._fmt, self._kb = out, fmt, kb
        self.assessed = self.failed = 0
        self._shared: dict[str, _Shared] = {}
        self._spools: list[_Spool] = []
        self._csv = self._spool("summary.csv")
        self._table = self._spool("summary.md")
        self._failures = self._spool("summary.md")
        self._json = self._spool("summary.json") if fmt == "json" else None
        self._csv_writer = csv.writer(self._csv.handle, lineterminator="\n")
        self._csv_writer.writerow(CSV_COLUMNS)

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
        if o.ok:
            self.assessed += 1
            for rule_id in o.recommendations:
                shared = self._shared.setdefault(rule_id, _Shared())
                shared.count += 1
                if len(shared.regions) < SHARED_NAMES:
                    shared.regions.append((o.name, memo))
        else:
            self.failed += 1
        status = "ok" if o.ok else "failed"
        error = " | ".join(o.errors)
        counts: tuple[int | None, ...] = o.counts or (None,) * len(PRIORITIES)
        scores = o.scores or (None,) * len(DIMENSIONS)
        top = o.recommendations[:3]
        document = str(o.document) if o.document else ""
        self._csv_writer.writerow(
            [_cell(o.source), document, _cell(o.name), status, memo, _cell(error), *("" if c is None else c for c in counts), " ".join(top),
             *("" if s is None else s for s in scores), " ".join(o.patterns)]
        )  # fmt: skip
        if o.ok:
            region = f"[{md(o.name)}]({memo})"
            advice = "/".join(str(c) for c in counts)
            score_cells = " | ".join("n/a" if s is None else str(s) for s in scores)
            top_text = ", ".join(top) or "none"
            patterns = ", ".join(o.patterns) or "none"
        else:
            region = md(o.name) if o.name else "(not assessed)"
            advice = top_text = patterns = ""
            score_cells = " | ".join("" for _ in scores)
            for message in o.errors:
                self._failures.handle.write(f"- {md(message)}\n")
        where = md(o.source) + (f" #{o.document}" if o.document else "")
        self._table.handle.write(f"| {region} | {where} | {status} | {advice} | {top_text} | {score_cells} | {patterns} |\n")
        if self._json is not None:
            row = {
                "file": o.source,
                "document": o.document or None,
                "name": o.name or None,
                "status": status,
                "memo": memo or None,
                "errors": list(o.errors),
                "counts": dict(zip(PRIORITIES, counts, strict=True)),
                "top": list(top),
                "recommendations": list(o.recommendations),
                "scores": dict(zip(DIMENSIONS, scores, strict=True)),
                "patterns": list(o.patterns),
            }
            self._json.handle.write(json.dumps(row, ensure_ascii=False) + "\n")

    def _ranked(self) -> list[tuple[str, _Shared]]:
        by_id = self._kb.by_id
        return sorted(
            self._shared.items(),
            key=lambda item: (-item[1].count, PRIORITIES.index(str(by_id[item[0]].priority)), item[0]),
        )

    def _markdown(self, handle: IO[str], counted: str) -> None:
        total_failed = self.failed
        lines = [
            "# Batch assessment summary\n\n",
            f"{counted}: {self.assessed} assessed, {total_failed} failed. One {FORMAT_NAMES[self._fmt]} memo per assessed region "
            f"in this folder; rule base version {self._kb.version} ({len(self._kb.rules)} rules), ClusterAdvisor {__version__}.\n\n",
            "## Most frequent recommendations\n\n",
        ]
        ranked = self._ranked()
        if ranked:
            lines.append("| Recommendation | Priority | Regions | Shared by |\n|---|---|---:|---|\n")
            for rule_id, shared in ranked[:FREQUENT]:
                rule = self._kb.by_id[rule_id]
                names = ", ".join(f"[{md(name)}]({memo})" for name, memo in shared.regions)
                if shared.count > len(shared.regions):
                    names += f" and {shared.count - len(shared.regions)} more"
                lines.append(f"| {md(rule.title)} (`{rule_id}`) | {rule.priority} | {shared.count} of {self.assessed} | {names} |\n")
            if len(ranked) > FREQUENT:
                lines.append(f"\n{_plural(len(ranked) - FREQUENT, 'other recommendation')} apply to fewer regions; see the memos.\n")
        else:
            lines.append("No recommendation applies to any assessed region.\n")
        lines += [
            "\n## Regions\n\n",
            "Advice counts recommendations by priority (critical/high/medium/low); the scores are the memos' "
            "scorecard, 0-100 per area (n/a: no advice decided). Top: the three most urgent recommendations.\n\n",
            f"| Region | File | Status | Advice | Top | {' | '.join(DIMENSIONS)} | Pattern |\n",
            f"|---|---|---|---|---|{'---:|' * len(DIMENSIONS)}---|\n",
        ]
        handle.write("".join(lines))
        self._table.copy_to(handle)
        if self.failed:
            handle.write("\n## Failed\n\n")
            self._failures.copy_to(handle)

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
                    "priority": self._kb.by_id[rule_id].priority,
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
        parts: list[tuple[str, Callable[[IO[str]], None]]] = [
            ("summary.csv", self._csv.copy_to),
            ("summary.md", lambda handle: self._markdown(handle, counted)),
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


