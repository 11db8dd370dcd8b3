"""Memo rendering: the only module that imports jinja2. A verdict in, a document out."""

from __future__ import annotations

import functools
import json
import math
import textwrap
import traceback
from pathlib import Path
from typing import Any

import jinja2

from . import __version__
from .errors import TemplateError
from .knowledge import DIMENSIONS, PRIORITIES
from .resources import data_dir
from .verdict import Finding, Reason, Verdict

FORMATS = {"md": "memo.md.j2", "html": "memo.html.j2", "txt": "memo.txt.j2", "json": None}
EXTENSIONS = {"md": "md", "html": "html", "txt": "txt", "json": "json"}
PAPER = "a field study of Japanese cluster policy and SME networks in nine industrial districts"

# The radar chart's geometry, in SVG user units; wide enough for the dimension names beside the axes.
RADAR_WIDTH = 720
RADAR_HEIGHT = 400
RADAR_RADIUS = 140
RADAR_RINGS = (25, 50, 75, 100)


def _reason_text(reason: Reason) -> str:
    if reason.derived is None:
        return reason.text
    inner = "; ".join(_reason_text(r) for r in reason.because)
    return f"{reason.text} ({inner})" if inner else reason.text


def _finding(finding: Finding, number: int | None = None) -> dict[str, Any]:
    rule = finding.rule
    return {
        "number": number,
        "id": rule.id,
        "title": rule.title,
        "advice": rule.advice,
        "source": rule.source,
        "priority": rule.priority,
        "dimension": rule.dimension,
        "dimension_name": DIMENSIONS.get(rule.dimension or "", ""),
        "case": rule.case,
        "because": [_reason_text(r) for r in finding.because],
    }


def _point(count: int, index: int, fraction: float) -> tuple[float, float]:
    """The point `fraction` of the way out along axis `index` of `count` (the first points up)."""
    angle = -math.pi / 2 + 2 * math.pi * index / count
    return RADAR_WIDTH / 2 + RADAR_RADIUS * fraction * math.cos(angle), RADAR_HEIGHT / 2 + RADAR_RADIUS * fraction * math.sin(angle)


def _xy(x: float, y: float) -> str:
    # One decimal is far below a pixel; fixed formatting keeps the SVG byte-identical across runs.
    return f"{x:.1f},{y:.1f}"


@functools.cache
def _radar_frame(count: int) -> tuple[tuple[dict[str, Any], ...], tuple[dict[str, Any], ...]]:
    """The parts of the chart that do not depend on the scores: rings, axes and label places."""
    cx, cy, radius = RADAR_WIDTH / 2, RADAR_HEIGHT / 2, RADAR_RADIUS
    rings = []
    for level in RADAR_RINGS:
        fraction = level / 100
        (x0, y0), (x1, y1) = _point(count, 0, fraction), _point(count, 1, fraction)
        rings.append(
            {
                "level": level,
                "points": " ".join(_xy(*_point(count, i, fraction)) for i in range(count)),
                # The ring's value sits midway along its first edge, clear of the axes and their dots.
                "lx": f"{(x0 + x1) / 2 + 2:.1f}",
                "ly": f"{(y0 + y1) / 2 + 3:.1f}",
            }
        )
    axes: list[dict[str, Any]] = []
    for index in range(count):
        end_x, end_y = _point(count, index, 1.0)
        lx, ly = _point(count, index, 1.13)
        dx, dy = lx - cx, ly - cy
        anchor = "middle" if abs(dx) < radius * 0.2 else ("start" if dx > 0 else "end")
        # Labels above the chart grow upwards, those below grow downwards, side ones are centred.
        baseline = ly - 18 if dy < -radius * 0.5 else (ly + 12 if dy > radius * 0.5 else ly - 4)
        axes.append(
            {
                "x": f"{end_x:.1f}",
                "y": f"{end_y:.1f}",
                "lx": f"{lx:.1f}",
                "ly": f"{baseline:.1f}",
                "ly2": f"{baseline + 16:.1f}",
                "anchor": anchor,
            }
        )
    return tuple(rings), tuple(axes)


def radar(scores: list[tuple[str, str, int | None]]) -> dict[str, Any]:
    """Lay out an SVG radar chart of (dimension, name, score 0-100 or None) in Python.

    The first axis points up and the others follow clockwise. A score of None (no decided advice)
    is drawn at the centre and labelled "n/a", so a missing score never looks like a perfect one.
    Coordinates are strings with one decimal, so the SVG is the same bytes on every run.
    """
    count = len(scores)
    rings, frame = _radar_frame(count)
    axes = []
    for index, (dimension, name, score) in enumerate(scores):
        px, py = _point(count, index, (score or 0) / 100)
        value = "n/a" if score is None else str(score)
        axes.append(
            frame[index]
            | {"dimension": dimension, "name": name, "score": score, "value": value, "na": score is None, "px": f"{px:.1f}", "py": f"{py:.1f}"}
        )
    return {
        "width": RADAR_WIDTH,
        "height": RADAR_HEIGHT,
        "cx": f"{RADAR_WIDTH / 2:.1f}",
        "cy": f"{RADAR_HEIGHT / 2:.1f}",
        "rings": [dict(ring) for ring in rings],
        "axes": axes,
        "polygon": " ".join(f"{a['px']},{a['py']}" for a in axes),
    }


def memo_context(verdict: Verdict) -> dict[str, Any]:
    """The content every memo format shares, computed once in Python (templates only lay it out)."""
    numbered = [_finding(f, i) for i, f in enumerate(verdict.recommendations, start=1)]
    groups = [
        {"priority": p, "title": p.capitalize(), "items": [f for f in numbered if f["priority"] == p]}
        for p in PRIORITIES
    ]
    counts = verdict.counts()
    region = verdict.region
    return {
        "region": {
            "name": region.name,
            "country": region.get("country"),
            "area": region.get("area"),
            "source": region.source,
            "document": region.document,
            "district_type": region.get("district_type"),
        },
        "tool_version": __version__,
        "kb_version": verdict.kb_version,
        "kb_rules": verdict.kb_rules,
        "paper": PAPER,
        "counts": counts,
        "total": sum(counts.values()),
        "top": numbered[:3],
        "groups": [g for g in groups if g["items"]],
        "recommendations": numbered,
        "scores": [s.to_dict() | {"dimension": s.dimension} for s in verdict.scores],
        "patterns": [_finding(f) for f in verdict.patterns],
        "derived": [_finding(f) for f in verdict.derived],
        "strengths": [_finding(f) for f in verdict.strengths],
        "gaps": [
            {
                "field": g.field,
                "label": g.label,
                "question": g.question,
                "decides": list(g.titles),
                "decides_ids": list(g.decides),
            }
            for g in verdict.gaps
        ],
        "radar": radar([(s.dimension, s.name, s.score) for s in verdict.scores]),
    }


def _wrap(text: str, width: int = 78, indent: str = "", first: str | None = None) -> str:
    return textwrap.fill(
        " ".join(str(text).split()),
        width=width,
        initial_indent=indent if first is None else first,
        subsequent_indent=indent,
        break_long_words=True,
        break_on_hyphens=False,
    )


def escape_markdown(text: Any) -> str:
    """Keep region text literal in Markdown: escape what would turn into markup or break a table."""
    out = str(text)
    for char in "\\`*_[]<>|#":
        out = out.replace(char, "\\" + char)
    return out


@functools.cache
def _environment(templates_dir: str | None) -> jinja2.Environment:
    loaders: list[jinja2.BaseLoader] = []
    if templates_dir:
        loaders.append(jinja2.FileSystemLoader(templates_dir))
    loaders.append(jinja2.FileSystemLoader(str(data_dir("templates"))))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2", "html"), default_for_string=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["wrap"] = _wrap
    env.filters["md"] = escape_markdown
    return env


def _template_line(err: BaseException) -> str:
    for frame in reversed(traceback.extract_tb(err.__traceback__)):
        if frame.filename.endswith(".j2"):
            return f"{frame.filename}:{frame.lineno}"
    return "<template>"


@functools.cache
def _template(fmt: str, templates_dir: str | None) -> jinja2.Template:
    name = FORMATS[fmt]
    assert name is not None
    try:
        return _environment(templates_dir).get_template(name)
    except jinja2.TemplateNotFound as err:
        where = f"{templates_dir} and the shipped templates" if templates_dir else "the shipped templates"
        raise TemplateError(f"{name}: template not found (looked in {where}). Reinstall clusteradvisor or add the file.") from err
    except jinja2.TemplateSyntaxError as err:
        raise TemplateError(f"{err.filename or name}:{err.lineno}: template error: {err.message}") from err


def check_template(fmt: str, templates_dir: str | Path | None = None) -> None:
    """Compile the template for `fmt` now, so that a broken or missing one fails before any work."""
    if fmt not in FORMATS:
        raise TemplateError(f"format {fmt!r} is not one of {', '.join(FORMATS)}.")
    if FORMATS[fmt] is not None:
        _template(fmt, str(Path(templates_dir).resolve()) if templates_dir else None)


def render(verdict: Verdict, fmt: str = "md", templates_dir: str | Path | None = None) -> str:
    """Render a verdict as a memo in `fmt` (md, html, txt or json)."""
    if fmt not in FORMATS:
        raise TemplateError(f"format {fmt!r} is not one of {', '.join(FORMATS)}.")
    if fmt == "json":
        return json.dumps(verdict.to_dict(), indent=2, ensure_ascii=False) + "\n"
    folder = str(Path(templates_dir).resolve()) if templates_dir else None
    template = _template(fmt, folder)
    try:
        return template.render(memo_context(verdict))
    except TemplateError:
        raise
    except Exception as err:  # any failure inside a template is the template's fault, never a traceback
        raise TemplateError(f"{_template_line(err)}: template failed while rendering: {err}") from err
