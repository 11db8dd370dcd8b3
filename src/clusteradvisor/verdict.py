"""The verdict: plain data about one region, built from the engine's firings and the rule base (map v2).

What it holds follows docs/knowledge-model.md: recommendations in plan order, superseded advice and
declared conflicts apart, the variant chosen for each recommendation, scores over decided,
applicable remedies only, and information gaps.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .conditions import Truth, Walker
from .engine import Firing, Inference
from .knowledge import DIMENSIONS, PRIORITIES, STAGES, KnowledgeBase, Rule, evaluate_all
from .records import record
from .region import Region, to_document

MIN_DECIDED = 3  # a dimension's figure needs at least this many decided remedies (docs/knowledge-model.md)
_PRIORITY_RANK = {p: i for i, p in enumerate(PRIORITIES)}
_STAGE_RANK = {s: i for i, s in enumerate(STAGES)}
# How much answering a question matters, by what it would decide: remedies by priority, next steps
# half as much, patterns a little; used only to order the information gaps.
_GAP_WEIGHT = {"critical": 8, "high": 6, "medium": 4, "low": 2}
_SHARED_REASONS = 4096  # reasons kept for reuse across regions, per knowledge base
_SHARED_GAPS = 4096  # ranked gaps kept for reuse across regions, per knowledge base


@record
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


@record
class Finding:
    """A derived fact or pattern that holds for the region, with the facts that made it hold."""

    rule: Rule
    because: tuple[Reason, ...]

    @property
    def id(self) -> str:
        """The rule id."""
        return self.rule.id

    def to_dict(self) -> dict[str, Any]:
        """Return the finding as JSON-ready data."""
        r = self.rule
        data: dict[str, Any] = {"id": r.id, "title": r.title}
        if r.case:
            data.update(case=r.case, peers=list(r.peers))
        data.update(meaning=r.meaning, because=[b.to_dict() for b in self.because], source=r.source, lines=r.lines)
        return data


@record
class ConflictNote:
    """A declared conflict with a recommendation that comes earlier in the plan, and how to do both."""

    other: str
    reconcile: str


@record
class Recommendation:
    """A recommendation that fired and was not superseded: one step of the action plan."""

    rule: Rule
    because: tuple[Reason, ...]
    variant: str
    advice: str
    step: int
    conflicts: tuple[ConflictNote, ...] = ()

    @property
    def id(self) -> str:
        """The rule id."""
        return self.rule.id

    def to_dict(self) -> dict[str, Any]:
        """Return the recommendation as JSON-ready data (the JSON output contract, README "What the memo says")."""
        r = self.rule
        return {
            "id": r.id,
            "step": self.step,
            "kind": r.kind,
            "stage": r.stage,
            "priority": r.priority,
            "dimension": r.dimension,
            "dimension_name": DIMENSIONS[str(r.dimension)],
            "actor": list(r.actor),
            "evidence": r.evidence,
            "lines": r.lines,
            "variant": self.variant,
            "title": r.title,
            "advice": self.advice,
            "success": r.success,
            "case_fact": r.case_fact,
            "peers": list(r.peers),
            "because": [b.to_dict() for b in self.because],
            "conflicts_with": [{"id": c.other, "reconcile": c.reconcile} for c in self.conflicts],
            "source": r.source,
        }


@record
class Superseded:
    """A recommendation that fired but is covered by another that fired too."""

    rule: Rule
    by: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return it as JSON-ready data."""
        return {"id": self.rule.id, "by": self.by[0] if len(self.by) == 1 else list(self.by)}


@record
class ConflictFinding:
    """Two recommendations in the plan that pull in different directions, with the reconciliation."""

    first: str
    second: str
    reconcile: str


@record
class Gap:
    """An unknown field that would decide undecided rules if it were answered."""

    field: str
    label: str
    question: str
    asked: tuple[str, ...]
    decides: tuple[str, ...]
    titles: tuple[str, ...]
    reason: str = "unknown"

    def to_dict(self) -> dict[str, Any]:
        """Return the gap as JSON-ready data."""
        return {"field": self.field, "reason": self.reason, "label": self.label, "question": self.question, "asked": list(self.asked), "decides": list(self.decides)}


@record
class Score:
    """How one dimension of the paper's framework stands: status, and a figure over decided remedies."""

    dimension: str
    name: str
    status: str  # act | on_track | not_assessed
    figure: int | None
    fired: int
    met: int
    not_applicable: int
    undecided: int

    def to_dict(self) -> dict[str, Any]:
        """Return the score as JSON-ready data."""
        return {
            "name": self.name,
            "status": self.status,
            "figure": self.figure,
            "fired": self.fired,
            "met": self.met,
            "not_applicable": self.not_applicable,
            "undecided": self.undecided,
        }


@record
class Verdict:
    """Everything the memo says about one region, as plain data."""

    region: Region
    kb_version: str
    kb_rules: int
    remedies: tuple[Recommendation, ...]
    next_steps: tuple[Recommendation, ...]
    derived: tuple[Finding, ...]
    patterns: tuple[Finding, ...]
    superseded: tuple[Superseded, ...]
    conflicts: tuple[ConflictFinding, ...]
    in_place: tuple[Rule, ...]
    gaps: tuple[Gap, ...]
    scores: tuple[Score, ...]
    unused_industries: tuple[str, ...]
    trace: tuple[Firing, ...]
    kb: KnowledgeBase = field(compare=False, repr=False, kw_only=True)
    status: Mapping[str, Truth] = field(compare=False, repr=False, kw_only=True)

    @property
    def recommendations(self) -> tuple[Recommendation, ...]:
        """The whole plan: remedies in plan order, then next steps (its first element is the first action)."""
        return self.remedies + self.next_steps

    @property
    def most_urgent(self) -> tuple[Recommendation, ...]:
        """The three remedies a summary names: by priority, then stage, then map order."""
        ranked = sorted(self.remedies, key=lambda r: (_PRIORITY_RANK[str(r.rule.priority)], _STAGE_RANK[str(r.rule.stage)], r.rule.order))
        return tuple(ranked[:3])

    @property
    def respondent_role(self) -> str | None:
        """Who answered a single file (None when it does not say)."""
        role = self.region.facts.get("respondent.role")
        return str(role) if role else None

    @property
    def firms_heard(self) -> bool:
        """Whether a firm answered (the paper distrusts an account of the field without firms' view)."""
        roles = self.region.facts.get("panel.roles")
        if roles is not None:
            return "firm" in roles
        return self.respondent_role == "firm"

    def counts(self) -> dict[str, int]:
        """Number of remedies per priority, every priority present."""
        counts = {p: 0 for p in PRIORITIES}
        for item in self.remedies:
            counts[str(item.rule.priority)] += 1
        return counts

    def summary_row(self) -> dict[str, Any]:
        """One flat row for comparing regions (batch summaries, `assess_many`): scalars only."""
        row: dict[str, Any] = {"name": self.region.name, "source": self.region.source, "document": self.region.document}
        row.update(self.counts())
        row["next_steps"] = len(self.next_steps)
        row["first_action"] = self.recommendations[0].id if self.recommendations else None
        row["most_urgent"] = " ".join(r.id for r in self.most_urgent)
        for score in self.scores:
            row[f"{score.dimension}_status"] = score.status
            row[f"{score.dimension}_figure"] = score.figure
        row["patterns"] = " ".join(p.id for p in self.patterns)
        row["recommendations"] = " ".join(r.id for r in self.recommendations)
        row["migrated"] = self.region.migration is not None
        findings = self.region.panel
        row["respondents"] = ", ".join(f"{role} {count}" for role, count in findings.counts.items()) if findings else None
        row["perception_gap_pct"] = findings.gap_share_pct if findings else None
        return row

    def to_dict(self, show_respondents: bool = False) -> dict[str, Any]:
        """Return the whole verdict as JSON-ready data (stable key order; the output contract in the README).

        A panel adds `panel`, `perception_gaps`, `fact_disagreements` and `splits`; answers carry
        roles only, and respondents' labels and files only with `show_respondents`.
        """
        region = self.region
        source = region.source
        if region.panel is not None and not show_respondents:  # file names may name people: roles and counts only
            source = f"a panel of {sum(region.panel.counts.values())} respondents' files"
        data: dict[str, Any] = {
            "region": {
                "name": region.name,
                "source": source,
                "document": region.document,
                "respondent_role": self.respondent_role,
                "firms_heard": self.firms_heard,
                "facts": to_document({p: v for p, v in region.facts.items() if not p.startswith("panel.")}),
            },
            "migration": region.migration.to_dict() if region.migration else None,
            "knowledge_base": {"version": self.kb_version, "rules": self.kb_rules},
            "summary": {"counts": self.counts(), "next_steps": len(self.next_steps), "most_urgent": [r.id for r in self.most_urgent]},
            "recommendations": [r.to_dict() for r in self.recommendations],
            "derived": [f.to_dict() for f in self.derived],
            "patterns": [f.to_dict() for f in self.patterns],
            "superseded": [s.to_dict() for s in self.superseded],
            "conflicts": [[c.first, c.second] for c in self.conflicts],
            "in_place": [r.id for r in self.in_place],
            "gaps": [g.to_dict() for g in self.gaps],
            "scores": {s.dimension: s.to_dict() for s in self.scores},
            "unused_industries": list(self.unused_industries),
        }
        panel = region.panel
        if panel is not None:
            data["panel"] = panel.summary()
            data["perception_gaps"] = [g.to_dict(show_respondents) for g in panel.perception_gaps]
            data["fact_disagreements"] = [d.to_dict(show_respondents) for d in panel.fact_disagreements]
            data["splits"] = [s.to_dict(show_respondents) for s in panel.splits]
        return data


# ---------------------------------------------------------------- reasons


def _reasons(kb: KnowledgeBase, rule: Rule, facts: Mapping[str, Any], derived: Mapping[str, Finding], cache: dict[Any, Reason]) -> tuple[Reason, ...]:
    """Why a rule that fired holds: the tests in its condition that hold and the derived facts it
    reads that hold, in the order written, each field or fact once. `cache` keeps this region's reasons."""
    reasons: list[Reason] = []
    for key in dict.fromkeys(kb.holding[rule.id](facts, derived)):
        reason = cache.get(key)
        if reason is None:
            if type(key) is str:
                reason = _field_reason(kb, key, facts[key])
            else:
                finding = derived[key[1]]
                reason = Reason(finding.rule.title, derived=key[1], because=finding.because)
            cache[key] = reason
        reasons.append(reason)
    return tuple(reasons)


def _field_reason(kb: KnowledgeBase, path: str, value: Any) -> Reason:
    """The reason a known field gives (shared by every region with the same answer, up to a bound)."""
    shared = type(value) is not list  # a list answer is not hashable: built for each region
    known = _tables(kb).reasons
    reason = known.get((path, type(value), value)) if shared else None
    if reason is None:
        field = kb.vocabulary.fields[path]
        reason = Reason(f"{field.label}: {field.describe(value)}", field=path, value=value)
        if shared:
            if len(known) >= _SHARED_REASONS:
                known.clear()
            known[path, type(value), value] = reason
    return reason


# ---------------------------------------------------------------- the verdict


def plan_key(rule: Rule) -> tuple[int, int, int]:
    """Action-plan order: stage, then priority, then the map's order (never the id's alphabet)."""
    return (_STAGE_RANK[str(rule.stage)], _PRIORITY_RANK[str(rule.priority)], rule.order)


def choose_variant(kb: KnowledgeBase, rule: Rule, facts: Mapping[str, Any], status: Mapping[str, Truth]) -> tuple[str, str]:
    """The first variant whose condition holds (its id and advice), else ("default", the rule's advice)."""
    evaluators = kb.variant_evaluators.get(rule.id)
    if evaluators:  # most rules have no variant
        for (variant_id, evaluator), variant in zip(evaluators, rule.variants, strict=True):
            if evaluator(facts, status) is True:
                return variant_id, variant.advice
    return "default", rule.advice


def build_verdict(kb: KnowledgeBase, region: Region, inference: Inference, status: Mapping[str, Truth] | None = None) -> Verdict:
    """Turn the engine's conclusions into a verdict: plan, supersession, conflicts, gaps and scores."""
    facts = region.facts
    status = status if status is not None else evaluate_all(kb, facts)
    fired = set(inference.fired)
    cache: dict[Any, Reason] = {}
    derived: dict[str, Finding] = {}
    for rule in kb.derived_order:
        if rule.id in fired:
            derived[rule.id] = Finding(rule, _reasons(kb, rule, facts, derived, cache))
    patterns = tuple(Finding(r, _reasons(kb, r, facts, derived, cache)) for r in kb.of_category("pattern") if r.id in fired)

    fired_recs = [r for r in kb.recommendations if r.id in fired]
    fired_ids = {r.id for r in fired_recs}
    superseded = tuple(
        Superseded(r, tuple(by for by in kb.superseded_by.get(r.id, ()) if by in fired_ids))
        for r in fired_recs
        if any(by in fired_ids for by in kb.superseded_by.get(r.id, ()))
    )
    dropped = {s.rule.id for s in superseded}
    kept = sorted((r for r in fired_recs if r.id not in dropped), key=lambda r: (r.kind != "remedy", *plan_key(r)))
    position = {r.id: i for i, r in enumerate(kept)}
    conflicts: list[ConflictFinding] = []
    notes: dict[str, list[ConflictNote]] = {}
    for conflict in kb.conflicts:
        a, b = conflict.pair
        if a in position and b in position:
            first, second = (a, b) if position[a] < position[b] else (b, a)
            conflicts.append(ConflictFinding(first, second, conflict.reconcile))
            notes.setdefault(second, []).append(ConflictNote(first, conflict.reconcile))
    conflicts.sort(key=lambda c: position[c.second])
    plan: list[Recommendation] = []
    for step, rule in enumerate(kept, start=1):
        variant, advice = choose_variant(kb, rule, facts, status)
        because = _reasons(kb, rule, facts, derived, cache)
        plan.append(Recommendation(rule, because, variant, advice, step, tuple(notes.get(rule.id, ()))))

    scores, in_place = _scores(kb, facts, status, dropped)
    used = kb.industry_words_read
    return Verdict(
        region=region,
        kb_version=kb.version,
        kb_rules=len(kb.rules),
        remedies=tuple(r for r in plan if r.rule.kind == "remedy"),
        next_steps=tuple(r for r in plan if r.rule.kind != "remedy"),
        derived=tuple(derived[r.id] for r in kb.of_category("derived") if r.id in derived),
        patterns=patterns,
        superseded=superseded,
        conflicts=tuple(conflicts),
        in_place=in_place,
        gaps=_with_panel_gaps(kb, region, find_gaps(kb, facts, status)),
        scores=scores,
        unused_industries=tuple(w for w in facts.get("industries", ()) if w not in used),
        trace=inference.trace,
        kb=kb,
        status=status,
    )


def _scores(kb: KnowledgeBase, facts: Mapping[str, Any], status: Mapping[str, Truth], superseded: set[str]) -> tuple[tuple[Score, ...], tuple[Rule, ...]]:
    """Scores per dimension and the remedies already in place (applicable, no deficit)."""
    counts: dict[str, list[int]] = {d: [0, 0, 0, 0] for d in DIMENSIONS}  # fired, met, not applicable, undecided
    in_place: list[Rule] = []
    truths = kb.remedy_status(facts, dict(status))
    for rule, applies, deficit in kb.remedy_parts:
        if rule.id in superseded:
            continue
        applies_now = True if applies is None else truths[applies]
        deficit_now = truths[deficit]
        row = counts[str(rule.dimension)]
        if applies_now is False:
            row[2] += 1
        elif applies_now is True and deficit_now is True:
            row[0] += 1
        elif applies_now is True and deficit_now is False:
            row[1] += 1
            in_place.append(rule)
        else:
            row[3] += 1
    scores = []
    for dimension, name in DIMENSIONS.items():
        fired, met, not_applicable, undecided = counts[dimension]
        decided = fired + met
        figure = (200 * met + decided) // (2 * decided) if decided >= MIN_DECIDED else None  # round half up
        status_name = "act" if fired else ("on_track" if decided >= MIN_DECIDED else "not_assessed")
        scores.append(Score(dimension, name, status_name, figure, fired, met, not_applicable, undecided))
    return tuple(scores), tuple(in_place)


# ---------------------------------------------------------------- information gaps


def find_gaps(kb: KnowledgeBase, facts: Mapping[str, Any], status: Mapping[str, Truth]) -> tuple[Gap, ...]:
    """Unknown fields whose answer would decide an undecided rule, most consequential first."""
    tables = _tables(kb)
    deciders: dict[str, list[int]] = {}  # each open field: the undecided rules it would decide, by position
    get = status.get
    for index, rule_id, walk in tables.walks:
        if get(rule_id) is None:
            found: set[str] = set()
            walk(facts, status, found, set())
            for path in found:
                deciders.setdefault(path, []).append(index)
    preconditions = kb.ask_when_truth
    shared = tables.gaps
    ranked: list[tuple[int, int, Gap]] = []
    for path, indices in deciders.items():
        precondition = preconditions.get(path)
        if precondition is not None and precondition(facts, status) is not True:
            continue
        key = (path, *indices)
        if key in shared:
            entry = shared[key]
        else:
            entry = _ranked_gap(kb, tables, path, indices)
            if len(shared) >= _SHARED_GAPS:
                shared.clear()
            shared[key] = entry
        if entry is not None:
            ranked.append(entry)
    ranked.sort(key=_by_weight_and_order)
    return tuple(gap for _, _, gap in ranked)


def _ranked_gap(kb: KnowledgeBase, tables: _Tables, path: str, indices: list[int]) -> tuple[int, int, Gap] | None:
    """A gap with its place in the ranking (minus its weight, then the field's order); None for a
    computed field (panel combination writes it, nobody is asked)."""
    order = tables.order.get(path)
    if order is None:
        return None
    rules = sorted((tables.rules[i] for i in indices), key=_by_rank)
    titles = tuple(r.title for r in rules if r.recommendation) or tuple(r.title for r in rules)
    field = kb.vocabulary.fields[path]
    return -sum(r.weight for r in rules), order, Gap(path, field.label, field.question, field.asked, tuple(r.id for r in rules), titles)


@dataclass(frozen=True)
class _GapRule:
    """What ranking the information gaps needs of one rule."""

    id: str
    title: str
    recommendation: bool
    weight: int  # how much deciding it matters
    rank: int  # its position when rules are listed by importance


@dataclass(frozen=True)
class _Tables:
    """What building verdicts keeps per knowledge base."""

    rules: tuple[_GapRule, ...]  # for the gaps, in definition order
    walks: tuple[tuple[int, str, Walker], ...]  # the same rules: each one's position, id and gap walker
    order: dict[str, int]  # each field that can be asked: its position in the vocabulary
    reasons: dict[tuple[str, type, Any], Reason]  # the reason each (field, answer) gives
    gaps: dict[tuple[Any, ...], tuple[int, int, Gap] | None]  # each (field, rules' positions) seen: its ranked gap


def _by_rank(rule: _GapRule) -> int:
    return rule.rank


def _by_weight_and_order(item: tuple[int, int, Gap]) -> tuple[int, int]:
    return item[0], item[1]


def _tables(kb: KnowledgeBase) -> _Tables:
    """Per knowledge base, once: each rule's gap weight and rank, each askable field's order, and
    the reasons and gaps given so far."""
    tables = kb.caches.get("verdict")
    if tables is None:
        rank = {r.id: i for i, r in enumerate(sorted(kb.rules, key=_importance))}  # stable: ties keep definition order
        walkers = kb.gap_walkers
        tables = _Tables(
            tuple(_GapRule(r.id, r.title, r.category == "recommendation", _gap_weight(r), rank[r.id]) for r in kb.rules),
            tuple((i, r.id, walkers[r.id]) for i, r in enumerate(kb.rules)),
            {path: i for i, (path, f) in enumerate(kb.vocabulary.fields.items()) if not f.computed},
            {},
            {},
        )
        kb.caches["verdict"] = tables
    assert isinstance(tables, _Tables)
    return tables


def _with_panel_gaps(kb: KnowledgeBase, region: Region, gaps: tuple[Gap, ...]) -> tuple[Gap, ...]:
    """Give the fields a panel left unknown their reason, and list each of them (map section 12, Panels).

    A fact the respondents disagree on, or a perception field whose deciding answers tie, is a gap
    even when no undecided rule reads it: the respondents should settle it. Those already ranked
    keep their place; the others follow in vocabulary order.
    """
    if region.panel is None:
        return gaps
    reasons = region.panel.unknown_reasons()
    ranked = [replace(g, reason=reasons.get(g.field, g.reason)) for g in gaps]
    listed = {g.field for g in gaps}
    for path in kb.vocabulary.fields:
        if path in reasons and path not in listed:
            f = kb.vocabulary.fields[path]
            # No undecided rule waits on it, but the rules reading it are what settling it may change.
            readers = sorted((kb.by_id[r] for r in kb.readers.get(path, ())), key=_importance)
            titles = tuple(r.title for r in readers if r.category == "recommendation") or tuple(r.title for r in readers)
            ranked.append(Gap(path, f.label, f.question, f.asked, tuple(r.id for r in readers), titles, reasons[path]))
    return tuple(ranked)


def _gap_weight(rule: Rule) -> int:
    if rule.category != "recommendation":
        return 1 if rule.category == "pattern" else 0
    weight = _GAP_WEIGHT[str(rule.priority)]
    return weight if rule.kind == "remedy" else weight // 2


def _importance(rule: Rule) -> tuple[int, int, int, int]:
    category = ("recommendation", "pattern", "derived").index(rule.category)
    priority = _PRIORITY_RANK.get(str(rule.priority), len(PRIORITIES))
    return (category, rule.kind != "remedy", priority, rule.order)
