"""The Python API: assess a region given as a mapping, YAML text or a file; render; assess many records.

Values are coerced at this boundary so that records from pandas or numpy work as they come:
numpy scalars become Python values, a float with no fractional part becomes an int (an integer column
with a missing value arrives as float64), and None, NaN and pandas' NA mean unknown. Keys may be
nested (`{"network": {"form": [...]}}`) or flat dotted paths (`{"network.form": [...]}`, as DataFrame
columns are), not both for one field.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from .advisor import default_advisor
from .errors import ClusterAdvisorError, RegionError
from .memo import render as _render
from .region import Region, load_regions, read_text, region_from_mapping
from .verdict import Verdict

RegionSource = Mapping[str, Any] | str | os.PathLike[str]


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return type(value).__name__ in ("NAType", "NaTType")  # pandas' missing markers, without importing pandas


def plain(value: Any) -> Any:
    """Turn a value from pandas or numpy into the plain Python value a region file would hold."""
    if hasattr(value, "item") and type(value).__module__ == "numpy" and getattr(value, "ndim", 0) == 0:
        value = value.item()
    elif hasattr(value, "tolist") and type(value).__module__ == "numpy":
        value = value.tolist()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value if not _is_missing(v)]
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items() if not _is_missing(v)}
    return value


def _nest(record: Mapping[str, Any]) -> dict[str, Any]:
    """Nest flat dotted keys; refuse a field given both nested and dotted."""
    document: dict[str, Any] = {}
    for key, value in record.items():
        if _is_missing(value):
            continue
        parts = str(key).split(".")
        target = document
        for group in parts[:-1]:
            node = target.setdefault(group, {})
            if not isinstance(node, dict):
                raise RegionError(f"<record>: {key}: {group} is given both as a value and as a group of fields.")
            target = node
        if parts[-1] in target and isinstance(target[parts[-1]], dict) != isinstance(value, Mapping):
            raise RegionError(f"<record>: {key}: given twice, nested and as a dotted key.")
        target[parts[-1]] = plain(value)
    return document


def load_region(source: RegionSource, name: str = "<record>") -> Region:
    """Validate one region from a mapping, YAML text (a str) or a file (a Path); RegionError if invalid."""
    if isinstance(source, Mapping):
        return region_from_mapping(_nest(source), name)
    if isinstance(source, os.PathLike):
        path = os.fspath(source)
        regions = load_regions(read_text(path), path)
    else:
        regions = load_regions(source, "<text>")
    if len(regions) != 1:
        raise RegionError(f"{regions[0].source}: holds {len(regions)} regions; assess one at a time or use assess_many().")
    return regions[0]


def assess(source: RegionSource) -> Verdict:
    """Assess one region (a mapping, YAML text, or a Path to a region file) and return its verdict."""
    return default_advisor().assess(load_region(source))


def render(verdict: Verdict, fmt: str = "md", templates: str | os.PathLike[str] | None = None) -> str:
    """Render a verdict as a memo: md, html, txt or json (`templates`: a folder searched first)."""
    return _render(verdict, fmt, Path(templates) if templates is not None else None)


def assess_many(records: Iterable[RegionSource], *, errors: str = "row") -> Iterator[dict[str, Any]]:
    """Assess each record and yield one summary row per region (streaming: records are not held).

    A record that fails gives a row with `status: failed` and the messages under `error` (or, with
    errors="raise", raises). The row's keys are those of `Verdict.summary_row()` plus `status` and
    `error`; `pandas.DataFrame(assess_many(...))` makes a table of them.
    """
    if errors not in ("row", "raise"):
        raise ValueError("errors must be 'row' or 'raise'")
    for index, record in enumerate(records, start=1):
        try:
            verdict = assess(record)
        except ClusterAdvisorError as err:
            if errors == "raise":
                raise
            name = record.get("name") if isinstance(record, Mapping) else None
            yield {"record": index, "name": None if _is_missing(name) else str(name), "status": "failed", "error": " | ".join(err.messages)}
            continue
        yield {"record": index} | verdict.summary_row() | {"status": "ok", "error": None}


__all__ = ["assess", "assess_many", "load_region", "plain", "render"]

