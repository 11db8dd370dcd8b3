"""What a memo says, computed once in Python from a verdict: the template context every format shares.

Templates only lay this out. The keys are a stable interface for office templates (README, "Memo
templates"): add keys freely, never rename or remove one. Region text stays plain text here; each
template escapes it for its format.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from . import __version__
from .knowledge import DIMENSIONS, KnowledgeBase, Rule, evaluate_with
from .panel import Answer
from .verdict import Gap, Reason, Recommendation, Verdict

# Shared phrases: every format takes its wording for these from here.
STUDY = (
    "The advice rests on one field study: about 40 interviews with small-firm owners and local officials in nine Japanese "
    "industrial districts, October 2002 to April 2003, chosen for their most proactive cases, plus a review of the national "
    "cluster plans of 2001-2002. It measured no impacts. Its lessons support an official's judgement; they do not replace "
    "local knowledge, and the paper itself says each country must fit policy to its own institutions."
)
PRIORITY_LABELS = {"critical": "critical", "high": "high", "medium": "medium", "low": "low"}
STAGE_LABELS = {
    "diagnose": "Find out and listen",
    "people": "People",
    "design": "Policy design",
    "money": "Money",
    "networks": "Networks and markets",
}
EVIDENCE_LABELS = {
    "prescribed": "prescribed by the paper",
    "observed": "observed in the study",
    "inferred": "inferred by ClusterAdvisor from the paper",
}
ACTOR_LABELS = {
    "national": "national ministry",
    "regional": "region or prefecture",
    "municipal": "city, ward or town",
    "support_centre": "support centre",
    "firms": "firms",
    "university": "universities",
}
STATUS_LABELS = {"act": "act", "on_track": "on track", "not_assessed": "not assessed"}
ROLE_PLURALS = {"official": "officials", "firm": "firms", "support": "support staff", "researcher": "researchers"}
BRIEF_ACTIONS = 5  # the brief names at most this many critical or high actions
BRIEF_GAPS = 3

# The scorecard chart's geometry, in SVG user units.
CHART_WIDTH = 640
CHART_ROW = 26
CHART_LABEL = 250
CHART_BAR = 280


@functools.lru_cache(maxsize=8192)  # the same labels and values recur in every memo
def _lower_first(text: str) -> str:
    """Lower-case the first letter of a sentence fragment (not of an acronym such as U-I-G or SME)."""
    word = text.split(" ", 1)[0]
    return text if len(word) > 1 and word.replace("-", "").isupper() else text[:1].lower() + text[1:]


def reason_text(reason: Reason) -> str:
    """One reason as a fragment for a list joined by semicolons (no nested parentheses)."""
    if reason.derived is None:
        return _lower_first(reason.text)
    inner = ", ".join(_lower_first(r.text) for r in reason.because if r.derived is None)
    return f"{_lower_first(reason.text)}, given {inner}" if inner else _lower_first(reason.text)


def _because(reasons: tuple[Reason, ...]) -> dict[str, Any]:
    """`because` (the reasons as fragments) and `because_text` (joined with semicolons)."""
    because = [reason_text(r) for r in reasons]
    return {"because": because, "because_text": "; ".join(because)}


def _actors(actors: tuple[str, ...]) -> str:
    return ", ".join(ACTOR_LABELS[a] for a in actors)


def _item(rec: Recommendation, steps: Mapping[str, tuple[int, str]], static: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    item = static[rec.rule.id].copy()  # the rule's own keys, in the interface's key order
    item["step"] = rec.step
    item["advice"] = rec.advice
    item["variant"] = rec.variant
    item["peers"] = list(rec.rule.peers)
    item["because"] = because = [reason_text(r) for r in rec.because]  # _because, inlined: ~16 items a memo
    item["because_text"] = "; ".join(because)
    item["conflicts"] = [{"step": steps[c.other][0], "title": steps[c.other][1], "reconcile": c.reconcile} for c in rec.conflicts]
    return item


def _static_items(kb: KnowledgeBase) -> dict[str, dict[str, Any]]:
    """Per rule base, once: what a plan item says of its rule whatever the region (the keys `_item` fills are None)."""
    table = kb.caches.get("context_items")
    if table is None:
        table = kb.caches["context_items"] = {
            rule.id: {
                "step": None,
                "id": rule.id,
                "title": rule.title,
                "advice": None,
                "variant": None,
                "kind": rule.kind,
                "priority": rule.priority,
                "priority_title": str(rule.priority).capitalize(),
                "stage": rule.stage,
                "stage_label": STAGE_LABELS[str(rule.stage)],
                "dimension": rule.dimension,
                "dimension_name": DIMENSIONS[str(rule.dimension)],
                "actors": _actors(rule.actor),
                "evidence": rule.evidence,
                "evidence_label": EVIDENCE_LABELS[str(rule.evidence)],
                "lines": rule.lines,
                "source": rule.source,
                "case_fact": rule.case_fact,
                "peers": None,
                "because": None,
                "because_text": None,
                "success": rule.success,
                "conflicts": None,
            }
            for rule in kb.recommendations
        }
    assert isinstance(table, dict)
    return table


@functools.lru_cache(maxsize=256)
def _ask(asked: tuple[str, ...]) -> str:
    return ", ".join(ROLE_PLURALS[r] for r in asked) if asked else "the file's author"


def _gap_item(kb: KnowledgeBase, gap: Gap, effects: list[str] | None = None) -> dict[str, Any]:
    decides = [_lower_first(t) for t in gap.titles]
    return {
        "label": gap.label,
        "question": gap.question,
        "ask": _ask(gap.asked),
        "decides": decides,
        "decides_text": "; ".join(decides),
        "reason": gap.reason,
        "reason_label": GAP_REASONS.get(gap.reason, gap.reason),
        "effects": effects or [],
    }


def gap_effects(kb: KnowledgeBase, verdict: Verdict, gap: Gap, now: set[str] | None = None) -> list[str]:
    """What each answer to an open question would add to the plan, in plain words.

    Answering never removes advice that already applies (no rule has a negation), so each answer is
    described by the recommendations it would add. `now`: the ids of the recommendations that fired
    (computed from the verdict when not given).
    """
    field = kb.vocabulary.fields[gap.field]
    if field.type == "boolean":
        answers: list[tuple[Any, str]] = [(True, "yes"), (False, "no")]
    elif field.type == "choice":
        answers = [(c.value, c.label) for c in field.choices]
    else:
        return []
    facts = dict(verdict.region.facts)
    base = verdict.status
    if now is None:
        now = _fired_recommendations(verdict)
    # Only the rules that read the field can change; a recommendation that holds already is in the plan.
    readers = _reading_recommendations(kb, gap.field)
    lines: list[str] = []
    for value, label in answers:
        facts[gap.field] = value
        status = evaluate_with(kb, facts, base, gap.field)
        added = [r for r in readers if status[r.id] is True and r.id not in now]
        if added:
            shown = "; ".join(f"{_lower_first(r.title)} ({r.priority})" for r in added[:3]) + ("; and more" if len(added) > 3 else "")
            lines.append(f"if {label}: {shown}")
        else:
            lines.append(f"if {label}: no further advice")
    return lines if any(not line.endswith("no further advice") for line in lines) else []


def _by_stage(plan: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The plan's items grouped by stage, stages in their order (only those with an item)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for item in plan:
        groups.setdefault(str(item["stage"]), []).append(item)
    return [{"stage": label, "items": groups[stage]} for stage, label in STAGE_LABELS.items() if stage in groups]


def _fired_recommendations(verdict: Verdict) -> set[str]:
    return {r.rule.id for r in verdict.recommendations} | {s.rule.id for s in verdict.superseded}


def _reading_recommendations(kb: KnowledgeBase, path: str) -> tuple[Rule, ...]:
    """The recommendations whose status can change with a field, in the map's plan order (once per rule base)."""
    table = kb.caches.get("context_readers")
    if table is None:
        table = kb.caches["context_readers"] = {p: tuple(r for r in kb.recommendations if p in kb.reads[r.id]) for p in kb.vocabulary.fields}
    readers: tuple[Rule, ...] = table[path]
    return readers


def scorecard_chart(scores: list[dict[str, Any]]) -> dict[str, Any]:
    """Lay out a bar chart of the dimension figures; a dimension without a figure gets no bar, only its status."""
    rows = []
    for index, s in enumerate(scores):
        y = index * CHART_ROW
        width = 0 if s["figure"] is None else round(CHART_BAR * s["figure"] / 100)
        rows.append(
            s
            | {
                "y": y,
                "text_y": y + 17,
                "bar_width": width,
                "value_x": CHART_LABEL + width + 6,
                "shown": "" if s["figure"] is None else f"{s['figure']}{'*' if s['provisional'] else ''}",
            }
        )
    return {"width": CHART_WIDTH, "height": len(scores) * CHART_ROW + 4, "label_width": CHART_LABEL, "bar": CHART_BAR, "rows": rows}


ROLE_SINGULARS = {"official": "official", "firm": "firm", "support": "support staff member", "researcher": "researcher", "unknown": "respondent of unknown role"}
ROLE_PLURALS_ALL = ROLE_PLURALS | {"unknown": "respondents of unknown role"}
GAP_REASONS = {
    "unknown": "not known",
    "respondents_disagree": "respondents disagree",
    "firms_split": "firms are divided",
    "respondents_split": "respondents are divided",
}
FIRMS_VIEW_WHY = "what firms experience counts on how policy is experienced, as in the study's own interviews"
NO_FIRM_WHY = "no firm answered, so the most frequent answer of the other respondents"


def _people(role: str, count: int) -> str:
    return f"{count} {ROLE_SINGULARS[role] if count == 1 else ROLE_PLURALS_ALL[role]}"


def respondents_text(counts: Mapping[str, int]) -> str:
    """Who answered, in words: `1 official and 2 firms`."""
    parts = [_people(role, n) for role, n in counts.items()]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def tally_text(kb: KnowledgeBase, path: str, answers: Sequence[Answer], show_respondents: bool = False) -> str:
    """Who answered what, by role and count (and by respondent label only when asked): `1 official: yes; 2 firms: no`."""
    field = kb.vocabulary.fields[path]
    groups: dict[tuple[str, str], list[Answer]] = {}
    for a in answers:
        groups.setdefault((a.role, field.describe(a.value)), []).append(a)
    parts = []
    for (role, shown), members in groups.items():
        text = f"{_people(role, len(members))}: {shown}"
        if show_respondents:
            text += " (" + ", ".join(a.label or a.source for a in members) + ")"
        parts.append(text)
    return "; ".join(parts)


def panel_context(verdict: Verdict, show_respondents: bool = False) -> dict[str, Any] | None:
    """The panel section: perception gaps, who said what, what the rules took, and the advice that follows."""
    panel = verdict.region.panel
    if panel is None:
        return None
    kb = verdict.kb
    fields = kb.vocabulary.fields
    facts = verdict.region.facts
    steps = [(r.step, r.rule) for r in verdict.recommendations]
    gaps = []
    for gap in panel.perception_gaps:
        f = fields[gap.field]
        firm_answered = any(a.role == "firm" for a in gap.answers)
        sides = {gap.field, f"panel.official.{gap.field}", f"panel.firm.{gap.field}"}
        advice = [{"step": step, "title": rule.title} for step, rule in steps if sides & kb.reads[rule.id]]
        gaps.append(
            {
                "label": f.label,
                "official": f.describe(gap.official),
                "firm": f.describe(gap.firm),
                "answers": tally_text(kb, gap.field, gap.answers, show_respondents),
                "taken": f.describe(facts[gap.field]) if gap.field in facts else "unknown",
                "why": FIRMS_VIEW_WHY if firm_answered else NO_FIRM_WHY,
                "advice": advice,
                "advice_text": "; ".join(f"step {a['step']}, {a['title']}" for a in advice),
            }
        )
    disputed = len(panel.perception_gaps)
    n = panel.comparable_fields
    if n:
        measure = f"Officials and firms disagree on {disputed} of {n} comparable point{'' if n == 1 else 's'}"
        measure += f" ({panel.gap_share_pct}%)." if disputed else "."
    elif "official" in panel.roles and "firm" in panel.roles:
        measure = "No point could be compared: officials and firms did not both give a clear answer to any question on how policy is experienced."
    else:
        measure = "No gap can be measured: the panel needs at least one official and one firm."
    lead = any(r.id == "listen-to-firms-first" for r in verdict.remedies)
    # The contact points on which officials overrating their reach makes the gap critical (map 10.6).
    contact = kb.reads.get("officials-overrate-reach", frozenset())
    return {
        "respondents": respondents_text(panel.counts),
        "counts": [{"role": role, "label": ROLE_PLURALS_ALL[role], "count": count} for role, count in panel.counts.items()],
        "comparable": n,
        "disputed": disputed,
        "gap_share_pct": panel.gap_share_pct,
        "measure": measure,
        "gaps": gaps,
        "lead": lead,
        "lead_points": [fields[g.field].label for g in panel.perception_gaps if f"panel.official.{g.field}" in contact],
        "disagreements": [{"label": fields[d.field].label, "answers": tally_text(kb, d.field, d.answers, show_respondents)} for d in panel.fact_disagreements],
        "splits": [
            {"label": fields[s.field].label, "answers": tally_text(kb, s.field, s.answers, show_respondents), "reason": GAP_REASONS[s.reason]}
            for s in panel.splits
        ],
        "files": list(panel.sources) if show_respondents else [],
    }


def memo_context(verdict: Verdict, show_respondents: bool = False) -> dict[str, Any]:
    """The content every memo format shares (templates only lay it out)."""
    kb = verdict.kb
    region = verdict.region
    steps = {r.rule.id: (r.step, r.rule.title) for r in verdict.recommendations}
    static = _static_items(kb)
    plan = [_item(r, steps, static) for r in verdict.remedies]
    next_steps = [_item(r, steps, static) for r in verdict.next_steps]
    first_actions = [p for p in plan if p["priority"] in ("critical", "high")][:BRIEF_ACTIONS]
    scores = [
        s.to_dict() | {"dimension": s.dimension, "status_label": STATUS_LABELS[s.status], "provisional": s.figure is not None and s.undecided > 0}
        for s in verdict.scores
    ]
    situation = [_lower_first(d.rule.title) for d in verdict.derived]
    patterns = [
        {"title": p.rule.title, "case": p.rule.case, "peers": list(p.rule.peers), "meaning": p.rule.meaning} | _because(p.because) | {"source": p.rule.source}
        for p in verdict.patterns
    ]
    fired = _fired_recommendations(verdict)
    gaps = [_gap_item(kb, g, gap_effects(kb, verdict, g, fired) if i < BRIEF_GAPS else None) for i, g in enumerate(verdict.gaps)]
    role = verdict.respondent_role
    migration = None
    if region.migration is not None:
        migration = {
            "changes": [f"{c.field}: {c.old} → " + ", ".join(f"{p}: {v}" for p, v in c.new) for c in region.migration.changes if c.new != ((c.field, c.old),)],
            "unknown": [kb.vocabulary.fields[p].label for p in region.migration.unknown],
        }
    return {
        "region": {
            "name": region.name,
            "country": region.get("country"),
            "area": region.get("area"),
            "source": region.source,
            "document": region.document,
            "respondent": kb.vocabulary.role_label(role) if role else None,
            "firms_heard": verdict.firms_heard,
        },
        "tool_version": __version__,
        "kb_version": verdict.kb_version,
        "kb_rules": verdict.kb_rules,
        "study": STUDY,
        "migration": migration,
        "counts": verdict.counts(),
        "total": len(plan),
        "situation": situation,
        "first_actions": first_actions,
        "more_actions": max(0, len(plan) - len(first_actions)),
        "most_urgent": [steps[r.id][0] for r in verdict.most_urgent],
        "patterns": patterns,
        "top_gaps": gaps[:BRIEF_GAPS],
        "plan": plan,
        "plan_by_stage": _by_stage(plan),
        "next_steps": next_steps,
        "superseded": [
            {"title": s.rule.title, "by": [{"step": steps[b][0], "title": steps[b][1]} for b in s.by], "evidence_label": EVIDENCE_LABELS[str(s.rule.evidence)]}
            for s in verdict.superseded
        ],
        "conflicts": [{"first": steps[c.first][0], "second": steps[c.second][0], "reconcile": c.reconcile} for c in verdict.conflicts],
        "scores": scores,
        "chart": scorecard_chart(scores),
        "derived": [{"title": d.rule.title, "meaning": d.rule.meaning} | _because(d.because) for d in verdict.derived],
        "gaps": gaps,
        "in_place": [{"title": r.title, "dimension_name": DIMENSIONS[str(r.dimension)]} for r in verdict.in_place],
        "unused_industries": list(verdict.unused_industries),
        "brief_only": False,
        "panel": panel_context(verdict, show_respondents),
        "stage_labels": STAGE_LABELS,
        "evidence_labels": EVIDENCE_LABELS,
    }
