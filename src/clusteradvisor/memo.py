"""Memo rendering: the only module that imports jinja2. A verdict in, a document out.

Shipped templates render in plain Jinja2, compiled once. An office's templates (`--templates DIR`)
are code written by someone else: they render in Jinja2's sandbox with bounds on time, loop steps
and the size of every value and of the memo, are read only from inside their folder, are re-read
when edited, and may extend a shipped template through the `default:` prefix (docs/templates.md).
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import json
import re
import stat
import string
import textwrap
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence, Sized
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import meta, nodes
from jinja2.exceptions import SecurityError
from jinja2.loaders import split_template_path
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

from .context import memo_context
from .errors import FormatError, TemplateError
from .resources import data_dir
from .verdict import Verdict

FORMATS = {"md": "memo.md.j2", "html": "memo.html.j2", "txt": "memo.txt.j2", "json": None, "docx": None}
BINARY_FORMATS = frozenset({"docx"})  # rendered to bytes by render_docx (or render_file), never by render


def _wrap(text: str, width: int = 78, indent: str = "", first: str | None = None) -> str:
    """Fill `text` to `width` columns, exactly as textwrap.fill does with these arguments, only faster.

    The words, one space apart, are cut greedily at the last space that fits each line, which is
    textwrap's own greedy fill as long as no word is longer than the line it is tried on. Such a
    word (no space to cut at), an empty text, and arguments other than plain strings and an int
    width go to textwrap itself: it breaks long words and refuses a width below 1.
    """
    line = str(text)
    # One space between words: a text already so is kept as it is (every whitespace character
    # other than the space is unprintable), without splitting it into words and joining them again.
    if not (line.isprintable() and "  " not in line and line[:1] != " " and line[-1:] != " "):
        line = " ".join(line.split())
    first = indent if first is None else first
    if type(width) is not int or type(indent) is not str or type(first) is not str or not line:
        return _textwrap_fill(line, width, indent, first)
    room = width - len(first)
    if len(line) <= room:
        return first + line  # the common case: one line
    rest = width - len(indent)
    pieces: list[str] = []
    start = 0
    while len(line) - start > room:
        cut = line.rfind(" ", start, start + room + 1)
        if cut < 0:
            return _textwrap_fill(line, width, indent, first)  # a word longer than its line
        if room < rest and not pieces:
            # A word that does not fit at the end of a narrower first line is tried against that line.
            after = line.find(" ", cut + 1)
            if (len(line) if after < 0 else after) - cut - 1 > room:
                return _textwrap_fill(line, width, indent, first)
        pieces.append(line[start:cut])
        start, room = cut + 1, rest
    pieces.append(line[start:])
    return first + ("\n" + indent).join(pieces)


def _textwrap_fill(line: str, width: int, indent: str, first: str) -> str:
    return textwrap.fill(
        line, width=width, initial_indent=first, subsequent_indent=indent, break_long_words=True, break_on_hyphens=False
    )


_MARKDOWN_SPECIAL = re.compile(r"[\\`*_\[\]<>|#]")
_MARKDOWN_ESCAPES = str.maketrans({char: "\\" + char for char in "\\`*_[]<>|#"})


def escape_markdown(text: Any) -> str:
    """Keep region text literal in Markdown: escape what would turn into markup or break a table."""
    out = str(text)
    if _MARKDOWN_SPECIAL.search(out) is None:
        return out  # the common case: nothing to escape
    return out.translate(_MARKDOWN_ESCAPES)  # a backslash before each of \ ` * _ [ ] < > | #


def _cap(text: Any) -> str:
    """Capitalise the first letter only (Jinja's `capitalize` lower-cases the rest)."""
    shown = str(text)
    return shown[:1].upper() + shown[1:]


# Limits on an office template (user templates are code written by someone else; see docs/templates.md).
MAX_OUTPUT = 2_000_000  # characters in a memo, and in any one string or list a template builds
MAX_TEMPLATE_BYTES = 1_000_000  # size of one template file
MAX_STEPS = 1_000_000  # loop iterations in one memo, all loops together
MAX_RANGE = 100_000  # items in one range()
MAX_INT_BITS = 100_000  # size of an integer a template computes (about 30,000 digits)
MAX_SECONDS = 5.0  # wall time of one render
DEFAULT_PREFIX = "default:"
_FORMAT_SPEC = re.compile(r"%[-#0 +]*(\d*|\*)(?:\.(\d*|\*))?")


class _LimitExceeded(Exception):
    """Raised inside a sandboxed render when a template goes past one of the limits above."""


@dataclass
class _Budget:
    """What one sandboxed render may still spend; one per render, found through a context variable."""

    deadline: float
    steps: int = 0

    def tick(self) -> None:
        """Count one step and stop the render when it runs out of time or steps."""
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise _LimitExceeded(f"the template's loops ran more than {MAX_STEPS:,} times")
        if time.monotonic() > self.deadline:
            raise _LimitExceeded(f"the template ran longer than {MAX_SECONDS:g} seconds")


_BUDGET: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar("clusteradvisor_template_budget", default=None)


def _tick() -> None:
    budget = _BUDGET.get()
    if budget is not None:
        budget.tick()


def _check_size(value: Any) -> Any:
    """Return `value`, or stop the render when it is a string, list or number too large for a memo."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if value.bit_length() > MAX_INT_BITS:
            raise _LimitExceeded(f"a number has more than {MAX_INT_BITS:,} bits")
    elif isinstance(value, (str, bytes, list, tuple, dict, set, frozenset)) and len(value) > MAX_OUTPUT:
        raise _LimitExceeded(f"a value of {len(value):,} items or characters was built (the limit is {MAX_OUTPUT:,})")
    return value


def _check_arguments(subject: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
    """Refuse arguments that would make a call build something huge before it is built."""
    values = (*args, *kwargs.values())
    for value in values:
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_OUTPUT:
            raise _LimitExceeded(f"the argument {value} is larger than {MAX_OUTPUT:,}")
    # Padding, joining and replacing can multiply the subject by the length of a string argument.
    text = sum(len(v) for v in values if isinstance(v, str))
    if text and isinstance(subject, Sized) and (len(subject) + 1) * text > MAX_OUTPUT:
        raise _LimitExceeded(f"the result could reach {(len(subject) + 1) * text:,} characters (the limit is {MAX_OUTPUT:,})")


def _check_percent_format(text: str) -> None:
    for match in _FORMAT_SPEC.finditer(text):
        for width in match.groups():
            if width and width.isdigit() and int(width) > MAX_OUTPUT:
                raise _LimitExceeded(f"the format width {width} is larger than {MAX_OUTPUT:,}")


def _check_brace_format(text: str) -> None:
    try:
        fields = list(string.Formatter().parse(text))
    except ValueError:
        return  # str.format itself reports the malformed string
    for _literal, _name, spec, _conversion in fields:
        for width in re.findall(r"\d+", spec or ""):
            if int(width) > MAX_OUTPUT:
                raise _LimitExceeded(f"the format width {width} is larger than {MAX_OUTPUT:,}")


def _guard_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a filter so that it counts against the render's budget and cannot build a huge value."""
    passes = getattr(function, "jinja_pass_arg", None)

    @functools.wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _tick()
        # Filters marked pass_context (and the like) get that object first; the value comes next.
        offset = 0 if passes is None else 1
        value, rest = (args[offset], args[offset + 1 :]) if len(args) > offset else (None, ())
        if name == "join" and value is not None and not isinstance(value, Sized):
            value = list(value)
            args = (*args[:offset], value, *rest)
        _check_arguments(value, rest, kwargs)
        if name == "format" and isinstance(value, str):
            _check_percent_format(value)
        return _check_size(function(*args, **kwargs))

    return guarded


def _budgeted(iterable: Any) -> Iterator[Any]:
    """Yield from `iterable`, counting every item against the render's budget."""
    for item in iterable:
        _tick()
        yield item


def _capped_range(*args: int) -> range:
    """Return range(*args), refused when it is longer than MAX_RANGE."""
    result = range(*args)
    if len(result) > MAX_RANGE:
        raise _LimitExceeded(f"range() of {len(result):,} items is longer than {MAX_RANGE:,}")
    return result


class _BudgetTransformer(NodeTransformer):
    """Route every for-loop and every `~` concatenation of a template through the budget checks."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        """Count each iteration of the loop against the render's budget."""
        visited = self.generic_visit(node)
        assert isinstance(visited, nodes.For)
        visited.iter = nodes.Call(nodes.EnvironmentAttribute("budgeted"), [visited.iter], [], None, None, lineno=node.lineno)
        return visited

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        """Check the size of the joined string (a loop of `s ~ s` doubles it each time)."""
        visited = self.generic_visit(node)
        return nodes.Call(nodes.EnvironmentAttribute("check_size"), [visited], [], None, None, lineno=node.lineno)


class _OfficeSandbox(ImmutableSandboxedEnvironment):
    """Jinja2's sandbox with bounds on time, loop steps and the size of every value and of the memo."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})
    budgeted = staticmethod(_budgeted)
    check_size = staticmethod(_check_size)

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        result = _BudgetTransformer().visit(super()._parse(source, name, filename))
        assert isinstance(result, nodes.Template)
        return result

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """Apply a binary operator, refusing results too large for a memo before they are built."""
        _tick()
        if operator == "*":
            for seq, count in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(count, int) and len(seq) * count > MAX_OUTPUT:
                    raise _LimitExceeded(f"repeating a value of length {len(seq):,} {count:,} times exceeds {MAX_OUTPUT:,}")
        elif operator == "**" and isinstance(left, int) and isinstance(right, int) and right > 0:
            if abs(left) > 1 and abs(left).bit_length() * right > MAX_INT_BITS:
                raise _LimitExceeded(f"{left} ** {right} has more than {MAX_INT_BITS:,} bits")
        elif operator == "%" and isinstance(left, str):
            _check_percent_format(left)
            _check_arguments(None, right if isinstance(right, tuple) else (right,), {})
        return _check_size(super().call_binop(context, operator, left, right))

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        """Call `obj` from a template, refusing arguments that would build a huge value."""
        _tick()
        subject = getattr(obj, "__self__", None)
        wrapped = getattr(obj, "__wrapped__", None)
        if subject is None and wrapped is not None:
            subject = getattr(wrapped, "__self__", None)  # the sandbox's wrapper around str.format
        _check_arguments(subject, args, kwargs)
        name = getattr(wrapped or obj, "__name__", "")
        if isinstance(subject, str) and name in ("format", "format_map"):
            _check_brace_format(subject)
        return _check_size(super().call(context, obj, *args, **kwargs))


class _BufferedBlocks(NodeTransformer):
    """Wrap the body of every block in `{% filter string %}`, which leaves the text as it is.

    Jinja writes the body of a filter block into a list and yields it once, where a plain block
    yields each piece of text and each value through the template's generators: the same text, made
    in about 85% of the time.
    """

    def visit_Block(self, node: nodes.Block) -> nodes.Node:
        """Put the block's body inside a filter block."""
        visited = self.generic_visit(node)
        assert isinstance(visited, nodes.Block)
        keep = nodes.Filter(None, "string", [], [], None, None, lineno=node.lineno)
        visited.body = [nodes.FilterBlock(visited.body, keep, lineno=node.lineno)]
        return visited


class _ShippedEnvironment(jinja2.Environment):
    """The environment of the shipped templates: each block renders into one string (_BufferedBlocks)."""

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        result = _BufferedBlocks().visit(super()._parse(source, name, filename))
        assert isinstance(result, nodes.Template)
        result.set_environment(self)
        return result


def _signature(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size


def _read_template(path: Path, shown: str) -> str:
    """Read one template file as UTF-8 text, refusing what no template can be."""
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            raise TemplateError(f"{shown}: is not a regular file. A template must be a plain text file.")
        with path.open("rb") as handle:
            data = handle.read(MAX_TEMPLATE_BYTES + 1)
    except OSError as err:
        raise TemplateError(f"{shown}: cannot be read ({err.strerror or err}).") from err
    if len(data) > MAX_TEMPLATE_BYTES:
        raise TemplateError(f"{shown}: is larger than {MAX_TEMPLATE_BYTES:,} bytes. A memo template is a few kilobytes.")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise TemplateError(f"{shown}: is not UTF-8 text (byte 0x{data[err.start]:02x} at offset {err.start}). Save it as UTF-8.") from err


class _TemplateLoader(jinja2.BaseLoader):
    """The shipped templates, optionally behind an office folder searched first.

    `default:NAME` always names the shipped template, so an office template can extend the one it
    replaces. Office files are read only from inside the folder (symlinks and `..` are resolved and
    checked), and each is re-read when its modification time or size changes.
    """

    def __init__(self, shipped: Path, office: Path | None) -> None:
        self.shipped = shipped
        self.office = office

    def _office_path(self, name: str) -> Path | None:
        if self.office is None:
            return None
        pieces = split_template_path(name)  # refuses `..` pieces with TemplateNotFound
        path = self.office.joinpath(*pieces)
        try:
            resolved = path.resolve(strict=True)
        except (OSError, RuntimeError):
            return None  # no such file (or a symlink loop): fall back to the shipped template
        if not resolved.is_relative_to(self.office):
            raise TemplateError(f"{path}: points outside the template folder {self.office} (to {resolved}). Copy the file into the folder instead.")
        return resolved

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str, Callable[[], bool]]:
        """Return the text, file name and freshness check of the template called `template`."""
        if template.startswith(DEFAULT_PREFIX):
            name, office = template[len(DEFAULT_PREFIX) :], None
        else:
            name, office = template, self._office_path(template)
        if office is not None and self.office is not None:
            signature = _signature(office)
            shown = str(self.office.joinpath(*split_template_path(name)))
            return _read_template(office, shown), shown, lambda: _signature(office) == signature
        path = self.shipped.joinpath(*split_template_path(name))
        if not path.is_file():
            raise jinja2.TemplateNotFound(template)
        # A shipped template stays valid until the office folder gains a file of the same name.
        candidate = None if self.office is None or template.startswith(DEFAULT_PREFIX) else self.office.joinpath(*split_template_path(name))
        return _read_template(path, str(path)), str(path), lambda: candidate is None or not candidate.exists()


def _configure(env: jinja2.Environment, guard: bool) -> jinja2.Environment:
    env.filters.update({"wrap": _wrap, "md": escape_markdown, "cap": _cap})
    if guard:
        env.filters.update({name: _guard_filter(name, function) for name, function in env.filters.items()})
        env.globals["range"] = _capped_range
    return env


_OPTIONS: dict[str, Any] = {
    "undefined": jinja2.StrictUndefined,
    "autoescape": jinja2.select_autoescape(enabled_extensions=("html.j2", "html"), default_for_string=False),
    "trim_blocks": True,
    "lstrip_blocks": True,
    "keep_trailing_newline": True,
}


def _sync_filters(env: jinja2.Environment) -> jinja2.Environment:
    """Let `env` call the sync functions of Jinja's async-capable filters (join, map, select, ...) directly.

    Each of those filters asks on every call whether its environment is async before calling its
    sync function (its `__wrapped__`). An environment made without enable_async never is: calling
    the sync function gives the same result, at about two thirds of the cost of a `join`.
    """
    assert not env.is_async
    env.filters.update({name: inspect.unwrap(f) for name, f in env.filters.items() if getattr(f, "jinja_async_variant", False)})
    return env


@functools.cache
def _shipped_environment() -> jinja2.Environment:
    """The trusted environment for the templates that ship with the tool: no sandbox, compiled once."""
    loader = _TemplateLoader(data_dir("templates"), None)
    env = _sync_filters(_configure(_ShippedEnvironment(loader=loader, auto_reload=False, **_OPTIONS), guard=False))
    # The shipped templates call none of Jinja's globals (range, dict, namespace, cycler, joiner,
    # lipsum); every render copies the globals into its context, so they are left out.
    env.globals.clear()
    return env


@functools.cache
def _office_environment(folder: str) -> jinja2.Environment:
    """The sandboxed environment for an office folder; Jinja re-reads a template when its file changes."""
    loader = _TemplateLoader(data_dir("templates"), Path(folder))
    return _configure(_OfficeSandbox(loader=loader, auto_reload=True, **_OPTIONS), guard=True)


@functools.cache
def _shipped_template(name: str) -> jinja2.Template:
    return _shipped_environment().get_template(name)


def _template_line(err: BaseException) -> str:
    for frame in reversed(traceback.extract_tb(err.__traceback__)):
        if frame.filename.endswith(".j2"):
            return f"{frame.filename}:{frame.lineno}"
    return "<template>"


def _load(fmt: str, folder: str | None) -> jinja2.Template:
    """Compile (or fetch) the template for `fmt`, turning every failure into a TemplateError."""
    name = FORMATS[fmt]
    assert name is not None
    try:
        return _office_environment(folder).get_template(name) if folder else _shipped_template(name)
    except TemplateError:
        raise
    except jinja2.TemplateNotFound as err:
        where = f"{folder} and the shipped templates" if folder else "the shipped templates"
        raise TemplateError(f"{err.name}: template not found (looked in {where}). Reinstall clusteradvisor or add the file.") from err
    except jinja2.TemplateSyntaxError as err:
        raise TemplateError(f"{err.filename or name}:{err.lineno}: template error: {err.message}") from err
    except Exception as err:  # a template that breaks the compiler (too deep, a huge number) is still the template's fault
        raise TemplateError(f"{folder or 'templates'}/{name}: template error: {err}") from err


def _folder(templates_dir: str | Path | None) -> str | None:
    return str(Path(templates_dir).resolve()) if templates_dir else None


def check_template(fmt: str, templates_dir: str | Path | None = None) -> None:
    """Compile the template for `fmt` now, so that a broken or missing one fails before any work."""
    if fmt not in FORMATS:
        raise FormatError(f"format {fmt!r} is not one of {', '.join(FORMATS)}.")
    if FORMATS[fmt] is None:
        return
    folder = _folder(templates_dir)
    template = _load(fmt, folder)
    if folder is not None:
        _compile_references(_office_environment(folder), template.name, set())


def _compile_references(env: jinja2.Environment, name: str | None, seen: set[str]) -> None:
    """Compile every template `name` extends, includes or imports by a fixed name, recursively."""
    if name is None or name in seen or env.loader is None:
        return
    seen.add(name)
    shown = name
    try:
        source, filename, _ = env.loader.get_source(env, name)
        shown = filename or name
        for referenced in meta.find_referenced_templates(env.parse(source)):
            if referenced is not None:
                env.get_template(referenced)
                _compile_references(env, referenced, seen)
    except TemplateError:
        raise
    except jinja2.TemplateNotFound as err:
        raise TemplateError(f"{shown}: refers to {err.name}, which is not in the template folder or the shipped templates.") from err
    except jinja2.TemplateSyntaxError as err:
        raise TemplateError(f"{err.filename or err.name}:{err.lineno}: template error: {err.message}") from err


def _render_bounded(template: jinja2.Template, context: dict[str, Any]) -> str:
    """Render through generate(), stopping once the memo passes MAX_OUTPUT or the budget runs out."""
    token = _BUDGET.set(_Budget(deadline=time.monotonic() + MAX_SECONDS))
    try:
        parts: list[str] = []
        size = 0
        for part in template.generate(context):
            size += len(part)
            if size > MAX_OUTPUT:
                raise _LimitExceeded(f"the memo is longer than {MAX_OUTPUT:,} characters")
            parts.append(part)
        return "".join(parts)
    finally:
        _BUDGET.reset(token)


def render(
    verdict: Verdict, fmt: str = "md", templates_dir: str | Path | None = None, *, brief: bool = False, show_respondents: bool = False
) -> str:
    """Render a verdict as a memo in `fmt` (md, html, txt or json); `brief`: the first page alone.

    Panel findings name respondents' roles only; their labels and files only with `show_respondents`.
    """
    if fmt not in FORMATS or fmt in BINARY_FORMATS:
        shown = ", ".join(f for f in FORMATS if f not in BINARY_FORMATS)
        raise FormatError(f"format {fmt!r} is not one of {shown}" + (" (a Word memo is a binary file: render_docx gives its bytes)." if fmt in BINARY_FORMATS else "."))
    if fmt == "json":
        if brief:
            raise FormatError("--brief gives the first page of a memo (md, html or txt); the JSON verdict is whole.")
        return json.dumps(verdict.to_dict(show_respondents), indent=2, ensure_ascii=False) + "\n"
    folder = _folder(templates_dir)
    template = _load(fmt, folder)
    context = memo_context(verdict, show_respondents=show_respondents) | {"brief_only": brief}
    try:
        if folder is None:
            return template.render(context)
        return _render_bounded(template, context)
    except TemplateError:
        raise
    except _LimitExceeded as err:
        where = _template_line(err)
        where = template.filename or where if where == "<template>" else where  # the memo as a whole grew too long
        raise TemplateError(f"{where}: template stopped: {err}. Templates lay out one memo; simplify the template.") from err
    except jinja2.TemplateSyntaxError as err:  # a parent or included template, compiled only now
        raise TemplateError(f"{err.filename or err.name}:{err.lineno}: template error: {err.message}") from err
    except SecurityError as err:
        raise TemplateError(f"{_template_line(err)}: template refused by the sandbox: {err} Templates may only read the memo's data.") from err
    except Exception as err:  # any failure inside a template is the template's fault, never a traceback
        raise TemplateError(f"{_template_line(err)}: template failed while rendering: {err}") from err


COMPARE_FORMATS = {"md": "compare.md.j2", "html": "compare.html.j2"}


def render_compare(context: dict[str, Any], fmt: str) -> str:
    """Render the context of a comparison (compare.py) with the shipped compare template for `fmt`."""
    if fmt not in COMPARE_FORMATS:
        raise FormatError(f"format {fmt!r} is not one of {', '.join(COMPARE_FORMATS)}, json.")
    name = COMPARE_FORMATS[fmt]
    try:
        template = _shipped_template(name)
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
