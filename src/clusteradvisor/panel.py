"""Panels: several respondents' files about one region, combined into one region (map section 10).

Each file is validated and normalised on its own (region.py); `combine` then joins them by the
map's fixed rules. Fact and meta fields must agree or become unknown; on perception fields the
firms' view is what the rules see, and where officials and firms differ the difference becomes a
finding. The findings travel with the combined Region (`Region.panel`) so that the verdict and the
memo can report them. Nothing here prints: batch and the command line call `load_panel`,
`group_panels` and `combine`.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import RegionError
from .region import Region, load_regions, read_text
from .vocabulary import PANEL, ROLES, UNKNOWN, Field, Vocabulary, load_vocabulary

ROLE_ORDER = (*ROLES, UNKNOWN)
# Never combined: who answered is reported per file, and `name` is the panel's key.
_NOT_COMBINED = frozenset({"name", "schema_version", "respondent.role", "respondent.label"})
# Why a combined value is unknown, as the information gaps report it (JSON `gaps[].reason`).
DISAGREE = "respondents_disagree"
FIRMS_SPLIT = "firms_split"
POOLED_SPLIT = "respondents_split"


@dataclass(frozen=True)
class Answer:
    """One respondent's known answer to one field."""

    role: str
    value: Any
    label: str | None = None  # respondent.label; reported only when the user asks for it
    source: str = ""

    def to_dict(self, show_respondents: bool = False) -> dict[str, Any]:
        """Return the answer as JSON-ready data (the label and file only with `show_respondents`)."""
        data: dict[str, Any] = {"role": self.role, "value": self.value}
        if show_respondents:
            data["respondent"] = self.label
            data["file"] = self.source
        return data


@dataclass(frozen=True)
class PerceptionGap:
    """A perception field on which the officials' view and the firms' view are both determined and differ."""

    field: str
    official: Any
    firm: Any
    answers: tuple[Answer, ...]

    def to_dict(self, show_respondents: bool = False) -> dict[str, Any]:
        """Return the gap as JSON-ready data (map section 15)."""
        return {"field": self.field, "official": self.official, "firm": self.firm, "answers": [a.to_dict(show_respondents) for a in self.answers]}


@dataclass(frozen=True)
class Disagreement:
    """A fact or meta field whose respondents gave different known answers (the rules see unknown)."""

    field: str
    answers: tuple[Answer, ...]

    def to_dict(self, show_respondents: bool = False) -> dict[str, Any]:
        """Return the disagreement as JSON-ready data."""
        return {"field": self.field, "answers": [a.to_dict(show_respondents) for a in self.answers]}


@dataclass(frozen=True)
class Split:
    """A perception field left unknown because the answers that decide it tie.

    `side` is `firm` when the firms are divided, `all` when no firm answered and the pooled answers
    of everyone else tie.
    """

    field: str
    side: str
    answers: tuple[Answer, ...]

    @property
    def reason(self) -> str:
        """The information-gap reason code for this split."""
        return FIRMS_SPLIT if self.side == "firm" else POOLED_SPLIT

    def to_dict(self, show_respondents: bool = False) -> dict[str, Any]:
        """Return the split as JSON-ready data."""
        return {"field": self.field, "side": self.side, "answers": [a.to_dict(show_respondents) for a in self.answers]}


@dataclass(frozen=True)
class SideView:
    """One side's combined answer on a perception field: determined, split, or silent."""

    answered: int
    value: Any = None
    split: bool = False

    @property
    def determined(self) -> bool:
        """Whether the side answered and is not split."""
        return self.answered > 0 and not self.split


@dataclass(frozen=True)
class PanelFindings:
    """What combining a panel found: who answered, the perception gaps, disagreements and splits."""

    roles: tuple[str, ...]
    respondents: tuple[tuple[str, int], ...]
    sources: tuple[str, ...]
    comparable_fields: int
    gap_share_pct: int | None
    perception_gaps: tuple[PerceptionGap, ...]
    fact_disagreements: tuple[Disagreement, ...]
    splits: tuple[Split, ...]
    labels: tuple[tuple[str, str], ...] = ()  # (role, respondent.label) of each file that gives one

    @property
    def counts(self) -> dict[str, int]:
        """Number of files per role, in role order."""
        return dict(self.respondents)

    def unknown_reasons(self) -> dict[str, str]:
        """Why each field the panel made unknown is unknown (field path -> reason code)."""
        reasons = {d.field: DISAGREE for d in self.fact_disagreements}
        reasons.update({s.field: s.reason for s in self.splits})
        return reasons

    def summary(self) -> dict[str, Any]:
        """The JSON `panel` object of map section 15."""
        return {
            "roles": list(self.roles),
            "respondents": self.counts,
            "comparable_fields": self.comparable_fields,
            "gap_share_pct": self.gap_share_pct,
        }


# ---------------------------------------------------------------- reading


def panel_files(inputs: Sequence[str]) -> list[str]:
    """Expand files and folders (their *.yaml and *.yml files, sorted) into the panel's file list."""
    files: list[str] = []
    for item in inputs:
        if os.path.isdir(item):
            found = sorted(os.path.join(item, n) for n in os.listdir(item) if n.endswith((".yaml", ".yml")) and not n.startswith("."))
            if not found:
                raise RegionError(f"{item}: the folder holds no region files (*.yaml, *.yml).")
            files.extend(found)
        else:
            files.append(item)
    if not files:
        raise RegionError("a panel needs at least one region file.")
    return list(dict.fromkeys(files))


def load_panel(inputs: Sequence[str]) -> list[Region]:
    """Read every file of a panel (each may hold several respondents), reporting every problem at once."""
    regions: list[Region] = []
    messages: list[str] = []
    for path in panel_files(inputs):
        try:
            regions.extend(load_regions(read_text(path), path))
        except RegionError as err:
            messages.extend(err.messages)
    if messages:
        raise RegionError(messages)
    return regions


def group_panels(regions: Iterable[Region]) -> list[tuple[Region, ...]]:
    """Group regions by name (a panel is the files sharing one name), panels sorted by name."""
    groups: dict[str, list[Region]] = {}
    for region in regions:
        groups.setdefault(region.name, []).append(region)
    return [tuple(_respondent_key_sorted(groups[name])) for name in sorted(groups)]


def _respondent_key_sorted(regions: list[Region]) -> list[Region]:
    return sorted(regions, key=lambda r: (r.source, r.document))


# ---------------------------------------------------------------- combining


def role_of(region: Region) -> str:
    """The respondent's role in a file, `unknown` when the file does not say (v1 files never do)."""
    role = region.facts.get("respondent.role")
    return str(role) if role else UNKNOWN


def _key(value: Any) -> Any:
    """A comparison key under which lists compare as sets."""
    return frozenset(value) if isinstance(value, list) else value


def _sort_key(value: Any) -> str:
    return repr(sorted(value)) if isinstance(value, list) else repr(value)


def _answers(regions: Sequence[Region], path: str) -> tuple[Answer, ...]:
    found = [
        Answer(role_of(r), r.facts[path], r.facts.get("respondent.label"), r.source)
        for r in regions
        if path in r.facts
    ]
    # Role order, then value, then file: the same panel in any file order gives the same list.
    return tuple(sorted(found, key=lambda a: (ROLE_ORDER.index(a.role), _sort_key(a.value), a.source, a.label or "")))


def _ordered(f: Field, items: Iterable[str]) -> list[str]:
    chosen = set(items)
    return [v for v in f.allowed if v in chosen]


def side_view(f: Field, values: Sequence[Any]) -> SideView:
    """Combine one side's known answers: plurality for scalars, per-item strict majority for lists."""
    if not values:
        return SideView(0)
    if f.type in ("choices", "words"):
        counts = Counter(item for v in values for item in set(v))
        if any(2 * c == len(values) for c in counts.values()):
            return SideView(len(values), split=True)
        majority = [item for item, c in counts.items() if 2 * c > len(values)]
        return SideView(len(values), _ordered(f, majority) if f.type == "choices" else sorted(majority))
    tally = Counter(_key(v) for v in values).most_common()
    if len(tally) > 1 and tally[0][1] == tally[1][1]:
        return SideView(len(values), split=True)
    return SideView(len(values), tally[0][0])


def combine(regions: Sequence[Region], vocabulary: Vocabulary | None = None) -> Region:
    """Combine validated files about one region into one region, exactly as map section 10.3 says."""
    vocab = vocabulary or load_vocabulary()
    if not regions:
        raise RegionError("a panel needs at least one region file.")
    names = sorted({r.name for r in regions})
    if len(names) > 1:
        by_name = "; ".join(f'"{n}" in {", ".join(sorted({r.source for r in regions if r.name == n}))}' for n in names)
        raise RegionError(
            f"panel: the files name different regions ({by_name}). A panel is several respondents' files about one region: "
            "give each region's files separately, or correct the `name:` lines."
        )
    facts: dict[str, Any] = {"name": names[0], "schema_version": 2}
    gaps: list[PerceptionGap] = []
    disagreements: list[Disagreement] = []
    splits: list[Split] = []
    comparable = 0
    for f in vocab.file_fields:
        if f.path in _NOT_COMBINED:
            continue
        answers = _answers(regions, f.path)
        if not answers:
            continue
        if f.view != "perception":
            distinct = {_key(a.value) for a in answers}
            if len(distinct) == 1:
                # Equal as sets; the smallest spelling keeps a panel of one identical to its file.
                facts[f.path] = min((a.value for a in answers), key=_sort_key)
            else:
                disagreements.append(Disagreement(f.path, answers))
            continue
        official = side_view(f, [a.value for a in answers if a.role == "official"])
        firm = side_view(f, [a.value for a in answers if a.role == "firm"])
        for side, view in (("official", official), ("firm", firm)):
            if view.determined:
                facts[f"{PANEL}.{side}.{f.path}"] = view.value
        if firm.answered:
            seen, split_side = firm, "firm"
        else:
            seen, split_side = side_view(f, [a.value for a in answers]), "all"
        if seen.split:
            splits.append(Split(f.path, split_side, tuple(a for a in answers if split_side == "all" or a.role == "firm")))
        else:
            facts[f.path] = seen.value
        if official.determined and firm.determined:
            comparable += 1
            if _key(official.value) != _key(firm.value):
                gaps.append(PerceptionGap(f.path, official.value, firm.value, answers))
    roles = Counter(role_of(r) for r in regions)
    present = tuple(r for r in ROLE_ORDER if roles[r])
    share = (200 * len(gaps) + comparable) // (2 * comparable) if comparable else None  # round half up
    facts[f"{PANEL}.roles"] = list(present)
    facts[f"{PANEL}.perception_gaps"] = [g.field for g in gaps]
    facts[f"{PANEL}.fact_disagreements"] = [d.field for d in disagreements if vocab.fields[d.field].view == "fact"]
    facts[f"{PANEL}.comparable_fields"] = comparable
    if share is not None:
        facts[f"{PANEL}.gap_share_pct"] = share
    labels = sorted((role_of(r), str(r.facts["respondent.label"])) for r in regions if "respondent.label" in r.facts)
    findings = PanelFindings(
        roles=present,
        respondents=tuple((r, roles[r]) for r in present),
        sources=tuple(sorted({r.source for r in regions})),
        comparable_fields=comparable,
        gap_share_pct=share,
        perception_gaps=tuple(gaps),
        fact_disagreements=tuple(disagreements),
        splits=tuple(splits),
        labels=tuple((role, label) for role, label in sorted(labels, key=lambda x: (ROLE_ORDER.index(x[0]), x[1]))),
    )
    return Region(name=names[0], facts=facts, source=", ".join(findings.sources), panel=findings)


def panel_facts_only(facts: Mapping[str, Any]) -> dict[str, Any]:
    """The facts of a region without its computed panel block (to compare a panel of one with its file)."""
    return {p: v for p, v in facts.items() if not p.startswith(PANEL + ".")}
