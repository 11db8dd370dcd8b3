"""One definition of a valid region: `clusteradvisor schema` and the validator agree on generated documents."""

from __future__ import annotations

from typing import Any

import jsonschema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clusteradvisor.region import validate
from clusteradvisor.vocabulary import json_schema, load_vocabulary

VOCABULARY = load_vocabulary()
VALIDATOR = jsonschema.Draft202012Validator(json_schema(VOCABULARY))
FIELDS = list(VOCABULARY.file_fields)
GROUPS = list(VOCABULARY.groups)

ODD: list[Any] = [
    None, "unknown", "", "   ", "x" * 201, " padded ", "Ota\nward", "Ota\x1bward", "Ota\u202eward", "Ota\x85", "大田区", "ok",
    0, -1, 1, 2, 3, 6000, 6000.0, 6000.5, 10_000_001, True, False, [], ["textile", "textile"], ["Textile"], [1],
    {"a": 1}, "yes", "none", "one_to_many", "city_type", "metal",
]  # fmt: skip


def good_value(path: str) -> st.SearchStrategy[Any]:
    f = VOCABULARY.fields[path]
    if f.type == "text":
        return st.sampled_from(["Ota ward", "Japan", "大田区", "Plant #3", " padded "])
    if f.type == "integer":
        return st.integers(min_value=(f.minimum or 0) - 1, max_value=(f.maximum or 10**7) + 1)
    if f.type == "boolean":
        return st.booleans()
    if f.type == "choice":
        return st.sampled_from(list(f.allowed))
    pool = list(f.allowed or f.suggestions) + (["tea_ceremony"] if f.type == "words" else [])
    return st.lists(st.sampled_from(pool), max_size=4)


def value_for(path: str) -> st.SearchStrategy[Any]:
    return st.one_of(good_value(path), good_value(path), st.sampled_from(ODD))


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    document: dict[str, Any] = {}
    if draw(st.integers(0, 9)):
        document["name"] = draw(value_for("name"))
    for f in draw(st.lists(st.sampled_from(FIELDS), max_size=8, unique_by=lambda f: f.path)):
        if f.path == "name":
            continue
        group, _, leaf = f.path.rpartition(".")
        if not group:
            document[f.path] = draw(value_for(f.path))
            continue
        node = document.setdefault(group, {})
        if isinstance(node, dict):
            node[leaf] = draw(value_for(f.path))
    oddity = draw(st.integers(0, 12))
    if oddity == 0 and GROUPS:
        document[draw(st.sampled_from(GROUPS))] = draw(st.sampled_from([None, "unknown", "fragmented", [], {}]))
    elif oddity == 1:
        document["network.form"] = ["fragmented"]  # a dotted key
    elif oddity == 2:
        document["panel"] = {"roles": ["firm"]}  # computed: never in a file
    elif oddity == 3:
        document["colour"] = "red"
    elif oddity == 4:
        document.setdefault("network", {})
        if isinstance(document["network"], dict):
            document["network"]["shape"] = "x"
    return document


@settings(derandomize=True, max_examples=1500, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_the_schema_and_the_validator_agree(document: dict[str, Any]) -> None:
    _, problems = validate(document)
    schema_errors = list(VALIDATOR.iter_errors(document))
    assert (not problems) == (not schema_errors), (document, [p.message for p in problems], [e.message for e in schema_errors])


def test_the_corpus_holds_both_valid_and_invalid_documents() -> None:
    valid = invalid = 0

    @settings(derandomize=True, max_examples=300, deadline=None, database=None)
    @given(documents())
    def count(document: dict[str, Any]) -> None:
        nonlocal valid, invalid
        if validate(document)[1]:
            invalid += 1
        else:
            valid += 1

    count()
    assert valid > 30 and invalid > 30
