"""The work on one file or one slice of a large file: what a worker process (or this one) does.

Nothing here is module state: every task carries its frozen job description, so two runs in one
process, or a worker forked from either, cannot see each other's settings.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any, BinaryIO, Literal

from ..advisor import default_advisor
from ..errors import ClusterAdvisorError, RegionError
from ..memo import render_file
from ..region import Region, check_regular, parse_regions, read_text
from ..verdict import Verdict
from ..yamlio import load_one

STREAM_BYTES = 1 << 20  # a file larger than this is read document by document, never whole
SLICE_DOCUMENTS = 64  # documents of a large file per task: enough to amortise the pipe
SLICE_BYTES = 1 << 18  # ... or fewer, when the documents are long
# A line holding only a document marker: YAML forbids these at column 0 inside content, so a file
# splits at them exactly as the parser would.
_MARKER = re.compile(rb"^(---|\.\.\.)(?=\s|$)")
_BLANK = re.compile(rb"^\s*(#.*)?$|^(---|\.\.\.)\s*(#.*)?$")  # no content: blank, comment, bare marker


@dataclass(frozen=True)
class Job:
    """What every task of one run shares: the memo format, the templates, where to spill memos."""

    fmt: str
    templates: str | None = None
    spill: str = ""  # prefix of the hidden files workers write memos to ("": return the memo text)


@dataclass(frozen=True)
class Task:
    """One file ("file"), a slice of a large file's documents ("slice"), or the end of a large file ("end")."""

    number: int
    path: str
    source: str  # the path as shown to the user
    kind: Literal["file", "slice", "end", "panel"] = "file"
    documents: tuple[tuple[int, str], ...] = ()  # (first line, text) per document, for a slice
    first_document: int = 1  # the number of a slice's first document within its file
    error: str = ""  # for "end": why the file stopped being read
    panel: tuple[str, ...] = ()  # for "panel": the respondents' files combined into one region


@dataclass(frozen=True)
class Outcome:
    """One region document's result, as a worker sends it back (compact: it crosses a pipe)."""

    source: str
    document: int
    name: str
    errors: tuple[str, ...] = ()
    memo: str | bytes = ""
    spilled: str = ""  # a worker's temporary file holding the memo, for the parent to rename
    row: tuple[tuple[str, Any], ...] = ()  # Verdict.summary_row(), as pairs (it crosses a pipe)
    recommendations: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when the region was assessed and its memo rendered."""
        return not self.errors


def _spill(job: Job, task: Task, index: int, memo: str | bytes) -> str:
    """Write the memo to a hidden file in --out (in a worker); return its path, or "" to send the text.

    The parent then only renames it, so writing, which costs more than the assessment on some
    disks, is shared among the workers instead of queueing in the parent.
    """
    if not job.spill:
        return ""
    path = f"{job.spill}{os.getpid()}-{task.number}-{index}.tmp"
    try:
        if isinstance(memo, bytes):  # a Word memo
            with open(path, "wb") as binary:
                binary.write(memo)
        else:
            with open(path, "w", encoding="utf-8", newline="") as handle:
                handle.write(memo)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(path)
        return ""  # the parent writes it instead, and reports any error as it would
    return path


def _done(job: Job, task: Task, index: int, document: int, verdict: Verdict) -> Outcome:
    memo = render_file(verdict, job.fmt, job.templates)
    spilled = _spill(job, task, index, memo)
    return Outcome(
        source=task.source,
        document=document,
        name=verdict.region.name,
        memo="" if spilled else memo,
        spilled=spilled,
        row=tuple(verdict.summary_row().items()),
        recommendations=tuple(f.id for f in verdict.recommendations),
    )


Entry = Outcome | tuple[int, Region]  # a row already decided (a failure), or a region and its document number


def _entries(task: Task) -> Iterator[Entry]:
    """Read and parse one task: its regions, and a failed Outcome for whatever cannot be assessed."""
    if task.kind == "end":
        if task.error:
            yield Outcome(task.source, 0, "", (task.error,))
        return
    if task.kind == "panel":
        from ..panel import combine, load_panel

        try:
            region = combine(load_panel(list(task.panel)))
        except RegionError as err:
            yield Outcome(task.source, 0, "", err.messages)
            return
        yield 1, region  # one row, named after its folder
        return
    items = _slice_items(task) if task.kind == "slice" else _file_items(task)
    for number, item in items:
        yield Outcome(task.source, number, "", item.messages) if isinstance(item, RegionError) else (number, item)


def _file_items(task: Task) -> Iterator[tuple[int, Region | RegionError]]:
    try:
        mode = os.stat(task.path).st_mode
    except OSError:
        mode = stat.S_IFREG  # read_text says why, in the words `assess` uses
    if not stat.S_ISREG(mode):
        # A FIFO would hang the run and a device would never end: refuse before opening.
        try:
            check_regular(mode, task.source)
        except RegionError as err:
            yield 0, err
            return
    try:
        text = read_text(task.path)
    except RegionError as err:
        yield 0, RegionError(tuple(m.replace(task.path, task.source) for m in err.messages))
        return
    for n, item in enumerate(parse_regions(text, task.source), start=1):
        yield (item.document if isinstance(item, Region) else n), item


def _failed(task: Task, number: int, region: Region, err: Exception) -> Outcome:
    """The row of a region whose assessment or memo failed: the error's own words, or a bug said plainly."""
    if isinstance(err, ClusterAdvisorError):
        return Outcome(task.source, number, region.name, err.messages)
    message = f"{task.source}: document {number}: internal error ({type(err).__name__}: {err}). Please report this."
    return Outcome(task.source, number, region.name, (message,))


def _finish(job: Job, tasks: tuple[Task, ...], block: list[tuple[int, Entry]], outcomes: list[list[Outcome]]) -> None:
    """Assess every region of a block, then render every memo, adding each row to its task's outcomes."""
    advisor = default_advisor()
    assessed: list[Outcome | Verdict] = []
    for position, entry in block:
        if isinstance(entry, Outcome):
            assessed.append(entry)
            continue
        try:
            assessed.append(advisor.assess(entry[1]))
        except Exception as err:  # keep the batch going, never a traceback
            assessed.append(_failed(tasks[position], entry[0], entry[1], err))
    for (position, entry), result in zip(block, assessed, strict=True):
        rows = outcomes[position]
        if isinstance(result, Outcome):
            rows.append(result)
            continue
        assert not isinstance(entry, Outcome)
        try:
            rows.append(_done(job, tasks[position], len(rows), entry[0], result))
        except Exception as err:  # a template that fails while rendering, a bug: the row says so
            rows.append(_failed(tasks[position], entry[0], entry[1], err))


def _shift(messages: tuple[str, ...], source: str, lines: int) -> tuple[str, ...]:
    """Turn line numbers within one document into line numbers within its file."""
    if not lines:
        return messages
    pattern = re.compile(re.escape(source) + r":(\d+)(?=:)")
    return tuple(pattern.sub(lambda m: f"{source}:{int(m[1]) + lines}", message, count=1) for message in messages)


def _slice_items(task: Task) -> Iterator[tuple[int, Region | RegionError]]:
    """Parse each document of a slice on its own, numbered within its file."""
    for number, (first, text) in enumerate(task.documents, start=task.first_document):
        for item in parse_regions(text, task.source):
            if isinstance(item, RegionError) and _is_null(text):
                continue  # a null document the splitter could not tell: skipped, as in a small file
            if isinstance(item, RegionError):
                yield number, RegionError(_shift(item.messages, task.source, first - 1))
            else:
                yield number, replace(item, document=number)


def _is_null(text: str) -> bool:
    """Return True when a document's YAML is null (no region in it)."""
    try:
        return load_one(text) is None
    except Exception:  # a syntax error is reported by parse_regions
        return False


BLOCK = 16  # regions taken through the pipeline together, stage by stage


def run_tasks(job: Job, tasks: tuple[Task, ...]) -> list[list[Outcome]]:
    """Assess a unit of tasks (a worker's, or this process's); return each task's outcomes, in order.

    Regions go through in blocks of up to BLOCK, stage by stage: the block's files are read and
    parsed, then its regions assessed, then its memos rendered. Each stage's code and data then stay
    in the processor's caches, which makes a batch of small files about a fifth faster than taking
    each region through every stage in turn (bench/bench_batch.py). The outcomes are the same.
    """
    outcomes: list[list[Outcome]] = [[] for _ in tasks]
    block: list[tuple[int, Entry]] = []
    for position, task in enumerate(tasks):
        for entry in _entries(task):
            block.append((position, entry))
            if len(block) >= BLOCK:
                _finish(job, tasks, block, outcomes)
                block = []
    if block:
        _finish(job, tasks, block, outcomes)
    return outcomes


def run_task(job: Job, task: Task) -> list[Outcome]:
    """Assess one task and return an Outcome per region document (or per failed file)."""
    return run_tasks(job, (task,))[0]


def split_documents(handle: BinaryIO, path: str, source: str, first_number: int) -> Iterator[Task]:
    """Read a large region file line by line and yield slices of its documents, then its end.

    Only one slice is held at a time. A document of blanks and comments is skipped, as the parser
    skips it. A byte that is not UTF-8 ends the file with the message `assess` gives.
    """
    number = first_number
    documents: list[tuple[int, str]] = []
    counted = 0  # documents of this file in earlier slices
    size = 0
    lines: list[bytes] = []
    first = 1
    offset = 0
    error = ""

    def close_document() -> None:
        nonlocal size
        content = sum(1 for line in lines if not _BLANK.match(line))
        if not content:
            return
        text = b"".join(lines).decode("utf-8")
        if content == 1 and _is_null(text):  # `~` or `--- null`: no region, as the parser skips it
            return
        documents.append((first, text))
        size += len(text)

    try:
        for line_number, line in enumerate(handle, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as err:
                error = f"{source}: is not UTF-8 text (byte {offset + err.start}). Save it as UTF-8."
                break
            offset += len(line)
            if line.startswith(b"---") and _MARKER.match(line) and lines:
                close_document()
                lines, first = [], line_number
            lines.append(line)
            if line.startswith(b"...") and _MARKER.match(line):
                close_document()
                lines, first = [], line_number + 1
            if len(documents) >= SLICE_DOCUMENTS or size >= SLICE_BYTES:
                yield Task(number, path, source, "slice", tuple(documents), counted + 1)
                number, counted, documents, size = number + 1, counted + len(documents), [], 0
        else:
            close_document()
    except OSError as err:
        error = f"{source}: cannot be read ({err.strerror})."
    if documents:
        yield Task(number, path, source, "slice", tuple(documents), counted + 1)
        number += 1
    yield Task(number, path, source, "end", error=error)


def worker_started() -> None:
    """Pool initializer: leave Ctrl-C and SIGTERM to the parent, and never outlive it.

    The parent stops the pool on either signal; a worker that also received it (the terminal and
    `timeout` signal the whole process group) would die mid-task and print a traceback. A worker
    whose parent was killed outright (SIGKILL) would wait for work for ever: it exits instead.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()
