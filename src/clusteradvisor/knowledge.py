"""The rule base: reading rules/*.yaml into checked Rule objects, and three-valued evaluation.

Rules are data. Each holds one condition tree over region fields and derived facts. The engine
module compiles the same trees for durable_rules; the three-valued evaluator here answers what the
engine cannot: which rules are still undecided while fields are unknown (gaps, scores, skip logic).
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import KnowledgeBaseError
from .resources import data_dir
from .vocabulary import Field, Vocabulary, load_vocabulary
from .yamlio import describe_yaml_error, error_line, key_lines, load_one

KINDS = ("derived", "pattern", "recommendation", "strength")
PRIORITIES = ("critical", "high", "medium", "low")
DIMENSIONS = {
    "F1": "Autonomous development",
    "F2": "Innovation and flexibility",
    "F3": "One-stop access to policy",
    "F4": "Market orientation",
    "S1": "Policy design",
    "S2": "Knowledge of the field",
    "S3": "Key persons",
    "N": "Networks and innovation",
}
OPERATORS: dict[str, tuple[str, ...]] = {
    "boolean": ("eq", "ne"),
    "choice": ("eq", "ne", "in"),
    "integer": ("eq", "ne", "in", "gte", "gt", "lte", "lt"),
    "choices": ("contains", "contains_any", "empty"),
    "words": ("contains", "contains_any", "empty"),
}
_ALL_OPS = tuple(dict.fromkeys(op for ops in OPERATORS.values() for op in ops))
_RULE_KEYS = {"id", "kind", "dimension", "priority", "when", "title", "advice", "source", "case"}

_ID = re.compile(r"[a-z0-9][a-z0-9-]*")
Truth = bool | None  # None: undecided, because a field it reads is unknown


@dataclass(frozen=True)
class Test:
    """A comparison of one region field with a value."""

    field: str
    op: str
    value: Any


@dataclass(frozen=True)
class Derived:
    """Holds when the derived fact `id` holds."""

    id: str


@dataclass(frozen=True)
class All:
    """Holds when every item holds."""

    items: tuple[Condition, ...]


@dataclass(frozen=True)
class AnyOf:
    """Holds when at least one item holds."""

    items: tuple[Condition, ...]


Condition = Test | Derived | All | AnyOf


@dataclass(frozen=True)
class Rule:
    """One derived fact, pattern, recommendation or strength."""

    id: str
    kind: str
    title: str
    advice: str
    source: str
    when: Condition
    file: str
    theme: str
    dimension: str | None = None
    priority: str | None = None
    case: str | None = None

    @property
    def fields(self) -> frozenset[str]:
        """Region fields this rule's own condition reads (not through derived facts)."""
        return frozenset(t.field for t in iter_tests(self.when))

    @property
    def derived_refs(self) -> frozenset[str]:
        """Derived facts this rule's condition reads."""
        return frozenset(_iter_derived(self.when))


@dataclass(frozen=True)
class KnowledgeBase:
    """The vocabulary and every rule, checked against each other."""

    vocabulary: Vocabulary
    rules: tuple[Rule, ...]
    version: str
    files: tuple[str, ...]

    @functools.cached_property
    def by_id(self) -> dict[str, Rule]:
        """Rules by id."""
        return {r.id: r for r in self.rules}

    def of_kind(self, kind: str) -> tuple[Rule, ...]:
        """Rules of one kind, in definition order."""
        return tuple(r for r in self.rules if r.kind == kind)

    @functools.cached_property
    def derived_order(self) -> tuple[Rule, ...]:
        """Derived rules so that every derived fact comes after those it reads."""
        return _topological(self.of_kind("derived"))

    @functools.cached_property
    def evaluators(self) -> tuple[tuple[str, Evaluator], ...]:
        """Compiled three-valued evaluators, derived facts first in dependency order."""
        ordered = list(self.derived_order) + [r for r in self.rules if r.kind != "derived"]
        return tuple((rule.id, compile_truth(rule.when)) for rule in ordered)

    @functools.cached_property
    def ranked_readers(self) -> tuple[tuple[str, tuple[Rule, ...]], ...]:
        """Each field some rule reads, with its readers most important first (see `importance`)."""
        return tuple((path, tuple(sorted((self.by_id[i] for i in ids), key=importance))) for path, ids in self.readers.items() if ids)

    @functools.cached_property
    def by_dimension(self) -> tuple[tuple[str, str, tuple[Rule, ...]], ...]:
        """(dimension, name, its recommendations) for every dimension of the paper's framework."""
        recommendations = self.of_kind("recommendation")
        return tuple((d, name, tuple(r for r in recommendations if r.dimension == d)) for d, name in DIMENSIONS.items())

    @functools.cached_property
    def reads(self) -> dict[str, frozenset[str]]:
        """Every region field each rule reads, through derived facts too."""
        result: dict[str, frozenset[str]] = {}
        for rule in self.derived_order:
            result[rule.id] = rule.fields.union(*(result[d] for d in rule.derived_refs))
        for rule in self.rules:
            if rule.id not in result:
                result[rule.id] = rule.fields.union(*(result[d] for d in rule.derived_refs))
        return result

    @functools.cached_property
    def readers(self) -> dict[str, tuple[str, ...]]:
        """For each field, the ids of the rules that read it (directly or through derived facts)."""
        table: dict[str, list[str]] = {path: [] for path in self.vocabulary.fields}
        for rule in self.rules:
            for path in sorted(self.reads[rule.id]):
                table[path].append(rule.id)
        return {path: tuple(ids) for path, ids in table.items()}


_KIND_RANK = {"recommendation": 0, "pattern": 1, "derived": 2, "strength": 3}


def importance(rule: Rule) -> tuple[int, int, str]:
    """Sort key: recommendations first, then patterns, derived facts, strengths; by priority, then id."""
    priority = PRIORITIES.index(rule.priority) if rule.priority else len(PRIORITIES)
    return (_KIND_RANK[rule.kind], priority, rule.id)


def iter_tests(condition: Condition) -> Iterable[Test]:
    """Yield every field test in a condition tree."""
    if isinstance(condition, Test):
        yield condition
    elif isinstance(condition, (All, AnyOf)):
        for item in condition.items:
            yield from iter_tests(item)


def _iter_derived(condition: Condition) -> Iterable[str]:
    if isinstance(condition, Derived):
        yield condition.id
    elif isinstance(condition, (All, AnyOf)):
        for item in condition.items:
            yield from _iter_derived(item)


# ---------------------------------------------------------------- three-valued evaluation


def test_truth(test: Test, facts: Mapping[str, Any]) -> Truth:
    """Evaluate one test: True, False, or None when the field is unknown."""
    if test.field not in facts:
        return None
    value = facts[test.field]
    op, expected = test.op, test.value
    if op == "eq":
        return bool(value == expected)
    if op == "ne":
        return bool(value != expected)
    if op == "in":
        return value in expected
    if op == "contains":
        return expected in value
    if op == "contains_any":
        return any(item in value for item in expected)
    if op == "empty":
        return (len(value) == 0) is expected
    if op == "gte":
        return bool(value >= expected)
    if op == "gt":
        return bool(value > expected)
    if op == "lte":
        return bool(value <= expected)
    if op == "lt":
        return bool(value < expected)
    raise AssertionError(f"unchecked operator {op}")


Evaluator = Callable[[Mapping[str, Any], Mapping[str, Truth]], Truth]


def compile_truth(condition: Condition) -> Evaluator:
    """Compile a condition into a closure that evaluates it in Kleene's three-valued logic.

    A test on an unknown field is None (undecided); `all` is False as soon as one part is False,
    `any` is True as soon as one part is True, and otherwise either is None if a part is undecided.
    """
    if isinstance(condition, Test):
        test = condition
        return lambda facts, derived: test_truth(test, facts)
    if isinstance(condition, Derived):
        name = condition.id
        return lambda facts, derived: derived.get(name)
    parts = tuple(compile_truth(item) for item in condition.items)
    decisive = isinstance(condition, AnyOf)  # the value that settles the whole: True for any, False for all

    def combined(facts: Mapping[str, Any], derived: Mapping[str, Truth]) -> Truth:
        result: Truth = not decisive
        for part in parts:
            value = part(facts, derived)
            if value is decisive:
                return decisive
            if value is None:
                result = None
        return result

    return combined


def evaluate_all(kb: KnowledgeBase, facts: Mapping[str, Any]) -> dict[str, Truth]:
    """Return the three-valued status of every rule for the given known facts."""
    status: dict[str, Truth] = {}
    for rule_id, evaluator in kb.evaluators:
        status[rule_id] = evaluator(facts, status)
    return status


# ---------------------------------------------------------------- loading and checking


@functools.cache
def load_knowledge_base(rules_dir: str | None = None) -> KnowledgeBase:
    """Read the vocabulary and every rules/*.yaml file; raise one error listing all problems."""
    folder = Path(rules_dir) if rules_dir else data_dir("rules")
    vocabulary = load_vocabulary()
    files = sorted(folder.glob("*.yaml"))
    if not files:
        raise KnowledgeBaseError(f"{folder}: holds no rule files (*.yaml).")
    digest = hashlib.sha256(vocabulary.digest_source.encode("utf-8"))
    problems: list[str] = []
    rules: list[Rule] = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        digest.update(f"\0{path.name}\0".encode())
        digest.update(text.encode("utf-8"))
        rules.extend(_parse_rule_file(text, _display(path), vocabulary, problems))
    problems.extend(_cross_check(rules))
    if problems:
        raise KnowledgeBaseError(problems)
    return KnowledgeBase(vocabulary, tuple(rules), digest.hexdigest()[:12], tuple(p.name for p in files))


def _display(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def _parse_rule_file(text: str, source: str, vocabulary: Vocabulary, problems: list[str]) -> list[Rule]:
    try:
        data = load_one(text)
    except yaml.YAMLError as err:
        problems.append(f"{source}:{error_line(err) or '?'}: not valid YAML: {describe_yaml_error(err)}.")
        return []
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        problems.append(f"{source}: must be a mapping with `theme:` and a `rules:` list.")
        return []
    lines: dict[str, int] | None = None  # composed again only when a problem needs a line number
    theme = str(data.get("theme", Path(source).stem))
    parsed: list[Rule] = []
    for index, raw in enumerate(data["rules"]):
        local: list[str] = []
        rule = _parse_rule(raw, vocabulary, local, source, theme)
        if local:
            lines = lines if lines is not None else (key_lines(text) or [{}])[0]
            where = f"{source}:{lines.get(f'rules[{index}]', '?')}"
            rid = raw.get("id", f"#{index + 1}") if isinstance(raw, dict) else f"#{index + 1}"
            problems.extend(f"{where}: rule {rid}: {message}" for message in local)
        if rule is not None and not local:
            parsed.append(rule)
    return parsed


def _parse_rule(raw: Any, vocabulary: Vocabulary, problems: list[str], source: str, theme: str) -> Rule | None:
    if not isinstance(raw, dict):
        problems.append("must be a mapping")
        return None
    for key in sorted(set(raw) - _RULE_KEYS):
        problems.append(f"unknown key `{key}` (allowed: {', '.join(sorted(_RULE_KEYS))})")
    for key in ("id", "kind", "title", "advice", "source", "when"):
        if not raw.get(key):
            problems.append(f"`{key}` is required")
    if raw.get("id") and not _ID.fullmatch(str(raw["id"])):
        problems.append("id must be lower-case letters, digits and dashes")
    kind = raw.get("kind")
    if kind is not None and kind not in KINDS:
        problems.append(f"kind {kind!r} is not one of {', '.join(KINDS)}")
    dimension, priority = raw.get("dimension"), raw.get("priority")
    if kind in ("recommendation", "strength"):
        if dimension not in DIMENSIONS:
            problems.append(f"dimension {dimension!r} is not one of {', '.join(DIMENSIONS)}")
    elif dimension is not None:
        problems.append(f"a {kind} rule takes no dimension")
    if kind == "recommendation":
        if priority not in PRIORITIES:
            problems.append(f"priority {priority!r} is not one of {', '.join(PRIORITIES)}")
    elif priority is not None:
        problems.append(f"a {kind} rule takes no priority")
    if raw.get("case") is not None and kind != "pattern":
        problems.append("only a pattern rule takes `case`")
    condition = _parse_condition(raw.get("when"), vocabulary, problems, "when") if raw.get("when") else None
    if problems or condition is None:
        return None
    return Rule(
        id=str(raw["id"]),
        kind=str(kind),
        title=" ".join(str(raw["title"]).split()),
        advice=" ".join(str(raw["advice"]).split()),
        source=" ".join(str(raw["source"]).split()),
        when=condition,
        file=source,
        theme=theme,
        dimension=dimension,
        priority=priority,
        case=None if raw.get("case") is None else str(raw["case"]),
    )


def _parse_condition(raw: Any, vocabulary: Vocabulary, problems: list[str], where: str) -> Condition | None:
    if not isinstance(raw, dict) or not raw:
        problems.append(f"{where}: a condition must be a mapping (all, any, derived, or field + operator)")
        return None
    if "all" in raw or "any" in raw:
        key = "all" if "all" in raw else "any"
        if set(raw) != {key} or not isinstance(raw[key], list) or not raw[key]:
            problems.append(f"{where}.{key}: must be the only key and hold a non-empty list")
            return None
        items = [_parse_condition(item, vocabulary, problems, f"{where}.{key}[{i}]") for i, item in enumerate(raw[key])]
        if any(item is None for item in items):
            return None
        checked = tuple(item for item in items if item is not None)
        return All(checked) if key == "all" else AnyOf(checked)
    if "derived" in raw:
        if set(raw) != {"derived"} or not isinstance(raw["derived"], str):
            problems.append(f"{where}.derived: must be the only key and name a derived fact")
            return None
        return Derived(raw["derived"])
    field_path = raw.get("field")
    ops = [k for k in raw if k != "field"]
    if not isinstance(field_path, str) or field_path not in vocabulary.fields:
        problems.append(f"{where}.field: {field_path!r} is not a field of the vocabulary")
        return None
    f = vocabulary.fields[field_path]
    allowed_ops = OPERATORS.get(f.type, ())
    if len(ops) != 1 or ops[0] not in allowed_ops:
        shown = ", ".join(ops) or "none"
        problems.append(
            f"{where}: {field_path} needs exactly one operator of {', '.join(allowed_ops) or '(none: text fields cannot be tested)'}; got {shown}"
        )
        return None
    op = ops[0]
    value = raw[op]
    message = _check_operand(f, op, value)
    if message:
        problems.append(f"{where}.{op}: {message}")
        return None
    if op in ("in", "contains_any"):
        value = tuple(value)
    return Test(field_path, op, value)


def _check_operand(f: Field, op: str, value: Any) -> str | None:
    def scalar_ok(item: Any) -> bool:
        if f.type == "boolean":
            return isinstance(item, bool)
        if f.type == "integer":
            return isinstance(item, int) and not isinstance(item, bool)
        if f.type in ("choice", "choices"):
            return isinstance(item, str) and item in f.allowed
        return isinstance(item, str) and bool(item)

    allowed = f" (allowed: {', '.join(f.allowed)})" if f.allowed else f" ({f.type} value expected)"
    if op == "empty":
        return None if isinstance(value, bool) else "must be true or false"
    if op in ("in", "contains_any"):
        if not isinstance(value, list) or not value:
            return "must be a non-empty list"
        bad = [item for item in value if not scalar_ok(item)]
        return f"{bad!r} do not fit {f.path}{allowed}" if bad else None
    return None if scalar_ok(value) else f"{value!r} does not fit {f.path}{allowed}"


def _cross_check(rules: list[Rule]) -> list[str]:
    problems: list[str] = []
    seen: dict[str, Rule] = {}
    for rule in rules:
        if rule.id in seen:
            problems.append(f"{rule.file}: rule {rule.id}: duplicate id (first in {seen[rule.id].file})")
        seen[rule.id] = rule
    derived_ids = {r.id for r in rules if r.kind == "derived"}
    for rule in rules:
        for ref in sorted(rule.derived_refs - derived_ids):
            problems.append(f"{rule.file}: rule {rule.id}: reads derived fact {ref!r}, which no derived rule defines")
    if not problems:
        try:
            _topological([r for r in rules if r.kind == "derived"])
        except KnowledgeBaseError as err:
            problems.extend(err.messages)
    return problems


def _topological(derived: Iterable[Rule]) -> tuple[Rule, ...]:
    pending = {r.id: r for r in derived}
    ordered: list[Rule] = []
    done: set[str] = set()
    while pending:
        ready = [r for r in pending.values() if r.derived_refs <= done]
        if not ready:
            raise KnowledgeBaseError(f"derived facts depend on each other in a cycle: {', '.join(sorted(pending))}")
        for rule in ready:
            ordered.append(rule)
            done.add(rule.id)
            del pending[rule.id]
    return tuple(ordered)
