"""`@record` behaves exactly like `@dataclass(frozen=True)`; only its __init__ is built differently."""

from __future__ import annotations

import dataclasses
import inspect
import pickle
from typing import Any

import pytest

from clusteradvisor.records import record


@record
class Fast:
    a: int
    b: str = "x"
    c: list[int] = dataclasses.field(default_factory=list)
    d: int = dataclasses.field(default=5, init=False)
    e: int = dataclasses.field(default=1, kw_only=True)
    f: tuple[int, ...] = dataclasses.field(default=(), compare=False, repr=False, kw_only=True)


@dataclasses.dataclass(frozen=True)
class Plain:  # the same fields as Fast
    a: int
    b: str = "x"
    c: list[int] = dataclasses.field(default_factory=list)
    d: int = dataclasses.field(default=5, init=False)
    e: int = dataclasses.field(default=1, kw_only=True)
    f: tuple[int, ...] = dataclasses.field(default=(), compare=False, repr=False, kw_only=True)


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [((1,), {}), ((1, "y"), {}), ((1, "y", [2]), {"e": 3}), ((2,), {"f": (1,)}), ((), {"a": 4, "b": "z", "e": 0})],
)
def test_a_record_is_built_like_a_frozen_dataclass(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    fast, plain = Fast(*args, **kwargs), Plain(*args, **kwargs)
    assert vars(fast) == vars(plain) and list(vars(fast)) == list(vars(plain))  # same fields, same order
    assert repr(fast).replace("Fast", "") == repr(plain).replace("Plain", "")
    assert fast == Fast(*args, **kwargs) and fast != dataclasses.replace(fast, a=99)
    assert dataclasses.replace(fast, b="w").b == "w" and pickle.loads(pickle.dumps(fast)) == fast
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.a = 5  # type: ignore[misc]


def test_a_records_defaults_are_fresh_and_its_signature_is_the_dataclass_one() -> None:
    assert Fast(1).c == [] and Fast(1).c is not Fast(1).c
    assert str(inspect.signature(Fast)) == str(inspect.signature(Plain))
    with pytest.raises(TypeError):
        Fast()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Fast(1, "x", [], 3)  # type: ignore[call-arg]  # e is keyword-only


def test_hashing_follows_the_fields_as_for_a_frozen_dataclass() -> None:
    @record
    class Point:
        x: int
        y: int

    assert hash(Point(1, 2)) == hash(Point(1, 2)) and len({Point(1, 2), Point(1, 2), Point(2, 1)}) == 2
