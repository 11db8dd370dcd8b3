"""YAML reading shared by the vocabulary, the rule base and region files (safe loaders only).

Region files are read by `load_documents`, which builds plain data from libyaml's events itself and
accepts only what a region file needs: mappings, lists, text, plain decimal numbers, true/false and
null. Every other YAML form (tags, anchors and aliases, dates, octal, hexadecimal and base-60
numbers, merge keys) is refused with its line and the reason, never turned into a Python exception.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.events import (
    DocumentEndEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)

from .records import record
from .safetext import escape

# libyaml's C parser is ~9x faster than the pure-Python one; both construct with SafeConstructor.
_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
try:  # the C parser's events cost a fraction of PyYAML's Python constructor
    from yaml._yaml import CParser as _Parser
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    _Parser = yaml.BaseLoader  # type: ignore[assignment,misc]

MAX_DEPTH = 20
"""Deepest nesting of mappings and lists in a region file (a region needs 3: region, group, list)."""
MAX_ITEMS = 1_000
"""Most items in one list, or keys in one mapping (no field allows more than a few dozen)."""
MAX_DIGITS = 18
"""Most digits in a whole number (any count a region can hold has far fewer)."""
MAX_PROBLEMS = 20
"""Problems reported per document before the rest are summed up in one line."""


class SafeLoader(_Base):  # type: ignore[valid-type,misc]
    """Safe loader that refuses a key given twice in one mapping (PyYAML keeps the last silently)."""

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Any, Any]:
        # A `!!set` or `!!omap` tag puts a non-mapping node here: let PyYAML report it as a YAML error.
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
                if key is not None and key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f'the key "{key}" appears twice in one mapping', key_node.start_mark
                    )
                seen.add(key)
        return super().construct_mapping(node, deep=deep)  # type: ignore[no-any-return]


def error_line(err: yaml.YAMLError) -> int | None:
    """Return the 1-based line a YAML error points at, if it says."""
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    return None if mark is None else int(mark.line) + 1


def describe_yaml_error(err: yaml.YAMLError) -> str:
    """Return a one-line description of a YAML syntax error without the file excerpt."""
    problem = getattr(err, "problem", None)
    context = getattr(err, "context", None)
    parts = [p for p in (context, problem) if p]
    return ", ".join(parts) if parts else str(err).splitlines()[0]


def load_all(text: str) -> Iterator[Any]:
    """Parse the YAML documents of `text` one at a time with the safe loader (lazily: the documents
    before a syntax error are still yielded)."""
    yield from yaml.load_all(text, Loader=SafeLoader)


def load_one(text: str) -> Any:
    """Parse a single YAML document with the safe loader."""
    return yaml.load(text, Loader=SafeLoader)


def key_lines(text: str) -> list[dict[str, int]]:
    """Map, per document, every dotted key path (and list item path) to its 1-based line.

    Used only when reporting an error in a rule file, so the fast path never pays for it.
    """
    result: list[dict[str, int]] = []
    try:
        documents = list(yaml.compose_all(text, Loader=SafeLoader))
    except yaml.YAMLError:
        return result
    for node in documents:
        lines: dict[str, int] = {}
        if node is not None:
            _walk(node, lines)
        result.append(lines)
    return result


def _walk(root: yaml.Node, lines: dict[str, int]) -> None:
    # An explicit stack, not recursion: a deeply nested file must not raise RecursionError, and the
    # `done` set stops a recursive alias (`&a [*a]`) from being walked for ever.
    stack: list[tuple[yaml.Node, str]] = [(root, "")]
    done: set[int] = set()
    while stack:
        node, prefix = stack.pop()
        lines.setdefault(prefix, node.start_mark.line + 1)
        if id(node) in done:
            continue
        done.add(id(node))
        children: list[tuple[yaml.Node, str]] = []
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                path = f"{prefix}.{key_node.value}" if prefix else str(key_node.value)
                lines.setdefault(path, key_node.start_mark.line + 1)
                children.append((value_node, path))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                path = f"{prefix}[{index}]"
                lines.setdefault(path, item.start_mark.line + 1)
                children.append((item, path))
        stack.extend(reversed(children))


# --- region files: plain data straight from libyaml's events ---


@dataclass(frozen=True)
class Problem:
    """Something in a document that a region file may not hold, with its 1-based line."""

    line: int
    path: str
    message: str


@record
class Document:
    """One YAML document as plain data, the line of every key path, and what was refused in it.

    `data` is meant to be used only when `problems` is empty: a refused value stands in it as a
    placeholder, so that the rest of the document can still be checked for problems.
    """

    data: Any
    lines: dict[str, int]
    problems: tuple[Problem, ...]
    line: int


class StreamError(Exception):
    """Raised when the text cannot be read as YAML at all from `line` on (syntax, forbidden character)."""

    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


# YAML forbids these anywhere in a file (libyaml says so without a line); line and paragraph
# separators and NEL would make libyaml count lines differently from an editor; bidi controls can
# make a file show something else than what it holds.
_RAW_FORBIDDEN = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufffe\uffff]"
)
_LINE_BREAK = re.compile(r"\r\n?|\n")

_STR = "tag:yaml.org,2002:str"
# PyYAML's own YAML 1.1 rules (the ones yaml.safe_load applies), keyed by first character: what
# each plain word means, then the patterns left once the words are taken out (numbers, dates, <<, =).
_WORDS: dict[str, Any] = {
    **{w: True for word in ("yes", "true", "on") for w in (word, word.title(), word.upper())},
    **{w: False for word in ("no", "false", "off") for w in (word, word.title(), word.upper())},
    **dict.fromkeys(("", "~", "null", "Null", "NULL")),
}
_PATTERNS: dict[str, list[tuple[str, Callable[[str], Any]]]] = {
    first: patterns
    for first, resolvers in yaml.resolver.Resolver.yaml_implicit_resolvers.items()
    if (patterns := [(tag.rsplit(":", 1)[1], pattern.match) for tag, pattern in resolvers if not tag.endswith((":bool", ":null"))])
}
_DECIMAL = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
_DECIMAL_FLOAT = re.compile(r"[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+][0-9]+)?")
_NOKEY: Any = object()  # a mapping waiting for its next key
_SKIP: Any = object()  # a mapping whose next value is dropped (its key was refused)
_REFUSED: Any = object()  # stands for a refused value inside a document that is refused anyway


def load_documents(text: str) -> Iterator[Document]:
    """Yield each YAML document of `text` as plain data; raise StreamError where it stops being YAML.

    Documents are built one at a time, so a file of many documents is never held as objects at once,
    and the documents before a syntax error are still yielded.
    """
    bad = _RAW_FORBIDDEN.search(text)
    if bad:
        line = len(_LINE_BREAK.findall(text, 0, bad.start())) + 1
        column = bad.start() - max(text.rfind("\n", 0, bad.start()), text.rfind("\r", 0, bad.start()))
        raise StreamError(
            line,
            f"holds the invisible control character {escape(bad.group())} (column {column}), which a region file "
            "cannot contain. Remove it.",
        )
    parser = _Parser(text)
    try:
        get: Callable[[], Any] = parser.get_event
        get()  # the stream start
        while True:
            event = get()
            if type(event) is StreamEndEvent:
                return
            yield _Builder(get).build(event.start_mark.line + 1)
    except yaml.YAMLError as err:
        raise StreamError(error_line(err), f"not valid YAML: {describe_yaml_error(err)}.") from None
    finally:
        parser.dispose()


class _Builder:
    """Turns the events of one document into plain data, iteratively (no recursion at any depth)."""

    def __init__(self, get: Callable[[], Any]) -> None:
        self.get = get
        self.lines: dict[str, int] = {}
        self.problems: list[Problem] = []
        self.kinds: set[str] = set()  # problems reported once per document
        self.dotted: list[tuple[str, int]] = []

    def refuse(self, line: int, path: str, message: str, kind: str = "") -> None:
        if kind:
            if kind in self.kinds:
                return
            self.kinds.add(kind)
        self.problems.append(Problem(line, path, message))

    def build(self, start_line: int) -> Document:
        get = self.get
        lines = self.lines
        # A frame: [container, its path, the pending key (or _NOKEY/_SKIP), the pending key's path].
        stack: list[list[Any]] = []
        root: Any = None
        event = get()
        while True:
            cls = type(event)
            if cls is ScalarEvent and stack and event.tag is None and event.anchor is None:
                # Most events: an untagged scalar inside a collection, built here; the rest below.
                frame = stack[-1]
                container = frame[0]
                pending = frame[2]
                value = event.value
                implicit = event.implicit[0]
                if pending is not _SKIP and len(container) < MAX_ITEMS and not (implicit and value[:1] in _PATTERNS and value not in _WORDS):
                    if implicit and value in _WORDS:
                        value = _WORDS[value]
                    if type(container) is list:
                        path = f"{frame[1]}[{len(container)}]"
                        if path not in lines:
                            lines[path] = event.start_mark.line + 1
                        container.append(value)
                    elif pending is not _NOKEY:
                        container[pending] = value
                        frame[2] = _NOKEY
                    elif type(value) is str and value not in container and "." not in value:
                        path = f"{frame[1]}.{value}" if frame[1] else value
                        if path not in lines:
                            lines[path] = event.start_mark.line + 1
                        frame[2] = value
                        frame[3] = path
                    else:
                        self._key(frame, value, event.start_mark.line + 1)
                    event = get()
                    continue
            if cls is DocumentEndEvent:
                break
            line = event.start_mark.line + 1
            if cls is MappingEndEvent or cls is SequenceEndEvent:
                value = stack.pop()[0]
            else:
                # Where the new node goes: the path it will have, or a key of a mapping.
                is_key = False
                if not stack:
                    path = ""
                    lines[""] = line
                else:
                    frame = stack[-1]
                    if frame[2] is _SKIP:
                        self._skip_node(event)
                        frame[2] = _NOKEY
                        event = get()
                        continue
                    container = frame[0]
                    if len(container) >= MAX_ITEMS:
                        event = self._drop_rest(event, frame, line)
                        continue
                    if type(container) is list:
                        path = f"{frame[1]}[{len(container)}]"
                        lines.setdefault(path, line)
                    elif frame[2] is _NOKEY:
                        is_key = True
                        path = frame[1]
                    else:
                        path = frame[3]
                if cls is ScalarEvent:
                    value = event.value
                    if event.tag is not None or event.anchor is not None:
                        value = self._tagged(event, path, line)
                    elif event.implicit[0]:  # plain (not quoted): YAML 1.1 may read it as another type
                        if value in _WORDS:
                            value = _WORDS[value]
                        elif value[:1] in _PATTERNS:
                            value = self._typed(value, path, line)
                elif cls is MappingStartEvent or cls is SequenceStartEvent:
                    if is_key:
                        self.refuse(line, path, "a key must be a single word, not a list or a mapping.")
                        self._skip_node(event)
                        stack[-1][2] = _SKIP
                        event = get()
                        continue
                    if not self._collection_ok(event, path, line, len(stack)):
                        self._skip_node(event)
                        value = _REFUSED
                    else:
                        stack.append([{} if cls is MappingStartEvent else [], path, _NOKEY, ""])
                        event = get()
                        continue
                else:  # an alias
                    self.refuse(line, path, self._anchor_message(f"the alias *{event.anchor}"), "anchor")
                    if is_key:
                        stack[-1][2] = _SKIP
                        event = get()
                        continue
                    value = _REFUSED
                if is_key:
                    self._key(stack[-1], value, line)
                    event = get()
                    continue
            # Attach the finished value to its parent.
            if not stack:
                root = value
            else:
                frame = stack[-1]
                if type(frame[0]) is list:
                    frame[0].append(value)
                else:
                    frame[0][frame[2]] = value
                    frame[2] = _NOKEY
            event = get()
        for path, line in self.dotted:
            self._dotted(path, line)
        problems = sorted(self.problems, key=lambda p: p.line)
        if len(problems) > MAX_PROBLEMS:
            rest = len(problems) - MAX_PROBLEMS
            problems = [*problems[:MAX_PROBLEMS], Problem(problems[MAX_PROBLEMS].line, "", f"and {rest} more problems like these.")]
        return Document(root, lines, tuple(problems), start_line)

    def _key(self, frame: list[Any], key: Any, line: int) -> None:
        if key is _REFUSED:
            frame[2] = _SKIP
            return
        text = str(key)
        path = f"{frame[1]}.{text}" if frame[1] else text
        if key in frame[0]:
            first = self.lines.get(path)
            where = f" (first on line {first})" if first else ""
            self.refuse(line, path, f"appears twice in one mapping{where}; keep one.")
            frame[2] = _SKIP
            return
        if "." in text:
            self.dotted.append((path, line))
            frame[2] = _SKIP
            return
        self.lines.setdefault(path, line)
        frame[2] = key
        frame[3] = path

    def _dotted(self, path: str, line: int) -> None:
        *groups, leaf = path.split(".")
        nested = self.lines.get(path)
        nest = f'write "{groups[-1] if groups else ""}:" and, indented on the next line, "{leaf}: ..."'
        if nested is not None:
            self.refuse(
                line, path,
                f'is given twice: as the dotted key "{path}" on line {line} and nested on line {nested}; keep the nested one.',
            )
        else:
            self.refuse(line, path, f"a key cannot contain a dot; {nest}.")

    def _tagged(self, event: Any, path: str, line: int) -> Any:
        if event.anchor is not None:
            self.refuse(line, path, self._anchor_message(f"the anchor &{event.anchor}"), "anchor")
        tag = event.tag
        value: str = event.value
        if tag is None:  # an anchor alone: read the value as if it had none
            if not event.implicit[0]:  # quoted, or a block scalar: text as written
                return value
            if value in _WORDS:
                return _WORDS[value]
            return self._typed(value, path, line) if value[:1] in _PATTERNS else value
        if tag != _STR:
            # Even the non-specific "!": libyaml and PyYAML's own parser disagree on what it means.
            self.refuse(line, path, self._tag_message(tag))
            return _REFUSED
        return value

    def _typed(self, value: str, path: str, line: int) -> Any:
        kind = next((kind for kind, match in _PATTERNS[value[:1]] if match(value)), "str")
        if kind == "str":
            return value
        if kind == "int":
            if _DECIMAL.fullmatch(value):
                digits = len(value.lstrip("+-"))
                if digits <= MAX_DIGITS:
                    return int(value)
                self.refuse(line, path, f"{_show(value)} has {digits:,} digits; a whole number in a region file has at most {MAX_DIGITS}.")
            else:
                self.refuse(line, path, _number_message(value, _show(value)))
            return _REFUSED
        if kind == "float" and _DECIMAL_FLOAT.fullmatch(value):
            return float(value)
        shown = _show(value)
        if kind == "float":
            self.refuse(line, path, f'{shown} is a special YAML 1.1 number that no field takes; put it in quotes if it is text ("{shown}").')
        elif kind == "timestamp":
            self.refuse(line, path, f'{shown} would be read as a date, which no field takes; put it in quotes if it is text ("{shown}").')
        elif kind == "merge":
            self.refuse(line, path, "<< (a YAML merge key) is not used in region files; write the fields out.")
        else:  # "value" (=) and any resolver a later PyYAML may add
            self.refuse(line, path, f'{shown} has a special meaning in YAML 1.1; put it in quotes if it is text ("{shown}").')
        return _REFUSED

    def _collection_ok(self, event: Any, path: str, line: int, depth: int) -> bool:
        ok = True
        if event.anchor is not None:
            self.refuse(line, path, self._anchor_message(f"the anchor &{event.anchor}"), "anchor")
        if event.tag is not None:
            self.refuse(line, path, self._tag_message(event.tag))
            ok = False
        if depth >= MAX_DEPTH:
            self.refuse(line, path, f"is nested more than {MAX_DEPTH} levels deep; a region file needs 3 at most.", "depth")
            ok = False
        return ok

    def _drop_rest(self, event: Any, frame: list[Any], line: int) -> Any:
        """Refuse the rest of an over-long list or mapping unbuilt; return the event that ends it."""
        what = "items" if type(frame[0]) is list else "keys"
        self.refuse(line, frame[1], f"holds more than {MAX_ITEMS:,} {what}; no field takes that many.")
        self._skip_node(event)
        depth = 1
        while True:
            event = self.get()
            cls = type(event)
            if cls is MappingStartEvent or cls is SequenceStartEvent:
                depth += 1
            elif cls is MappingEndEvent or cls is SequenceEndEvent:
                depth -= 1
                if depth == 0:
                    return event

    def _skip_node(self, event: Any) -> None:
        """Consume the rest of the node that `event` starts (nothing more for a scalar or an alias)."""
        cls = type(event)
        if cls is not MappingStartEvent and cls is not SequenceStartEvent:
            return
        depth = 1
        get = self.get
        while depth:
            cls = type(get())
            if cls is MappingStartEvent or cls is SequenceStartEvent:
                depth += 1
            elif cls is MappingEndEvent or cls is SequenceEndEvent:
                depth -= 1

    @staticmethod
    def _anchor_message(marker: str) -> str:
        return f"uses {_show(marker)}; anchors (&name) and aliases (*name) are not used in region files; write each value out in full."

    @staticmethod
    def _tag_message(tag: str) -> str:
        short = "!!" + tag[len("tag:yaml.org,2002:"):] if tag.startswith("tag:yaml.org,2002:") else tag
        return f'the tag {_show(short)} is not used in region files; remove it (write numbers as plain digits, text in quotes if needed).'


# ---------------------------------------------------------------- a top-level text, read without parsing

# Files written in a line-by-line subset of YAML: every line is blank, a comment, `key:` with an optional
# value, or `- value`, where a value is a plain scalar on one line (no quotes, no |, no >, no : and no #
# in it) or a flow sequence closed on its own line; a comment may follow after a space. Nothing in such a
# file spans lines but a plain value, which goes on over the indented lines after it; so a line
# `key: value` at column 0, followed by blank lines at most before the next line at column 0, is a
# key of the root mapping and holds that value (when the file is YAML at all). batch reads the region name of respondents' files this way.
_SAFE = r"[^\s#:\x00-\x1f\x7f-\x9f\ufeff]"
_PLAIN = rf"(?>[^\s#:\x00-\x1f\x7f-\x9f\ufeff\-?,\[\]{{}}&*!|>'\"%@`](?:[ ]*+{_SAFE})*+)"
_VALUE = rf"(?:{_PLAIN}|\[[^\n\[\]{{}}#'\"]*\])"
_COMMENT = r"(?:[ ]+#[^\n]*)?"
_LINE = rf"[ ]*+(?:#[^\n]*|(?:[A-Za-z_][A-Za-z0-9_]*:(?:[ ]+{_VALUE})?|-[ ]+{_VALUE}){_COMMENT}[ ]*)?"
_SIMPLE = re.compile(rf"(?:{_LINE}\n)*+{_LINE}")


def top_level_text(text: str, key: str) -> str | None:
    """The text value of the root mapping's `key`, read from the text alone; None when not sure.

    Given only when the whole file is in the line-by-line subset above, `key` is on exactly one line
    at column 0, and its value is a plain scalar that YAML 1.1 reads as text. Whenever the file loads
    (load_documents) as one document without problems, that document's `key` is then this very text.
    It costs a regular-expression match, a tenth of a parse; use it where a guess must be exact.
    """
    # The next line that is not blank starts at column 0: an indented one could continue the value.
    lines = re.findall(rf"^{re.escape(key)}:[ ]+({_PLAIN}){_COMMENT}[ ]*(?=(?:\n[ ]*)*(?:\n[^ \n]|\Z))", text, re.MULTILINE)
    if len(lines) != 1 or not _SIMPLE.fullmatch(text):
        return None
    value: str = lines[0]
    if value in _WORDS or value[:1] in _PATTERNS:
        return None  # YAML 1.1 may read it as a boolean, a null, a number or a date: parsing decides
    return value


def _show(text: str) -> str:
    text = escape(text[:80])
    return text if len(text) <= 60 else text[:57] + "..."


def _number_message(value: str, shown: str) -> str:
    body = value.lstrip("+-")
    if "_" in body:
        return f"{shown}: YAML 1.1 reads _ in a number as a separator; write the digits alone (or put it in quotes if it is text)."
    if ":" in body:
        reading = _base60(value)
        return f'{shown} would be read by YAML 1.1 as the base-60 number {reading}; put it in quotes if it is text ("{shown}").'
    if body.startswith("0b"):
        return f"{shown} would be read by YAML 1.1 as the binary number {_based(value, 2)}; write it in decimal digits."
    if body.startswith("0x"):
        return f"{shown} would be read by YAML 1.1 as the hexadecimal number {_based(value, 16)}; write it in decimal digits."
    plain = body.lstrip("0") or "0"
    return (
        f"{shown} would be read by YAML 1.1 as the octal number {_based(value, 8)} (a leading 0 means octal); "
        f'write {plain}, or "{shown}" in quotes if it is text.'
    )


def _based(value: str, base: int) -> str:
    sign = -1 if value.startswith("-") else 1
    body = value.lstrip("+-")
    digits = body[2:] if base != 8 else body
    if len(digits) > 60:
        return "(a huge number)"
    return str(sign * int(digits or "0", base))


def _base60(value: str) -> str:
    sign = -1 if value.startswith("-") else 1
    parts = value.lstrip("+-").split(":")
    if len(parts) > 10 or any(len(p) > 20 for p in parts):
        return "(a huge number)"
    total = 0
    for part in parts:
        total = total * 60 + int(part)
    return str(sign * total)
