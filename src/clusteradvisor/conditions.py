"""Rule conditions as data, and their compilation into Python functions.

A condition is a tree of field tests, derived-fact references, `all` and `any` (docs/knowledge-model.md).
It is evaluated in Kleene's three-valued logic: a test on an unknown field is None (undecided); `all`
is False as soon as one part is False, `any` is True as soon as one part is True, and otherwise
either is None if a part is undecided.

The evaluators run for every rule of every region (statuses, scores, gaps, what-if questions), so
conditions are compiled into Python source once per rule base, the way Jinja2 compiles templates:
one function per condition, with every test inlined. Nothing from a rule file is ever written into
that source: field paths, operands and rule ids are bound as named constants, and the source is
built only from fixed fragments and the operator table's expressions (operators.py).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from .operators import OPERATORS

Truth = bool | None  # None: undecided, because a field it reads is unknown


@dataclass(frozen=True)
class FieldTest:
    """A comparison of one region field with a value."""

    field: str
    op: str
    value: Any


@dataclass(frozen=True)
class Derived:
    """Holds when the derived fact `id` holds."""

    id: str


@dataclass(frozen=True)
class All:
    """Holds when every item holds."""

    items: tuple[Condition, ...]


@dataclass(frozen=True)
class AnyOf:
    """Holds when at least one item holds."""

    items: tuple[Condition, ...]


Condition = FieldTest | Derived | All | AnyOf
ALWAYS = All(())  # holds for every region

K = TypeVar("K")
Evaluator = Callable[[Mapping[str, Any], Mapping[str, Truth]], Truth]
Walker = Callable[[Mapping[str, Any], Mapping[str, Truth], set[str], set[str]], None]


def iter_tests(condition: Condition) -> Iterable[FieldTest]:
    """Yield every field test in a condition tree."""
    if isinstance(condition, FieldTest):
        yield condition
    elif isinstance(condition, (All, AnyOf)):
        for item in condition.items:
            yield from iter_tests(item)


def iter_derived(condition: Condition) -> Iterable[str]:
    """Yield every derived fact a condition tree refers to."""
    if isinstance(condition, Derived):
        yield condition.id
    elif isinstance(condition, (All, AnyOf)):
        for item in condition.items:
            yield from iter_derived(item)


def leaves(condition: Condition) -> tuple[FieldTest | Derived, ...]:
    """The tests and derived references of a condition, in the order they are written."""
    if isinstance(condition, (FieldTest, Derived)):
        return (condition,)
    return tuple(leaf for item in condition.items for leaf in leaves(item))


def field_truth(test: FieldTest, facts: Mapping[str, Any]) -> Truth:
    """Evaluate one test: True, False, or None when the field is unknown."""
    if test.field not in facts:
        return None
    return OPERATORS[test.op].decide(facts[test.field], test.value)


# ---------------------------------------------------------------- compilation

_UNKNOWN: Any = object()  # what `facts.get` returns for a field that is not known


class _Source:
    """Python source for conditions, with every constant bound by name in the namespace."""

    def __init__(self) -> None:
        self.namespace: dict[str, Any] = {"_UNKNOWN": _UNKNOWN}
        self._texts: dict[str, str] = {}  # field paths and rule ids recur: one name each
        self._locals = 0
        self.fields: dict[str, str] | None = None  # when reading each field once: its local, by path

    def constant(self, value: Any) -> str:
        if type(value) is str and value in self._texts:
            return self._texts[value]
        name = f"_c{len(self.namespace)}"
        self.namespace[name] = value
        if type(value) is str:
            self._texts[value] = name
        return name

    def local(self) -> str:
        self._locals += 1
        return f"_v{self._locals}"

    def truth(self, condition: Condition) -> str:
        """An expression with the three-valued truth of `condition` over `facts` and `status`."""
        if isinstance(condition, FieldTest):
            expected = self.constant(condition.value)
            if self.fields is not None:  # the field was read into a local once, at the top
                value = self.fields.get(condition.field) or self.fields.setdefault(condition.field, self.local())
                return f"(None if {value} is _UNKNOWN else {OPERATORS[condition.op].python.format(value=value, expected=expected)})"
            value = self.local()
            test = OPERATORS[condition.op].python.format(value=value, expected=expected)
            return f"(None if ({value} := facts.get({self.constant(condition.field)}, _UNKNOWN)) is _UNKNOWN else {test})"
        if isinstance(condition, Derived):
            return f"status.get({self.constant(condition.id)})"
        any_of = isinstance(condition, AnyOf)
        if not condition.items:
            return "False" if any_of else "True"
        decisive = "True" if any_of else "False"  # the value of one part that settles the whole
        parts = [(self.local(), item) for item in condition.items]
        settled = " or ".join(f"({name} := {self.truth(item)}) is {decisive}" for name, item in parts)
        undecided = " or ".join(f"{name} is None" for name, _ in parts)
        return f"({decisive} if {settled} else None if {undecided} else {not any_of})"

    def holding(self, condition: Condition) -> list[str]:
        """Statements appending to `held` each leaf of `condition` that holds, in the order written: a
        test's field path, or ("derived", id) for a derived fact in `derived`."""
        lines: list[str] = []
        for leaf in leaves(condition):
            if isinstance(leaf, FieldTest):
                value = self.local()
                test = OPERATORS[leaf.op].python.format(value=value, expected=self.constant(leaf.value))
                path = self.constant(leaf.field)
                lines += [f"    if ({value} := facts.get({path}, _UNKNOWN)) is not _UNKNOWN and {test}:", f"        held.append({path})"]
            else:
                lines += [f"    if {self.constant(leaf.id)} in derived:", f"        held.append({self.constant(('derived', leaf.id))})"]
        return lines

    def walk(self, condition: Condition, indent: str, walkers: str) -> list[str]:
        """Statements adding to `found` the unknown fields read by the undecided parts of `condition`
        (which is undecided), descending through undecided derived facts into theirs."""
        if isinstance(condition, FieldTest):
            path = self.constant(condition.field)
            return [f"{indent}if {path} not in facts:", f"{indent}    found.add({path})"]
        if isinstance(condition, Derived):
            name = self.constant(condition.id)
            return [
                f"{indent}if status.get({name}) is None and {name} not in visited:",
                f"{indent}    visited.add({name})",
                f"{indent}    {walkers}[{name}](facts, status, found, visited)",
            ]
        lines: list[str] = []
        for item in condition.items:
            if isinstance(item, (FieldTest, Derived)):  # undecided exactly when its own walk finds it so
                lines += self.walk(item, indent, walkers)
            else:
                inner = self.walk(item, indent + "    ", walkers)
                if inner:  # an empty `all` or `any` is always decided: nothing to look into
                    lines += [f"{indent}if {self.truth(item)} is None:", *inner]
        return lines

    def build(self, lines: list[str], filename: str) -> dict[str, Any]:
        code = compile("\n".join(lines) + "\n", filename, "exec")
        exec(code, self.namespace)  # source built from fixed fragments only (module docstring)
        return self.namespace


def _each(conditions: Mapping[K, Condition], filename: str, define: Callable[[_Source, str, Condition], list[str]], source: _Source | None = None) -> dict[K, Any]:
    """Compile one function per condition (`define(source, name, condition)` writes it); return them by key."""
    source = source or _Source()
    lines: list[str] = []
    names: dict[K, str] = {}
    for index, (key, condition) in enumerate(conditions.items()):
        names[key] = f"_f{index}"
        lines += define(source, names[key], condition)
    namespace = source.build(lines, filename)
    return {key: namespace[name] for key, name in names.items()}


def compile_truths(conditions: Mapping[K, Condition]) -> dict[K, Evaluator]:
    """Compile conditions, each into a function `(facts, status) -> Truth` (status: derived facts' truth)."""
    return _each(conditions, "<conditions>", lambda source, name, c: [f"def {name}(facts, status):", f"    return {source.truth(c)}"])


@functools.lru_cache(maxsize=1024)
def compile_truth(condition: Condition) -> Evaluator:
    """Compile one condition into a function `(facts, status) -> Truth` (kept for the next call)."""
    return compile_truths({"": condition})[""]


Status = Callable[[Mapping[str, Any], dict[str, Truth]], dict[str, Truth]]


def compile_status(conditions: Iterable[tuple[str, Condition]]) -> Status:
    """Compile named conditions into ONE function `(facts, status) -> status` that adds the truth of
    each, in the order given, to `status` and returns it. A derived reference reads `status`: give
    the derived facts first (each after those it reads), or pass their truth in."""
    source = _Source()
    source.fields = {}  # many rules read the same field: each is looked up once, at the top
    body = [f"    status[{source.constant(key)}] = {source.truth(condition)}" for key, condition in conditions]
    reads = [f"    {name} = facts.get({source.constant(path)}, _UNKNOWN)" for path, name in source.fields.items()]
    lines = ["def _status(facts, status):", *reads, *body, "    return status"]
    status: Status = source.build(lines, "<rule statuses>")["_status"]
    return status


Holding = Callable[[Mapping[str, Any], Mapping[str, Any]], list[Any]]


def compile_holding(conditions: Mapping[K, Condition]) -> dict[K, Holding]:
    """Compile, for each condition, the list of its parts that hold (the reasons a verdict gives): a
    function `(facts, derived) -> [field path or ("derived", id), ...]` in the order written, where
    `derived` holds the derived facts that hold. A part may appear twice."""
    return _each(conditions, "<reasons>", lambda source, name, c: [f"def {name}(facts, derived):", "    held = []", *source.holding(c), "    return held"])


def compile_walkers(conditions: Mapping[str, Condition]) -> dict[str, Walker]:
    """Compile, for each rule, the search for the open fields that would decide it (information gaps):
    a function `(facts, status, found, visited)` to call on an undecided rule."""
    source = _Source()
    table: dict[str, Walker] = {}
    walkers = source.constant(table)  # filled below: a derived reference calls that fact's walker
    table.update(
        _each(conditions, "<information gaps>", lambda s, name, c: [f"def {name}(facts, status, found, visited):", *(s.walk(c, "    ", walkers) or ["    pass"])], source)
    )
    return table
