"""The region vocabulary: fields, allowed values, questions and help, read from vocabulary.yaml."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import KnowledgeBaseError
from .resources import vocabulary_file
from .yamlio import load_one

FIELD_TYPES = ("text", "integer", "boolean", "choice", "choices", "words")
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Choice:
    """One allowed value of a choice field, with its plain-language label and description."""

    value: str
    label: str
    description: str


@dataclass(frozen=True)
class Field:
    """One field of a region file."""

    path: str
    type: str
    section: str
    label: str
    question: str
    help: str
    required: bool = False
    ask: bool = True
    choices: tuple[Choice, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    max_items: int | None = None
    pattern: str | None = None
    suggestions: tuple[str, ...] = ()

    @property
    def is_list(self) -> bool:
        """Whether the field holds a list (several choices or words)."""
        return self.type in ("choices", "words")

    @property
    def allowed(self) -> tuple[str, ...]:
        """The allowed values of a choice or choices field."""
        return tuple(c.value for c in self.choices)

    def choice(self, value: str) -> Choice | None:
        """Return the Choice for `value`, if it is one."""
        for c in self.choices:
            if c.value == value:
                return c
        return None

    def describe(self, value: Any) -> str:
        """Render a known value in plain words: `no`, `one-to-many`, `entrepreneur and local official`."""
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, list):
            if not value:
                return "none"
            return ", ".join(self.describe(v) for v in value)
        if self.choices and isinstance(value, str):
            found = self.choice(value)
            return found.label if found else value
        if isinstance(value, int):
            return f"{value:,}"
        return str(value)


@dataclass(frozen=True)
class Section:
    """A questionnaire section."""

    id: str
    title: str


@dataclass(frozen=True)
class Vocabulary:
    """All fields of a region file, in questionnaire order."""

    schema_version: int
    sections: tuple[Section, ...]
    fields: Mapping[str, Field]
    digest_source: str

    @property
    def groups(self) -> tuple[str, ...]:
        """Top-level keys that hold a nested mapping (network, leadership, ...)."""
        return tuple(dict.fromkeys(p.split(".")[0] for p in self.fields if "." in p))

    def field(self, path: str) -> Field:
        """Return the field at `path` (KeyError if there is none)."""
        return self.fields[path]


@functools.cache
def load_vocabulary() -> Vocabulary:
    """Read and check the shipped vocabulary file (cached per process)."""
    path = vocabulary_file()
    text = path.read_text(encoding="utf-8")
    return parse_vocabulary(text, str(path))


def parse_vocabulary(text: str, source: str) -> Vocabulary:
    """Build a Vocabulary from YAML text, reporting every malformed entry at once."""
    data = load_one(text)
    problems: list[str] = []
    if not isinstance(data, dict):
        raise KnowledgeBaseError(f"{source}: the vocabulary must be a mapping")
    sections = tuple(Section(str(s["id"]), str(s["title"])) for s in data.get("sections", []))
    section_ids = {s.id for s in sections}
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
        choices = tuple(
            Choice(str(v["value"]), str(v.get("label", v["value"])), str(v.get("description", "")))
            for v in raw.get("values", [])
        )
        if (ftype in ("choice", "choices")) != bool(choices):
            problems.append(f"{where}: values are required for choice fields and only for them")
        if any(c.value == UNKNOWN for c in choices):
            problems.append(f"{where}: '{UNKNOWN}' is reserved and cannot be a value")
        fields[path] = Field(
            path=path,
            type=ftype,
            section=str(raw.get("section")),
            label=str(raw.get("label", path)),
            question=str(raw.get("question", "")),
            help=" ".join(str(raw.get("help", "")).split()),
            required=bool(raw.get("required", False)),
            ask=bool(raw.get("ask", True)),
            choices=choices,
            minimum=raw.get("minimum"),
            maximum=raw.get("maximum"),
            max_items=raw.get("max_items"),
            pattern=raw.get("pattern"),
            suggestions=tuple(str(s) for s in raw.get("suggestions", [])),
        )
    if problems:
        raise KnowledgeBaseError(problems)
    return Vocabulary(int(data.get("schema_version", 1)), sections, fields, text)


def json_schema(vocabulary: Vocabulary) -> dict[str, Any]:
    """Return a JSON Schema (draft 2020-12) of a region file, for editors and validators."""
    unknown: dict[str, Any] = {"const": UNKNOWN, "description": "not known (the memo lists it as a gap)"}

    def leaf(f: Field) -> dict[str, Any]:
        schema: dict[str, Any]
        if f.type == "text":
            schema = {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[^\\n\\r\\t]*$"}
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
        else:
            item: dict[str, Any] = {"enum": list(f.allowed)} if f.type == "choices" else {"type": "string"}
            if f.pattern:
                item["pattern"] = f.pattern
            if f.suggestions:
                item["examples"] = list(f.suggestions)
            schema = {"type": "array", "items": item, "uniqueItems": True}
            if f.max_items:
                schema["maxItems"] = f.max_items
        if f.choices:
            schema["description"] = f.help + " Values: " + "; ".join(
                f"{c.value} = {c.description}" for c in f.choices
            )
        else:
            schema["description"] = f.help
        schema["title"] = f.label
        if f.required:
            return schema
        return {"anyOf": [schema, unknown], "title": f.label, "description": schema["description"]}

    properties: dict[str, Any] = {}
    for f in vocabulary.fields.values():
        parts = f.path.split(".")
        target = properties
        for group in parts[:-1]:
            node = target.setdefault(
                group, {"type": "object", "additionalProperties": False, "properties": {}}
            )
            target = node["properties"]
        target[parts[-1]] = leaf(f)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://clusteradvisor.invalid/region.schema.json",
        "title": "ClusterAdvisor region",
        "description": "Facts about one region or industrial district. Absent or 'unknown' means unknown.",
        "type": "object",
        "required": [p for p, f in vocabulary.fields.items() if f.required],
        "additionalProperties": False,
        "properties": properties,
    }
