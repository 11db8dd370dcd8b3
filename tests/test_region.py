"""Region files: every kind of bad input gives one clear message with file, line, field, value, allowed."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clusteradvisor.errors import RegionError
from clusteradvisor.region import Region, load_regions, parse_regions, to_document
from clusteradvisor.vocabulary import UNKNOWN, canonical_industries, load_vocabulary
from clusteradvisor.yamlio import StreamError, load_documents

BAD_INPUTS = {
    "not-yaml": ("name: [Ota\nnetwork: {}\n", [":2:", "not valid YAML"]),
    "unclosed-at-end": ("name: Ota\nindustries: [metal\n", [":2:", "not valid YAML"]),
    "not-a-mapping": ("- Ota\n- Hitachi\n", [":1:", "is a list, not a mapping"]),
    "scalar": ("just a sentence\n", [":1:", "is text, not a mapping"]),
    "unknown-key": ("name: Ota\nnetwrok:\n  form: fragmented\n", [":2:", "netwrok", 'Did you mean "network"?', "Allowed:"]),
    "unknown-nested-key": ("name: Ota\nnetwork:\n  shape: fragmented\n", [":3:", "network.shape", "Allowed under network: form"]),
    "wrong-type": ("name: Ota\nsme_count: lots\n", [":2:", "sme_count", '"lots"', "expected a whole number"]),
    "negative": ("name: Ota\nsme_count: -5\n", [":2:", "sme_count", "-5", "from 0 to 10000000"]),
    "bool-as-text": ("name: Ota\npolicy:\n  officials_visit_firms: 'yes'\n", [":3:", "policy.officials_visit_firms", '"yes"', "true, false or unknown"]),
    "outside-vocabulary": (
        "name: Ota\nnetwork:\n  form: many\n",
        [":3:", "network.form", '"many"', "one_to_many, rigid_many_to_many, flexible_many_to_many, fragmented"],
    ),
    "yaml-no-trap": ("name: Ota\nhollowing_out: no\n", [":2:", "hollowing_out", "false", "severe, moderate, none", "yes/no"]),
    "list-item": ("name: Ota\nleadership:\n  key_persons: [entrepreneur, mayor]\n", [":3:", "leadership.key_persons[1]", '"mayor"', "local_official"]),
    "list-expected": ("name: Ota\nleadership:\n  key_persons: entrepreneur\n", [":3:", "expected a list", "[] for none"]),
    "group-not-mapping": ("name: Ota\nnetwork: one_to_many\n", [":2:", "network", "expected a mapping of form"]),
    "missing-name": ("district_type: city_type\n", [":1:", "no name", "name:"]),
    "empty-name": ("name: '  '\n", [":1:", "name", "is empty"]),
    "duplicate-key": ("name: Ota\nsme_count: 1\nsme_count: 2\n", [":3:", "appears twice"]),
    "multiline-name": ('name: "Ota\\nward"\n', [":1:", "line break"]),
    "empty-file": ("", ["holds no region"]),
    "bad-second-document": ("name: Ota\n---\nname: Hitachi\nnetwork:\n  form: pyramid\n", [":5:", "network.form", '"pyramid"']),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_region_file_gives_a_clear_error(tmp_path: Path, cli: Callable[..., Result], case: str) -> None:
    text, expected = BAD_INPUTS[case]
    path = tmp_path / f"{case}.yaml"
    path.write_text(text, encoding="utf-8")
    result = cli("assess", str(path))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(f"Error: {path}")
    for fragment in expected:
        assert fragment in result.stderr, f"{fragment!r} missing from: {result.stderr}"


def test_every_problem_of_a_file_is_reported_at_once() -> None:
    with pytest.raises(RegionError) as info:
        load_regions("name: Ota\nsme_count: x\nnetwork:\n  form: y\nfoo: 1\n", "r.yaml")
    assert [m.split(":")[1] for m in info.value.messages] == ["2", "4", "5"]


def test_unreadable_files(tmp_path: Path, cli: Callable[..., Result]) -> None:
    binary = tmp_path / "latin1.yaml"
    binary.write_bytes("name: M\xfcnchen\n".encode("latin-1"))
    for path, fragment in ((tmp_path / "missing.yaml", "no such file"), (binary, "not UTF-8")):
        result = cli("assess", str(path))
        assert result.exit_code == 1
        assert fragment in result.stderr and "Traceback" not in result.stderr


def test_unknown_means_unknown() -> None:
    (region,) = load_regions("name: Ota\nsme_count: unknown\nnetwork: unknown\nuig:\n  status:\n", "r.yaml")
    assert region.facts == {"name": "Ota", "schema_version": 2}
    (region,) = load_regions("schema_version: 2\nname: Ota\nrespondent:\n  role: unknown\nindustries: unknown\n", "r.yaml")
    assert region.facts == {"name": "Ota", "schema_version": 2}


def test_valid_documents_before_a_syntax_error_are_kept() -> None:
    items = list(parse_regions("name: A\n---\nname: B\n---\nname: [C\n", "r.yaml"))
    assert [type(i).__name__ for i in items] == ["Region", "Region", "RegionError"]


def test_round_trip_through_the_file_format() -> None:
    text = "name: Ota\nsme_count: 6000\nnetwork:\n  form: [rigid_many_to_many]\nleadership:\n  key_persons: []\n"
    (region,) = load_regions(text, "r.yaml")
    assert to_document(region.facts) == {
        "schema_version": 2,
        "name": "Ota",
        "sme_count": 6000,
        "network": {"form": ["rigid_many_to_many"]},
        "leadership": {"key_persons": []},
    }


@pytest.mark.parametrize("name", ["yes", "Plant #3", "a: b", "{{ 7*7 }}", "'quoted'", "1984", "Ōta — 大田区", "- dash", "null"])
def test_format_region_writes_what_load_regions_reads_back(name: str) -> None:
    from clusteradvisor.region import format_region

    facts = {"name": name, "sme_count": 6000, "network.form": ["one_to_many"], "leadership.key_persons": [], "uig.coordinator": False}
    text = format_region(facts, ["# header"])
    assert text.startswith("# header\nschema_version: 2\n")
    (region,) = load_regions(text, "saved.yaml")
    assert dict(region.facts) == {"schema_version": 2, **facts}


# --- property: the region reader agrees with an independent reading, or refuses cleanly ---

VOCABULARY = load_vocabulary()
GROUPS = set(VOCABULARY.groups)
FIELD_KEYS = sorted({p.split(".")[-1] for p in VOCABULARY.fields} | GROUPS | {"network.form", "unknown"})
# Plain scalars that YAML 1.1 reads as something other than text: those this reader takes as
# yaml.safe_load does, and those it refuses (or nearly the same forms, which are text).
READ_ALIKE = ["1.5", ".5", "-2.", "1.0e+5", "1e5", "+5", "-0", "6000", "10000001", "yes", "No", "on", "OFF", "True", "y", "~", "null", "NULL", "", "unknown"]
REFUSED = [
    "0750", "09", "00", "0x10", "-0b11", "1:30:00", "190:20:30.15", "1_000", ".inf", "-.Inf", ".nan", "9" * 25,
    "2001-02-30", "2001-02-03", "2001-12-14t21:59:43.10-05:00", "<<", "=",
]
PLAIN_FORMS = READ_ALIKE + REFUSED
ODD_SCALARS = [
    *PLAIN_FORMS, "fragmented", "one_to_many", "metal", "Ota ward", "大田区", "'quoted'", '"dq"', "a: b", "- x", "#c",
    "[", "{x", "!", "&", "*", "@x", "%x",
]
TAGS = ["!!int", "!!str", "!!float", "!!bool", "!!null", "!!set", "!!binary", "!!timestamp", "!!map", "!!seq", "!foo", "!", "!!python/name:os.system"]
# Letters a region file may hold, and the characters a hostile one would try (raw ones only rarely).
LETTERS = st.sampled_from([*"abcxyz019 _.-:#'\"\\[]{},&*!|>%@`?", "\u00a0", "大", "é", "\U0001f600"])
CONTROLS = st.sampled_from(["\t", "\x00", "\x01", "\x1b", "\x7f", "\x85", "\x9b", "\u202e", "\u2028", "\u2066", "\ufeff", "\ud800"])


def _quote(text: str) -> str:
    # JSON's escapes are a subset of YAML's double-quoted ones (\\ud800 included: libyaml refuses it).
    return json.dumps(text)


odd = st.one_of(
    st.sampled_from(ODD_SCALARS),
    st.text(LETTERS, max_size=10),  # raw: often not even YAML
    st.text(st.one_of(LETTERS, CONTROLS), max_size=10).map(_quote),  # escaped controls: valid YAML
    st.tuples(st.text(LETTERS, max_size=4), CONTROLS).map("".join),  # a raw control character in the file
    st.tuples(st.sampled_from(TAGS), st.sampled_from(ODD_SCALARS)).map(" ".join),
    st.sampled_from(["&a x", "*a", "&b [1, 2]", "*b", "&c"]),
    st.integers(min_value=1, max_value=40).map(lambda n: "[" * n + "]" * n),
)


def _flow(items: list[str]) -> str:
    return "[" + ", ".join(items) + "]"


def _good(path: str) -> st.SearchStrategy[Any]:
    """Values that suit the field at `path`, as a region file would write them."""
    f = VOCABULARY.fields[path]
    if f.type == "text":
        return st.one_of(st.sampled_from(["Ota ward", "Japan", "大田区", "Plant #3"]).map(_quote), st.text(LETTERS, min_size=1, max_size=8).map(_quote))
    if f.type == "integer":
        return st.integers(min_value=-5, max_value=20_000_000).map(str)
    if f.type == "boolean":
        return st.sampled_from(["true", "false", "yes", "no", "unknown", "~"])
    if f.type == "choice":
        return st.sampled_from([*f.allowed, "unknown"])
    pool = list(f.allowed or f.suggestions)
    return st.lists(st.sampled_from(pool), max_size=4).map(_flow)


def _field_value(path: str) -> st.SearchStrategy[Any]:
    # Half the values fit, three in eight are plain scalars YAML 1.1 may read as another type, one in
    # eight is hostile: many documents stay regions worth comparing, many scalars are read both ways.
    return st.sampled_from(range(8)).flatmap(
        lambda n: _good(path) if n < 4 else st.sampled_from(READ_ALIKE) if n < 6 else st.sampled_from(REFUSED) if n < 7 else st.one_of(odd, nodes)
    )


keys = st.one_of(st.sampled_from(FIELD_KEYS), st.text(LETTERS, max_size=6).map(_quote), st.sampled_from(ODD_SCALARS[:12]))
nodes = st.recursive(
    odd,
    lambda inner: st.one_of(
        st.lists(st.tuples(keys, inner), max_size=4).map(lambda pairs: ("map", pairs)),
        st.lists(inner, max_size=3).map(lambda items: ("seq", items)),
    ),
    max_leaves=8,
)
TOP_FIELDS = [p for p in VOCABULARY.fields if "." not in p and p != "name"]


def _render(node: Any, indent: str, lines: list[str], lead: str) -> None:
    """Write a generated node as block YAML under `lead` (a `key:` or `-` already at its place)."""
    if isinstance(node, str):
        lines.append(f"{lead} {node}".rstrip() if lead else node)
        return
    kind, children = node
    if lead:
        lines.append(lead)
    if not children:
        lines.append(f"{indent}{'{}' if kind == 'map' else '[]'}")
        return
    for child in children:
        if kind == "map":
            key, value = child
            _render(value, indent + "  ", lines, f"{indent}{key}:")
        else:
            _render(child, indent + "  ", lines, f"{indent}-")


@st.composite
def region_document(draw: st.DrawFn) -> str:
    """One region document: mostly fitting values, some hostile ones, now and then a stray key."""
    pairs: list[tuple[str, Any]] = []
    kind = draw(st.sampled_from(["good", "good", "good", "good", "odd", "none"]))
    if kind != "none":
        pairs.append(("name", draw(_good("name") if kind == "good" else odd)))
    for top in draw(st.lists(st.sampled_from(TOP_FIELDS + sorted(GROUPS)), max_size=6, unique=True)):
        if top in GROUPS:
            members = [p for p in VOCABULARY.fields if p.startswith(top + ".")]
            chosen = draw(st.lists(st.sampled_from(members), min_size=1, max_size=3, unique=True))
            pairs.append((top, ("map", [(p.split(".")[1], draw(_field_value(p))) for p in chosen])))
        else:
            pairs.append((top, draw(_field_value(top))))
    if draw(st.sampled_from([False, False, False, True])):
        pairs.insert(draw(st.integers(0, len(pairs))), (draw(keys), draw(nodes)))
    lines: list[str] = []
    _render(("map", pairs), "", lines, "")
    return "\n".join(lines) + "\n"


region_texts = st.lists(region_document(), min_size=1, max_size=3).map("---\n".join)


def _same(a: Any, b: Any) -> bool:
    """Equal values of equal types all the way down (1 == True and 1 == 1.0 do not count)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return len(a) == len(b) and all(_same(mine, theirs) and _same(a[mine], b[theirs]) for mine, theirs in zip(a, b, strict=True))
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _flatten(document: dict[Any, Any]) -> dict[str, Any]:
    """Read facts off a plain YAML mapping the simple way: groups one level deep, unknowns left out."""
    flat: dict[str, Any] = {}
    for key, value in document.items():
        if str(key) in GROUPS and isinstance(value, dict):
            flat.update((f"{key}.{inner}", item) for inner, item in value.items())
        else:
            flat[str(key)] = value
    facts: dict[str, Any] = {}
    for path, value in flat.items():
        if value is None or value == UNKNOWN:
            continue
        facts[path] = value.strip() if isinstance(value, str) else list(dict.fromkeys(value)) if isinstance(value, list) else value
    return facts


@settings(derandomize=True, max_examples=600, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(region_texts)
def test_reading_agrees_with_safe_load_or_refuses_cleanly(text: str) -> None:
    independent: list[Any] = []  # the documents yaml.safe_load reads before it gives up, if it does
    complete = True
    try:
        for document in yaml.safe_load_all(text):
            independent.append(document)
    except Exception:  # PyYAML raises ValueError, RecursionError, ... on forms this reader refuses
        complete = False
    mine: list[Any] = []
    with contextlib.suppress(StreamError):  # a syntax error: the documents before it still count
        for document in load_documents(text):
            mine.append(document)
    for index, document in enumerate(mine[: len(independent) + 1]):
        if not document.problems:
            # Whatever this reader accepts, yaml.safe_load reads the same way (no silent reinterpretation);
            # a document it cannot read at all is one this reader refuses too.
            assert index < len(independent), text
            assert _same(document.data, independent[index]), text
    items = list(parse_regions(text, "p.yaml"))  # never raises: a Region or a RegionError per document
    assert items and all(isinstance(i, Region | RegionError) for i in items)
    non_empty = [d for d in independent if d is not None]
    regions = [i for i in items if isinstance(i, Region)]
    for region in regions:
        assert region.document <= len(non_empty) or not complete, text
        if region.document <= len(non_empty) and region.migration is None:  # v1 readings: tests/test_migrate.py
            expected = _flatten(non_empty[region.document - 1]) | {"schema_version": 2}
            if "industries" in expected:
                expected["industries"] = canonical_industries(expected["industries"])
            assert dict(region.facts) == expected, text


def test_escape_covers_every_control_format_and_separator_character() -> None:
    import sys
    import unicodedata

    from clusteradvisor.safetext import FORBIDDEN_IN_TEXT, escape

    unsafe = [chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) in {"Cc", "Cf", "Cs", "Zl", "Zp"}]
    escaped = escape("".join(unsafe))
    assert not any(unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Zl", "Zp"} for ch in escaped)
    assert escape("Ōta 大田区 ok") == "Ōta 大田区 ok"
    assert escape("\x1b[2K\u202e\udcff\U000e0001") == "\\x1b[2K\\u202e\\xff\\U000e0001"
    # A text field refuses what moves the cursor or reorders letters, and keeps joiners emoji need.
    assert all(FORBIDDEN_IN_TEXT.search(ch) for ch in "\x00\t\n\x7f\x85\x9b\u202e\u2066\u2028\u200f\ud800")
    assert not FORBIDDEN_IN_TEXT.search("Ōta \u200d 大田区")


def test_line_numbers_of_rule_files_survive_deep_nesting_and_recursive_aliases() -> None:
    from clusteradvisor.yamlio import key_lines

    assert key_lines("a: &x [b, *x]\nc: 1\n") == [{"": 1, "a": 1, "a[0]": 1, "a[1]": 1, "c": 2}]
    deep = key_lines("a: " + "[" * 900 + "]" * 900 + "\n")
    assert deep[0]["a"] == 1 and len(deep[0]) == 901


# Pieces of lines that make a line-by-line reading go wrong if it trusts the wrong files: quotes and
# block scalars that span lines, flow collections left open, comments, anchors, document markers,
# YAML 1.1 words, characters that are spaces to Python but not to YAML, and line ends YAML counts.
_PIECES = st.sampled_from(
    [
        "name", "respondent", "role", "a", "on", "- ", "-", ": ", ":", " ", "  ", "\t", "#", " # c", "x", "Higashi Osaka", "Ōta",
        "A", "B", "'", '"', "|", ">", "[", "]", "[a, b]", "{", "}", "&a", "*a", "!!str ", "yes", "~", "12", "1:30", "2002-10-01",
        "---", "...", "%YAML 1.1", "\u00a0", "\u3000", "\ufeff", "\r", "\u2028", "? ", "<<", "=", "\\", "%", "@", "`",
    ]
)
_WORDS = st.lists(st.one_of(_PIECES, st.sampled_from(["x", "Higashi Osaka", "Ōta", "a b", "A"])), min_size=1, max_size=3).map("".join)
_LINE = st.one_of(
    st.lists(_PIECES, max_size=6).map("".join),  # anything
    st.tuples(st.sampled_from(["", "  ", "    "]), st.sampled_from(["a", "respondent", "role", "name", "on"]), st.sampled_from([": ", ":", ":  "]), _WORDS, st.sampled_from(["", " # c", "  # it's"])).map("".join),
    st.tuples(st.sampled_from(["", "  "]), st.just("- "), _WORDS).map("".join),
)
_LINES = st.lists(_LINE, max_size=8)


@settings(derandomize=True, max_examples=1500, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(_LINES, st.integers(0, 8), _WORDS)
def test_a_name_read_without_parsing_is_the_name_parsing_gives(lines: list[str], at: int, value: str) -> None:
    from clusteradvisor.yamlio import top_level_text

    lines.insert(min(at, len(lines)), f"name: {value}")
    text = "\n".join(lines) + "\n"
    name = top_level_text(text, "name")
    if name is None:
        return
    with contextlib.suppress(StreamError):
        documents = list(load_documents(text))
        if len(documents) == 1 and not documents[0].problems and isinstance(documents[0].data, dict):
            assert documents[0].data.get("name") == name, text
    try:
        regions = load_regions(text, "p.yaml")  # as batch reads a respondent's file to be sure
    except RegionError:
        return
    if len(regions) == 1:
        assert regions[0].name == name, text


def test_a_name_is_read_without_parsing_only_from_the_simple_subset() -> None:
    from clusteradvisor.yamlio import top_level_text

    plain = "schema_version: 2\nname: Ōta  ward   # the district\nrespondent:\n  role: firm\nindustries: [metal, machinery]\nnotes:\n- one, two\n"
    assert top_level_text(plain, "name") == "Ōta  ward"
    for text in (
        plain.replace("Ōta  ward", '"Ōta ward"'),  # quoted: parsing decides
        plain + 'area: "a\nname: B"\n',  # a quoted scalar over two lines
        plain + "notes2: |\n  text\n",  # a block scalar
        plain + "---\nname: B\n",  # a second document
        plain.replace("name: Ōta  ward", "name: yes"),  # a YAML 1.1 boolean
        plain.replace("name: Ōta  ward", "name: 2002-10-01"),  # a date
        plain.replace("\n", "\r\n"),
        "\ufeff" + plain,
        plain + "name: Other\n",  # twice (a duplicate key)
        "name: a\n\n  - b\nrespondent:\n  role: firm\n",  # the value goes on: "a\n- b"
        plain.replace("name: Ōta  ward", "  name: Ōta ward"),  # not at column 0
    ):
        assert top_level_text(text, "name") is None, text
