"""The rule operators: ONE table read by the rule validator, the three-valued evaluator and the engine compiler.

Each operator says which field types it tests, what its operand must be, how it is decided on a known
value (one Python expression, which the compiled evaluators inline: conditions.py), and how it is
written as a durable_rules expression. "Unknown" has one definition: the field is
absent from the facts (region.py drops absent and `unknown` answers), and every operator on an unknown
field is undecided.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


def list_count(key: str) -> str:
    """The engine key holding the length of a list field (durable cannot test a list for emptiness)."""
    return key + "__n"


@dataclass(frozen=True)
class Operator:
    """One comparison a rule condition may make between a field and a value."""

    name: str
    types: frozenset[str]
    operand: str  # "value": one value of the field; "values": a non-empty list of them; "flag": true/false
    python: str  # the test as a Python expression of {value} and {expected}, giving True or False
    durable: Callable[[str, Any], dict[str, Any]]

    @functools.cached_property
    def decide(self) -> Callable[[Any, Any], bool]:
        """Decide the test on a known value: `decide(value, expected)`."""
        function: Callable[[Any, Any], bool] = eval(f"lambda value, expected: {self.python.format(value='value', expected='expected')}")  # the table's own text, never data
        return function


def _any_of(key: str, values: Any) -> dict[str, Any]:
    return {"$or": [{key: v} for v in values]}


def _empty(key: str, expected: Any) -> dict[str, Any]:
    return {list_count(key): 0} if expected else {"$gt": {list_count(key): 0}}


_SCALARS = frozenset({"boolean", "choice", "integer"})
_LISTS = frozenset({"choices", "words"})

OPERATORS: dict[str, Operator] = {
    op.name: op
    for op in (
        Operator("eq", _SCALARS, "value", "{value} == {expected}", lambda k, e: {k: e}),
        Operator("ne", _SCALARS, "value", "{value} != {expected}", lambda k, e: {"$neq": {k: e}}),
        Operator("in", frozenset({"choice", "integer"}), "values", "{value} in {expected}", _any_of),
        Operator("gte", frozenset({"integer"}), "value", "{value} >= {expected}", lambda k, e: {"$gte": {k: e}}),
        Operator("gt", frozenset({"integer"}), "value", "{value} > {expected}", lambda k, e: {"$gt": {k: e}}),
        Operator("lte", frozenset({"integer"}), "value", "{value} <= {expected}", lambda k, e: {"$lte": {k: e}}),
        Operator("lt", frozenset({"integer"}), "value", "{value} < {expected}", lambda k, e: {"$lt": {k: e}}),
        Operator("contains", _LISTS, "value", "{expected} in {value}", lambda k, e: {"$iany": {k: {"$i": e}}}),
        Operator(
            "contains_any",
            _LISTS,
            "values",
            "any(item in {value} for item in {expected})",
            lambda k, e: {"$or": [{"$iany": {k: {"$i": item}}} for item in e]},
        ),
        Operator("empty", _LISTS, "flag", "(len({value}) == 0) is {expected}", _empty),
    )
}


def operators_for(field_type: str) -> tuple[str, ...]:
    """The operator names a field of `field_type` may be tested with, in table order."""
    return tuple(name for name, op in OPERATORS.items() if field_type in op.types)
