"""The verdict: plain data about one region, built from the engine's firings and the rule base."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .engine import Firing, Inference
from .knowledge import (
    DIMENSIONS,
    PRIORITIES,
    Condition,
    Derived,
    KnowledgeBase,
    Rule,
    Test,
    Truth,
    evaluate_all,
    test_truth,
)
from .region import Region, to_document

PRIORITY_WEIGHT = {"critical": 4, "high": 3, "medium": 2, "low": 1}
_PRIORITY_RANK = {p: i for i, p in enumerate(PRIORITIES)}
_DIMENSION_RANK = {d: i for i, d in enumerate(DIMENSIONS)}


@dataclass(frozen=True)
class Reason:
    """One fact behind a conclusion: an input field, or a derived fact traced to its own reasons."""

    text: str
    field: str | None = None
    value: Any = None
    derived: str | None = None
    because: tuple[Reason, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return the reason as JSON-ready data."""
        if self.derived is not None:
            return {"derived": self.derived, "text": self.text, "because": [r.to_dict() for r in self.because]}
        return {"field": self.field, "value": self.value, "text": self.text}


@dataclass(frozen=True)
class Finding:
    """A rule that holds for the region, with the facts that made it hold."""

    rule: Rule
    because: tuple[Reason, ...]

    @property
    def id(self) -> str:
        """The rule id."""
        return self.rule.id

    def to_dict(self) -> dict[str, Any]:
        """Return the finding as JSON-ready data."""
        r = self.rule
        data: dict[str, Any] = {"id": r.id}
        if r.priority:
            data["priority"] = r.priority
        if r.dimension:
            data["dimension"] = r.dimension
            data["dimension_name"] = DIMENSIONS[r.dimension]
        if r.case:
            data["case"] = r.case
        data.update(title=r.title, advice=r.advice, because=[b.to_dict() for b in self.because], source=r.source, theme=r.theme)
        return data


@dataclass(frozen=True)
class Gap:
    """An unknown field that would decide rules if it were answered."""

    field: str
    label: str
    question: str
    decides: tuple[str, ...]
    titles: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return the gap as JSON-ready data."""
        return {"field": self.field, "label": self.label, "question": self.question, "decides": list(self.decides)}


@dataclass(frozen=True)
class Score:
    """How much of one dimension's advice the region already satisfies, over decided rules."""

    dimension: str
    name: str
    score: int | None
    satisfied: int
    open: int
    undecided: int

    def to_dict(self) -> dict[str, Any]:
        """Return the score as JSON-ready data."""
        return {"name": self.name, "score": self.score, "satisfied": self.satisfied, "open": self.open, "undecided": self.undecided}


@dataclass(frozen=True)
class Verdict:
    """Everything the memo says about one region, as plain data."""

    region: Region
    kb_version: str
    kb_rules: int
    recommendations: tuple[Finding, ...]
    derived: tuple[Finding, ...]
    patterns: tuple[Finding, ...]
    strengths: tuple[Finding, ...]
    gaps: tuple[Gap, ...]
    scores: tuple[Score, ...]
    trace: tuple[Firing, ...]

    def counts(self) -> dict[str, int]:
        """Number of recommendations per priority, every priority present."""
        counts = {p: 0 for p in PRIORITIES}
        for finding in self.recommendations:
            counts[str(finding.rule.priority)] += 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        """Return the whole verdict as JSON-ready data (stable key order)."""
        return {
            "region": {
                "name": self.region.name,
                "source": self.region.source,
                "document": self.region.document,
                "facts": to_document(self.region.facts),
            },
            "knowledge_base": {"version": self.kb_version, "rules": self.kb_rules},
            "summary": {"counts": self.counts(), "top": [f.id for f in self.recommendations[:3]]},
            "recommendations": [f.to_dict() for f in self.recommendations],
            "derived": [f.to_dict() for f in self.derived],
            "patterns": [f.to_dict() for f in self.patterns],
            "strengths": [f.to_dict() for f in self.strengths],
            "gaps": [g.to_dict() for g in self.gaps],
            "scores": {s.dimension: s.to_dict() for s in self.scores},
            "trace": [{"order": t.order, "rule": t.rule, "matched": list(t.matched)} for t in self.trace],
        }


def _reasons(
    condition: Condition,
    kb: KnowledgeBase,
    facts: Mapping[str, Any],
    derived: Mapping[str, Finding],
    cache: dict[str, Reason],
) -> list[Reason]:
    """The parts of a condition that hold, as reasons (only called on conditions that hold)."""
    if isinstance(condition, Test):
        if test_truth(condition, facts) is not True:
            return []
        path = condition.field
        if path not in cache:
            field = kb.vocabulary.fields[path]
            value = facts[path]
            cache[path] = Reason(f"{field.label}: {field.describe(value)}", field=path, value=value)
        return [cache[path]]
    if isinstance(condition, Derived):
        finding = derived.get(condition.id)
        if finding is None:
            return []
        return [Reason(finding.rule.title, derived=condition.id, because=finding.because)]
    reasons: list[Reason] = []
    for item in condition.items:
        reasons.extend(_reasons(item, kb, facts, derived, cache))
    return reasons


def _unique(reasons: list[Reason]) -> tuple[Reason, ...]:
    seen: set[tuple[str | None, str | None]] = set()
    result = []
    for reason in reasons:
        key = (reason.field, reason.derived)
        if key not in seen:
            seen.add(key)
            result.append(reason)
    return tuple(result)


def build_verdict(kb: KnowledgeBase, region: Region, inference: Inference, status: Mapping[str, Truth] | None = None) -> Verdict:
    """Turn the engine's conclusions into a verdict with reasons, gaps, scores and strengths."""
    facts = region.facts
    status = status if status is not None else evaluate_all(kb, facts)
    fired = set(inference.fired)
    derived: dict[str, Finding] = {}
    cache: dict[str, Reason] = {}
    for rule in kb.derived_order:
        if rule.id in fired:
            derived[rule.id] = Finding(rule, _unique(_reasons(rule.when, kb, facts, derived, cache)))
    findings: dict[str, list[Finding]] = {"recommendation": [], "pattern": [], "strength": []}
    for rule in kb.rules:
        if rule.kind != "derived" and rule.id in fired:
            findings[rule.kind].append(Finding(rule, _unique(_reasons(rule.when, kb, facts, derived, cache))))
    recommendations = sorted(findings["recommendation"], key=lambda f: (_PRIORITY_RANK[str(f.rule.priority)], f.id))
    return Verdict(
        region=region,
        kb_version=kb.version,
        kb_rules=len(kb.rules),
        recommendations=tuple(recommendations),
        derived=tuple(derived[r.id] for r in kb.of_kind("derived") if r.id in derived),
        patterns=tuple(findings["pattern"]),
        strengths=tuple(sorted(findings["strength"], key=lambda f: (_DIMENSION_RANK[str(f.rule.dimension)], f.id))),
        gaps=_gaps(kb, facts, status),
        scores=_scores(kb, status),
        trace=inference.trace,
    )


def _gaps(kb: KnowledgeBase, facts: Mapping[str, Any], status: Mapping[str, Truth]) -> tuple[Gap, ...]:
    gaps: list[tuple[int, int, Gap]] = []
    for order, (path, readers) in enumerate(kb.ranked_readers):
        if path in facts:
            continue
        undecided = [rule for rule in readers if status[rule.id] is None]
        if not undecided:
            continue
        weight = sum(PRIORITY_WEIGHT.get(str(r.priority), 0) for r in undecided)
        field = kb.vocabulary.fields[path]
        shown = [r for r in undecided if r.kind != "strength"] or undecided
        gap = Gap(path, field.label, field.question, tuple(r.id for r in undecided), tuple(r.title for r in shown))
        gaps.append((-weight, order, gap))
    return tuple(g for _, _, g in sorted(gaps, key=lambda item: (item[0], item[1])))


def _scores(kb: KnowledgeBase, status: Mapping[str, Truth]) -> tuple[Score, ...]:
    scores = []
    for dimension, name, rules in kb.by_dimension:
        satisfied = open_ = satisfied_weight = decided_weight = 0
        for rule in rules:
            holds = status[rule.id]
            if holds is None:
                continue
            weight = PRIORITY_WEIGHT[str(rule.priority)]
            decided_weight += weight
            if holds:
                open_ += 1
            else:
                satisfied += 1
                satisfied_weight += weight
        score = round(100 * satisfied_weight / decided_weight) if decided_weight else None
        scores.append(Score(dimension, name, score, satisfied, open_, len(rules) - satisfied - open_))
    return tuple(scores)
