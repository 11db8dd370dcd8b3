"""Memo rendering: the only module that imports jinja2. A verdict in, a document out."""

from __future__ import annotations

import functools
import json
import textwrap
import traceback
from pathlib import Path
from typing import Any

import jinja2

from .context import memo_context
from .errors import TemplateError
from .resources import data_dir
from .verdict import Verdict

FORMATS = {"md": "memo.md.j2", "html": "memo.html.j2", "txt": "memo.txt.j2", "json": None}



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
    env.filters["cap"] = lambda text: str(text)[:1].upper() + str(text)[1:]
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


def render(verdict: Verdict, fmt: str = "md", templates_dir: str | Path | None = None, *, show_respondents: bool = False) -> str:
    """Render a verdict as a memo in `fmt` (md, html, txt or json); respondents' labels only with `show_respondents`."""
    if fmt not in FORMATS:
        raise TemplateError(f"format {fmt!r} is not one of {', '.join(FORMATS)}.")
    if fmt == "json":
        return json.dumps(verdict.to_dict(show_respondents), indent=2, ensure_ascii=False) + "\n"
    folder = str(Path(templates_dir).resolve()) if templates_dir else None
    template = _template(fmt, folder)
    try:
        return template.render(memo_context(verdict, show_respondents=show_respondents))
    except TemplateError:
        raise
    except Exception as err:  # any failure inside a template is the template's fault, never a traceback
        raise TemplateError(f"{_template_line(err)}: template failed while rendering: {err}") from err
