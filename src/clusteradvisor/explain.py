"""Why a rule holds or not for a region, and the smallest changes of its facts that would flip it.

The status explained is the three-valued truth of the rule's firing condition (map section 1.3): a
remedy's `applies` and `deficit` together, a next step's, derived fact's or pattern's `when`.
Supersession (map section 8) is reported beside it but is not part of that status, so every flip is a
change of the region's facts that the rule itself reads. Flips are searched exhaustively: each single
field change first, then pairs of changes only when no single change flips the status.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

from .errors import ClusterAdvisorError
from .knowledge import (
    All,
    AnyOf,
    Condition,
    Derived,
    Evaluator,
    FieldTest,
    KnowledgeBase,
    Rule,
    Truth,
    compile_truth,
    describe_condition,
    evaluate_all,
)
from .region import Region
from .verdict import choose_variant
from .vocabulary import Field

FORMATS = ("text", "md", "json")
STATUS = {True: "applies", False: "does_not_apply", None: "undecided"}
_HOLDS = {True: "true", False: "false", None: "undecided"}
_UNKNOWN = None  # a change to this value removes the field (makes it unknown)
MAX_SHOWN = 12  # flips listed in text and Markdown; JSON lists all


class UnknownRuleError(ClusterAdvisorError):
    """Raised when the rule id to explain is not in the rule base."""


@dataclass(frozen=True)
class ConditionNode:
    """One node of a condition tree, with the region's value and whether it holds."""

    text: str
    holds: Truth
    kind: str  # all | any | test | derived
    field: str | None = None
    value: Any = None
    known: bool = False
    value_text: str = ""
    derived: str | None = None
    title: str = ""
    children: tuple[ConditionNode, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return the node as JSON-ready data."""
        data: dict[str, Any] = {"kind": self.kind, "text": self.text, "holds": _HOLDS[self.holds]}
        if self.kind == "test":
            data.update(field=self.field, value=self.value if self.known else None, value_text=self.value_text)
        if self.kind == "derived":
            data.update(derived=self.derived, title=self.title)
        if self.children:
            data["conditions"] = [c.to_dict() for c in self.children]
        return data


@dataclass(frozen=True)
class Flip:
    """A set of changes of the region's facts (None: make the field unknown) and the status it leads to."""

    changes: Mapping[str, Any]
    status: Truth

    def to_dict(self) -> dict[str, Any]:
        """Return the flip as JSON-ready data."""
        return {"changes": dict(self.changes), "status": STATUS[self.status]}


@dataclass(frozen=True)
class Explanation:
    """Everything `explain` says about one rule for one region."""

    rule: Rule
    region: Region
    holds: Truth
    detail: str  # kept | superseded | not_applicable | no_deficit | undecided | holds | does_not_hold
    superseded_by: tuple[str, ...]
    parts: tuple[tuple[str, ConditionNode], ...]  # (label, tree): "applies"/"deficit" for remedies, else "when"
    flips: tuple[Flip, ...]
    flip_size: int  # 1 for single changes, 2 for pairs, 0 when none was found
    variant: str | None
    reads_panel: bool  # whether it reads computed panel facts, which no flip changes
    kb: KnowledgeBase = dc_field(compare=False, repr=False, kw_only=True)

    @property
    def status(self) -> str:
        """The JSON status: applies, does_not_apply or undecided."""
        return STATUS[self.holds]

    def to_dict(self) -> dict[str, Any]:
        """Return the explanation as JSON-ready data."""
        return {
            "rule": self.rule.id,
            "title": self.rule.title,
            "category": self.rule.kind or self.rule.category,
            "region": {"name": self.region.name, "source": self.region.source, "document": self.region.document},
            "status": self.status,
            "detail": self.detail,
            "superseded_by": list(self.superseded_by),
            "variant": self.variant,
            "reads_panel": self.reads_panel,
            "conditions": [{"part": label, **node.to_dict()} for label, node in self.parts],
            "flips": [flip.to_dict() for flip in self.flips],
        }


# ---------------------------------------------------------------- evaluation


def _needed(kb: KnowledgeBase, rule: Rule) -> list[tuple[str, Evaluator]]:
    """The compiled evaluators of the rule and of the derived facts it reads, in evaluation order."""
    wanted: set[str] = {rule.id}
    stack = [rule]
    while stack:
        for ref in stack.pop().derived_refs:
            if ref not in wanted:
                wanted.add(ref)
                stack.append(kb.by_id[ref])
    return [(rule_id, evaluator) for rule_id, evaluator in kb.evaluators if rule_id in wanted]


def _status(evaluators: list[tuple[str, Evaluator]], facts: Mapping[str, Any]) -> dict[str, Truth]:
    status: dict[str, Truth] = {}
    for rule_id, evaluator in evaluators:
        status[rule_id] = evaluator(facts, status)
    return status


def _tests(kb: KnowledgeBase, condition: Condition, seen: set[str]) -> Iterable[FieldTest]:
    """Every field test a condition makes, through derived facts too."""
    if isinstance(condition, FieldTest):
        yield condition
    elif isinstance(condition, Derived):
        if condition.id not in seen:
            seen.add(condition.id)
            yield from _tests(kb, kb.by_id[condition.id].when, seen)
    else:
        for item in condition.items:
            yield from _tests(kb, item, seen)


def candidate_values(f: Field, current: Any, tested: Iterable[FieldTest], words: Iterable[str] = ()) -> list[Any]:
    """Every value worth trying for a field, other than its current one (None: make it unknown).

    Booleans and choices: every value. Lists: add or remove one allowed item, and the empty list
    (for free words, the `words` some rule tests). Integers: each threshold a rule tests and its two
    neighbours, within the field's bounds.
    """
    values: list[Any] = []
    if f.type == "boolean":
        values = [True, False]
    elif f.type == "choice":
        values = list(f.allowed)
    elif f.type in ("choices", "words"):
        items = list(f.allowed) if f.type == "choices" else sorted(words)
        base = list(current) if isinstance(current, list) else []
        values = [[]]
        values += [[*base, item] for item in items if item not in base]
        values += [[x for x in base if x != item] for item in base]
    elif f.type == "integer":
        numbers: set[int] = set()
        for t in tested:
            for v in t.value if isinstance(t.value, tuple) else (t.value,):
                if isinstance(v, int) and not isinstance(v, bool):
                    numbers.update((v - 1, v, v + 1))
        values = sorted(n for n in numbers if (f.minimum is None or n >= f.minimum) and (f.maximum is None or n <= f.maximum))
    values.append(_UNKNOWN)
    unique: list[Any] = []
    for value in values:
        if value is _UNKNOWN and current is None:
            continue
        if value is not _UNKNOWN and value == current:
            continue
        if value not in unique:
            unique.append(value)
    return unique


def _apply(facts: Mapping[str, Any], changes: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    changed = dict(facts)
    for path, value in changes:
        if value is _UNKNOWN:
            changed.pop(path, None)
        else:
            changed[path] = value
    return changed


def find_flips(kb: KnowledgeBase, rule: Rule, facts: Mapping[str, Any]) -> tuple[list[Flip], int]:
    """The smallest sets of field changes that change the rule's status: singles, else pairs.

    Only fields a region file may hold and that the rule reads (through derived facts too) are tried.
    """
    evaluators = _needed(kb, rule)
    before = _status(evaluators, facts)[rule.id]
    tested: dict[str, list[FieldTest]] = {}
    for t in _tests(kb, rule.when, set()):
        tested.setdefault(t.field, []).append(t)
    fields = kb.vocabulary.fields
    paths = [p for p in fields if p in kb.reads[rule.id] and not fields[p].computed]
    candidates = [(p, v) for p in paths for v in candidate_values(fields[p], facts.get(p), tested.get(p, ()), kb.industry_words_read)]

    def flip(changes: tuple[tuple[str, Any], ...]) -> Flip | None:
        after = _status(evaluators, _apply(facts, changes))[rule.id]
        return None if after is before else Flip(dict(changes), after)

    singles = [found for change in candidates if (found := flip((change,))) is not None]
    if singles:
        return singles, 1
    pairs = [found for a, b in itertools.combinations(candidates, 2) if a[0] != b[0] and (found := flip((a, b))) is not None]
    return pairs, (2 if pairs else 0)


# ---------------------------------------------------------------- the condition tree


def _node(kb: KnowledgeBase, condition: Condition, facts: Mapping[str, Any], status: Mapping[str, Truth], expand: bool) -> ConditionNode:
    holds = compile_truth(condition)(facts, status)
    if isinstance(condition, FieldTest):
        f = kb.vocabulary.fields[condition.field]
        known = condition.field in facts
        value = facts.get(condition.field)
        return ConditionNode(
            describe_condition(condition), holds, "test", field=condition.field, value=value, known=known,
            value_text=f.describe(value) if known else "unknown",
        )
    if isinstance(condition, Derived):
        derived = kb.by_id[condition.id]
        children: tuple[ConditionNode, ...] = ()
        if expand:  # one level: a derived fact inside a derived fact shows only its own status
            children = (_node(kb, derived.when, facts, status, expand=False),)
        return ConditionNode(describe_condition(condition), holds, "derived", derived=condition.id, title=derived.title, children=children)
    kind = "all" if isinstance(condition, All) else "any"
    assert isinstance(condition, (All, AnyOf))
    items = tuple(_node(kb, item, facts, status, expand) for item in condition.items)
    return ConditionNode(describe_condition(condition), holds, kind, children=items)


def explain(kb: KnowledgeBase, region: Region, rule_id: str) -> Explanation:
    """Explain whether `rule_id` holds for `region`, condition by condition, and what would flip it."""
    rule = kb.by_id.get(rule_id)
    if rule is None:
        raise UnknownRuleError(f"{region.source}: {rule_id!r} is not a rule id of rule base {kb.version}; `clusteradvisor rules` lists them.")
    facts = region.facts
    status = evaluate_all(kb, facts)
    holds = status[rule.id]
    superseded_by = tuple(by for by in kb.superseded_by.get(rule.id, ()) if status.get(by) is True) if holds is True else ()
    parts: list[tuple[str, ConditionNode]] = []
    variant: str | None = None
    if rule.category == "recommendation" and rule.is_remedy:
        applies = rule.applies if rule.applies is not None else All(())
        applies_now = compile_truth(applies)(facts, status)
        deficit_now = compile_truth(rule.deficit)(facts, status) if rule.deficit is not None else None
        if rule.applies is not None and rule.applies != All(()):  # "always" says nothing worth a line
            parts.append(("applies", _node(kb, applies, facts, status, True)))
        if rule.deficit is not None:
            parts.append(("deficit", _node(kb, rule.deficit, facts, status, True)))
        if holds is True:
            detail = "superseded" if superseded_by else "kept"
        elif applies_now is False:
            detail = "not_applicable"
        elif deficit_now is False:
            detail = "no_deficit"
        else:
            detail = "undecided"
    else:
        parts.append(("when", _node(kb, rule.when, facts, status, True)))
        if rule.category == "recommendation":
            detail = {True: "superseded" if superseded_by else "kept", False: "does_not_hold", None: "undecided"}[holds]
        else:
            detail = {True: "holds", False: "does_not_hold", None: "undecided"}[holds]
    if rule.category == "recommendation":
        variant = choose_variant(kb, rule, facts, status)[0]
    flips, size = find_flips(kb, rule, facts)
    reads_panel = any(kb.vocabulary.fields[p].computed for p in kb.reads[rule.id])
    return Explanation(rule, region, holds, detail, superseded_by, tuple(parts), tuple(flips), size, variant, reads_panel, kb=kb)


# ---------------------------------------------------------------- rendering (plain text and Markdown)

_DETAIL_TEXT = {
    "kept": "fires and is in the action plan",
    "superseded": "fires, but is covered by {by}, so the plan shows that instead",
    "not_applicable": "does not apply: the situation it addresses is absent",
    "no_deficit": "does not fire: it applies, but nothing is missing",
    "undecided": "is undecided: an unknown fact keeps it open",
    "holds": "holds",
    "does_not_hold": "does not hold",
}
_PART_TEXT = {"applies": "Applies when", "deficit": "Fires (deficit) when", "when": "Holds when"}
_MARK = {True: "yes", False: "no", None: "open"}


def _change_text(kb: KnowledgeBase, path: str, value: Any, esc: Callable[[Any], str]) -> str:
    f = kb.vocabulary.fields[path]
    return f"{esc(path)} → {'unknown' if value is _UNKNOWN else esc(f.describe(value))}"


def _lines(node: ConditionNode, depth: int, md: bool) -> list[str]:
    pad = "  " * depth
    esc = _md if md else str
    mark = f"[{_MARK[node.holds]}]"
    bullet = "- " if md else ""
    if node.kind == "test":
        line = f"{pad}{bullet}{mark} {esc(node.text)} (here: {esc(node.value_text)})"
    elif node.kind == "derived":
        line = f"{pad}{bullet}{mark} {esc(node.text)} ({esc(node.title)})"
    else:
        line = f"{pad}{bullet}{mark} {'all of' if node.kind == 'all' else 'any of'}:" if node.children else f"{pad}{bullet}{mark} always"
    lines = [line]
    for child in node.children:
        lines.extend(_lines(child, depth + 1, md))
    return lines


def _md(text: Any) -> str:
    from .memo import escape_markdown  # the one Markdown escaper (memo.py is jinja2's home: load it only for md)

    return escape_markdown(text)


def render(explanation: Explanation, fmt: str = "text") -> str:
    """Render an explanation as plain text, Markdown or JSON."""
    if fmt == "json":
        return json.dumps(explanation.to_dict(), indent=2, ensure_ascii=False) + "\n"
    md = fmt == "md"
    esc = _md if md else str
    e, kb_rule = explanation, explanation.rule
    kb = e.kb
    where = f"{e.region.source}" + (f" (region {e.region.document})" if e.region.document > 1 else "")
    detail = _DETAIL_TEXT[e.detail].format(by=", ".join(e.superseded_by))
    head = f"{kb_rule.id} for {e.region.name}"
    out: list[str] = [f"# Why: {esc(head)}" if md else f"Why: {head}", ""]
    out.append(f"{esc(where)}: {kb_rule.id} ({esc(kb_rule.title)}) {detail}. Status: {e.status}.")
    if e.variant is not None:
        out.append(f"Wording {'used' if e.holds is True else 'it would use'}: {e.variant}.")
    out.append("")
    for label, node in e.parts:
        out.append(f"## {_PART_TEXT[label]}" if md else f"{_PART_TEXT[label]}:")
        out.extend(_lines(node, 0 if md else 1, md))
        out.append("")
    title = "What would change it" if not md else "## What would change it"
    out.append(title if md else title + ":")
    if not e.flips:
        out.append("No change of one or two of the facts it reads changes its status.")
    else:
        size = "one fact" if e.flip_size == 1 else "two facts together (no single change does it)"
        out.append(f"Changing {size} would change its status ({e.status} now):")
        for flip in e.flips[:MAX_SHOWN]:
            text = "; ".join(_change_text(kb, p, v, esc) for p, v in flip.changes.items()) + f" ⇒ {esc(STATUS[flip.status])}"
            out.append(f"- {text}" if md else f"  - {text}")
        if len(e.flips) > MAX_SHOWN:
            out.append(f"{'- ' if md else '  '}... and {len(e.flips) - MAX_SHOWN} more (--format json lists all)")
    if e.reads_panel:
        out.append("")
        out.append("It also reads answers combined over a panel of respondents (panel.*); those change through the respondents' own files, so no change of them is listed.")
    return "\n".join(out) + "\n"


def explain_file(path: str, rule_id: str, fmt: str = "text", kb: KnowledgeBase | None = None) -> str:
    """Explain one rule for every region of a region file, as one document (JSON: a list if several)."""
    from .knowledge import load_knowledge_base
    from .region import load_regions, read_text

    base = kb or load_knowledge_base()
    if rule_id not in base.by_id:
        raise UnknownRuleError(f"{path}: {rule_id!r} is not a rule id of rule base {base.version}; `clusteradvisor rules` lists them.")
    explanations = [explain(base, region, rule_id) for region in load_regions(read_text(path), path)]
    if fmt not in FORMATS:
        raise ClusterAdvisorError(f"format {fmt!r} is not one of {', '.join(FORMATS)}.")
    if fmt == "json":
        data = [x.to_dict() for x in explanations]
        return json.dumps(data[0] if len(data) == 1 else data, indent=2, ensure_ascii=False) + "\n"
    return "\n".join(render(x, fmt) for x in explanations)
