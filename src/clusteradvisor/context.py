"""What a memo says, computed once in Python from a verdict: the template context every format shares.

Templates only lay this out. The keys are a stable interface for office templates (README, "Memo
templates"): add keys freely, never rename or remove one. Region text stays plain text here; each
template escapes it for its format.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from . import __version__
from .knowledge import DIMENSIONS, KnowledgeBase, evaluate_with
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


def _actors(actors: tuple[str, ...]) -> str:
    return ", ".join(ACTOR_LABELS[a] for a in actors)


def _item(rec: Recommendation, steps: Mapping[str, tuple[int, str]]) -> dict[str, Any]:
    rule = rec.rule
    return {
        "step": rec.step,
        "id": rule.id,
        "title": rule.title,
        "advice": rec.advice,
        "variant": rec.variant,
        "kind": rule.kind,
        "priority": rule.priority,
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
        "peers": list(rule.peers),
        "because": [reason_text(r) for r in rec.because],
        "success": rule.success,
        "conflicts": [{"step": steps[c.other][0], "title": steps[c.other][1], "reconcile": c.reconcile} for c in rec.conflicts],
    }


def _gap_item(kb: KnowledgeBase, gap: Gap, effects: list[str] | None = None) -> dict[str, Any]:
    asked = [ROLE_PLURALS[r] for r in gap.asked]
    return {
        "label": gap.label,
        "question": gap.question,
        "ask": ", ".join(asked) if asked else "the file's author",
        "decides": [_lower_first(t) for t in gap.titles],
        "reason": gap.reason,
        "effects": effects or [],
    }


def gap_effects(kb: KnowledgeBase, verdict: Verdict, gap: Gap) -> list[str]:
    """What each answer to an open question would add to the plan, in plain words.

    Answering never removes advice that already applies (no rule has a negation), so each answer is
    described by the recommendations it would add.
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
    now = {r.id for r in verdict.recommendations} | {s.rule.id for s in verdict.superseded}
    lines: list[str] = []
    for value, label in answers:
        facts[gap.field] = value
        status = evaluate_with(kb, facts, base, gap.field)
        added = [r for r in kb.recommendations if status[r.id] is True and r.id not in now]
        if added:
            shown = "; ".join(f"{_lower_first(r.title)} ({r.priority})" for r in added[:3]) + ("; and more" if len(added) > 3 else "")
            lines.append(f"if {label}: {shown}")
        else:
            lines.append(f"if {label}: no further advice")
    return lines if any(not line.endswith("no further advice") for line in lines) else []


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


def memo_context(verdict: Verdict) -> dict[str, Any]:
    """The content every memo format shares (templates only lay it out)."""
    kb = verdict.kb
    region = verdict.region
    steps = {r.id: (r.step, r.rule.title) for r in verdict.recommendations}
    plan = [_item(r, steps) for r in verdict.remedies]
    next_steps = [_item(r, steps) for r in verdict.next_steps]
    first_actions = [p for p in plan if p["priority"] in ("critical", "high")][:BRIEF_ACTIONS]
    scores = [
        s.to_dict() | {"dimension": s.dimension, "status_label": STATUS_LABELS[s.status], "provisional": s.figure is not None and s.undecided > 0}
        for s in verdict.scores
    ]
    situation = [_lower_first(d.rule.title) for d in verdict.derived]
    patterns = [
        {"title": p.rule.title, "case": p.rule.case, "peers": list(p.rule.peers), "meaning": p.rule.meaning, "because": [reason_text(r) for r in p.because], "source": p.rule.source}
        for p in verdict.patterns
    ]
    gaps = [_gap_item(kb, g, gap_effects(kb, verdict, g) if i < BRIEF_GAPS else None) for i, g in enumerate(verdict.gaps)]
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
        "plan_by_stage": [{"stage": label, "items": [p for p in plan if p["stage"] == stage]} for stage, label in STAGE_LABELS.items() if any(p["stage"] == stage for p in plan)],
        "next_steps": next_steps,
        "superseded": [
            {"title": s.rule.title, "by": [{"step": steps[b][0], "title": steps[b][1]} for b in s.by], "evidence_label": EVIDENCE_LABELS[str(s.rule.evidence)]}
            for s in verdict.superseded
        ],
        "conflicts": [{"first": steps[c.first][0], "second": steps[c.second][0], "reconcile": c.reconcile} for c in verdict.conflicts],
        "scores": scores,
        "chart": scorecard_chart(scores),
        "derived": [{"title": d.rule.title, "meaning": d.rule.meaning, "because": [reason_text(r) for r in d.because]} for d in verdict.derived],
        "gaps": gaps,
        "in_place": [{"title": r.title, "dimension_name": DIMENSIONS[str(r.dimension)]} for r in verdict.in_place],
        "unused_industries": list(verdict.unused_industries),
        "brief_only": False,
        "stage_labels": STAGE_LABELS,
        "evidence_labels": EVIDENCE_LABELS,
    }
