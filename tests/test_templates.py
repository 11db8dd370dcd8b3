"""Office templates: the sandbox and its bounds, the folder boundary, blocks, shared phrases, the context."""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from clusteradvisor import memo
from clusteradvisor.advisor import Advisor
from clusteradvisor.context import memo_context
from clusteradvisor.errors import TemplateError
from clusteradvisor.memo import render
from clusteradvisor.region import load_regions
from clusteradvisor.verdict import Verdict

from .conftest import EXAMPLES, REPO

EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml"))
FORMATS = ("md", "html", "txt")


@pytest.fixture(scope="module")
def verdicts(advisor: Advisor) -> list[Verdict]:
    """Verdicts of every example region (between them they fill every section of a memo)."""
    return [advisor.assess(r) for path in EXAMPLE_FILES for r in load_regions(path.read_text(encoding="utf-8"), str(path))]


@pytest.fixture
def verdict(verdicts: list[Verdict]) -> Verdict:
    return next(v for v in verdicts if v.region.source.endswith("ota-ward.yaml"))


@pytest.fixture
def office(tmp_path: Path) -> Path:
    folder = tmp_path / "office"
    folder.mkdir()
    return folder


def render_with(verdict: Verdict, office: Path, text: str, fmt: str = "md") -> str:
    (office / f"memo.{fmt}.j2").write_text(text, encoding="utf-8")
    return render(verdict, fmt, office)


# --- the sandbox -------------------------------------------------------------------------------

def test_a_template_cannot_reach_python_internals(verdict: Verdict, office: Path) -> None:
    hostile = "line one\n{{ cycler.__init__.__globals__.os.popen('id').read() }}\n"
    with pytest.raises(TemplateError) as caught:
        render_with(verdict, office, hostile)
    message = str(caught.value)
    assert message.startswith(f"{office}/memo.md.j2:2: template refused by the sandbox: ")
    assert "__init__" in message and "uid=" not in message


def test_the_sandbox_refusal_reaches_the_user_without_a_traceback(cli: Callable[..., Result], office: Path) -> None:
    (office / "memo.md.j2").write_text("{{ ''.__class__.__mro__[1].__subclasses__() }}\n", encoding="utf-8")
    result = cli("assess", str(EXAMPLES / "ota-ward.yaml"), "--templates", str(office))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {office}/memo.md.j2:1: template refused by the sandbox: ")
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_a_template_cannot_change_the_context(verdict: Verdict, office: Path) -> None:
    with pytest.raises(TemplateError, match=r"memo\.md\.j2:1: template refused by the sandbox: .*'append'"):
        render_with(verdict, office, "{{ plan.append(1) }}\n")


HUGE = [
    pytest.param("{% for i in range(10**12) %}x{% endfor %}", "1000000000000", id="range-of-a-trillion"),
    pytest.param("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "loops ran more than", id="nested-loops"),
    pytest.param("{% for i in range(100000) %}{{ 'y' * 100 }}{% endfor %}", "memo is longer than", id="long-output"),
    pytest.param("{{ 'x' * 10**9 }}", "repeating a value", id="string-times-int"),
    pytest.param("{{ (range(100000) | list) * 100000 }}", "repeating a value", id="list-times-int"),
    pytest.param("{{ 7 ** 10000000 }}", "bits", id="power"),
    pytest.param("{{ 'x' | center(10**9) }}", "1000000000", id="filter-width"),
    pytest.param("{{ 'x'.ljust(10**9) }}", "1000000000", id="method-width"),
    pytest.param("{{ '%999999999s' | format(1) }}", "format width", id="format-filter"),
    pytest.param("{{ '%999999999s' % 1 }}", "format width", id="percent"),
    pytest.param("{{ '{:>999999999}'.format(1) }}", "format width", id="str-format"),
    pytest.param("{{ range(100000) | join('x' * 100000) }}", "could reach", id="join-separator"),
    pytest.param("{{ ('x' * 1000000) | replace('', 'abc') }}", "could reach", id="replace-empty"),
    pytest.param("{{ [1] | batch(10**9, 'x') | list }}", "1000000000", id="batch-fill"),
    pytest.param("{% set s = namespace(t='xx') %}{% for i in range(64) %}{% set s.t = s.t ~ s.t %}{% endfor %}", "was built", id="doubling"),
]


@pytest.mark.parametrize(("text", "says"), HUGE)
def test_a_runaway_template_stops_at_once_with_a_clean_message(verdict: Verdict, office: Path, text: str, says: str) -> None:
    start = time.monotonic()
    with pytest.raises(TemplateError) as caught:
        render_with(verdict, office, "# {{ region.name }}\n" + text + "\n")
    assert time.monotonic() - start < 3
    message = str(caught.value)
    assert message.startswith(f"{office}/memo.md.j2:"), message
    assert "template stopped: " in message and says in message, message


def test_a_slow_template_is_stopped_by_the_time_limit(verdict: Verdict, office: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memo, "MAX_SECONDS", 0.3)
    slow = "{% for c in 'x' * 1000000 %}{{ ('y' * 1000000) | list | length }}{% endfor %}\n"
    start = time.monotonic()
    with pytest.raises(TemplateError, match=r"memo\.md\.j2:1: template stopped: the template ran longer than 0\.3 seconds"):
        render_with(verdict, office, slow)
    assert time.monotonic() - start < 3


def test_runaway_templates_stay_within_a_memory_cap(office: Path) -> None:
    """Each hostile template, run by the real CLI under a 1 GB address-space cap, fails cleanly."""
    limit = 1 << 30

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    for param in HUGE:
        (office / "memo.md.j2").write_text(str(param.values[0]) + "\n", encoding="utf-8")
        run = subprocess.run(
            [sys.executable, "-m", "clusteradvisor", "assess", str(EXAMPLES / "ota-ward.yaml"), "--templates", str(office)],
            capture_output=True, text=True, timeout=60, preexec_fn=cap, check=False,
        )
        assert run.returncode == 1, (param.id, run.stderr)
        assert re.match(rf"Error: {re.escape(str(office))}/memo\.md\.j2(:1)?: template stopped: ", run.stderr), (param.id, run.stderr)
        assert "Traceback" not in run.stderr and "MemoryError" not in run.stderr


def test_an_ordinary_office_template_is_not_hindered(verdict: Verdict, office: Path) -> None:
    text = (
        "{% for item in plan %}{{ loop.index }}/{{ loop.length }} {{ item.title | upper }}"
        "{{ ' [%s]' | format(item.priority) }}{{ '; '.join(item.because)[:0] }}\n{% endfor %}"
        "{% for i in range(3) %}{{ '-' * 10 }}{% endfor %}\n{{ '{:>6}'.format(total) }} {{ 2 ** 10 }}\n"
    )
    out = render_with(verdict, office, text)
    lines = out.splitlines()
    first = verdict.remedies[0].rule
    assert len(lines) == len(verdict.remedies) + 1  # trim_blocks eats the newline after {% endfor %}
    assert lines[0] == f"1/{len(verdict.remedies)} {first.title.upper()} [{first.priority}]"
    assert lines[-1] == "-" * 30 + f"{len(verdict.remedies):>6} 1024"


# --- the folder boundary and the files ---------------------------------------------------------

def test_a_symlink_out_of_the_folder_is_refused(verdict: Verdict, office: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET\n", encoding="utf-8")
    (office / "memo.md.j2").symlink_to(secret)
    with pytest.raises(TemplateError) as caught:
        render(verdict, "md", office)
    assert str(caught.value).startswith(f"{office}/memo.md.j2: points outside the template folder {office} (to {secret})")
    assert "TOP SECRET" not in str(caught.value)


def test_a_linked_subfolder_or_dotdot_name_does_not_leave_the_folder(verdict: Verdict, office: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.j2").write_text("TOP SECRET\n", encoding="utf-8")
    (office / "sub").symlink_to(outside, target_is_directory=True)
    with pytest.raises(TemplateError, match="points outside the template folder"):
        render_with(verdict, office, '{% include "sub/secret.j2" %}\n')
    with pytest.raises(TemplateError, match=r"memo\.md\.j2:1: template failed while rendering: \.\./outside/secret\.j2"):
        render_with(verdict, office, '{% include "../outside/secret.j2" %}\n')


def test_a_linked_folder_is_fine(verdict: Verdict, office: Path, tmp_path: Path) -> None:
    (office / "memo.md.j2").write_text("hello {{ region.name }}\n", encoding="utf-8")
    link = tmp_path / "link"
    link.symlink_to(office, target_is_directory=True)
    assert render(verdict, "md", link) == f"hello {verdict.region.name}\n"


def test_a_template_that_is_not_utf8_is_named(cli: Callable[..., Result], office: Path) -> None:
    (office / "memo.md.j2").write_bytes(b"# Memo \xff\xfe {{ region.name }}\n")
    result = cli("assess", str(EXAMPLES / "ota-ward.yaml"), "--templates", str(office))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {office}/memo.md.j2: is not UTF-8 text (byte 0xff at offset 7).")
    assert "Traceback" not in result.stderr


def test_a_fifo_or_a_huge_file_is_refused_without_reading_it(verdict: Verdict, office: Path) -> None:
    os.mkfifo(office / "memo.md.j2")
    with pytest.raises(TemplateError, match=r"memo\.md\.j2: is not a regular file"):
        render(verdict, "md", office)
    (office / "memo.md.j2").unlink()
    (office / "memo.md.j2").write_text("x" * (memo.MAX_TEMPLATE_BYTES + 1), encoding="utf-8")
    with pytest.raises(TemplateError, match=r"memo\.md\.j2: is larger than 1,000,000 bytes"):
        render(verdict, "md", office)


def test_errors_in_a_parent_or_included_template_name_that_file_and_line(verdict: Verdict, office: Path) -> None:
    (office / "base.j2").write_text("one\ntwo\n{% if %}\n", encoding="utf-8")
    with pytest.raises(TemplateError, match=rf"^{re.escape(str(office))}/base\.j2:3: template error: "):
        render_with(verdict, office, '{% extends "base.j2" %}\n')
    (office / "parts.j2").write_text("{% macro line(x) %}\n{{ x.nope }}\n{% endmacro %}\n", encoding="utf-8")
    with pytest.raises(TemplateError, match=rf"^{re.escape(str(office))}/parts\.j2:2: template failed while rendering: "):
        render_with(verdict, office, '{% import "parts.j2" as parts %}\n{{ parts.line(region) }}\n')


def test_check_template_fails_before_any_work(office: Path) -> None:
    (office / "memo.txt.j2").write_text("{{ region.name }\n", encoding="utf-8")
    with pytest.raises(TemplateError, match=r"memo\.txt\.j2:1: template error"):
        memo.check_template("txt", office)
    memo.check_template("md", office)  # no md template there: the shipped one compiles


# --- edits are picked up (no process-wide cache of office templates) -----------------------------

def test_an_edited_template_is_read_again_in_the_same_process(verdict: Verdict, office: Path) -> None:
    target = office / "memo.md.j2"
    assert render_with(verdict, office, "first {{ total }}\n") == f"first {len(verdict.remedies)}\n"
    stamp = target.stat().st_mtime_ns
    target.write_text("second\n", encoding="utf-8")
    os.utime(target, ns=(stamp + 10**9, stamp + 10**9))  # a coarse clock must not hide the edit
    assert render(verdict, "md", office) == "second\n"
    (office / "part.j2").write_text("A\n", encoding="utf-8")
    assert render_with(verdict, office, '{% include "part.j2" %}') == "A\n"
    (office / "part.j2").write_text("BB\n", encoding="utf-8")  # an included file is checked too
    assert render(verdict, "md", office) == "BB\n"


def test_a_template_added_to_the_folder_replaces_the_shipped_one(verdict: Verdict, office: Path) -> None:
    shipped = render(verdict, "txt", office)
    assert shipped == render(verdict, "txt")
    (office / "memo.txt.j2").write_text("office text\n", encoding="utf-8")
    assert render(verdict, "txt", office) == "office text\n"


# --- blocks and the default: prefix -------------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
def test_extending_the_shipped_template_changes_nothing_else(verdicts: list[Verdict], office: Path, fmt: str) -> None:
    """Through the sandbox and the default: prefix, the shipped template gives the same bytes."""
    (office / f"memo.{fmt}.j2").write_text(f'{{% extends "default:memo.{fmt}.j2" %}}\n', encoding="utf-8")
    for verdict in verdicts:
        assert render(verdict, fmt, office) == render(verdict, fmt)


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_office_can_replace_only_the_footer(verdict: Verdict, office: Path, fmt: str) -> None:
    footer = "Prepared by the <Regional> Industry Office.\n"
    out = render_with(verdict, office, f'{{% extends "default:memo.{fmt}.j2" %}}\n{{% block footer %}}{footer}{{% endblock %}}\n', fmt)
    shipped = render(verdict, fmt)
    keep = shipped.index({"md": "---\n\nClusterAdvisor", "html": "<footer>", "txt": "-" * 78 + "\nClusterAdvisor"}[fmt])
    assert out[:keep] == shipped[:keep]
    assert footer in out and "we inferred it" not in out


def test_super_keeps_the_shipped_block(verdict: Verdict, office: Path) -> None:
    out = render_with(verdict, office, '{% extends "default:memo.md.j2" %}{% block footer %}{{ super() }}Desk 4.\n{% endblock %}', "md")
    assert out == render(verdict, "md") + "Desk 4.\n"


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_documented_block_is_in_the_shipped_template(fmt: str) -> None:
    text = (REPO / "templates" / f"memo.{fmt}.j2").read_text(encoding="utf-8")
    blocks = set(re.findall(r"\{%-? block (\w+)", text))
    documented = {row[0] for row in _table_rows(_docs(), "Changing one part of a memo") if row[1 + FORMATS.index(fmt)] == "yes"}
    assert blocks == documented


# --- the documented context ---------------------------------------------------------------------

def _docs() -> str:
    return (REPO / "docs" / "templates.md").read_text(encoding="utf-8")


def _table_rows(text: str, heading: str) -> list[list[str]]:
    """The body rows of the first table under `heading`, cells stripped of spaces and backquotes."""
    section = re.split(rf"^#+ {re.escape(heading)}\n", text, flags=re.M)[1]
    table: list[str] = []
    for line in section.splitlines():
        if line.startswith("|"):
            table.append(line)
        elif table:
            break
    # The first row is the header, the second the |---| separator.
    return [[c.strip().strip("`") for c in line.strip().strip("|").split("|")] for line in table[2:]]


def _documented(heading: str) -> set[str]:
    return {row[0] for row in _table_rows(_docs(), heading)}


def _keys(items: list[dict[str, Any]]) -> set[str]:
    return {key for item in items for key in item}


def test_the_documented_context_is_the_real_one(verdicts: list[Verdict]) -> None:
    contexts = [memo_context(v) for v in verdicts]
    assert all(set(c) == _documented("Top level") for c in contexts)
    assert _keys([c["region"] for c in contexts]) == _documented("region")
    items = [i for c in contexts for i in c["plan"] + c["next_steps"] + c["first_actions"]]
    assert items and _keys(items) == _documented("item")
    assert _keys([n for i in items for n in i["conflicts"]]) == _documented("conflict note")
    assert _keys([g for c in contexts for g in c["plan_by_stage"]]) == _documented("stage group")
    assert _keys([s for c in contexts for s in c["superseded"]]) == _documented("superseded")
    assert _keys([b for c in contexts for s in c["superseded"] for b in s["by"]]) == _documented("covering step")
    assert _keys([x for c in contexts for x in c["conflicts"]]) == _documented("conflict")
    assert _keys([p for c in contexts for p in c["patterns"]]) == _documented("pattern")
    assert _keys([d for c in contexts for d in c["derived"]]) == _documented("derived")
    assert _keys([g for c in contexts for g in c["gaps"] + c["top_gaps"]]) == _documented("gap")
    assert _keys([s for c in contexts for s in c["scores"]]) == _documented("score")
    assert _keys([c["chart"] for c in contexts]) == _documented("chart")
    assert _keys([r for c in contexts for r in c["chart"]["rows"]]) == _documented("chart row") | _documented("score")
    assert _keys([r for c in contexts for r in c["in_place"]]) == _documented("in_place")


def test_the_documented_panel_keys_are_the_real_ones(advisor: Advisor) -> None:
    from clusteradvisor.panel import combine, load_panel

    context = memo_context(advisor.assess(combine(load_panel([str(EXAMPLES / "panels" / "higashi-osaka")]))))
    panel = context["panel"]
    assert set(panel) == _documented("panel")
    assert _keys(panel["counts"]) == _documented("role count")
    assert panel["gaps"] and _keys(panel["gaps"]) == _documented("perception gap")


def test_the_documented_migration_keys_are_the_real_ones(advisor: Advisor) -> None:
    (region,) = load_regions((EXAMPLES / "v1" / "kiryu-style-textile.yaml").read_text(encoding="utf-8"), "old.yaml")
    context = memo_context(advisor.assess(region))
    assert set(context["migration"]) == _documented("migration")


def test_check_template_compiles_the_templates_an_office_template_uses(office: Path) -> None:
    (office / "memo.md.j2").write_text('{% extends "base.j2" %}\n', encoding="utf-8")
    (office / "base.j2").write_text('{% include "default:memo.md.j2" %}\n{% import "parts.j2" as p %}\n', encoding="utf-8")
    (office / "parts.j2").write_text("fine\n\n{% endif %}\n", encoding="utf-8")
    with pytest.raises(TemplateError, match=rf"^{re.escape(str(office))}/parts\.j2:3: template error: "):
        memo.check_template("md", office)
    (office / "parts.j2").unlink()
    with pytest.raises(TemplateError, match=rf"^{re.escape(str(office))}/base\.j2: refers to parts\.j2, which is not in the template folder"):
        memo.check_template("md", office)
