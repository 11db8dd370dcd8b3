"""Whole-file assessment: region text in, one rendered document out (used by `assess`)."""

from __future__ import annotations

import json
import sys

from .advisor import default_advisor
from .errors import RegionError
from .memo import BINARY_FORMATS, render, render_docx
from .region import load_regions, read_text
from .verdict import Verdict


def _assess(text: str, source: str) -> list[Verdict]:
    advisor = default_advisor()
    return [advisor.assess(region) for region in load_regions(text, source)]


def assess_text(text: str, source: str, fmt: str = "md", templates: str | None = None) -> str:
    """Assess every region in `text` and render the memo(s) as one text document (md, html, txt, json)."""
    if fmt in BINARY_FORMATS:
        raise RegionError(f"{source}: a {fmt} memo is a binary file, not text; assess_docx_text renders it.")
    verdicts = _assess(text, source)
    if fmt == "json":
        data = [v.to_dict() for v in verdicts]
        return json.dumps(data[0] if len(data) == 1 else data, indent=2, ensure_ascii=False) + "\n"
    if fmt == "html" and len(verdicts) > 1:
        raise RegionError(
            f"{source}: holds {len(verdicts)} regions; an HTML memo holds one. "
            "Use `clusteradvisor batch` to write one memo per region."
        )
    memos = [render(v, fmt, templates) for v in verdicts]
    separator = "\n\n" + ("=" * 78 if fmt == "txt" else "<!-- next region -->") + "\n\n"
    return separator.join(memos)


def assess_docx_text(text: str, source: str) -> bytes:
    """Assess the one region in `text` and return its Word memo (.docx bytes)."""
    verdicts = _assess(text, source)
    if len(verdicts) > 1:
        raise RegionError(
            f"{source}: holds {len(verdicts)} regions; a DOCX memo holds one. "
            "Use `clusteradvisor batch` to write one memo per region."
        )
    return render_docx(verdicts[0])


def _read(path: str) -> tuple[str, str]:
    """Return the text of a region file (or stdin for "-") and the name to report it under."""
    if path == "-":
        try:
            return sys.stdin.read(), "<stdin>"
        except UnicodeDecodeError:
            raise RegionError("<stdin>: is not UTF-8 text. Save the region as UTF-8.") from None
    return read_text(path), path


def assess_file(path: str, fmt: str = "md", templates: str | None = None) -> str:
    """Read a region file (or stdin for "-") and render its memo(s)."""
    return assess_text(*_read(path), fmt, templates)


def assess_docx_file(path: str) -> bytes:
    """Read a region file (or stdin for "-") holding one region and return its Word memo."""
    return assess_docx_text(*_read(path))
