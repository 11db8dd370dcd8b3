"""Whole-file assessment: region text in, one rendered document out (used by `assess`)."""

from __future__ import annotations

import json
import sys

from .advisor import default_advisor
from .errors import RegionError
from .memo import render
from .region import load_regions, read_stream, read_text


def assess_text(text: str, source: str, fmt: str = "md", templates: str | None = None, *, brief: bool = False) -> str:
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
    memos = [render(v, fmt, templates, brief=brief) for v in verdicts]
    separator = "\n\n" + ("=" * 78 if fmt == "txt" else "<!-- next region -->") + "\n\n"
    return separator.join(memos)


def assess_file(path: str, fmt: str = "md", templates: str | None = None, *, brief: bool = False) -> str:
    """Read a region file (or stdin for "-") and render its memo(s)."""
    if path == "-":
        stream = getattr(sys.stdin, "buffer", None)
        if stream is None:
            raise RegionError("<stdin>: is closed; give a region file or pipe one in.")
        return assess_text(read_stream(stream, "<stdin>"), "<stdin>", fmt, templates, brief=brief)
    return assess_text(read_text(path), path, fmt, templates, brief=brief)
