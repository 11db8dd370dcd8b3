"""Memo rendering: the only module that imports jinja2. A verdict in, a document out."""

from __future__ import annotations

import functools
import json
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


def _md(text: Any) -> str:
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
    env.filters["md"] = _md
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
        raise TemplateError(f"{name}: template not found (looked in {templates_dir or ''} and the shipped templates/).") from err
    except jinja2.TemplateSyntaxError as err:
        raise TemplateError(f"{err.filename or name}:{err.lineno}: template error: {err.message}") from err


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
