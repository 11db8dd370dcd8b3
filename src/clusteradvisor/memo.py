"""Memo rendering: the only module that imports jinja2. A verdict in, a document out."""

from __future__ import annotations

import contextvars
import functools
import json
import math
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
from jinja2.nodes import EvalContext
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer
from markupsafe import Markup, escape

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


def _sentence(pattern: str) -> Callable[..., str]:
    """Return a template function that fills `pattern` (str.format style) with its arguments.

    In an HTML memo the pattern is trusted markup and the arguments are escaped (Markup.format),
    so the same words serve every format without turning an apostrophe into an entity.
    """

    @jinja2.pass_eval_context
    def fill(eval_ctx: EvalContext, *args: Any) -> str:
        if eval_ctx.autoescape:
            # The same as Markup(pattern).format(*args) for plain {0} fields, at a fraction of the cost.
            return Markup(pattern.format(*map(escape, args)))
        return pattern.format(*args)

    return fill


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _counted(pattern: str, word: str) -> Callable[..., str]:
    """Return a template function like _sentence whose first argument is a count of `word`."""
    fill = _sentence(pattern)

    @jinja2.pass_eval_context
    def counted(eval_ctx: EvalContext, count: int, *args: Any) -> str:
        return fill(eval_ctx, _plural(count, word), *args)

    return counted


@jinja2.pass_eval_context
def _advice_found(eval_ctx: EvalContext, total: int, counts: Mapping[str, int]) -> str:
    """Say how many recommendations there are, per priority in the rule base's order."""
    text = f"{_plural(total, 'recommendation')}: {', '.join(f'{counts[p]} {p}' for p in PRIORITIES)}"
    return Markup(escape(text)) if eval_ctx.autoescape else text


class _Table(dict[str, Any]):
    """A table of phrases that templates read as attributes (phrases.headings.gaps).

    Jinja2 tries an attribute before an item; answering it here spares a raised AttributeError on
    every lookup. The office sandbox forbids changing a dict, so templates cannot alter it.
    """

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


# Sentences with blanks: name -> (pattern, word). With a word, the first blank is a count of it
# ("3 points"). Templates call them as phrases.name(...); the compiler writes them inline.
_SENTENCES: dict[str, tuple[str, str | None]] = {
    "rule_base": ("version {0} ({1} rules), ClusterAdvisor {2}", None),
    "summary_lead": ("On the facts given, this region has {0} of cluster policy to act on. The most urgent:", "point"),
    "gaps_note": ("{0} could change this advice; they are listed under {1} at the end.", "unanswered question"),
    "priority_heading": ("{0} priority", None),
    "study": (
        "This advice applies rules drawn from {0}, written in our own words; each recommendation names the section"
        " of the study it rests on. It supports an official's judgement and does not replace local knowledge.",
        None,
    ),
}


# Words that more than one memo format prints, in one place; templates reach them as `phrases`
# (see docs/templates.md). Fixed strings are Markup: our own text, never region data.
PHRASES: _Table = _Table(
    {
        "headings": _Table(
            {
                "title": Markup("Cluster policy advice"),
                "summary": Markup("Summary"),
                "scorecard": Markup("Scorecard"),
                "patterns": Markup("Which case of the study this region resembles"),
                "situation": Markup("The situation in brief"),
                "recommendations": Markup("Recommendations"),
                "gaps": Markup("Information gaps"),
                "strengths": Markup("Strengths to keep"),
            }
        ),
        "labels": _Table(
            {
                "region": Markup("Region"),
                "advice": Markup("Advice found"),
                "rule_base": Markup("Rule base"),
                "why": Markup("Why"),
                "because": Markup("Because"),
                "applies": Markup("Why this applies"),
                "area": Markup("Area"),
                "source": Markup("Source"),
                "decides": Markup("Answering it would decide"),
            }
        ),
        "columns": tuple(Markup(c) for c in ("Area", "Score", "Followed", "To act on", "Undecided")),
        "sentences": _Table(
            {
                "no_advice": Markup("On the facts given, none of the rule base's recommendations applies to this region."),
                "scorecard": Markup(
                    "How much of each area's advice the region already follows, counting only advice its known facts"
                    " decide (100 = nothing left to do; weighted by priority)."
                ),
                "radar": Markup("An area with no decided advice shows n/a and is drawn at the centre."),
                "no_case": Markup(
                    "On the known facts the region matches none of the study's three detailed cases (Higashi Osaka's"
                    " entrepreneur-led projects, Hitachi-city's policy-supported alliance, Ota ward's skill-coordinating network)."
                ),
                "no_recommendation": Markup("No recommendation applies on the facts given."),
                "no_gaps": Markup("None: every fact the rule base reads is known or cannot change the advice."),
                "no_strengths": Markup("None recorded on the facts given."),
            }
        ),
        "advice_found": _advice_found,
        **{name: (_counted(pattern, word) if word else _sentence(pattern)) for name, (pattern, word) in _SENTENCES.items()},
    }
)


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


class _PhraseFolder(NodeTransformer):
    """Replace `phrases.<group>.<name>` by its text when the template is compiled.

    A phrase is fixed for the life of the process, so it can become template text: the shared
    words then cost nothing per memo (a lookup per use measured about 40% of a Markdown render),
    and a call of a phrase function is written out inline (Jinja2's context.call costs ~4 us a call;
    what cannot be inlined is called like a filter).
    Not done in a template that assigns a name `phrases` of its own.
    """

    def visit_Call(self, node: nodes.Call) -> nodes.Node:
        """Compile `phrases.f(x, ...)` as the filter `x | _phrase_f(...)`: a direct call, no context.call."""
        visited = self.generic_visit(node)
        assert isinstance(visited, nodes.Call)
        target = visited.node
        if (
            isinstance(target, nodes.Getattr)
            and isinstance(target.node, nodes.Name)
            and target.node.name == "phrases"
            and callable(PHRASES.get(target.attr))
            and visited.args
            and not (visited.kwargs or visited.dyn_args or visited.dyn_kwargs)
        ):
            inline = _inline_phrase(target.attr, visited.args, node.lineno)
            if inline is not None:
                return inline
            first, *rest = visited.args
            return nodes.Filter(first, _PHRASE_FILTER + target.attr, rest, [], None, None, lineno=node.lineno)
        return visited

    def visit_Getattr(self, node: nodes.Getattr) -> nodes.Node:
        """Fold a phrase lookup into a constant."""
        inner = node.node
        if isinstance(inner, nodes.Getattr) and isinstance(inner.node, nodes.Name) and inner.node.name == "phrases":
            group = PHRASES.get(inner.attr)
            value = group.get(node.attr) if isinstance(group, dict) else None
            if isinstance(value, str):
                # Our own words: markup-safe in HTML, plain text elsewhere, as at run time.
                return nodes.MarkSafeIfAutoescape(nodes.Const(str(value), lineno=node.lineno), lineno=node.lineno)
        return self.generic_visit(node)


def _text(value: str, lineno: int) -> nodes.Expr:
    """Our own words as a template constant: markup-safe in HTML, plain text elsewhere."""
    return nodes.MarkSafeIfAutoescape(nodes.Const(value, lineno=lineno), lineno=lineno)


def _counted_nodes(count: nodes.Expr, word: str, lineno: int) -> list[nodes.Expr]:
    """`count word` with an s unless the count is 1, as template nodes.

    The count's node appears twice; the compiler only reads nodes, and a count has no side effects.
    """
    plural = nodes.CondExpr(
        nodes.Compare(count, [nodes.Operand("eq", nodes.Const(1))], lineno=lineno),
        nodes.Const(""),
        nodes.Const("s"),
        lineno=lineno,
    )
    return [count, _text(" " + word, lineno), plural]


def _inline_phrase(name: str, args: list[nodes.Expr], lineno: int) -> nodes.Expr | None:
    """Write a call of a phrase function as one concatenation, or None when it cannot be."""
    pieces: list[nodes.Expr] = []
    if name == "advice_found" and len(args) == 2:
        total, counts = args
        pieces += [*_counted_nodes(total, "recommendation", lineno), _text(": ", lineno)]
        for index, priority in enumerate(PRIORITIES):
            item = nodes.Getitem(counts, nodes.Const(priority), "load", lineno=lineno)
            pieces += [item, _text(f" {priority}" + (", " if index < len(PRIORITIES) - 1 else ""), lineno)]
        return nodes.Concat(pieces, lineno=lineno)
    if name not in _SENTENCES:
        return None
    pattern, word = _SENTENCES[name]
    fields = [field for _, field, _, _ in string.Formatter().parse(pattern) if field is not None]
    if len(args) != len(fields):
        return None  # the function reports the wrong number of arguments at run time
    for literal, field, _, _ in string.Formatter().parse(pattern):
        if literal:
            pieces.append(_text(literal, lineno))
        if field is not None:
            arg = args[int(field)]
            pieces += _counted_nodes(arg, word, lineno) if word and field == "0" else [arg]
    return nodes.Concat(pieces, lineno=lineno)


def _fold_phrases(tree: nodes.Template) -> nodes.Template:
    if any(n.name == "phrases" and n.ctx != "load" for n in tree.find_all(nodes.Name)):
        return tree
    if any(n.target == "phrases" for n in tree.find_all(nodes.Import)):
        return tree
    if any("phrases" in (name if isinstance(name, str) else name[1]) for n in tree.find_all(nodes.FromImport) for name in n.names):
        return tree
    result = _PhraseFolder().visit(tree)
    assert isinstance(result, nodes.Template)
    return result


_PHRASE_FILTER = "_phrase_"  # the filters that stand in for calls of the phrase functions


class _ShippedEnvironment(jinja2.Environment):
    """The trusted environment: plain Jinja2 with the phrases folded in at compile time."""

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        return _fold_phrases(super()._parse(source, name, filename))


class _OfficeSandbox(ImmutableSandboxedEnvironment):
    """Jinja2's sandbox with bounds on time, loop steps and the size of every value and of the memo."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})
    budgeted = staticmethod(_budgeted)
    check_size = staticmethod(_check_size)

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = _fold_phrases(super()._parse(source, name, filename))
        result = _BudgetTransformer().visit(tree)
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
    filters = {"wrap": _wrap, "md": escape_markdown}
    env.filters.update(filters)
    env.globals["phrases"] = PHRASES
    env.filters.update({_PHRASE_FILTER + name: value for name, value in PHRASES.items() if callable(value)})
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


@functools.cache
def _shipped_environment() -> jinja2.Environment:
    """The trusted environment for the templates that ship with the tool: no sandbox, compiled once."""
    loader = _TemplateLoader(data_dir("templates"), None)
    return _configure(_ShippedEnvironment(loader=loader, auto_reload=False, **_OPTIONS), guard=False)


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
        raise TemplateError(f"format {fmt!r} is not one of {', '.join(FORMATS)}.")
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


def render(verdict: Verdict, fmt: str = "md", templates_dir: str | Path | None = None) -> str:
    """Render a verdict as a memo in `fmt` (md, html, txt or json)."""
    if fmt not in FORMATS:
        raise TemplateError(f"format {fmt!r} is not one of {', '.join(FORMATS)}.")
    if fmt == "json":
        return json.dumps(verdict.to_dict(), indent=2, ensure_ascii=False) + "\n"
    folder = _folder(templates_dir)
    template = _load(fmt, folder)
    try:
        if folder is None:
            return template.render(memo_context(verdict))
        return _render_bounded(template, memo_context(verdict))
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
