"""The region vocabulary: fields, allowed values, views, roles, questions and help, read from one data file.

Version 2 (vocabulary.yaml) is what the rules read. Version 1 (vocabulary_v1.yaml) is kept only to
recognise and migrate files written for 0.1 (see migrate.py). The computed `panel.*` fields, which
combination of several respondents' files writes (panel.py), are generated here from the perception
fields, so that the rules and the validator see one vocabulary.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import KnowledgeBaseError
from .resources import industries_file, vocabulary_file
from .yamlio import load_one

FIELD_TYPES = ("text", "integer", "boolean", "choice", "choices", "words")
VIEWS = ("fact", "perception", "meta", "computed")
ROLES = ("official", "firm", "support", "researcher")
UNKNOWN = "unknown"
TEXT_MAX = 200  # characters in a text field (a name, a country): one line of a memo heading
PANEL = "panel"
PANEL_SIDES = ("official", "firm")


@dataclass(frozen=True)
class Choice:
    """One allowed value of a choice field, with its plain-language label and description."""

    value: str
    label: str
    description: str


@dataclass(frozen=True)
class Field:
    """One field of a region file (or of the computed panel block)."""

    path: str
    type: str
    section: str
    label: str
    question: str
    help: str
    view: str = "fact"
    asked: tuple[str, ...] = ROLES
    question_firm: str | None = None
    ask_when: Any = None  # a condition in the rule syntax, parsed by knowledge.py
    paper: str = ""
    required: bool = False
    choices: tuple[Choice, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    max_items: int | None = None
    pattern: str | None = None
    suggestions: tuple[str, ...] = ()

    @property
    def computed(self) -> bool:
        """Whether panel combination writes this field (a region file may not)."""
        return self.view == "computed"

    @functools.cached_property
    def allowed(self) -> tuple[str, ...]:
        """The allowed values of a choice or choices field."""
        return tuple(c.value for c in self.choices)

    @functools.cached_property
    def _labels(self) -> dict[str, str]:
        return {c.value: c.label for c in self.choices}

    @functools.cached_property
    def word_pattern(self) -> re.Pattern[str]:
        """What each item of a words field must match."""
        return re.compile(self.pattern or r".+")

    def choice(self, value: str) -> Choice | None:
        """Return the Choice for `value`, if it is one."""
        for c in self.choices:
            if c.value == value:
                return c
        return None

    def question_for(self, role: str | None) -> str:
        """The question as put to `role` (a firm owner gets the firm wording where there is one)."""
        return self.question_firm if role == "firm" and self.question_firm else self.question

    def describe(self, value: Any) -> str:
        """Render a known value in plain words: `no`, `one-to-many`, `entrepreneur, local official`."""
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, list):
            if not value:
                return "none"
            return ", ".join(self.describe(v) for v in value)
        if self.choices and isinstance(value, str):
            return self._labels.get(value, value)
        if isinstance(value, int):
            return f"{value:,}"
        return str(value)


@dataclass(frozen=True)
class Section:
    """A questionnaire section."""

    id: str
    title: str


@dataclass(frozen=True)
class Role:
    """A respondent role."""

    value: str
    label: str
    description: str


@dataclass(frozen=True)
class Vocabulary:
    """All fields of a region file, in questionnaire order (computed panel fields last)."""

    schema_version: int
    sections: tuple[Section, ...]
    fields: Mapping[str, Field]
    roles: tuple[Role, ...]
    digest_source: str

    @functools.cached_property
    def groups(self) -> tuple[str, ...]:
        """Top-level keys of a region file that hold a nested mapping (network, leadership, ...)."""
        return tuple(dict.fromkeys(p.split(".")[0] for p, f in self.fields.items() if "." in p and not f.computed))

    @functools.cached_property
    def member_fields(self) -> dict[str, dict[str, Field]]:
        """For each group of a region file, its fields by the key they have inside the group."""
        return {group: {leaf: self.fields[f"{group}.{leaf}"] for leaf in leaves} for group, leaves in self.members.items()}

    @functools.cached_property
    def members(self) -> dict[str, list[str]]:
        """For each group of a region file, the keys it may hold (for messages), in vocabulary order."""
        table: dict[str, list[str]] = {group: [] for group in self.groups}
        for f in self.file_fields:
            group, _, leaf = f.path.partition(".")
            if leaf:
                table[group].append(leaf)
        return table

    @functools.cached_property
    def file_fields(self) -> tuple[Field, ...]:
        """The fields a region file may hold (everything but the computed panel block)."""
        return tuple(f for f in self.fields.values() if not f.computed)

    @functools.cached_property
    def perception_fields(self) -> tuple[Field, ...]:
        """Fields on which officials' and firms' experience can differ (combined by the firms' view)."""
        return tuple(f for f in self.fields.values() if f.view == "perception")

    def role_label(self, value: str) -> str:
        """The short label of a role value (`unknown` for an unknown role)."""
        for role in self.roles:
            if role.value == value:
                return role.label
        return value


@functools.cache
def load_vocabulary() -> Vocabulary:
    """Read and check the shipped version-2 vocabulary (cached per process)."""
    path = vocabulary_file(2)
    return parse_vocabulary(path.read_text(encoding="utf-8"), str(path))


@functools.cache
def load_vocabulary_v1() -> Vocabulary:
    """Read the version-1 vocabulary, kept to recognise and migrate files written for 0.1."""
    path = vocabulary_file(1)
    return parse_vocabulary(path.read_text(encoding="utf-8"), str(path), computed=False)


def _choices(raw: Any) -> tuple[Choice, ...]:
    if not isinstance(raw, list):
        return ()
    return tuple(Choice(str(v["value"]), str(v.get("label", v["value"])), " ".join(str(v.get("description", "")).split())) for v in raw)


def parse_vocabulary(text: str, source: str, *, computed: bool = True) -> Vocabulary:
    """Build a Vocabulary from YAML text, reporting every malformed entry at once."""
    data = load_one(text)
    if not isinstance(data, dict):
        raise KnowledgeBaseError(f"{source}: the vocabulary must be a mapping")
    problems: list[str] = []
    sections = tuple(Section(str(s["id"]), str(s["title"])) for s in data.get("sections", []))
    section_ids = {s.id for s in sections}
    roles = tuple(Role(str(r["value"]), str(r.get("label", r["value"])), str(r.get("description", ""))) for r in data.get("roles", []))
    fields: dict[str, Field] = {}
    for raw in data.get("fields", []):
        path = str(raw.get("path", ""))
        where = f"{source}: field {path or '?'}"
        if not path or path in fields:
            problems.append(f"{where}: missing or duplicate path")
            continue
        ftype = raw.get("type")
        if ftype not in FIELD_TYPES:
            problems.append(f"{where}: type {ftype!r} is not one of {', '.join(FIELD_TYPES)}")
            continue
        if raw.get("section") not in section_ids:
            problems.append(f"{where}: section {raw.get('section')!r} is not declared")
        missing = [k for k in ("label", "question", "help") if not raw.get(k)]
        if missing:
            problems.append(f"{where}: needs {', '.join(missing)}")
        view = raw.get("view", "fact")
        if view not in VIEWS[:3]:
            problems.append(f"{where}: view {view!r} is not one of fact, perception, meta")
        # Version 1 had one respondent: every question was put to everyone but those with `ask: false`.
        default = ROLES if raw.get("ask", True) else ()
        asked = tuple(str(r) for r in raw["asked"]) if "asked" in raw else default
        if set(asked) - set(ROLES):
            problems.append(f"{where}: asked {sorted(set(asked) - set(ROLES))} are not roles ({', '.join(ROLES)})")
        choices = _choices(raw.get("values"))
        if (ftype in ("choice", "choices")) != bool(choices):
            problems.append(f"{where}: values are required for choice fields and only for them")
        if any(c.value == UNKNOWN for c in choices):
            problems.append(f"{where}: '{UNKNOWN}' is reserved and cannot be a value")
        if path.split(".")[0] == PANEL:
            problems.append(f"{where}: `{PANEL}` is reserved for the computed panel block")
        fields[path] = Field(
            path=path,
            type=ftype,
            section=str(raw.get("section")),
            label=str(raw.get("label", path)),
            question=" ".join(str(raw.get("question", "")).split()),
            help=" ".join(str(raw.get("help", "")).split()),
            view=str(view),
            asked=tuple(r for r in ROLES if r in asked),
            question_firm=" ".join(str(raw["question_firm"]).split()) if raw.get("question_firm") else None,
            ask_when=raw.get("ask_when"),
            paper=str(raw.get("paper", "")),
            required=bool(raw.get("required", False)),
            choices=choices,
            minimum=raw.get("minimum"),
            maximum=raw.get("maximum"),
            max_items=raw.get("max_items"),
            pattern=raw.get("pattern"),
            suggestions=tuple(str(s) for s in raw.get("suggestions", [])),
        )
    if problems:
        raise KnowledgeBaseError(problems)
    if computed:
        fields.update(_panel_fields(fields))
    return Vocabulary(int(data.get("schema_version", 1)), sections, fields, roles, text)


def _panel_fields(fields: Mapping[str, Field]) -> dict[str, Field]:
    """The computed panel block, derived from the perception fields (docs/knowledge-model.md, Panels)."""

    def computed(path: str, ftype: str, label: str, choices: tuple[Choice, ...] = (), **extra: Any) -> Field:
        return Field(path, ftype, PANEL, label, "", "Computed when several respondents' files are combined.", view="computed", asked=(), choices=choices, **extra)

    perception = [f for f in fields.values() if f.view == "perception"]
    facts = [f for f in fields.values() if f.view == "fact"]
    roles = tuple(Choice(r, r, "") for r in (*ROLES, UNKNOWN))
    block = {
        "panel.roles": computed("panel.roles", "choices", "Roles in the panel", roles),
        "panel.perception_gaps": computed("panel.perception_gaps", "choices", "Perception gaps", tuple(Choice(f.path, f.label, "") for f in perception)),
        "panel.fact_disagreements": computed("panel.fact_disagreements", "choices", "Facts respondents disagree on", tuple(Choice(f.path, f.label, "") for f in facts)),
        "panel.comparable_fields": computed("panel.comparable_fields", "integer", "Comparable points", minimum=0),
        "panel.gap_share_pct": computed("panel.gap_share_pct", "integer", "Share of comparable points in dispute", minimum=0, maximum=100),
    }
    for side in PANEL_SIDES:
        owner = "Officials" if side == "official" else "Firms"
        for f in perception:
            path = f"{PANEL}.{side}.{f.path}"
            block[path] = Field(path, f.type, PANEL, f"{owner}' view: {f.label}", "", f"The {side} side's combined answer.", view="computed", asked=(), choices=f.choices)
    return block


@functools.cache
def load_industries() -> dict[str, str]:
    """Map every listed industry word (synonyms included) to its canonical word."""
    path = industries_file()
    data = load_one(path.read_text(encoding="utf-8"))
    table: dict[str, str] = {}
    for canonical, entry in data.items():
        table[str(canonical)] = str(canonical)
        for word in entry.get("words", []):
            table[str(word)] = str(canonical)
    return table


def canonical_words(f: Field, words: list[str]) -> list[str]:
    """The words of a words field as the rules read them (industries: synonyms replaced, repeats dropped)."""
    return canonical_industries(words) if f.path == "industries" else words


def canonical_industries(words: list[str]) -> list[str]:
    """Replace listed synonyms by their canonical word; drop repeats, keeping the first."""
    table = load_industries()
    return list(dict.fromkeys(table.get(w, w) for w in words))


def json_schema(vocabulary: Vocabulary) -> dict[str, Any]:
    """Return a JSON Schema (draft 2020-12) of a region file (format version 2), for editors and validators.

    It is derived from the same field definitions as region.validate, and says what the validator
    checks: tests/test_schema.py holds the two together on a generated corpus of documents.
    """
    from .safetext import FORBIDDEN_IN_TEXT

    unknown: list[dict[str, Any]] = [
        {"const": UNKNOWN, "description": "not known (the memo lists it as a gap)"},
        {"type": "null", "description": "not known"},
    ]
    # The forbidden characters written as \\uXXXX escapes: a schema file holds no raw control characters.
    forbidden = "".join(c if c == "-" else f"\\u{ord(c):04x}" for c in FORBIDDEN_IN_TEXT.pattern[1:-1])
    text_pattern = "^(?=[\\s\\S]*\\S)[^" + forbidden + "]*$"

    def leaf(f: Field) -> dict[str, Any]:
        schema: dict[str, Any]
        if f.type == "text":
            schema = {"type": "string", "maxLength": TEXT_MAX, "pattern": text_pattern}
            if f.required:
                schema["not"] = {"const": UNKNOWN}
        elif f.type == "integer":
            schema = {"type": "integer"}
            if f.minimum is not None:
                schema["minimum"] = f.minimum
            if f.maximum is not None:
                schema["maximum"] = f.maximum
        elif f.type == "boolean":
            schema = {"type": "boolean"}
        elif f.type == "choice":
            schema = {"enum": list(f.allowed)}
        else:  # repeated items are dropped, not refused
            item: dict[str, Any] = {"enum": list(f.allowed)} if f.type == "choices" else {"type": "string"}
            if f.pattern:
                item["pattern"] = f.pattern
            if f.suggestions:
                item["examples"] = list(f.suggestions)
            schema = {"type": "array", "items": item}
            if f.max_items:
                schema["maxItems"] = f.max_items
        if f.choices:
            schema["description"] = f.help + " Values: " + "; ".join(f"{c.value} = {c.description}" for c in f.choices)
        else:
            schema["description"] = f.help
        schema["title"] = f.label
        if f.required:
            return schema
        return {"anyOf": [schema, *unknown], "title": f.label, "description": schema["description"]}

    properties: dict[str, Any] = {}
    for f in vocabulary.file_fields:
        parts = f.path.split(".")
        target = properties
        for group in parts[:-1]:
            node = target.setdefault(group, {"anyOf": [{"type": "object", "additionalProperties": False, "properties": {}}, *unknown]})
            target = node["anyOf"][0]["properties"]
        target[parts[-1]] = leaf(f)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://clusteradvisor.invalid/region.schema.json",
        "title": "ClusterAdvisor region",
        "description": "Facts about one region or industrial district (region file format version 2). Absent or 'unknown' means unknown.",
        "type": "object",
        "required": [p for p, f in vocabulary.fields.items() if f.required],
        "additionalProperties": False,
        "properties": properties,
    }
