"""The batch driver: many region files in, one memo per region and the summaries out.

It never talks to the terminal: it reports each step to an `on_event` callback (the command line
draws the progress bar and prints the messages from these events) and returns a BatchResult.
Regions are streamed: a small file is read whole by one worker, a large file is read document by
document and its slices are shared among the workers; this process renames the memos into place in
input order, so the output does not depend on the number of jobs.
"""

from __future__ import annotations

import contextlib
import glob
import multiprocessing
import os
import secrets
import signal
import stat
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from ..advisor import default_advisor
from ..errors import FormatError, OutputError, RegionError, WorkerError
from ..memo import FORMATS, check_template
from ..output import slug, write_atomic
from ..region import parse_regions
from . import jobs as worker
from .discovery import Found, group_panels, region_files, shown
from .jobs import Job, Outcome, Task
from .outdir import OutputFolder
from .summary import Summary

CHUNKSIZE = 16  # small files per unit sent to a worker: amortises the pipe, still streams
IN_FLIGHT = 4  # units queued per worker: keeps workers busy while bounding memory


@dataclass(frozen=True)
class Started:
    """The run found `files` region files (and `unusable` inputs) and uses `jobs` processes."""

    files: int
    unusable: int
    jobs: int
    requested_jobs: int


@dataclass(frozen=True)
class RegionDone:
    """One row: a region assessed (memo is its file name) or a region, file or input that failed."""

    outcome: Outcome
    memo: str


@dataclass(frozen=True)
class FileDone:
    """A file (or an unusable input) is finished; for a progress bar."""

    done: int
    regions: int


@dataclass(frozen=True)
class Notice:
    """Something the user should know that is not an error (jobs capped, files of an earlier run)."""

    message: str


Event = Started | RegionDone | FileDone | Notice


@dataclass(frozen=True)
class BatchResult:
    """What a batch run did; the command line turns it into sentences and an exit status."""

    out: Path
    files: int
    assessed: int
    failed: int
    seconds: float
    interrupted: bool = False
    unusable: int = 0  # inputs that were not region files (missing, empty or unreadable folders)

    @property
    def regions(self) -> int:
        """Region documents seen (failed files count one each); unusable inputs excluded."""
        return self.assessed + self.failed - self.unusable


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


class _HeldSignals:
    """Hold Ctrl-C and SIGTERM while files are written, then act on them: no temporary file is orphaned.

    A KeyboardInterrupt can land between any two bytecodes, including inside tempfile.mkstemp after
    the file exists but before its name is known to the caller; so the signals only set a flag here,
    and are raised again, with the handler that was in place, when the block ends.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self._pending: list[int] = []
        self._previous: dict[int, Any] = {}

    def _hold(self, signum: int, frame: FrameType | None) -> None:
        self._pending.append(signum)

    def __enter__(self) -> None:
        try:
            for signum in self.SIGNALS:
                self._previous[signum] = signal.signal(signum, self._hold)
        except ValueError:  # not the main thread: signals are delivered to the main thread anyway
            self._previous.clear()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        if self._pending and kind is None:
            signal.raise_signal(self._pending[0])


def cpu_count() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _units(found: Sequence[Found]) -> Iterator[tuple[Task, ...]]:
    """Turn the inputs into units of work: small files in groups, large files slice by slice."""
    group: list[Task] = []
    number = 0
    for item in found:
        source = shown(item.path)
        if item.problem:
            task = Task(number, item.path, source, "end", error=item.problem)
            number += 1
            group.append(task)
            continue
        if item.panel:
            group.append(Task(number, item.path, source, "panel", panel=item.panel))
            number += 1
            continue
        try:
            info = os.stat(item.path)
            large = stat.S_ISREG(info.st_mode) and info.st_size > worker.STREAM_BYTES
        except OSError:
            large = False
        if not large:
            group.append(Task(number, item.path, source))
            number += 1
            if len(group) >= CHUNKSIZE:
                yield tuple(group)
                group = []
            continue
        if group:
            yield tuple(group)
            group = []
        try:
            handle = open(item.path, "rb")  # noqa: SIM115 - closed below; the generator may stop between slices
        except OSError as err:
            yield (Task(number, item.path, source, "end", error=f"{source}: cannot be read ({err.strerror})."),)
            number += 1
            continue
        with handle:
            for task in worker.split_documents(handle, item.path, source, number):
                number = task.number + 1
                yield (task,)
    if group:
        yield tuple(group)


def _ordered(units: Iterator[tuple[Task, ...]], job: Job, jobs: int) -> Generator[tuple[Task, list[Outcome]], None, None]:
    """Run the units (in this process, or in a pool) and yield each task's outcomes in input order."""
    if jobs == 1:
        for unit in units:
            yield from zip(unit, worker.run_tasks(job, unit), strict=True)
        return
    pool = ProcessPoolExecutor(jobs, mp_context=_fork_context(), initializer=worker.worker_started)
    window: deque[tuple[tuple[Task, ...], Future[list[list[Outcome]]]]] = deque()
    try:
        for unit in units:
            window.append((unit, pool.submit(worker.run_tasks, job, unit)))
            while len(window) >= jobs * IN_FLIGHT:
                sent, future = window.popleft()
                yield from zip(sent, future.result(), strict=True)
        while window:
            sent, future = window.popleft()
            yield from zip(sent, future.result(), strict=True)
    except BrokenProcessPool:
        raise WorkerError(
            "batch: a worker process stopped abruptly while assessing; run again with --jobs 1 "
            "to find the region that causes it. Please report this."
        ) from None
    finally:
        # Work already running finishes (a unit is small); queued work is dropped.
        pool.shutdown(wait=True, cancel_futures=True)


def _adopt(spilled: str, target: Path) -> None:
    """Give a worker's spilled memo its final name (an atomic rename in the same folder)."""
    try:
        os.chmod(spilled, 0o644)
        os.replace(spilled, target)
    except OSError as err:
        raise OutputError(f"{shown(str(target))}: cannot be written ({err.strerror}).") from None


def counted(regions: int, files: int, unusable: int) -> str:
    """Say how many regions came from how many files (and unusable inputs), honestly."""
    text = f"{_plural(regions, 'region')} from {_plural(files, 'file')}"
    return text + (f" and {_plural(unusable, 'unusable input')}" if unusable else "")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def run_batch(
    inputs: Sequence[str],
    out: str | Path,
    fmt: str = "md",
    jobs: int = 1,
    templates: str | None = None,
    *,
    clean: bool = False,
    panel_by: str = "folder",
    on_event: Callable[[Event], None] | None = None,
) -> BatchResult:
    """Assess every region under `inputs`, write one memo each and the summaries into `out`.

    Respondents' files about one region (files that carry `respondent` and share a `name`, in one
    folder, or anywhere with panel_by="name") are combined into one panel and assessed as one region.
    Each row (region assessed, region or file failed) is reported to `on_event` as it is written.
    Ctrl-C (KeyboardInterrupt) stops the run cleanly: memos already written stay complete, no
    summary is written, and the result says `interrupted`. Raises ClusterAdvisorError when there
    is nothing to assess, when --out cannot be used, or when writing fails.
    """
    emit: Callable[[Event], None] = on_event or (lambda event: None)
    start = time.monotonic()
    folder = Path(out)
    files = unusable = 0
    summary: Summary | None = None
    spill = ""
    try:
        if fmt not in FORMATS:
            raise FormatError(f"format {fmt!r} is not one of {', '.join(FORMATS)}.")
        check_template(fmt, templates)  # a broken template fails once, before any work
        kb = default_advisor().kb  # loaded before workers fork, so each inherits it
        found, notes = _group_panels(list(region_files(inputs)), panel_by, jobs)
        for note in notes:
            emit(Notice(note))
        unusable = sum(1 for f in found if f.problem)
        files = sum(len(f.panel) or 1 for f in found if not f.problem)
        if not files:
            raise RegionError([*(f.problem for f in found), "nothing to assess: no region file was found; nothing was written."])
        # More workers than files help only when a large file is shared among them in slices.
        limit = len(found) if all(_small(f) for f in found) else jobs
        workers = max(1, min(jobs, cpu_count(), limit))
        if jobs > cpu_count():
            emit(Notice(f"--jobs {jobs} is more than the {cpu_count()} CPUs here; using {min(jobs, cpu_count())}."))
        emit(Started(files, unusable, workers, jobs))
        with OutputFolder(folder) as place:
            try:
                # Workers write memos to hidden files with this run's own prefix; this process renames them.
                spill = str(folder / f".clusteradvisor-{os.getpid()}-{secrets.token_hex(4)}-") if workers > 1 else ""
                job = Job(fmt, templates, spill)
                with _HeldSignals():
                    summary = Summary(folder, fmt, kb)
                with contextlib.closing(_ordered(_units(found), job, workers)) as results:
                    _drain(results, _Sink(folder, fmt, summary, place, emit))
                sentence = counted(summary.assessed + summary.failed - unusable, files, unusable)
                with _HeldSignals():
                    for name in summary.write(files, sentence):
                        place.record(name)
                _tidy(place, clean, emit)
            finally:
                with _HeldSignals():
                    if summary is not None:
                        summary.discard()
                    if spill:  # memos a worker spilled but this process never adopted (a stopped run)
                        for leftover in glob.glob(glob.escape(spill) + "*.tmp"):
                            with contextlib.suppress(OSError):
                                os.unlink(leftover)
                    with contextlib.suppress(OutputError):
                        place.write_manifest()
    except KeyboardInterrupt:
        assessed, failed = (summary.assessed, summary.failed) if summary else (0, 0)
        return BatchResult(folder, files, assessed, failed, time.monotonic() - start, interrupted=True, unusable=unusable)
    assert summary is not None
    return BatchResult(folder, files, summary.assessed, summary.failed, time.monotonic() - start, unusable=unusable)


PEEKS_PER_PROCESS = 200  # respondents' files worth reading in worker processes (each is parsed)


def _group_panels(found: list[Found], panel_by: str, jobs: int) -> tuple[list[Found], list[str]]:
    """Group respondents' files into panels, reading the candidates in `jobs` processes when many."""
    workers = min(jobs, cpu_count())
    if workers == 1 or len(found) < PEEKS_PER_PROCESS * 2:
        return group_panels(found, panel_by)
    pool = ProcessPoolExecutor(workers, mp_context=_fork_context(), initializer=worker.worker_started)
    try:
        return group_panels(found, panel_by, lambda peek, paths: pool.map(peek, paths, chunksize=64))
    except BrokenProcessPool:
        raise WorkerError("batch: a worker process stopped abruptly while reading the files; run again with --jobs 1. Please report this.") from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # after Ctrl-C: queued reading is dropped


def _fork_context() -> Any:
    """fork where the system has it: workers inherit the loaded rule base and compiled template."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else None)


def _small(found: Found) -> bool:
    try:
        return bool(found.problem or found.panel) or os.stat(found.path).st_size <= worker.STREAM_BYTES
    except OSError:
        return True


@dataclass
class _Sink:
    """Where rows go: memos into the folder (in input order), rows into the summary, events out."""

    folder: Path
    fmt: str
    summary: Summary
    place: OutputFolder
    emit: Callable[[Event], None]
    names: _Names = field(default_factory=_Names)

    def write(self, outcome: Outcome) -> None:
        """Put one row's memo in place (renamed from a worker's spill, or written here) and record it."""
        memo = ""
        if outcome.ok:
            memo = f"{self.names.claim(slug(outcome.name))}.{self.fmt}"
            target = self.folder / memo
            if outcome.spilled:
                _adopt(outcome.spilled, target)
            else:  # the rename keeps it whole; an fsync per memo doubled the cost
                write_atomic(target, outcome.memo, sync=False, replace=True)
            self.place.record(memo)
        self.summary.add(outcome, memo)
        self.emit(RegionDone(outcome, memo))


def _drain(results: Iterator[tuple[Task, list[Outcome]]], sink: _Sink) -> None:
    """Write every task's rows in input order."""
    done = base = 0  # files finished; rows of the current large file so far
    for task, outcomes in results:
        with _HeldSignals():
            for outcome in outcomes:
                sink.write(outcome)
            if task.kind == "slice":
                base += len(outcomes)
            elif task.kind == "end" and not task.error and base == 0:
                # A large file of blank documents gets the words a small empty file gets.
                empty = next(iter(parse_regions("", task.source)))
                assert isinstance(empty, RegionError)
                sink.write(Outcome(task.source, 0, "", empty.messages))
        if task.kind != "slice":
            done, base = done + 1, 0
            sink.emit(FileDone(done, sink.summary.assessed + sink.summary.failed))


def _tidy(place: OutputFolder, clean: bool, emit: Callable[[Event], None]) -> None:
    """Name the files of an earlier run that this run did not write; remove them with --clean."""
    stale = place.stale()
    if not stale:
        return
    if clean:
        removed = place.remove(stale)
        listed = ", ".join(removed[:5]) + (", ..." if len(removed) > 5 else "")
        emit(Notice(f"Removed {_plural(len(removed), 'file')} of an earlier run (--clean): {listed}."))
    else:
        listed = ", ".join(stale[:5]) + (", ..." if len(stale) > 5 else "")
        verb = "is" if len(stale) == 1 else "are"
        emit(Notice(f"{place.shown}: {_plural(len(stale), 'file')} of an earlier run {verb} not in this run's summary ({listed}); --clean removes them."))
