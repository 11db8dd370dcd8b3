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

FORMATS = {"md": "memo.md.j2", "html": "memo.html.j2", "txt": "memo.txt.j2", "json": None, "docx": None}
BINARY_FORMATS = frozenset({"docx"})  # rendered to bytes by render_docx (or render_file), never by render



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


def render(verdict: Verdict, fmt: str = "md", templates_dir: str | Path | None = None, *, brief: bool = False) -> str:
    """Render a verdict as a memo in `fmt` (md, html, txt or json); `brief`: the first page alone."""
    if fmt not in FORMATS:
        raise TemplateError(f"format {fmt!r} is not one of {', '.join(FORMATS)}.")
    if fmt in BINARY_FORMATS:
        raise TemplateError(f"format {fmt!r} is a binary file, not text: render it with render_file or render_docx.")
    if fmt == "json":
        if brief:
            raise TemplateError("--brief gives the first page of a memo (md, html or txt); the JSON verdict is whole.")
        return json.dumps(verdict.to_dict(), indent=2, ensure_ascii=False) + "\n"
    folder = str(Path(templates_dir).resolve()) if templates_dir else None
    template = _template(fmt, folder)
    try:
        return template.render(memo_context(verdict) | {"brief_only": brief})
    except TemplateError:
        raise
    except Exception as err:  # any failure inside a template is the template's fault, never a traceback
        raise TemplateError(f"{_template_line(err)}: template failed while rendering: {err}") from err


COMPARE_FORMATS = {"md": "compare.md.j2", "html": "compare.html.j2"}


def render_compare(context: dict[str, Any], fmt: str) -> str:
    """Render the context of a comparison (compare.py) with the shipped compare template for `fmt`."""
    if fmt not in COMPARE_FORMATS:
        raise TemplateError(f"format {fmt!r} is not one of {', '.join(COMPARE_FORMATS)}, json.")
    name = COMPARE_FORMATS[fmt]
    try:
        template = _environment(None).get_template(name)
        return template.render(context)
    except jinja2.TemplateNotFound as err:
        raise TemplateError(f"{name}: template not found among the shipped templates. Reinstall clusteradvisor.") from err
    except jinja2.TemplateSyntaxError as err:
        raise TemplateError(f"{err.filename or name}:{err.lineno}: template error: {err.message}") from err
    except Exception as err:  # a failure inside a template is the template's fault, never a traceback
        raise TemplateError(f"{_template_line(err)}: template failed while rendering: {err}") from err


def render_docx(verdict: Verdict) -> bytes:
    """Render a verdict as a Word memo: the bytes of a .docx file (templates do not apply)."""
    from .docx_memo import render_docx as build  # python-docx loads only when a Word memo is asked for

    return build(verdict)


def render_file(verdict: Verdict, fmt: str = "md", templates_dir: str | Path | None = None) -> str | bytes:
    """Render the content of a memo file in `fmt`: text for md, html, txt and json, bytes for docx."""
    if fmt == "docx":
        return render_docx(verdict)
    return render(verdict, fmt, templates_dir)
