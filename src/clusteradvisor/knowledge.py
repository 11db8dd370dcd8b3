"""The rule base: reading rules/*.yaml into checked Rule objects, and three-valued evaluation.

Rules are data (docs/knowledge-model.md). A derived fact or a pattern holds when its `when` holds. A
recommendation is a `remedy` (fires when `applies` and `deficit` both hold; scored) or a `next_step`
(fires when `when` holds; never scored). The engine module compiles each rule's firing condition for
durable_rules; the three-valued evaluator here answers what the engine cannot: which rules are still
undecided while fields are unknown (gaps, scores, skip logic, explanations).
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .conditions import ALWAYS as ALWAYS
from .conditions import All as All
from .conditions import AnyOf as AnyOf
from .conditions import Condition as Condition
from .conditions import Derived as Derived
from .conditions import Evaluator as Evaluator
from .conditions import FieldTest as FieldTest
from .conditions import Holding, Status, Walker, compile_holding, compile_status, compile_truths, compile_walkers, iter_derived
from .conditions import Truth as Truth
from .conditions import compile_truth as compile_truth
from .conditions import iter_tests as iter_tests
from .errors import KnowledgeBaseError
from .operators import OPERATORS, operators_for
from .resources import data_dir
from .vocabulary import Field, Vocabulary, load_vocabulary
from .yamlio import describe_yaml_error, error_line, key_lines, load_one

CATEGORIES = ("derived", "pattern", "recommendation")
PRIORITIES = ("critical", "high", "medium", "low")
STAGES = ("diagnose", "people", "design", "money", "networks")
KINDS = ("remedy", "next_step")
EVIDENCE = ("prescribed", "observed", "inferred")
ACTORS = ("national", "regional", "municipal", "support_centre", "firms", "university")
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
_LISTS = {"derived": "derived", "patterns": "pattern", "recommendations": "recommendation"}
_COMMON_KEYS = {"id", "title", "when", "lines", "source"}
_KEYS = {
    "derived": _COMMON_KEYS | {"meaning"},
    "pattern": _COMMON_KEYS | {"meaning", "case", "peers"},
    "recommendation": _COMMON_KEYS
    | {"order", "dimension", "stage", "kind", "priority", "actor", "evidence", "case_fact", "applies", "deficit"}
    | {"supersedes", "peers", "advice", "success", "variants"},
}
_REQUIRED = {
    "derived": ("id", "title", "when", "meaning", "lines", "source"),
    "pattern": ("id", "title", "when", "meaning", "lines", "source", "case", "peers"),
    "recommendation": ("id", "order", "title", "dimension", "stage", "kind", "priority", "actor", "evidence", "lines", "source", "advice", "success"),
}
_ID = re.compile(r"[a-z0-9][a-z0-9-]*")
_VARIANT_ID = re.compile(r"[a-z0-9][a-z0-9_]*")


@dataclass(frozen=True)
class Variant:
    """Advice worded for a particular situation: replaces the default when its condition holds."""

    id: str
    when: Condition
    advice: str


@dataclass(frozen=True)
class Rule:
    """One derived fact, pattern or recommendation (remedy or next step)."""

    id: str
    category: str
    title: str
    when: Condition  # the firing condition; for a remedy, applies AND deficit
    source: str
    lines: str
    file: str
    theme: str
    meaning: str = ""
    case: str | None = None
    peers: tuple[str, ...] = ()
    order: int = 0
    dimension: str | None = None
    stage: str | None = None
    kind: str | None = None
    priority: str | None = None
    actor: tuple[str, ...] = ()
    evidence: str | None = None
    case_fact: str | None = None
    applies: Condition | None = None
    deficit: Condition | None = None
    supersedes: tuple[str, ...] = ()
    advice: str = ""
    success: str = ""
    variants: tuple[Variant, ...] = ()

    @property
    def is_remedy(self) -> bool:
        """Whether this is a recommendation that fires on a deficit (and counts in the scores)."""
        return self.kind == "remedy"

    @property
    def fields(self) -> frozenset[str]:
        """Region fields this rule's own conditions read (variants included; not through derived facts)."""
        return frozenset(t.field for c in self.conditions for t in iter_tests(c))

    @property
    def derived_refs(self) -> frozenset[str]:
        """Derived facts this rule's conditions read (variants included)."""
        return frozenset(d for c in self.conditions for d in iter_derived(c))

    @property
    def conditions(self) -> tuple[Condition, ...]:
        """The firing condition and every variant condition."""
        return (self.when, *(v.when for v in self.variants))


@dataclass(frozen=True)
class Conflict:
    """Two recommendations that pull in different directions when both fire, and how to do both."""

    pair: tuple[str, str]
    reconcile: str


@dataclass(frozen=True)
class KnowledgeBase:
    """The vocabulary and every rule, checked against each other."""

    vocabulary: Vocabulary
    rules: tuple[Rule, ...]
    conflicts: tuple[Conflict, ...]
    version: str
    files: tuple[str, ...]
    # What modules building on the rule base compute once per rule base (verdict and memo tables).
    caches: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @functools.cached_property
    def by_id(self) -> dict[str, Rule]:
        """Rules by id."""
        return {r.id: r for r in self.rules}

    def of_category(self, category: str) -> tuple[Rule, ...]:
        """Rules of one category, in definition order."""
        return self._categories.get(category, ())

    @functools.cached_property
    def _categories(self) -> dict[str, tuple[Rule, ...]]:
        return {category: tuple(r for r in self.rules if r.category == category) for category in CATEGORIES}

    @functools.cached_property
    def recommendations(self) -> tuple[Rule, ...]:
        """Recommendations in the map's plan order (their `order`)."""
        return tuple(sorted(self.of_category("recommendation"), key=lambda r: r.order))

    @functools.cached_property
    def derived_order(self) -> tuple[Rule, ...]:
        """Derived rules so that every derived fact comes after those it reads."""
        return _topological(self.of_category("derived"))

    @functools.cached_property
    def evaluation_order(self) -> tuple[Rule, ...]:
        """Every rule, derived facts first (each after those it reads), then the others in definition order."""
        return self.derived_order + tuple(r for r in self.rules if r.category != "derived")

    @functools.cached_property
    def evaluators(self) -> tuple[tuple[str, Evaluator], ...]:
        """Compiled three-valued evaluators of each rule's firing condition, in evaluation order."""
        compiled = compile_truths({rule.id: rule.when for rule in self.evaluation_order})
        return tuple(compiled.items())

    @functools.cached_property
    def status_of(self) -> Status:
        """Every rule's firing condition compiled into one function: `status_of(facts, {})` is the
        status of every rule (evaluate_all)."""
        return compile_status((rule.id, rule.when) for rule in self.evaluation_order)

    @functools.cached_property
    def remedy_parts(self) -> tuple[tuple[Rule, str | None, str], ...]:
        """(remedy, the key of its `applies` truth or None for always, the key of its `deficit` truth)
        in map order: the keys `remedy_status` adds."""
        return tuple(
            (r, f"applies:{r.id}" if r.applies is not None else None, f"deficit:{r.id}")
            for r in self.recommendations
            if r.is_remedy and r.deficit is not None
        )

    @functools.cached_property
    def remedy_status(self) -> Status:
        """Every remedy's `applies` and `deficit` compiled into one function: `remedy_status(facts,
        dict(status))` adds their truth under the keys of `remedy_parts`."""
        parts = []
        for rule, applies, deficit in self.remedy_parts:
            if applies is not None:
                parts.append((applies, rule.applies))
            parts.append((deficit, rule.deficit))
        return compile_status((key, condition) for key, condition in parts if condition is not None)

    @functools.cached_property
    def variant_evaluators(self) -> dict[str, tuple[tuple[str, Evaluator], ...]]:
        """For each rule with variants: (variant id, evaluator) in the order they are tried."""
        compiled = compile_truths({(r.id, v.id): v.when for r in self.rules for v in r.variants})
        return {r.id: tuple((v.id, compiled[r.id, v.id]) for v in r.variants) for r in self.rules if r.variants}

    @functools.cached_property
    def superseded_by(self) -> dict[str, tuple[str, ...]]:
        """For each rule some rule supersedes: the ids of the rules that supersede it."""
        table: dict[str, list[str]] = {}
        for rule in self.recommendations:
            for other in rule.supersedes:
                table.setdefault(other, []).append(rule.id)
        return {k: tuple(v) for k, v in table.items()}

    @functools.cached_property
    def ask_when(self) -> dict[str, Condition]:
        """The questionnaire precondition of each field that has one ("only when")."""
        problems: list[str] = []
        table: dict[str, Condition] = {}
        for f in self.vocabulary.fields.values():
            if f.ask_when is not None:
                condition = _parse_condition(f.ask_when, self.vocabulary, problems, f"{f.path}.ask_when")
                if condition is not None:
                    table[f.path] = condition
        if problems:
            raise KnowledgeBaseError(problems)
        return table

    @functools.cached_property
    def ask_when_truth(self) -> dict[str, Evaluator]:
        """The questionnaire preconditions, compiled."""
        return compile_truths(self.ask_when)

    @functools.cached_property
    def gap_walkers(self) -> dict[str, Walker]:
        """For each rule, the compiled search for the open fields that would decide it (information gaps)."""
        return compile_walkers({rule.id: rule.when for rule in self.rules})

    @functools.cached_property
    def holding(self) -> dict[str, Holding]:
        """For each rule, the parts of its firing condition that hold (compiled; the reasons a verdict gives)."""
        return compile_holding({rule.id: rule.when for rule in self.rules})

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

    def what_if(self, path: str) -> Status:
        """The rules whose status can change with `path` (through derived facts too), compiled into one
        function `(facts, status) -> status` that re-evaluates just those, in evaluation order."""
        table: dict[str, Status] = self.caches.setdefault("what_if", {})
        function = table.get(path)
        if function is None:
            function = table[path] = compile_status((rule.id, rule.when) for rule in self.evaluation_order if path in self.reads[rule.id])
        return function

    @functools.cached_property
    def industry_words_read(self) -> frozenset[str]:
        """Industry words some rule tests for (other words in a region change no advice)."""
        words: set[str] = set()
        for rule in self.rules:
            for c in rule.conditions:
                for t in iter_tests(c):
                    if t.field == "industries" and t.op in ("contains", "contains_any"):
                        words.update(t.value if isinstance(t.value, tuple) else (t.value,))
        return frozenset(words)


# ---------------------------------------------------------------- three-valued evaluation


def evaluate_all(kb: KnowledgeBase, facts: Mapping[str, Any]) -> dict[str, Truth]:
    """Return the three-valued status of every rule's firing condition for the given known facts."""
    return kb.status_of(facts, {})


def evaluate_with(kb: KnowledgeBase, facts: Mapping[str, Any], status: Mapping[str, Truth], path: str) -> dict[str, Truth]:
    """The status of every rule after `path` changed in `facts`, given the status before (only the
    rules that read it, directly or through derived facts, are evaluated again)."""
    return kb.what_if(path)(facts, dict(status))


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
    conflicts: list[tuple[Any, str]] = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        digest.update(f"\0{path.name}\0".encode())
        digest.update(text.encode("utf-8"))
        found, pairs = _parse_rule_file(text, _display(path), vocabulary, problems)
        rules.extend(found)
        conflicts.extend(pairs)
    checked = _cross_check(rules, conflicts, problems)
    if problems:
        raise KnowledgeBaseError(problems)
    kb = KnowledgeBase(vocabulary, tuple(rules), checked, digest.hexdigest()[:12], tuple(p.name for p in files))
    kb.ask_when  # noqa: B018  # parse the questionnaire preconditions now: a bad one is a load error
    return kb


def _display(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def _parse_rule_file(text: str, source: str, vocabulary: Vocabulary, problems: list[str]) -> tuple[list[Rule], list[tuple[Any, str]]]:
    try:
        data = load_one(text)
    except yaml.YAMLError as err:
        problems.append(f"{source}:{error_line(err) or '?'}: not valid YAML: {describe_yaml_error(err)}.")
        return [], []
    allowed = {"theme", "conflicts", *_LISTS}
    if not isinstance(data, dict) or not set(data) & (allowed - {"theme"}) or set(data) - allowed:
        problems.append(f"{source}: must be a mapping with `theme:` and any of the lists {', '.join(sorted(allowed - {'theme'}))}.")
        return [], []
    lines: dict[str, int] | None = None  # composed only when a problem needs a line number
    theme = " ".join(str(data.get("theme", Path(source).stem)).split())
    parsed: list[Rule] = []
    for key, category in _LISTS.items():
        entries = data.get(key) or []
        if not isinstance(entries, list):
            problems.append(f"{source}: `{key}` must be a list.")
            continue
        for index, raw in enumerate(entries):
            local: list[str] = []
            rule = _parse_rule(raw, category, vocabulary, local, source, theme)
            if local:
                lines = lines if lines is not None else (key_lines(text) or [{}])[0]
                where = f"{source}:{lines.get(f'{key}[{index}]', '?')}"
                rid = raw.get("id", f"#{index + 1}") if isinstance(raw, dict) else f"#{index + 1}"
                problems.extend(f"{where}: {category} {rid}: {message}" for message in local)
            elif rule is not None:
                parsed.append(rule)
    pairs: list[tuple[Any, str]] = []
    for index, raw in enumerate(data.get("conflicts") or []):
        if not isinstance(raw, dict) or set(raw) != {"pair", "reconcile"} or not raw["reconcile"]:
            problems.append(f"{source}: conflicts[{index}]: needs exactly `pair` (two rule ids) and `reconcile` (text).")
            continue
        pairs.append((raw["pair"], " ".join(str(raw["reconcile"]).split())))
    return parsed, pairs


def _text(raw: Mapping[str, Any], key: str) -> str:
    return " ".join(str(raw.get(key, "")).split())


def _parse_rule(raw: Any, category: str, vocabulary: Vocabulary, problems: list[str], source: str, theme: str) -> Rule | None:
    if not isinstance(raw, dict):
        problems.append("must be a mapping")
        return None
    for key in sorted(set(raw) - _KEYS[category]):
        problems.append(f"unknown key `{key}` (allowed: {', '.join(sorted(_KEYS[category]))})")
    for key in _REQUIRED[category]:
        if raw.get(key) in (None, "", []):
            problems.append(f"`{key}` is required")
    if raw.get("id") and not _ID.fullmatch(str(raw["id"])):
        problems.append("id must be lower-case letters, digits and dashes")
    kind = raw.get("kind")
    applies = deficit = None
    if category == "recommendation":
        _check_choice(raw, "dimension", tuple(DIMENSIONS), problems)
        _check_choice(raw, "stage", STAGES, problems)
        _check_choice(raw, "kind", KINDS, problems)
        _check_choice(raw, "priority", PRIORITIES, problems)
        _check_choice(raw, "evidence", EVIDENCE, problems)
        actors = raw.get("actor")
        if not isinstance(actors, list) or not actors or any(a not in ACTORS for a in actors) or len(set(actors)) != len(actors):
            problems.append(f"actor must be a list of distinct actors from {', '.join(ACTORS)}, lead first")
        order = raw.get("order")
        if not isinstance(order, int) or isinstance(order, bool) or order < 1:
            problems.append("order must be a whole number from 1 (the knowledge map's plan order)")
        if kind == "remedy":
            if "when" in raw:
                problems.append("a remedy takes `applies` and `deficit`, not `when`")
            if "deficit" not in raw:
                problems.append("a remedy needs `deficit`")
            deficit = _parse_condition(raw.get("deficit"), vocabulary, problems, "deficit") if "deficit" in raw else None
            applies = _parse_condition(raw["applies"], vocabulary, problems, "applies") if "applies" in raw else None
        elif kind == "next_step":
            if "applies" in raw or "deficit" in raw:
                problems.append("a next step takes `when`, not `applies` or `deficit`")
            if "when" not in raw:
                problems.append("a next step needs `when`")
    elif "when" not in raw:
        problems.append("`when` is required")
    when: Condition | None
    if category == "recommendation" and kind == "remedy":
        if deficit is None:
            when = None
        elif applies is None or applies == ALWAYS:
            when = deficit
        else:
            when = applies if deficit == ALWAYS else All((applies, deficit))
    else:
        when = _parse_condition(raw.get("when"), vocabulary, problems, "when") if "when" in raw else None
    variants = _parse_variants(raw.get("variants"), vocabulary, problems)
    for key in ("peers", "supersedes"):
        value = raw.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            problems.append(f"{key} must be a list of names")
    if problems or when is None:
        return None
    return Rule(
        id=str(raw["id"]),
        category=category,
        title=_text(raw, "title"),
        when=when,
        source=_text(raw, "source"),
        lines=_text(raw, "lines"),
        file=source,
        theme=theme,
        meaning=_text(raw, "meaning"),
        case=_text(raw, "case") or None,
        peers=tuple(raw.get("peers", [])),
        order=int(raw.get("order", 0)),
        dimension=raw.get("dimension"),
        stage=raw.get("stage"),
        kind=kind,
        priority=raw.get("priority"),
        actor=tuple(raw.get("actor", [])),
        evidence=raw.get("evidence"),
        case_fact=_text(raw, "case_fact") or None,
        applies=applies,
        deficit=deficit,
        supersedes=tuple(raw.get("supersedes", [])),
        advice=_text(raw, "advice"),
        success=_text(raw, "success"),
        variants=variants,
    )


def _check_choice(raw: Mapping[str, Any], key: str, allowed: tuple[str, ...], problems: list[str]) -> None:
    if key in raw and raw[key] not in allowed:
        problems.append(f"{key} {raw[key]!r} is not one of {', '.join(allowed)}")


def _parse_variants(raw: Any, vocabulary: Vocabulary, problems: list[str]) -> tuple[Variant, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not raw:
        problems.append("variants must be a non-empty list")
        return ()
    variants: list[Variant] = []
    for index, item in enumerate(raw):
        where = f"variants[{index}]"
        if not isinstance(item, dict) or set(item) != {"id", "when", "advice"}:
            problems.append(f"{where}: needs exactly `id`, `when` and `advice`")
            continue
        if not _VARIANT_ID.fullmatch(str(item["id"])) or item["id"] == "default" or any(v.id == item["id"] for v in variants):
            problems.append(f"{where}: id must be a distinct lower-case word other than `default`")
            continue
        condition = _parse_condition(item["when"], vocabulary, problems, f"{where}.when")
        if condition is not None:
            variants.append(Variant(str(item["id"]), condition, _text(item, "advice")))
    return tuple(variants)


def _parse_condition(raw: Any, vocabulary: Vocabulary, problems: list[str], where: str) -> Condition | None:
    if not isinstance(raw, dict) or not raw:
        problems.append(f"{where}: a condition must be a mapping (all, any, derived, or field + operator)")
        return None
    if "all" in raw or "any" in raw:
        key = "all" if "all" in raw else "any"
        if set(raw) == {"all"} and raw["all"] == []:
            return ALWAYS  # the map's "always": an empty `all` holds whatever the facts
        if set(raw) != {key} or not isinstance(raw[key], list) or not raw[key]:
            problems.append(f"{where}.{key}: must be the only key and hold a non-empty list (or `all: []` for always)")
            return None
        items = [_parse_condition(item, vocabulary, problems, f"{where}.{key}[{i}]") for i, item in enumerate(raw[key])]
        checked = tuple(item for item in items if item is not None)
        if len(checked) != len(items):
            return None
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
    allowed_ops = operators_for(f.type)
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
    if OPERATORS[op].operand == "values":
        value = tuple(value)
    return FieldTest(field_path, op, value)


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
    operand = OPERATORS[op].operand
    if operand == "flag":
        return None if isinstance(value, bool) else "must be true or false"
    if operand == "values":
        if not isinstance(value, list) or not value:
            return "must be a non-empty list"
        bad = [item for item in value if not scalar_ok(item)]
        return f"{bad!r} do not fit {f.path}{allowed}" if bad else None
    return None if scalar_ok(value) else f"{value!r} does not fit {f.path}{allowed}"


def _cross_check(rules: list[Rule], raw_conflicts: list[tuple[Any, str]], problems: list[str]) -> tuple[Conflict, ...]:
    seen: dict[str, Rule] = {}
    for rule in rules:
        if rule.id in seen:
            problems.append(f"{rule.file}: {rule.category} {rule.id}: duplicate id (first in {seen[rule.id].file})")
        seen[rule.id] = rule
    derived_ids = {r.id for r in rules if r.category == "derived"}
    recommendations = {r.id: r for r in rules if r.category == "recommendation"}
    orders: dict[int, str] = {}
    for rule in rules:
        for ref in sorted(rule.derived_refs - derived_ids):
            problems.append(f"{rule.file}: {rule.category} {rule.id}: reads derived fact {ref!r}, which no derived rule defines")
        if rule.category == "recommendation":
            if rule.order in orders:
                problems.append(f"{rule.file}: recommendation {rule.id}: order {rule.order} is also {orders[rule.order]}'s")
            orders[rule.order] = rule.id
            for other in rule.supersedes:
                if other not in recommendations or other == rule.id:
                    problems.append(f"{rule.file}: recommendation {rule.id}: supersedes {other!r}, which is not another recommendation")
    for rule in recommendations.values():
        for other in rule.supersedes:
            if other in recommendations and recommendations[other].supersedes:
                problems.append(f"rule base: {rule.id} supersedes {other}, which supersedes others in turn: a superseded rule may not supersede others (no chains)")
    conflicts: list[Conflict] = []
    seen_pairs: set[frozenset[str]] = set()
    for pair, reconcile in raw_conflicts:
        if not isinstance(pair, list) or len(pair) != 2 or not all(isinstance(p, str) for p in pair) or pair[0] == pair[1]:
            problems.append(f"rules/conflicts: pair {pair!r} must name two different recommendations")
            continue
        unknown = [p for p in pair if p not in recommendations]
        if unknown:
            problems.append(f"rules/conflicts: pair {pair!r} names {', '.join(unknown)}, which is not a recommendation")
            continue
        if frozenset(pair) in seen_pairs:
            problems.append(f"rules/conflicts: pair {pair!r} is declared twice")
            continue
        seen_pairs.add(frozenset(pair))
        conflicts.append(Conflict((pair[0], pair[1]), reconcile))
    if not problems:
        try:
            _topological([r for r in rules if r.category == "derived"])
        except KnowledgeBaseError as err:
            problems.extend(err.messages)
    return tuple(conflicts)


def _topological(derived: Iterable[Rule]) -> tuple[Rule, ...]:
    pending = {r.id: r for r in derived}
    ordered: list[Rule] = []
    done: set[str] = set()
    while pending:
        ready = [r for r in pending.values() if r.derived_refs <= done]
        if not ready:
            raise KnowledgeBaseError(f"rule base: derived facts depend on each other in a cycle: {', '.join(sorted(pending))}")
        for rule in ready:
            ordered.append(rule)
            done.add(rule.id)
            del pending[rule.id]
    return tuple(ordered)


# ---------------------------------------------------------------- showing conditions

_OP_TEXT = {"eq": "=", "ne": "!=", "gte": ">=", "gt": ">", "lte": "<=", "lt": "<", "contains": "has"}


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return "{" + ", ".join(_value_text(v) for v in value) + "}"
    return str(value)


def describe_condition(condition: Condition) -> str:
    """Write a condition in plain notation: `network.form has one_to_many and (a = x or <derived>)`."""
    if isinstance(condition, FieldTest):
        if condition.op == "empty":
            return f"{condition.field} is {'empty' if condition.value else 'not empty'}"
        if condition.op == "in":
            return f"{condition.field} in {_value_text(condition.value)}"
        if condition.op == "contains_any":
            return f"{condition.field} has any of {_value_text(condition.value)}"
        return f"{condition.field} {_OP_TEXT[condition.op]} {_value_text(condition.value)}"
    if isinstance(condition, Derived):
        return f"<{condition.id}>"
    if not condition.items:
        return "always"
    joiner = " and " if isinstance(condition, All) else " or "
    parts = [describe_condition(item) for item in condition.items]
    return joiner.join(f"({p})" if isinstance(item, (All, AnyOf)) and len(item.items) > 1 else p for p, item in zip(parts, condition.items, strict=True))
