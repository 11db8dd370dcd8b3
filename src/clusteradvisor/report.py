"""Whole-file assessment: region text in, one rendered document out (used by `assess`)."""

from __future__ import annotations

import json
import sys

from .advisor import default_advisor
from .errors import RegionError
from .memo import render
from .region import load_regions, read_text


def assess_text(text: str, source: str, fmt: str = "md", templates: str | None = None) -> str:
    """Assess every region in `text` and render the memo(s) as one document."""
    regions = load_regions(text, source)
    advisor = default_advisor()
    verdicts = [advisor.assess(region) for region in regions]
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


def assess_panel(inputs: list[str] | tuple[str, ...], fmt: str = "md", templates: str | None = None, show_respondents: bool = False) -> str:
    """Combine a panel's files (or the region files of a folder) into one region and render its memo."""
    from .panel import combine, load_panel

    verdict = default_advisor().assess(combine(load_panel(list(inputs))))
    if fmt == "json":
        return json.dumps(verdict.to_dict(show_respondents), indent=2, ensure_ascii=False) + "\n"
    return render(verdict, fmt, templates, show_respondents=show_respondents)


def assess_file(path: str, fmt: str = "md", templates: str | None = None) -> str:
    """Read a region file (or stdin for "-") and render its memo(s)."""
    if path == "-":
        try:
            text = sys.stdin.read()
        except UnicodeDecodeError:
            raise RegionError("<stdin>: is not UTF-8 text. Save the region as UTF-8.") from None
        return assess_text(text, "<stdin>", fmt, templates)
    return assess_text(read_text(path), path, fmt, templates)
