"""Reading and validating region files: the only place region YAML is parsed."""

from __future__ import annotations

import difflib
import json
import os
import stat
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO

import yaml

from .errors import RegionError
from .migrate import Migration, migrate_facts, rewrite_v1_text
from .records import record
from .safetext import FORBIDDEN_IN_TEXT, display_path, escape
from .vocabulary import PANEL, TEXT_MAX, UNKNOWN, Field, Vocabulary, canonical_industries, load_vocabulary, load_vocabulary_v1
from .yamlio import StreamError, load_documents

if TYPE_CHECKING:
    from .panel import PanelFindings

MAX_TEXT = TEXT_MAX
MAX_FILE_BYTES = 5_000_000
"""Largest region file (or stdin) read, in bytes: 5 MB holds thousands of regions."""
_SIZE = f"{MAX_FILE_BYTES:,} ({MAX_FILE_BYTES / 1_000_000:g} MB)"
MAX_REGIONS = 10_000
"""Most regions (YAML documents) in one file; split larger collections into several files."""
_CONTROL = FORBIDDEN_IN_TEXT


@record
class Region:
    """One validated region: the known facts by dotted path (unknown fields are absent)."""

    name: str
    facts: Mapping[str, Any]
    source: str = "<memory>"
    document: int = 1
    migration: Migration | None = None  # set when the file was written for format version 1
    panel: PanelFindings | None = None  # set on a panel's combined region (panel.combine)

    def get(self, path: str) -> Any:
        """Return the fact at `path`, or None when it is unknown."""
        return self.facts.get(path)


@dataclass(frozen=True)
class _Problem:
    path: str
    message: str


@dataclass
class _Checker:
    vocabulary: Vocabulary
    problems: list[_Problem] = field(default_factory=list)

    def fail(self, path: str, message: str) -> None:
        self.problems.append(_Problem(path, message))


def show(value: Any) -> str:
    """Render a value from a region file as the user would recognise it in an error."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        # Cut first: a 5 MB value must not be quoted and escaped whole to show 60 characters of it.
        text = json.dumps(value[:80], ensure_ascii=False)
        if len(value) > 80:
            text = text[:-1] + '..."'
    elif value is None:
        text = "null"
    elif isinstance(value, (int, float)):
        text = repr(value)
    elif isinstance(value, dict):
        text = "a mapping"
    elif isinstance(value, list):
        text = "a list"
    else:
        text = type(value).__name__
    text = escape(text)
    return text if len(text) <= 60 else text[:57] + "..."


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "a number"
    if isinstance(value, float):
        return "a decimal number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


def _suggest(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f' Did you mean "{close[0]}"?' if close else ""


def _check_leaf(checker: _Checker, f: Field, value: Any) -> Any:
    """Return the validated value, or None after recording a problem."""
    path = f.path
    if f.type == "text":
        if not isinstance(value, str):
            checker.fail(path, f"{show(value)} is {_kind(value)}, expected text. Put it in quotes.")
            return None
        text = value.strip()
        if not text:
            checker.fail(path, 'is empty. Give a value or leave the field out.')
        elif len(value) > MAX_TEXT:
            checker.fail(path, f"is {len(value)} characters long; at most {MAX_TEXT} are allowed.")
        elif _CONTROL.search(value):
            checker.fail(path, f"{show(value)} contains a line break or control character; use one line.")
        else:
            return text
        return None
    if f.type == "integer":
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # 6000.0 is the whole number 6000, as JSON Schema reads it too
        if isinstance(value, bool) or not isinstance(value, int):
            hint = " Write digits without quotes or separators, e.g. 6000." if isinstance(value, (str, float)) else ""
            checker.fail(path, f"{show(value)} is {_kind(value)}, expected a whole number.{hint}")
            return None
        if (f.minimum is not None and value < f.minimum) or (f.maximum is not None and value > f.maximum):
            bounds = f"from {f.minimum}" + (f" to {f.maximum}" if f.maximum is not None else " upwards")
            checker.fail(path, f"{value} is out of range; allowed: whole numbers {bounds}.")
            return None
        return value
    if f.type == "boolean":
        if not isinstance(value, bool):
            checker.fail(path, f"{show(value)} is {_kind(value)}, expected true, false or unknown.")
            return None
        return value
    if f.type == "choice":
        return _check_choice(checker, f, path, value)
    # choices / words: a list of distinct items
    if not isinstance(value, list):
        example = f.allowed[0] if f.allowed else (f.suggestions[0] if f.suggestions else "word")
        checker.fail(path, f"{show(value)} is {_kind(value)}, expected a list such as [{example}] ([] for none).")
        return None
    if f.max_items is not None and len(value) > f.max_items:
        checker.fail(path, f"has {len(value)} items; at most {f.max_items} are allowed.")
        return None
    items: list[str] = []
    valid = True
    choices = f.type == "choices"
    allowed = f.allowed if choices else ()
    for index, item in enumerate(value):
        checked: str | None
        if choices:
            checked = item if type(item) is str and item in allowed else _check_choice(checker, f, f"{path}[{index}]", item)
        elif isinstance(item, str) and f.word_pattern.fullmatch(item):
            checked = item
        else:
            checker.fail(f"{path}[{index}]", f"{show(item)} is not a lower-case word (letters, digits, underscores), e.g. textile.")
            checked = None
        if checked is None:
            valid = False
        elif checked not in items:
            items.append(checked)
    return items if valid else None


def _check_choice(checker: _Checker, f: Field, path: str, value: Any) -> str | None:
    if isinstance(value, str) and value in f.allowed:
        return value
    allowed = list(f.allowed)
    hint = ""
    if isinstance(value, bool):
        hint = " YAML reads unquoted yes/no/on/off as true/false."
    elif isinstance(value, str):
        hint = _suggest(value, allowed)
    checker.fail(path, f"{show(value)} is not one of {', '.join(allowed)} (or unknown).{hint}")
    return None


def _is_unknown(value: Any) -> bool:
    return value is None or value == UNKNOWN


def validate(data: Any, vocabulary: Vocabulary | None = None) -> tuple[dict[str, Any], list[_Problem]]:
    """Check one parsed document against the vocabulary; return known facts and problems."""
    vocab = vocabulary or load_vocabulary()
    checker = _Checker(vocab)
    facts: dict[str, Any] = {}
    if not isinstance(data, dict):
        checker.fail("", f"the document is {_kind(data)}, not a mapping of fields. Start it with a line like `name: Ota ward`.")
        return facts, checker.problems
    groups = vocab.groups
    for key, value in data.items():
        key_text = str(key)
        if key_text == PANEL:
            checker.fail(key_text, "is computed when several respondents' files are combined as a panel; a region file may not contain it. Remove it.")
        elif "." in key_text:
            group = key_text.split(".", 1)[0]
            hint = f" Write it nested: `{group}:` then `{key_text.split('.', 1)[1]}:` indented below." if group in groups else ""
            checker.fail(key_text, f"is not a known field: a key may not contain a dot.{hint}")
        elif key_text in groups:
            _check_group(checker, vocab, key_text, value, facts)
        elif key_text in vocab.fields:
            if not _is_unknown(value) or vocab.fields[key_text].required:
                checked = None if _is_unknown(value) else _check_leaf(checker, vocab.fields[key_text], value)
                if checked is not None:
                    facts[key_text] = checked
        else:
            options = [f.path for f in vocab.file_fields if "." not in f.path] + list(groups)
            checker.fail(key_text, f"is not a known field.{_suggest(key_text, options)} Allowed: {', '.join(options)}.")
    if "name" not in facts and not any(p.path == "name" for p in checker.problems):
        where = "name" if "name" in data else ""
        checker.fail(where, "the region has no name; `name:` is required (e.g. name: Ota ward).")
    return facts, checker.problems


def check_document(data: Any) -> tuple[dict[str, Any], list[_Problem], Migration | None]:
    """Validate one parsed document as format version 2, or as version 1 and migrate it.

    `schema_version: 2` is read as v2 and `schema_version: 1` as v1. Without a version, a file valid
    under the v1 vocabulary is read as v1 (for a file valid under both, the readings coincide), and
    otherwise as v2; when it is valid under neither, the problems of the version with fewer are reported.
    """
    version = data.get("schema_version") if isinstance(data, dict) else None
    if version == 2 or (isinstance(data, dict) and "schema_version" in data and version != 1):
        facts, problems = validate(data)
        return _normalise(facts), problems, None
    v1_facts, v1_problems = validate(data, load_vocabulary_v1())
    if not v1_problems:
        facts, migration = migrate_facts(v1_facts)
        if version is None and not any(c.new != ((c.field, c.old),) for c in migration.changes) and not migration.unknown:
            return _normalise(facts), [], None  # nothing in it differs between the versions
        return _normalise(facts), [], migration
    if version == 1:
        return v1_facts, v1_problems, None
    facts, problems = validate(data)
    if problems and _closer_to_v1(v1_problems, problems):
        return v1_facts, v1_problems, None
    return _normalise(facts), problems, None


def _closer_to_v1(v1_problems: list[_Problem], v2_problems: list[_Problem]) -> bool:
    """Whether an unversioned file that is valid under neither vocabulary reads more like a v1 file.

    Fewer problems decide; on a tie, fewer unknown fields; on a further tie, a v2 complaint that a
    value should be a list (the shape v1 used for district_type and network.form) points to v1.
    """

    def unknown(problems: list[_Problem]) -> int:
        return sum("is not a known field" in p.message for p in problems)

    one, two = (len(v1_problems), unknown(v1_problems)), (len(v2_problems), unknown(v2_problems))
    if one != two:
        return one < two
    return any("expected a list" in p.message for p in v2_problems)


def _normalise(facts: dict[str, Any]) -> dict[str, Any]:
    """Canonicalise industry words through the synonym list (industries.yaml)."""
    if "industries" in facts:
        facts["industries"] = canonical_industries(facts["industries"])
    facts["schema_version"] = 2
    return facts


def _check_group(checker: _Checker, vocab: Vocabulary, group: str, value: Any, facts: dict[str, Any]) -> None:
    members = vocab.members[group]
    if _is_unknown(value):
        return
    if not isinstance(value, dict):
        checker.fail(group, f"{show(value)} is {_kind(value)}, expected a mapping of {', '.join(members)}.")
        return
    fields = vocab.member_fields[group]
    for key, item in value.items():
        f = fields.get(key)
        if f is None:
            checker.fail(f"{group}.{key}", f"is not a known field.{_suggest(str(key), members)} Allowed under {group}: {', '.join(members)}.")
            continue
        if _is_unknown(item):
            continue
        checked = _check_leaf(checker, f, item)
        if checked is not None:
            facts[f.path] = checked


def _located(shown: str, line: int | None, path: str, message: str) -> str:
    """Return `FILE:LINE: path: message`, every invisible character escaped."""
    where = f"{shown}:{line}" if line else shown
    return escape(f"{where}: {path}: {message}" if path else f"{where}: {message}")


def _format(problems: list[_Problem], source: str, lines: Mapping[str, int] | None = None, start_line: int | None = None) -> list[str]:
    lines = lines or {}
    shown = display_path(source)
    return [
        _located(shown, lines.get(p.path) or lines.get(p.path.split("[")[0]) or lines.get("") or start_line, p.path, p.message)
        for p in problems
    ]


def parse_regions(text: str, source: str, vocabulary: Vocabulary | None = None) -> Iterator[Region | RegionError]:
    """Yield each region document of `text`, or a RegionError for each one that is invalid.

    Documents are read one at a time. A YAML syntax error ends the file: the documents before it
    are still yielded. A file of more than MAX_REGIONS documents ends with an error after them.
    """
    shown = display_path(source)
    count = 0
    seen = 0
    try:
        for document in load_documents(text):
            count += 1
            if count > MAX_REGIONS:
                yield RegionError(
                    f"{shown}:{document.line}: holds more than {MAX_REGIONS:,} regions; a file may hold at most "
                    f"{MAX_REGIONS:,}. Split it into several files."
                )
                return
            if document.problems:  # forms a region file never holds: the validator need not look
                seen += 1
                yield RegionError([_located(shown, p.line, p.path, p.message) for p in document.problems])
                continue
            if document.data is None:
                continue
            seen += 1
            facts, problems, migration = check_document(document.data)
            if problems:
                yield RegionError(_format(problems, source, document.lines, document.line))
            else:
                yield Region(name=facts["name"], facts=facts, source=source, document=seen, migration=migration)
    except StreamError as err:
        line = err.line
        if line is not None:
            # libyaml points past the last newline when the file ends mid-structure.
            line = max(1, min(line, text.count("\n") + (not text.endswith("\n"))))
        yield RegionError(_located(shown, line, "", err.message))
        return
    if seen == 0:
        yield RegionError(f"{shown}: holds no region (the file is empty). Add at least `name: ...`.")


def read_text(path: str) -> str:
    """Read a region file as UTF-8 text, turning OS and encoding errors into RegionError.

    Only a regular file (a symbolic link is followed) of at most MAX_FILE_BYTES is read, so a device,
    a named pipe or a huge file is refused at once instead of hanging or filling the memory.
    """
    shown = display_path(path)
    try:
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            raise RegionError(f"{shown}: is a folder; give a region file (.yaml).")
        check_regular(info.st_mode, shown)
        _check_size(info.st_size, shown)
        # O_NONBLOCK: if the path was swapped for a named pipe since the stat, opening must not wait.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        with os.fdopen(descriptor, "rb") as handle:
            check_regular(os.fstat(handle.fileno()).st_mode, shown)
            data = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise RegionError(f"{shown}: no such file.") from None
    except IsADirectoryError:
        raise RegionError(f"{shown}: is a folder; give a region file (.yaml).") from None
    except OSError as err:
        raise RegionError(f"{shown}: cannot be read ({err.strerror}).") from None
    except ValueError:  # a NUL byte in the name: no file can have it
        raise RegionError(f"{shown}: no such file (the name holds a NUL character).") from None
    return decode_text(data, path)


def read_stream(stream: BinaryIO, source: str = "<stdin>") -> str:
    """Read region text from a binary stream (stdin), at most MAX_FILE_BYTES of it."""
    try:
        data = stream.read(MAX_FILE_BYTES + 1)
    except OSError as err:
        raise RegionError(f"{display_path(source)}: cannot be read ({err.strerror}).") from None
    return decode_text(data, source)


def decode_text(data: bytes, source: str) -> str:
    """Return region file bytes as text, refusing more than MAX_FILE_BYTES and bytes that are not UTF-8."""
    shown = display_path(source)
    if len(data) > MAX_FILE_BYTES:
        raise RegionError(
            f"{shown}: holds more than {MAX_FILE_BYTES:,} bytes; a region file may hold at most {_SIZE}. "
            "Split it into several files."
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        # Same wording as before this reader (tests/test_batch.py pins it); the byte offset locates it.
        raise RegionError(f"{shown}: is not UTF-8 text (byte {err.start}). Save it as UTF-8.") from None


_KINDS = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def check_regular(mode: int, shown: str) -> None:
    """Refuse anything but a regular file (a FIFO would hang, a device never end), naming what it is."""
    if stat.S_ISREG(mode):
        return
    kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
    raise RegionError(f"{shown}: is {kind}, not a regular file; give a region file (.yaml).")


def _check_size(size: int, shown: str) -> None:
    if size > MAX_FILE_BYTES:
        raise RegionError(
            f"{shown}: is {size:,} bytes; a region file may hold at most {_SIZE}. Split it into several files."
        )


def load_regions(text: str, source: str, vocabulary: Vocabulary | None = None) -> list[Region]:
    """Return every region of `text`, or raise one RegionError listing every problem."""
    regions: list[Region] = []
    messages: list[str] = []
    for item in parse_regions(text, source, vocabulary):
        if isinstance(item, RegionError):
            messages.extend(item.messages)
        else:
            regions.append(item)
    if messages:
        raise RegionError(messages)
    return regions


def region_from_mapping(data: Mapping[str, Any], source: str = "<memory>") -> Region:
    """Validate an in-memory mapping (as a region file would hold it) into a Region."""
    facts, problems, migration = check_document(dict(data))
    if problems:
        raise RegionError(_format(problems, source))
    return Region(name=facts["name"], facts=facts, source=source, migration=migration)


def to_document(facts: Mapping[str, Any], vocabulary: Vocabulary | None = None) -> dict[str, Any]:
    """Nest flat facts back into the region-file shape, in vocabulary order."""
    vocab = vocabulary or load_vocabulary()
    document: dict[str, Any] = {}
    for path in vocab.fields:
        if path not in facts:
            continue
        parts = path.split(".")
        target = document
        for group in parts[:-1]:
            target = target.setdefault(group, {})
        target[parts[-1]] = facts[path]
    return document


def format_region(facts: Mapping[str, Any], header: Sequence[str] = (), vocabulary: Vocabulary | None = None) -> str:
    """Write flat facts as a region file: `header` lines, `schema_version`, fields in vocabulary order."""
    vocab = vocabulary or load_vocabulary()
    values = {p: v for p, v in facts.items() if p != "schema_version"}
    lines = [*header, f"schema_version: {vocab.schema_version}"]
    _emit(to_document(values, vocab), "", lines)
    return "\n".join(lines) + "\n"


def _emit(node: Mapping[str, Any], indent: str, lines: list[str]) -> None:
    for key, value in node.items():
        if isinstance(value, dict):
            lines.append(f"{indent}{key}:")
            _emit(value, indent + "  ", lines)
        else:
            lines.append(f"{indent}{key}: {_scalar(value)}")


def _scalar(value: Any) -> str:
    # Dumping inside a one-item flow list quotes exactly what YAML needs quoted ('yes', 'a: b', '#3').
    dumped = yaml.safe_dump([value], default_flow_style=True, allow_unicode=True, width=1_000_000)
    return str(dumped).strip()[1:-1]


def upgrade_text(text: str, source: str) -> str | None:
    """Return the text of a version-1 region file rewritten as version 2, or None if it needs nothing.

    The rewritten text is read back and must give exactly the facts the old file is read as; comments
    and key order are kept.
    """
    regions = load_regions(text, source)
    if not any(r.migration for r in regions):
        return None
    new_text = rewrite_v1_text(text, source)
    again = load_regions(new_text, source)
    if [dict(r.facts) for r in again] != [dict(r.facts) for r in regions] or any(r.migration for r in again):
        raise RegionError(f"{source}: could not be rewritten exactly as version 2; it is left as it was (assess still reads it).")
    return new_text
