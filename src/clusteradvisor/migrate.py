"""Region files of format version 1 (ClusterAdvisor 0.1) read as version 2 (docs/knowledge-model.md).

`migrate_facts` turns the validated flat facts of a v1 file into v2 facts and says what changed,
which is all that reading needs. `rewrite_v1_text` rewrites the file itself as v2 for the `migrate`
command, keeping its comments and layout (ruamel.yaml's round-trip mode; this is its one home module).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import RegionError


@dataclass(frozen=True)
class Change:
    """One v1 answer and how version 2 reads it."""

    field: str
    old: Any
    new: tuple[tuple[str, Any], ...]  # (v2 path, value), in the order written
    unknown: tuple[str, ...] = ()  # v2 fields that the v1 answer cannot decide
    remark: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return the change as JSON-ready data."""
        return {"field": self.field, "old": self.old, "new": dict(self.new), "unknown": list(self.unknown), "remark": self.remark}


_Rule = Callable[[Any], Change]


def _same_as_list(path: str) -> _Rule:
    return lambda v: Change(path, v, ((path, [v]),), remark="now a list: several may apply")


def _renamed(old: str, new: str) -> _Rule:
    return lambda v: Change(old, v, ((new, v),))


def _mapped(old: str, table: Mapping[Any, tuple[tuple[tuple[str, Any], ...], tuple[str, ...], str]]) -> _Rule:
    def rule(v: Any) -> Change:
        new, unknown, remark = table[v]
        return Change(old, v, new, unknown, remark)

    return rule


# One entry per v1 field whose name, shape or values changed; every other v1 field
# is read unchanged. A value not in a table cannot occur: the v1 vocabulary validated it first.
V1_RULES: dict[str, _Rule] = {
    "district_type": _same_as_list("district_type"),
    "network.form": _same_as_list("network.form"),
    "uig.status": _mapped(
        "uig.status",
        {
            "none": ((("uig.official_channel", "none"), ("uig.firm_formed_links", False)), (), "v1 meant no links of any kind"),
            "national_institutions_only": (
                (("uig.official_channel", "institute_transfer"),),
                ("uig.firm_formed_links",),
                "v1 could record only one kind of link",
            ),
            "private_university_links": ((("uig.firm_formed_links", True),), ("uig.official_channel",), "v1 could record only one kind of link"),
            "active_liaison": ((("uig.official_channel", "brokered_liaison"),), ("uig.firm_formed_links",), "v1 could record only one kind of link"),
        },
    ),
    "policy.regional_interpretation": _renamed("policy.regional_interpretation", "policy.local_adaptation"),
    "policy.one_stop_platform": _mapped(
        "policy.one_stop_platform",
        {
            "none": ((("policy.regional_platform", False),), ("policy.local_support_centre",), "v1 did not separate the regional platform from a municipal centre"),
            "formal": ((("policy.regional_platform", True), ("policy.regional_platform_use", "little_used")), ("policy.local_support_centre",), ""),
            "effective": ((("policy.regional_platform", True), ("policy.regional_platform_use", "connects_firms")), ("policy.local_support_centre",), ""),
        },
    ),
    "policy.ambition_vs_resources": _mapped(
        "policy.ambition_vs_resources",
        {
            "matched": ((("policy.ambition_exceeds_budget", False), ("policy.incentives_attract", True)), (), ""),
            "over_ambitious": ((("policy.ambition_exceeds_budget", True),), ("policy.incentives_attract",), "v1 put two questions in one choice"),
            "weak_incentives": ((("policy.incentives_attract", False),), ("policy.ambition_exceeds_budget",), "v1 put two questions in one choice"),
        },
    ),
    "policy.subsidy_allocation": _mapped(
        "policy.subsidy_allocation",
        {
            "egalitarian": ((("policy.subsidy_allocation", "mostly_uniform"),), (), ""),
            "selective": ((("policy.subsidy_allocation", "mostly_competitive"),), (), ""),
        },
    ),
    "policy.field_focus": _mapped(
        "policy.field_focus",
        {
            "specific_fields": ((("policy.support_outside_fields", False),), (), ""),
            "flexible": ((("policy.support_outside_fields", True),), (), ""),
        },
    ),
    "policy.supports_grassroots": _mapped(
        "policy.supports_grassroots",
        {
            True: ((("policy.supports_grassroots", "timely"),), (), ""),
            False: ((("policy.supports_grassroots", "none"),), (), "v1's no may also have meant late; no advice depends on the difference"),
        },
    ),
    "network.product_development_groups": lambda v: Change(
        "network.product_development_groups",
        v,
        (("network.product_development_groups", v),),
        ("network.product_groups_origin",) if v is True else (),
        "who started the groups is unknown, so they do not count as firm-led until someone says" if v is True else "",
    ),
}


@dataclass(frozen=True)
class Migration:
    """How a version-1 file was read: the answers that changed, and the fields left unknown."""

    changes: tuple[Change, ...]

    @property
    def unknown(self) -> tuple[str, ...]:
        """Version-2 fields that the file's version-1 answers could not decide."""
        return tuple(dict.fromkeys(path for c in self.changes for path in c.unknown))

    def to_dict(self) -> dict[str, Any]:
        """Return the migration as JSON-ready data."""
        return {"from_version": 1, "changes": [c.to_dict() for c in self.changes if c.new != ((c.field, c.old),)], "unknown": list(self.unknown)}


def migrate_facts(v1_facts: Mapping[str, Any]) -> tuple[dict[str, Any], Migration]:
    """Read validated version-1 facts as version-2 facts (in v1 field order)."""
    facts: dict[str, Any] = {}
    changes: list[Change] = []
    for path, value in v1_facts.items():
        if path == "schema_version":
            continue
        rule = V1_RULES.get(path)
        if rule is None:
            facts[path] = value
            continue
        change = rule(value)
        changes.append(change)
        facts.update(change.new)
    facts["schema_version"] = 2
    return facts, Migration(tuple(changes))


# ---------------------------------------------------------------- rewriting a file (`migrate`)


def rewrite_v1_text(text: str, source: str) -> str:
    """Rewrite the text of a version-1 region file as version 2, keeping comments and key order.

    Only single-document files are rewritten: a multi-document file is refused with a message.
    """
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.error import YAMLError

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    try:
        documents = list(yaml.load_all(text))
    except YAMLError as err:
        raise RegionError(f"{source}: not valid YAML ({str(err).splitlines()[0]}).") from None
    if len(documents) != 1 or not isinstance(documents[0], CommentedMap):
        raise RegionError(f"{source}: `migrate` rewrites files holding one region; split this file or let `assess` read it as it is.")
    doc: CommentedMap = documents[0]

    def flow_list(value: Any) -> CommentedSeq:
        seq = CommentedSeq([value])
        seq.fa.set_flow_style()
        return seq

    def replace(mapping: CommentedMap, old: str, new: list[tuple[str, Any]]) -> None:
        keys = list(mapping.keys())
        position = keys.index(old)
        comment = mapping.ca.items.pop(old, None)
        del mapping[old]
        for offset, (key, value) in enumerate(new):
            mapping.insert(position + offset, key, value)
        if comment is not None and new:
            mapping.ca.items[new[-1][0]] = comment

    for path, rule in V1_RULES.items():
        group, _, leaf = path.rpartition(".")
        mapping = doc.get(group) if group else doc
        if not isinstance(mapping, CommentedMap) or leaf not in mapping:
            continue
        value = mapping[leaf]
        if value == "unknown" or value is None:
            if path in ("district_type", "network.form", "network.product_development_groups", "policy.subsidy_allocation", "policy.supports_grassroots"):
                continue  # same field name in v2; `unknown` stays unknown
            change_keys = [p for p, _ in _sample_targets(path)]
            replace(mapping, leaf, [(k.rpartition(".")[2], value) for k in change_keys[:1]])
            continue
        change = rule(value)
        new_items: list[tuple[str, Any]] = []
        for new_path, new_value in change.new:
            new_group, _, new_leaf = new_path.rpartition(".")
            if new_group != group:  # never happens in the table; keeps the rewrite honest if it does
                raise RegionError(f"{source}: cannot rewrite {path} into another group.")
            new_items.append((new_leaf, flow_list(new_value[0]) if isinstance(new_value, list) else new_value))
        replace(mapping, leaf, new_items)

    if "schema_version" in doc:
        doc["schema_version"] = 2
    else:
        doc.insert(0, "schema_version", 2)
    out = io.StringIO()
    yaml.dump(doc, out)
    return out.getvalue()


def _sample_targets(path: str) -> tuple[tuple[str, Any], ...]:
    """The v2 field(s) a v1 field becomes, for carrying an `unknown` answer across."""
    samples: dict[str, Any] = {
        "uig.status": "none",
        "policy.regional_interpretation": True,
        "policy.one_stop_platform": "none",
        "policy.ambition_vs_resources": "over_ambitious",
        "policy.field_focus": "flexible",
    }
    return V1_RULES[path](samples[path]).new
