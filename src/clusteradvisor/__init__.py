"""ClusterAdvisor: an expert system that advises governments on cluster policy.

The Python API (documented in the README, "Python API"):

    from clusteradvisor import assess, render, assess_many
    verdict = assess({"name": "Ota ward", "district_type": ["city_type"]})   # a mapping, YAML text or a Path
    print(render(verdict, "md"))
    rows = list(assess_many(df.to_dict("records")))                          # one summary row per region

Importing the package is cheap: the rule engine and the templates load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"
__all__ = ["ClusterAdvisorError", "Verdict", "__version__", "assess", "assess_many", "render"]

if TYPE_CHECKING:
    from .api import assess, assess_many, render
    from .errors import ClusterAdvisorError
    from .verdict import Verdict


def __getattr__(name: str) -> Any:
    """Load the API on first use, so that `clusteradvisor --help` starts without the engine."""
    if name in ("assess", "assess_many", "render"):
        from . import api

        return getattr(api, name)
    if name == "Verdict":
        from .verdict import Verdict

        return Verdict
    if name == "ClusterAdvisorError":
        from .errors import ClusterAdvisorError

        return ClusterAdvisorError
    raise AttributeError(f"module 'clusteradvisor' has no attribute {name!r}")
