"""The library's front door: a region in, a verdict out."""

from __future__ import annotations

import functools

from .engine import engine_for
from .errors import EngineError
from .knowledge import KnowledgeBase, evaluate_all, load_knowledge_base
from .region import Region
from .verdict import Verdict, build_verdict


class Advisor:
    """A knowledge base and its compiled engine; assesses regions one after another."""

    def __init__(self, kb: KnowledgeBase | None = None) -> None:
        self.kb = kb or load_knowledge_base()
        self.engine = engine_for(self.kb)

    def assess(self, region: Region) -> Verdict:
        """Infer the verdict for one region."""
        inference = self.engine.infer(region.facts)
        status = evaluate_all(self.kb, region.facts)
        expected = {rule_id for rule_id, holds in status.items() if holds is True}
        if expected != set(inference.fired):
            # Both read the same rule data; a difference is a bug in one of them, never bad input.
            extra = sorted(set(inference.fired) - expected)
            missing = sorted(expected - set(inference.fired))
            raise EngineError(f"engine: durable_rules and the rule evaluator disagree (extra {extra}, missing {missing}). Please report this.")
        return build_verdict(self.kb, region, inference, status)


@functools.cache
def default_advisor() -> Advisor:
    """The advisor for the shipped knowledge base (one per process)."""
    return Advisor()


def assess(region: Region) -> Verdict:
    """Assess one region with the shipped knowledge base."""
    return default_advisor().assess(region)
