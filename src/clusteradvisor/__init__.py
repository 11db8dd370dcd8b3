"""ClusterAdvisor: an expert system that advises governments on cluster policy."""

from __future__ import annotations

__version__ = "0.1.0"
