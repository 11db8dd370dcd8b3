"""Find the shipped data folders (rules/, templates/) in a wheel and in an editable install."""

from __future__ import annotations

import functools
from pathlib import Path

from .errors import KnowledgeBaseError

_PACKAGE_DIR = Path(__file__).resolve().parent


@functools.cache
def data_dir(name: str) -> Path:
    """Return the folder `name` ("rules" or "templates"), never resolved from the cwd.

    A wheel carries the folders inside the package as `_data/<name>` (hatchling force-include);
    an editable install or a source checkout has them at the repository root, two levels up.
    """
    candidates = (_PACKAGE_DIR / "_data" / name, _PACKAGE_DIR.parent.parent / name)
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    tried = ", ".join(str(c) for c in candidates)
    raise KnowledgeBaseError(f"installation: the {name}/ folder is missing (looked in {tried}). Reinstall clusteradvisor.")


def vocabulary_file(version: int = 2) -> Path:
    """Return the path of the region vocabulary data file of a file-format version (1 or 2)."""
    return _PACKAGE_DIR / ("vocabulary.yaml" if version == 2 else "vocabulary_v1.yaml")


def industries_file() -> Path:
    """Return the path of the controlled industry word list (canonical words and synonyms)."""
    return _PACKAGE_DIR / "industries.yaml"
