"""What changed between two assessments: advice added, removed and kept, dimensions, and the facts behind each.

Each side is a region file (YAML, version 1 or 2) or a verdict written by `assess --format json`,
told apart by content. When the two sides were assessed with different rule bases (two verdicts of
different `knowledge_base.version`), the installed rule base re-assesses one side's facts, so that
the change splits in two steps: rule base alone on identical facts, then facts alone on one rule
base. A version-1 region file is read through migration and assessed with the installed rule base;
its facts are compared after migration.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import RegionError
from .knowledge import DIMENSIONS, KnowledgeBase
from .migrate import Migration
from .region import Region, load_regions, read_text, region_from_mapping
from .verdict import Verdict

FORMATS = ("md", "html", "json")
STATUS_TEXT = {"act": "act", "on_track": "on track", "not_assessed": "not assessed", None: "no status (older rule base)"}
# Knowledge map section 4.3: version-1 recommendation ids that version 2 renamed.
RENAMED = {
    "textile-consumer-focus": "consumer-facing-innovation",
    "foster-skill-coordinators": "find-coordinator-firms",
    "link-private-universities": "recognise-firm-formed-links",
}


@dataclass(frozen=True)
class Item:
    """One recommendation of a plan, as either side recorded it."""

    id: str
    title: str
    variant: str | None


@dataclass(frozen=True)
class Side:
    """One assessment: where it came from, the facts it read, and what it concluded."""

    source: str
    name: str
    input: str  # region | region_v1 | verdict
    kb_version: str
    facts: Mapping[str, Any]  # version-2 facts (a version-1 file or verdict after migration)
    plan: tuple[Item, ...]
    superseded: Mapping[str, str]
    dimensions: Mapping[str, tuple[str | None, int | None]]  # dim -> (status, figure)
    migration: Migration | None = None

    def describe(self) -> dict[str, Any]:
        """Return where this side came from, as JSON-ready data."""
        return {"source": self.source, "name": self.name, "input": self.input, "knowledge_base": self.kb_version}


@dataclass(frozen=True)
class Cause:
    """A fact that differs between the two sides, with its values in plain words."""

    field: str
    label: str
    before: Any
    after: Any
    before_text: str
    after_text: str

    def to_dict(self) -> dict[str, Any]:
        """Return the cause as JSON-ready data (an unknown value is null)."""
        return {"field": self.field, "label": self.label, "before": self.before, "after": self.after, "before_text": self.before_text, "after_text": self.after_text}


@dataclass(frozen=True)
class Step:
    """The changes between two plans: added, removed, kept, variants and dimensions, with their causes."""

    added: tuple[Item, ...]
    removed: tuple[tuple[Item, str], ...]  # (item, why it left: superseded by X, or no longer fires)
    kept: tuple[Item, ...]
    variants: tuple[tuple[Item, str | None, str | None], ...]
    dimensions: Mapping[str, tuple[tuple[str | None, int | None], tuple[str | None, int | None]]]
    causes: Mapping[str, tuple[Cause, ...]]  # rule id or dimension -> facts behind its change
    renamed: tuple[tuple[str, str], ...] = ()

    @property
    def empty(self) -> bool:
        """Whether nothing changed in this step."""
        return not (self.added or self.removed or self.variants or self.changed_dimensions)

    @property
    def changed_dimensions(self) -> tuple[str, ...]:
        """The dimensions whose status or figure changed."""
        return tuple(d for d, (a, b) in self.dimensions.items() if a != b)

    def to_dict(self) -> dict[str, Any]:
        """Return the step as JSON-ready data."""
        return {
            "added": [_item(i) for i in self.added],
            "removed": [{**_item(i), "why": why} for i, why in self.removed],
            "kept": [i.id for i in self.kept],
            "variants": [{"id": i.id, "before": a, "after": b} for i, a, b in self.variants],
            "dimensions": {d: {"before": _dim(a), "after": _dim(b)} for d, (a, b) in self.dimensions.items() if a != b},
            "renamed": [list(pair) for pair in self.renamed],
        }


@dataclass(frozen=True)
class Comparison:
    """Two assessments and what changed, split into rule-base and fact steps when the rule bases differ."""

    before: Side
    after: Side
    overall: Step
    facts_step: Step | None  # None when the two steps cannot be separated
    rule_base_step: Step | None  # None when both sides used the same rule base
    changed_facts: tuple[Cause, ...]
    note: str

    def to_dict(self) -> dict[str, Any]:
        """Return the comparison as JSON-ready data."""
        o = self.overall
        return {
            "before": self.before.describe(),
            "after": self.after.describe(),
            "added": [i.id for i in o.added],
            "removed": [i.id for i, _ in o.removed],
            "kept": [i.id for i in o.kept],
            "dimensions": {
                d: {"name": DIMENSIONS[d], "before": _dim(a), "after": _dim(b), "changed": a != b}
                for d, (a, b) in o.dimensions.items()
            },
            "causes": {key: [c.to_dict() for c in causes] for key, causes in (self.facts_step or o).causes.items()},
            "facts_changed": [c.to_dict() for c in self.changed_facts],
            "from_facts": self.facts_step.to_dict() if self.facts_step else None,
            "from_rule_base": self.rule_base_step.to_dict() if self.rule_base_step else None,
            "migration": {
                side: getattr(self, side).migration.to_dict()
                for side in ("before", "after")
                if getattr(self, side).migration is not None
            },
            "note": self.note,
        }


def _item(item: Item) -> dict[str, Any]:
    return {"id": item.id, "title": item.title, "variant": item.variant}


def _dim(value: tuple[str | None, int | None]) -> dict[str, Any]:
    return {"status": value[0], "figure": value[1]}


# ---------------------------------------------------------------- reading either kind of input


def _from_verdict(verdict: Verdict, source: str, migration: Migration | None) -> Side:
    return Side(
        source=source,
        name=verdict.region.name,
        input="region_v1" if migration else "region",
        kb_version=verdict.kb_version,
        facts=dict(verdict.region.facts),
        plan=tuple(Item(r.id, r.rule.title, r.variant) for r in verdict.recommendations),
        superseded={s.rule.id: s.by[0] for s in verdict.superseded},
        dimensions={s.dimension: (s.status, s.figure) for s in verdict.scores},
        migration=migration,
    )


def _assess(region: Region, kb: KnowledgeBase) -> Verdict:
    from .advisor import Advisor, default_advisor

    advisor = default_advisor()
    if advisor.kb is not kb:
        advisor = Advisor(kb)
    return advisor.assess(region)


def _json_side(data: Any, source: str) -> Side:
    """Read a verdict written by `assess --format json` (this version or an older one)."""
    try:
        base = data["knowledge_base"]
        version = str(base["version"])
        region = data["region"]
        facts_doc = region["facts"]
        recs = data["recommendations"]
        plan = tuple(Item(str(r["id"]), str(r.get("title", r["id"])), r.get("variant")) for r in recs)
        superseded = {str(s["id"]): str(s["by"] if isinstance(s["by"], str) else s["by"][0]) for s in data.get("superseded", [])}
        dimensions: dict[str, tuple[str | None, int | None]] = {}
        for dim, score in data.get("scores", {}).items():
            figure = score.get("figure", score.get("score"))  # version 1 called the figure `score`
            dimensions[str(dim)] = (score.get("status"), figure if isinstance(figure, int) else None)
    except (KeyError, TypeError, IndexError, AttributeError) as err:
        raise RegionError(f"{source}: is JSON but not a verdict written by `clusteradvisor assess --format json` (missing or malformed {err}).") from None
    if not isinstance(facts_doc, dict):
        raise RegionError(f"{source}: region.facts must be a mapping of the region's facts.")
    read = region_from_mapping({"name": region.get("name", "?"), **facts_doc}, f"{source} (region.facts)")
    return Side(source, str(region.get("name", read.name)), "verdict", version, dict(read.facts), plan, superseded, dimensions, read.migration)


def read_side(path: str, kb: KnowledgeBase) -> Side:
    """Read one side of a comparison: a JSON verdict or a region file (told apart by content)."""
    text = read_text(path)
    if text.lstrip().startswith(("{", "[")):
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            data = None  # YAML flow mappings start with `{` too: read it as a region file
        if isinstance(data, list) and data and all(isinstance(d, dict) and "knowledge_base" in d for d in data):
            raise RegionError(f"{path}: holds {len(data)} verdicts; compare takes one region on each side.")
        if isinstance(data, dict) and ("knowledge_base" in data or "recommendations" in data):
            return _json_side(data, path)
        # Any other JSON is YAML too: read it as a region file, which reports what is wrong with it.
    regions = load_regions(text, path)
    if len(regions) != 1:
        raise RegionError(f"{path}: holds {len(regions)} regions; compare takes one region on each side.")
    return _from_verdict(_assess(regions[0], kb), path, regions[0].migration)


def side_of_facts(facts: Mapping[str, Any], template: Side, kb: KnowledgeBase) -> Side:
    """Re-assess a side's facts with the installed rule base (the bridge between two rule bases)."""
    region = Region(template.name, facts, template.source)
    return _from_verdict(_assess(region, kb), template.source, template.migration)


# ---------------------------------------------------------------- comparing


def changed_facts(kb: KnowledgeBase, before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[Cause, ...]:
    """The region-file facts that differ between two sides, in vocabulary order."""
    causes = []
    for path, f in kb.vocabulary.fields.items():
        if f.computed or path in ("name", "schema_version"):
            continue
        a, b = before.get(path), after.get(path)
        if a != b:
            causes.append(Cause(path, f.label, a, b, "unknown" if a is None else f.describe(a), "unknown" if b is None else f.describe(b)))
    return tuple(causes)


def _reads(kb: KnowledgeBase, rule_id: str) -> frozenset[str]:
    """Fields that decide whether a rule is in the plan: its own reads and those of rules superseding it."""
    if rule_id not in kb.by_id:
        return frozenset()
    return kb.reads[rule_id].union(*(kb.reads[by] for by in kb.superseded_by.get(rule_id, ())))


def diff(kb: KnowledgeBase, a: Side, b: Side, facts: tuple[Cause, ...]) -> Step:
    """Compare two sides' plans and dimensions; attribute each change to the differing facts it reads."""
    a_ids = {i.id: i for i in a.plan}
    b_ids = {i.id: i for i in b.plan}
    added = tuple(i for i in b.plan if i.id not in a_ids)
    removed = tuple(
        (i, f"covered by {b.superseded[i.id]}" if i.id in b.superseded else "no longer fires")
        for i in a.plan
        if i.id not in b_ids
    )
    kept = tuple(i for i in b.plan if i.id in a_ids)
    variants = tuple(
        (i, a_ids[i.id].variant, i.variant)
        for i in kept
        if a_ids[i.id].variant is not None and i.variant is not None and a_ids[i.id].variant != i.variant
    )
    dims = {d: (a.dimensions.get(d, (None, None)), b.dimensions.get(d, (None, None))) for d in DIMENSIONS}
    causes: dict[str, tuple[Cause, ...]] = {}
    for item in (*added, *(i for i, _ in removed), *(i for i, _, _ in variants)):
        reads = _reads(kb, item.id)
        causes[item.id] = tuple(c for c in facts if c.field in reads)
    for dim, (x, y) in dims.items():
        if x != y:
            reads = frozenset().union(*(kb.reads[r.id] for r in kb.recommendations if r.dimension == dim and r.is_remedy))
            causes[dim] = tuple(c for c in facts if c.field in reads)
    renamed = tuple((old, new) for old, new in RENAMED.items() if old in a_ids and new in b_ids)
    return Step(added, removed, kept, variants, dims, causes, renamed)


def compare(before: Side, after: Side, kb: KnowledgeBase) -> Comparison:
    """Compare two sides; when their rule bases differ, split the change into rule base, then facts."""
    facts = changed_facts(kb, before.facts, after.facts)
    overall = diff(kb, before, after, facts)
    if before.kb_version == after.kb_version:
        note = f"Both were assessed with rule base {after.kb_version}: every change comes from the facts."
        if before.migration or after.migration:
            note += " A version-1 region file is read through migration; its facts are compared after migration."
        return Comparison(before, after, overall, overall, None, facts, note)
    if after.kb_version == kb.version:
        bridge = side_of_facts(before.facts, before, kb)  # the before facts under the after rule base
        rule_step = diff(kb, before, bridge, ())
        facts_step = diff(kb, bridge, after, facts)
    elif before.kb_version == kb.version:
        bridge = side_of_facts(after.facts, after, kb)  # the after facts under the before rule base
        facts_step = diff(kb, before, bridge, facts)
        rule_step = diff(kb, bridge, after, ())
    else:
        note = (
            f"The two were assessed with rule bases {before.kb_version} and {after.kb_version}, and neither is the installed one "
            f"({kb.version}), so changes from the rule base cannot be told apart from changes from the facts."
        )
        return Comparison(before, after, overall, None, None, facts, note)
    note = (
        f"Rule base {before.kb_version} (before) and {after.kb_version} (after) differ. Changes from the rule base are those "
        f"on identical facts, found by re-assessing with the installed rule base {kb.version}; the rest come from the facts."
    )
    return Comparison(before, after, overall, facts_step, rule_step, facts, note)


def compare_files(before: str, after: str, kb: KnowledgeBase | None = None) -> Comparison:
    """Read two inputs (region files or JSON verdicts) and compare them."""
    from .knowledge import load_knowledge_base

    base = kb or load_knowledge_base()
    return compare(read_side(before, base), read_side(after, base), base)


# ---------------------------------------------------------------- rendering


def context(comparison: Comparison, kb: KnowledgeBase) -> dict[str, Any]:
    """The template context of compare.{md,html}.j2 (plain text: each template escapes for its format)."""

    def step(s: Step | None) -> dict[str, Any] | None:
        if s is None:
            return None
        return {
            "empty": s.empty,
            "added": [{"id": i.id, "title": i.title, "variant": i.variant, "causes": [_cause(c) for c in s.causes.get(i.id, ())]} for i in s.added],
            "removed": [{"id": i.id, "title": i.title, "why": why, "causes": [_cause(c) for c in s.causes.get(i.id, ())]} for i, why in s.removed],
            "kept": [{"id": i.id, "title": i.title} for i in s.kept],
            "variants": [{"id": i.id, "title": i.title, "before": a, "after": b, "causes": [_cause(c) for c in s.causes.get(i.id, ())]} for i, a, b in s.variants],
            "dimensions": [
                {
                    "id": d,
                    "name": DIMENSIONS[d],
                    "before": _dim_text(a),
                    "after": _dim_text(b),
                    "causes": [_cause(c) for c in s.causes.get(d, ())],
                }
                for d in s.changed_dimensions
                for a, b in (s.dimensions[d],)
            ],
            "renamed": [list(pair) for pair in s.renamed],
        }

    c = comparison
    return {
        "before": c.before.describe(),
        "after": c.after.describe(),
        "separated": c.facts_step is not None,
        "overall": step(c.overall),
        "facts": step(c.facts_step),
        "rule_base": step(c.rule_base_step),
        "facts_changed": [_cause(x) for x in c.changed_facts],
        "note": c.note,
        "kb_version": kb.version,
        "migrated": [getattr(c, side).source for side in ("before", "after") if getattr(c, side).migration is not None],
    }


def _cause(c: Cause) -> dict[str, Any]:
    return {"field": c.field, "label": c.label, "before": c.before_text, "after": c.after_text}


def _dim_text(value: tuple[str | None, int | None]) -> str:
    status, figure = value
    text = STATUS_TEXT.get(status, str(status))
    return f"{text}, {figure}" if figure is not None else text


def render(comparison: Comparison, fmt: str = "md", kb: KnowledgeBase | None = None) -> str:
    """Render a comparison as Markdown, HTML or JSON."""
    from .knowledge import load_knowledge_base

    if fmt == "json":
        return json.dumps(comparison.to_dict(), indent=2, ensure_ascii=False) + "\n"
    from .memo import render_compare

    return render_compare(context(comparison, kb or load_knowledge_base()), fmt)
