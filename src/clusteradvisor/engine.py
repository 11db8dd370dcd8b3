"""The inference engine: the only module that imports durable_rules.

Rules (data) are compiled into one durable_rules ruleset per process and knowledge base. Each region
is asserted as ONE nested fact in a session (sid) of its own; derived facts are asserted from inside
the action loop, so they chain synchronously into the rules that read them.

We drive durable's C engine (durable_rules_engine) directly rather than through durable.engine.Host,
because the Host is where durable_rules' failure modes live (measured on this project's machines): two timer threads per
host that never stop and have read freed memory, action exceptions swallowed into the session state,
asynchronous actions when a callback has a defaulted parameter, a 10 s action lease. Our action loop
runs no user code (an action only records the firing and, for a derived fact, asserts it), never
swallows an exception, and always lets the sentinel rule run so that delete_state is safe.
"""

from __future__ import annotations

import itertools
import json
import os
import threading
from collections.abc import Mapping
from typing import Any, NamedTuple

import durable_rules_engine as _durable

from .errors import EngineError
from .knowledge import All, AnyOf, Condition, Derived, FieldTest, KnowledgeBase, Rule
from .operators import OPERATORS, list_count
from .records import record

_SENTINEL = "__done__"
_RESULT_OBSERVED = 2  # identical fact asserted twice in a session: we never do it
_encode = json.JSONEncoder(ensure_ascii=False).encode  # one encoder: json.dumps with options builds one per call
_decode_at = json.JSONDecoder().raw_decode  # decodes the one JSON value that starts at an index
_names = itertools.count(1)


class Firing(NamedTuple):
    """One action the engine ran: which rule, in which order, on which facts."""

    order: int
    rule: str
    matched: tuple[str, ...]


@record
class Inference:
    """What the engine concluded for one region: rule ids that fired, and the trace."""

    fired: tuple[str, ...]
    trace: tuple[Firing, ...]


def engine_key(path: str) -> str:
    """The flat key a field path has in the one fact durable sees (`panel.firm.policy.x` nests 4 deep)."""
    return path.replace(".", "__")


def _region_expr(condition: Condition) -> dict[str, Any]:
    """Compile a condition with no derived references into one durable expression."""
    if isinstance(condition, FieldTest):
        return OPERATORS[condition.op].durable(engine_key(condition.field), condition.value)
    if isinstance(condition, (All, AnyOf)):
        key = "$and" if isinstance(condition, All) else "$or"
        return {key: [_region_expr(item) for item in condition.items]}
    raise EngineError("engine: a derived reference reached the region expression compiler")


def _has_derived(condition: Condition) -> bool:
    if isinstance(condition, Derived):
        return True
    if isinstance(condition, (All, AnyOf)):
        return any(_has_derived(item) for item in condition.items)
    return False


_Disjunct = tuple[tuple[dict[str, Any], ...], frozenset[str]]


def _disjuncts(condition: Condition) -> list[_Disjunct]:
    """Split a condition into alternatives of (region expressions, derived facts) that durable can join.

    A disjunction over region fields alone stays one expression; only an `any` that mixes in derived
    facts becomes several durable rules (durable joins facts conjunctively).
    """
    if isinstance(condition, Derived):
        return [((), frozenset({condition.id}))]
    if isinstance(condition, FieldTest) or not _has_derived(condition):
        return [((_region_expr(condition),), frozenset())]
    if isinstance(condition, AnyOf):
        return [d for item in condition.items for d in _disjuncts(item)]
    assert isinstance(condition, All)
    combined: list[_Disjunct] = [((), frozenset())]
    for item in condition.items:
        combined = [(ea + eb, da | db) for ea, da in combined for eb, db in _disjuncts(item)]
    return combined


def compile_rules(rules: tuple[Rule, ...]) -> dict[str, dict[str, Any]]:
    """Return the durable_rules definitions: {durable rule name: {"all": [patterns]}}."""
    definitions: dict[str, dict[str, Any]] = {}
    for rule in rules:
        for index, (exprs, derived) in enumerate(_disjuncts(rule.when)):
            patterns: list[dict[str, Any]] = []
            if exprs:
                patterns.append({"m": {"$and": [{"t": "region"}, *exprs]}})
            for number, name in enumerate(sorted(derived)):
                patterns.append({f"d{number}": {"$and": [{"t": "derived"}, {"name": name}]}})
            definitions[f"{rule.id}#{index}"] = {"all": patterns}
    definitions[_SENTINEL] = {"all": [{"m": {"t": "done"}}]}
    return definitions


def _layout(kb: KnowledgeBase) -> tuple[tuple[str, str], ...]:
    """(path, engine key) of every field some rule reads, in vocabulary order."""
    return tuple((path, engine_key(path)) for path, readers in kb.readers.items() if readers)


def region_fact(kb: KnowledgeBase, facts: Mapping[str, Any], layout: tuple[tuple[str, str], ...] | None = None) -> dict[str, Any]:
    """Flatten the known facts that some rule reads into the one fact durable sees."""
    fact: dict[str, Any] = {"t": "region"}
    for path, key in layout if layout is not None else _layout(kb):
        if path in facts:
            value = facts[path]
            fact[key] = value
            if isinstance(value, list):
                fact[list_count(key)] = len(value)
    return fact


class Engine:
    """One compiled ruleset; assesses regions one at a time, each in its own session."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self._kb = kb
        definitions = compile_rules(kb.rules)
        self._definitions = json.dumps(definitions, ensure_ascii=False, sort_keys=True)
        # What each durable rule joins, for the trace: known from the definitions, so the action
        # loop never decodes the matched facts (durable sends them in full with every action).
        # name -> (rule id, facts joined), so the action loop reads both from the name durable reports.
        self._rules = {
            name: (name.rsplit("#", 1)[0], tuple(sorted("derived:" + p[k]["$and"][1]["name"] if k.startswith("d") else "region" for p in spec["all"] for k in p)))
            for name, spec in definitions.items()
        }
        self._layout = _layout(kb)
        # Each derived fact as JSON text up to its session id: {"t":"derived","name":"<id>","sid":
        self._derived = {r.id: '{"t":"derived","name":' + _encode(r.id) + ',"sid":' for r in kb.rules if r.category == "derived"}
        self._lock = threading.Lock()
        self._sids = itertools.count(1)
        self._handle: int | None = None
        self._pid = os.getpid()

    def _ruleset(self) -> int:
        if self._handle is None or self._pid != os.getpid():
            # A forked child must not share its parent's engine state: build its own ruleset.
            name = f"clusteradvisor_{os.getpid()}_{next(_names)}"
            try:
                self._handle = int(_durable.create_ruleset(name, self._definitions))
            except Exception as err:  # the C engine reports bad definitions only by a code
                raise EngineError(f"engine: durable_rules refused the rule base ({err}).") from err
            self._pid = os.getpid()
        return self._handle

    def infer(self, facts: Mapping[str, Any]) -> Inference:
        """Run the rules over one region's known facts."""
        with self._lock:
            handle = self._ruleset()
            sid = str(next(self._sids))
            fired: dict[str, None] = {}
            trace: list[Firing] = []
            try:
                fact = region_fact(self._kb, facts, self._layout)
                fact["sid"] = sid
                self._run(handle, sid, _encode(fact), fired, trace)
                self._run(handle, sid, f'{{"t":"done","sid":"{sid}"}}', fired, trace)
                if not trace or trace[-1].rule != _SENTINEL:
                    raise EngineError("engine: the session ended before the sentinel rule ran.")
                _durable.delete_state(handle, sid)
            except Exception as err:
                # Leave this ruleset behind: its state for the session is unknown.
                self._handle = None
                if isinstance(err, EngineError):
                    raise
                raise EngineError(f"engine: durable_rules failed on region facts ({type(err).__name__}: {err}).") from err
            return Inference(tuple(fired), tuple(f for f in trace if f.rule != _SENTINEL))

    def _assert(self, handle: int, fact: str) -> int:
        code, state = _durable.assert_fact(handle, fact)
        if code == _RESULT_OBSERVED:
            raise EngineError(f"engine: fact asserted twice in one session: {fact}")
        return int(state)

    def _run(self, handle: int, sid: str, fact: str, fired: dict[str, None], trace: list[Firing]) -> None:
        """Assert one fact (JSON text; a session id is digits) and run every action it leads to."""
        state = self._assert(handle, fact)
        result = _durable.start_action_for_state(handle, state)
        message = result[1] if result else None
        while message:
            # The message is the JSON object {"<durable rule name>": {matched facts}}: its first key
            # names the rule (the matched facts are known from the definitions, so never decoded).
            name = _decode_at(message, 1)[0]
            rule_id, matched = self._rules[name]
            trace.append(Firing(len(trace) + 1, rule_id, matched))
            if rule_id != _SENTINEL and rule_id not in fired:
                fired[rule_id] = None
                derived = self._derived.get(rule_id)
                if derived is not None:
                    self._assert(handle, f'{derived}"{sid}"}}')
            message = _durable.complete_and_start_action(handle, state)


_engines: dict[str, Engine] = {}


def engine_for(kb: KnowledgeBase) -> Engine:
    """Return the engine for a knowledge base (built once; a forked child rebuilds its own ruleset)."""
    if kb.version not in _engines:
        _engines[kb.version] = Engine(kb)
    return _engines[kb.version]
