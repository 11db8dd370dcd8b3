"""Batch assessment: many region files in, one memo per region and a comparison summary out.

Regions are streamed: a file is read, assessed and rendered, its memos are written, and only a
summary row per region is kept, spooled to a temporary file in the output folder. With several
jobs, worker processes (each with its own engine) read, assess and render whole files, and this
process writes the results in input order, so the output does not depend on the number of jobs.
"""

from __future__ import annotations

import contextlib
import csv
import glob
import itertools
import json
import multiprocessing
import multiprocessing.pool
import os
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any, TextIO

from . import __version__
from .advisor import default_advisor
from .errors import ClusterAdvisorError, EngineError, OutputError, RegionError
from .knowledge import DIMENSIONS, PRIORITIES, KnowledgeBase
from .memo import FORMATS, check_template, escape_markdown, render
from .output import slug, write_atomic
from .region import parse_regions, read_text
from .verdict import Verdict

SUFFIXES = (".yaml", ".yml")
CHUNKSIZE = 16  # files per task sent to a worker: large enough to amortise the pipe, small enough to stream
PROGRESS_MIN_FILES = 6  # fewer files than this finish before a progress bar would help
SHARED_NAMES = 10  # regions named per recommendation in summary.md; the rest are counted
FREQUENT = 15  # recommendations listed in summary.md's "most frequent" table
CSV_COLUMNS = (
    "file", "document", "name", "status", "memo", "error", *PRIORITIES, "top",
    *(f"score_{d}" for d in DIMENSIONS), "patterns",
)  # fmt: skip


@dataclass(frozen=True)
class Outcome:
    """One region document's result, as a worker sends it back (compact: it crosses a pipe)."""

    source: str
    document: int
    name: str
    errors: tuple[str, ...] = ()
    memo: str = ""
    spilled: str = ""  # a worker's temporary file holding the memo, for the parent to rename
    counts: tuple[int, ...] = ()
    recommendations: tuple[str, ...] = ()
    scores: tuple[int | None, ...] = ()
    patterns: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when the region was assessed and its memo rendered."""
        return not self.errors


@dataclass(frozen=True)
class BatchResult:
    """What a batch run did; the command line turns it into an exit status."""

    out: Path
    files: int
    assessed: int
    failed: int
    seconds: float
    interrupted: bool = False


# --- finding the region files ------------------------------------------------------------------


def region_files(inputs: Iterable[str]) -> Iterator[str]:
    """Yield the region files named by `inputs`, each once: files as given, folders searched.

    Folders are searched recursively for *.yaml and *.yml (hidden files and folders skipped) in
    sorted order. A path that does not exist is yielded as it is, so that reading it fails in the
    same words as `assess` and it is listed as failed. A folder without region files is yielded
    itself, and reported as failed: it is most likely a mistyped path.

    Only the paths are kept (to count the files for the progress bar); regions are streamed.
    """
    seen: set[str] = set()
    for item in inputs:
        if not os.path.isdir(item):
            key = os.path.realpath(item)
            if key not in seen:
                seen.add(key)
                yield item
            continue
        found = False
        for root, dirs, files in os.walk(item):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                if name.startswith(".") or not name.lower().endswith(SUFFIXES):
                    continue
                path = os.path.join(root, name)
                found = True
                key = os.path.realpath(path)
                if key not in seen:
                    seen.add(key)
                    yield path
        if not found:
            yield item


# --- the work on one file (in a worker process, or in this one with one job) --------------------

_settings: dict[str, Any] = {"fmt": "md", "templates": None, "spill": None}
_spilled = itertools.count(1)


def _init_worker(fmt: str, templates: str | None, spill: str | None = None) -> None:
    """Pool initializer: remember the settings and build the advisor once for this worker.

    Ctrl-C is the parent's to handle: it stops the pool, so workers ignore SIGINT and never print
    a KeyboardInterrupt traceback. Errors are left for the first region to report: an initializer
    that raises makes the pool start replacement workers forever.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _settings.update(fmt=fmt, templates=templates, spill=spill)
    try:
        default_advisor()
        check_template(fmt, templates)
    except Exception:  # reported by assess_path, region by region
        pass


def _spill(memo: str) -> str:
    """In a worker, write the memo to a hidden temporary file in --out; return its path ("" if not).

    The parent then only renames it, so the file writing, which costs more than the assessment on
    some disks, is shared among the workers instead of queueing in the parent.
    """
    prefix = _settings["spill"]
    if not prefix:
        return ""
    path = f"{prefix}{os.getpid()}-{next(_spilled)}.tmp"
    try:
        with open(path, "w", encoding="utf-8", newline="") as handle:
            handle.write(memo)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(path)
        return ""  # the parent writes it instead, and reports any error as it would
    return path


def _done(region_source: str, document: int, verdict: Verdict, memo: str) -> Outcome:
    spilled = _spill(memo)
    return Outcome(
        source=region_source,
        document=document,
        name=verdict.region.name,
        memo="" if spilled else memo,
        spilled=spilled,
        counts=tuple(verdict.counts().values()),
        recommendations=tuple(f.id for f in verdict.recommendations),
        scores=tuple(s.figure for s in verdict.scores),
        patterns=tuple(f.id for f in verdict.patterns),
    )


def assess_path(path: str) -> list[Outcome]:
    """Read, assess and render every region of one file; every failure becomes a failed Outcome."""
    fmt, templates = _settings["fmt"], _settings["templates"]
    if os.path.isdir(path):
        return [Outcome(path, 0, "", (f"{path}: holds no region files (*.yaml or *.yml).",))]
    try:
        text = read_text(path)
    except RegionError as err:
        return [Outcome(path, 0, "", err.messages)]
    outcomes: list[Outcome] = []
    for number, item in enumerate(parse_regions(text, path), start=1):
        if isinstance(item, RegionError):
            outcomes.append(Outcome(path, number, "", item.messages))
            continue
        try:
            verdict = default_advisor().assess(item)
            outcomes.append(_done(path, item.document, verdict, render(verdict, fmt, templates)))
        except ClusterAdvisorError as err:
            outcomes.append(Outcome(path, item.document, item.name, err.messages))
        except Exception as err:  # a bug: keep the batch going, say so plainly, never a traceback
            message = f"{path}: document {item.document}: internal error ({type(err).__name__}: {err}). Please report this."
            outcomes.append(Outcome(path, item.document, item.name, (message,)))
    return outcomes


def assess_paths(paths: Sequence[str]) -> list[list[Outcome]]:
    """A worker's task: several files, to amortise the cost of the pipe."""
    return [assess_path(path) for path in paths]


class _Results:
    """The outcomes of every file in input order, from this process or from a pool of workers."""

    def __init__(self, paths: Sequence[str], fmt: str, templates: str | None, jobs: int, spill: str | None = None) -> None:
        self._paths = paths
        self._spill = spill
        self._jobs = max(1, min(jobs, len(paths)))
        self._fmt = fmt
        self._templates = templates
        self._pool: multiprocessing.pool.Pool | None = None
        self._workers: list[multiprocessing.process.BaseProcess] = []
        self._stop = threading.Event()
        # Back-pressure: the pool's feeder thread takes a chunk only when fewer than this many are
        # in flight, so results never pile up in memory however many files there are.
        self._gate = threading.Semaphore(self._jobs * 4)

    def __enter__(self) -> Iterator[list[Outcome]]:
        if self._jobs == 1:
            _settings.update(fmt=self._fmt, templates=self._templates)
            return (assess_path(p) for p in self._paths)
        # fork (where there is one) lets workers inherit the loaded rule base and compiled template.
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else None)
        before = set(multiprocessing.active_children())
        self._pool = context.Pool(self._jobs, initializer=_init_worker, initargs=(self._fmt, self._templates, self._spill))
        self._workers = [p for p in multiprocessing.active_children() if p not in before]
        # Chunks are made here rather than by imap's chunksize, whose iterator has no timeout.
        return self._drain(self._pool.imap(assess_paths, self._feed()))

    def _feed(self) -> Iterator[Sequence[str]]:
        for first in range(0, len(self._paths), CHUNKSIZE):
            while not self._gate.acquire(timeout=0.1):
                if self._stop.is_set():
                    return
            yield self._paths[first : first + CHUNKSIZE]

    def _drain(self, results: multiprocessing.pool.IMapIterator[list[list[Outcome]]]) -> Iterator[list[Outcome]]:
        for _ in range(0, len(self._paths), CHUNKSIZE):
            while True:
                try:
                    outcomes = results.next(timeout=0.25)
                    break
                except multiprocessing.TimeoutError:
                    # A worker killed by a crash loses its tasks and imap would wait for ever.
                    dead = [p for p in self._workers if not p.is_alive()]
                    if dead:
                        raise EngineError(
                            f"batch: a worker process stopped (exit code {dead[0].exitcode}) while assessing; "
                            "run again with --jobs 1 to find the region that causes it. Please report this."
                        ) from None
            self._gate.release()
            yield from outcomes

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if self._pool is None:
            return
        self._stop.set()
        if kind is None:
            self._pool.close()
        else:
            self._pool.terminate()
        self._pool.join()


# --- file names, the summary, progress ---------------------------------------------------------


class _Names:
    """Memo file names unique within the run, claimed in input order (a, a-2, a-3, ...)."""

    def __init__(self) -> None:
        self._used: set[str] = set()
        self._next: dict[str, int] = {}

    def claim(self, stem: str) -> str:
        candidate, number = stem, self._next.get(stem, 1)
        while candidate in self._used:
            number += 1
            candidate = f"{stem}-{number}"
        self._next[stem] = number
        self._used.add(candidate)
        return candidate


def _cell(text: str) -> str:
    """Keep a spreadsheet from reading region text as a formula (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


@dataclass
class _Shared:
    count: int = 0
    regions: list[tuple[str, str]] = field(default_factory=list)  # (name, memo file), the first few


class _Spool:
    """A temporary file in the output folder that gathers part of a summary as the run goes."""

    def __init__(self, folder: Path, name: str) -> None:
        fd, path = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
        self.path = Path(path)
        self.handle: IO[str] = os.fdopen(fd, "w+", encoding="utf-8", newline="")

    def discard(self) -> None:
        self.handle.close()
        self.path.unlink(missing_ok=True)


def _write_memo(target: Path, text: str) -> None:
    """Write one memo atomically, without fsync (see output.write_atomic)."""
    write_atomic(target, text, sync=False)


def _adopt(spilled: str, target: Path) -> None:
    """Give a worker's spilled memo its final name (an atomic rename in the same folder)."""
    try:
        os.chmod(spilled, 0o644)
        os.replace(spilled, target)
    except OSError as err:
        raise OutputError(f"{target}: cannot be written ({err.strerror}).") from None


def _commit(target: Path, parts: Iterable[str | _Spool]) -> None:
    """Write text and spooled parts to `target` atomically (temporary file, then rename)."""

    def copy(handle: TextIO) -> None:
        for part in parts:
            if isinstance(part, str):
                handle.write(part)
            else:
                part.handle.flush()
                part.handle.seek(0)
                shutil.copyfileobj(part.handle, handle)

    write_atomic(target, copy)


class _Summary:
    """summary.csv, summary.md (and summary.json), built row by row without holding the rows."""

    def __init__(self, out: Path, fmt: str, kb: KnowledgeBase, files: int) -> None:
        self._out, self._fmt, self._kb, self._files = out, fmt, kb, files
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

    def add(self, outcome: Outcome, memo: str) -> None:
        """Record one region's row."""
        o = outcome
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
            region = f"[{escape_markdown(o.name)}]({memo})"
            advice = "/".join(str(c) for c in counts)
            score_cells = " | ".join("n/a" if s is None else str(s) for s in scores)
            top_text = ", ".join(top) or "none"
            patterns = ", ".join(o.patterns) or "none"
        else:
            region = escape_markdown(o.name) if o.name else "(not assessed)"
            advice = top_text = patterns = ""
            score_cells = " | ".join("" for _ in scores)
            for message in o.errors:
                self._failures.handle.write(f"- {escape_markdown(message)}\n")
        where = escape_markdown(o.source) + (f" #{o.document}" if o.document else "")
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
            separator = ",\n" if self.assessed + self.failed > 1 else "\n"
            self._json.handle.write(separator + json.dumps(row, ensure_ascii=False))

    def _ranked(self) -> list[tuple[str, _Shared]]:
        by_id = self._kb.by_id
        return sorted(
            self._shared.items(),
            key=lambda item: (-item[1].count, PRIORITIES.index(str(by_id[item[0]].priority)), item[0]),
        )

    def write(self) -> None:
        """Write the summary files (each atomically) and remove the spools."""
        total = self.assessed + self.failed
        fmt_name = {"md": "Markdown", "html": "HTML", "txt": "plain text", "json": "JSON"}[self._fmt]
        _commit(self._out / "summary.csv", [self._csv])
        lines = [
            "# Batch assessment summary\n\n",
            f"{total} region{'' if total == 1 else 's'} from {self._files} file{'' if self._files == 1 else 's'}: "
            f"{self.assessed} assessed, {self.failed} failed. One {fmt_name} memo per assessed region in this folder; "
            f"rule base version {self._kb.version} ({len(self._kb.rules)} rules), ClusterAdvisor {__version__}.\n\n",
            "## Most frequent recommendations\n\n",
        ]
        ranked = self._ranked()
        if ranked:
            lines.append("| Recommendation | Priority | Regions | Shared by |\n|---|---|---:|---|\n")
            for rule_id, shared in ranked[:FREQUENT]:
                rule = self._kb.by_id[rule_id]
                names = ", ".join(f"[{escape_markdown(name)}]({memo})" for name, memo in shared.regions)
                if shared.count > len(shared.regions):
                    names += f" and {shared.count - len(shared.regions)} more"
                lines.append(f"| {rule.title} (`{rule_id}`) | {rule.priority} | {shared.count} of {self.assessed} | {names} |\n")
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
        parts: list[str | _Spool] = ["".join(lines), self._table]
        if self.failed:
            parts += ["\n## Failed\n\n", self._failures]
        _commit(self._out / "summary.md", parts)
        if self._json is not None:
            shared_rows = [
                {
                    "id": rule_id,
                    "title": self._kb.by_id[rule_id].title,
                    "priority": self._kb.by_id[rule_id].priority,
                    "regions": shared.count,
                    "first_regions": [name for name, _ in shared.regions],
                }
                for rule_id, shared in ranked
            ]
            head = {"assessed": self.assessed, "failed": self.failed, "files": self._files,
                    "knowledge_base": {"version": self._kb.version, "rules": len(self._kb.rules)}}  # fmt: skip
            opening = json.dumps(head, ensure_ascii=False)[:-1] + ', "regions": ['
            closing = '\n], "recommendations": ' + json.dumps(shared_rows, ensure_ascii=False) + "}\n"
            _commit(self._out / "summary.json", [opening, self._json, closing])
        self.discard()

    def discard(self) -> None:
        """Remove the spools (after writing, or when the run stops early)."""
        for spool in self._spools:
            spool.discard()


class _Progress:
    """A one-line progress bar on stderr, redrawn at most ten times a second."""

    def __init__(self, stream: TextIO, total: int, enabled: bool) -> None:
        self._stream, self._total, self.enabled = stream, total, enabled
        self._done = 0
        self._start = self._last = time.monotonic()
        self._shown = False

    def advance(self, regions: int) -> None:
        self._done += 1
        now = time.monotonic()
        if self.enabled and (now - self._last >= 0.1 or self._done == self._total):
            self._last = now
            filled = 30 * self._done // self._total
            bar = "#" * filled + "." * (30 - filled)
            self._stream.write(f"\r[{bar}] {self._done}/{self._total} files, {regions} regions, {now - self._start:.0f} s")
            self._stream.flush()
            self._shown = True

    def clear(self) -> None:
        if self._shown:
            self._stream.write("\r\x1b[K")
            self._shown = False


# --- the run -----------------------------------------------------------------------------------


class _HeldInterrupt:
    """Hold Ctrl-C while files are written, then act on it: no temporary file is ever orphaned.

    A KeyboardInterrupt can land between any two bytecodes, including inside tempfile.mkstemp after
    the file exists but before its name is known to the caller; so SIGINT only sets a flag here.
    """

    def __init__(self, swallow: bool = False) -> None:
        self._swallow = swallow
        self._pending = False
        self._previous: Any = None

    def _hold(self, signum: int, frame: Any) -> None:
        self._pending = True

    def __enter__(self) -> None:
        try:
            self._previous = signal.signal(signal.SIGINT, self._hold)
        except ValueError:  # not the main thread: Ctrl-C is delivered to the main thread anyway
            self._previous = None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if self._previous is None:
            return
        signal.signal(signal.SIGINT, self._previous)
        if self._pending and kind is None and not self._swallow and callable(self._previous):
            self._previous(signal.SIGINT, None)  # the default handler raises KeyboardInterrupt


def _prepare(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(f"{out}: exists and is not a folder. Give a folder for --out.") from None
    except OSError as err:
        raise OutputError(f"{out}: cannot create the output folder ({err.strerror}).") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise OutputError(f"{out}: the output folder is not writable.")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def run_batch(
    inputs: Sequence[str],
    out: str | Path,
    fmt: str = "md",
    jobs: int = 1,
    templates: str | None = None,
    stderr: TextIO | None = None,
) -> BatchResult:
    """Assess every region under `inputs`, write one memo each and a summary into `out`.

    Failed files and regions are reported on `stderr` (as `Error: ...`, the words `assess` uses)
    and listed in the summary; the others are still written. Ctrl-C stops the run cleanly: memos
    already written stay complete, no summary is written, and the result says `interrupted`.
    """
    err = stderr if stderr is not None else sys.stderr
    if fmt not in FORMATS:
        raise OutputError(f"format {fmt!r} is not one of {', '.join(FORMATS)}.")
    start = time.monotonic()
    folder = Path(out)
    check_template(fmt, templates)  # a broken template fails once, before any work
    kb = default_advisor().kb  # loaded before workers fork, so each inherits it
    paths = list(region_files(inputs))
    _prepare(folder)
    progress = _Progress(err, len(paths), enabled=err.isatty() and len(paths) >= PROGRESS_MIN_FILES)
    names = _Names()
    extension = fmt
    summary: _Summary | None = None
    finished = False
    # Workers write memos to hidden files with this run's own prefix; the parent renames them.
    spill = str(folder / f".clusteradvisor-{os.getpid()}-{secrets.token_hex(4)}-")
    try:
        with _HeldInterrupt():
            summary = _Summary(folder, fmt, kb, len(paths))
        with _Results(paths, fmt, templates, jobs, spill) as results:
            for outcomes in results:
                with _HeldInterrupt():
                    for outcome in outcomes:
                        memo = ""
                        if outcome.ok:
                            memo = f"{names.claim(slug(outcome.name))}.{extension}"
                            if outcome.spilled:
                                _adopt(outcome.spilled, folder / memo)
                            else:
                                _write_memo(folder / memo, outcome.memo)
                        else:
                            progress.clear()
                            for message in outcome.errors:
                                err.write(f"Error: {message}\n")
                        summary.add(outcome, memo)
                progress.advance(summary.assessed + summary.failed)
        progress.clear()
        with _HeldInterrupt():
            summary.write()
        finished = True
    except KeyboardInterrupt:
        progress.clear()
        seconds = time.monotonic() - start
        assessed, failed = (summary.assessed, summary.failed) if summary else (0, 0)
        err.write(
            f"Interrupted after {seconds:.1f} s: {_plural(assessed, 'memo')} written to {folder}/ "
            f"({failed} failed); they are complete, the rest were not assessed and no summary was written.\n"
        )
        err.flush()
        return BatchResult(folder, len(paths), assessed, failed, seconds, interrupted=True)
    finally:
        if not finished and summary is not None:
            with _HeldInterrupt(swallow=True):
                summary.discard()
        # Memos a worker spilled but the parent never adopted (an interrupted or failed run).
        for leftover in glob.glob(glob.escape(spill) + "*.tmp"):
            with contextlib.suppress(OSError):
                os.unlink(leftover)
    seconds = time.monotonic() - start
    regions = summary.assessed + summary.failed
    err.write(
        f"{_plural(regions, 'region')} from {_plural(len(paths), 'file')}: {summary.assessed} assessed, "
        f"{summary.failed} failed, in {seconds:.2f} s; memos and summary in {folder}/\n"
    )
    return BatchResult(folder, len(paths), summary.assessed, summary.failed, seconds)


__all__ = ["BatchResult", "Outcome", "assess_path", "region_files", "run_batch"]
