"""Batch assessment: many region files in, one memo per region and a comparison summary out.

`run_batch` is the one call: it reports every row to an `on_event` callback and returns a
BatchResult; it never prints. The parts: discovery (finding files), jobs (the work a worker does),
summary (the three summary files), outdir (lock, manifest, stale temporary files), run (the driver).
"""

from __future__ import annotations

from .discovery import Found, region_files, shown
from .jobs import Job, Outcome, Task, run_task
from .run import BatchResult, Event, FileDone, Notice, RegionDone, Started, counted, cpu_count, run_batch
from .summary import CSV_COLUMNS, md

__all__ = [
    "CSV_COLUMNS", "BatchResult", "Event", "FileDone", "Found", "Job", "Notice", "Outcome", "RegionDone", "Started",
    "Task", "counted", "cpu_count", "md", "region_files", "run_batch", "run_task", "shown",
]  # fmt: skip
