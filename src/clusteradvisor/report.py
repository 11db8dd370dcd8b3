"""Whole-file assessment: region text in, one rendered document out (used by `assess`).

The library never touches the terminal or stdin: the command line reads stdin (region.read_stream)
and passes the text here.
"""

from __future__ import annotations

import json

from .advisor import default_advisor
from .errors import FormatError, RegionError
from .memo import BINARY_FORMATS, render, render_docx
from .region import load_regions, read_text
from .verdict import Verdict


def _assess(text: str, source: str) -> list[Verdict]:
    advisor = default_advisor()
    return [advisor.assess(region) for region in load_regions(text, source)]


def assess_text(text: str, source: str, fmt: str = "md", templates: str | None = None, *, brief: bool = False) -> str:
    """Assess every region in `text` and render the memo(s) as one text document (md, html, txt, json)."""
    if fmt in BINARY_FORMATS:
        raise FormatError(f"{source}: a {fmt} memo is a binary file, not text; assess_docx_text renders it.")
    verdicts = _assess(text, source)
    if fmt == "json":
        data = [v.to_dict() for v in verdicts]
        return json.dumps(data[0] if len(data) == 1 else data, indent=2, ensure_ascii=False) + "\n"
    if fmt == "html" and len(verdicts) > 1:
        raise RegionError(
            f"{source}: holds {len(verdicts)} regions; an HTML memo holds one. "
            "Use `clusteradvisor batch` to write one memo per region."
        )
    memos = [render(v, fmt, templates, brief=brief) for v in verdicts]
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


def assess_file(path: str, fmt: str = "md", templates: str | None = None, *, brief: bool = False) -> str:
    """Read a region file and render its memo(s) as text."""
    return assess_text(read_text(path), path, fmt, templates, brief=brief)


def assess_docx_file(path: str) -> bytes:
    """Read a region file holding one region and return its Word memo."""
    return assess_docx_text(read_text(path), path)


def assess_panel(
    inputs: list[str] | tuple[str, ...], fmt: str = "md", templates: str | None = None, *, brief: bool = False, show_respondents: bool = False
) -> str | bytes:
    """Combine a panel's files (or the region files of a folder) into one region and render its memo."""
    from .panel import combine, load_panel

    verdict = default_advisor().assess(combine(load_panel(list(inputs))))
    if fmt == "docx":
        return render_docx(verdict)
    return render(verdict, fmt, templates, brief=brief, show_respondents=show_respondents)


