"""The command line: the only module that imports click. Each command makes one library call."""

from __future__ import annotations

import json
import os
import sys
from typing import IO, Any

import click

from . import __version__
from .errors import ClusterAdvisorError

FORMAT_CHOICE = click.Choice(["md", "html", "txt", "json"])
# vocabulary.ROLES, spelled out so that `--help` loads no YAML (tests/test_panel.py checks they agree).
ROLE_CHOICE = click.Choice(["official", "firm", "support", "researcher"])


class UserError(click.ClickException):
    """A ClusterAdvisorError shown the click way: `Error: ...` per line on stderr, exit status 1."""

    def __init__(self, messages: tuple[str, ...]) -> None:
        super().__init__("\n".join(messages))
        self.messages = messages

    def show(self, file: IO[Any] | None = None) -> None:
        """Print every message on its own line."""
        for message in self.messages:
            click.echo(f"Error: {message}", err=True)


class Group(click.Group):
    """Turns the library's errors into clean messages once, for every command."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ClusterAdvisorError as err:
            raise UserError(err.messages) from err
        except BrokenPipeError:
            # `clusteradvisor assess x.yaml | head`: the reader left; nothing to report.
            sys.stderr.close()
            raise SystemExit(1) from None


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="clusteradvisor")
def main() -> None:
    """Advise on cluster policy for a region, from the findings of a field study of Japanese clusters.

    Describe a region in a YAML file (see `clusteradvisor schema` and examples/), then assess it.
    """


@main.command()
@click.argument("region_files", nargs=-1, required=True, type=click.Path(allow_dash=True))
@click.option("-f", "--format", "fmt", type=FORMAT_CHOICE, default="md", show_default=True, help="Memo format.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), help="Write the memo to this file instead of stdout.")
@click.option("--templates", type=click.Path(exists=True, file_okay=False), help="Folder of memo templates searched before the shipped ones.")
@click.option("--panel", is_flag=True, help="The files (or a folder of them) are several respondents' answers about one region: assess them combined.")
@click.option("--show-respondents", is_flag=True, help="With --panel: name each answer's respondent label and file (by default only roles and counts).")
def assess(region_files: tuple[str, ...], fmt: str, output: str | None, templates: str | None, panel: bool, show_respondents: bool) -> None:
    """Assess the region(s) in REGION_FILE (- for stdin) and print the advisory memo.

    A file with several YAML documents holds several regions: Markdown and text memos follow each
    other, JSON becomes a list; for HTML use `clusteradvisor batch`.

    With --panel, the files (or the *.yaml files of a folder) are respondents' answers about one
    region, e.g. an official's and two firms': `assess --panel official.yaml firm-1.yaml firm-2.yaml`.
    They are combined as the knowledge map says (firms' view on how policy is experienced; facts
    they disagree on become unknown) and the memo shows where officials and firms disagree.
    """
    from .report import assess_file, assess_panel

    if panel:
        if "-" in region_files:
            raise click.UsageError("--panel reads files or folders, not stdin (-).")
        text = assess_panel(region_files, fmt, templates, show_respondents)
    else:
        if show_respondents:
            raise click.UsageError("--show-respondents only applies to a panel; add --panel.")
        if len(region_files) > 1:
            raise click.UsageError(
                f"got {len(region_files)} files; assess reads one region file. For several respondents' files about one region, add --panel; "
                "for many regions, use `clusteradvisor batch`."
            )
        if os.path.isdir(region_files[0]):
            raise click.UsageError(f"{region_files[0]} is a folder; give a region file, or add --panel for a folder of one region's files.")
        text = assess_file(region_files[0], fmt, templates)
    if output:
        from .output import write_atomic

        write_atomic(output, text)
        click.echo(f"Memo written to {output}", err=True)
    else:
        click.echo(text, nl=False)


@main.command()
def schema() -> None:
    """Print the JSON Schema of a region file (for editors and validators)."""
    from .vocabulary import json_schema, load_vocabulary

    click.echo(json.dumps(json_schema(load_vocabulary()), indent=2, ensure_ascii=False))


@main.command(name="rules")
@click.option("--kind", type=click.Choice(["derived", "pattern", "remedy", "next_step"]), help="Only rules of this kind.")
@click.option("--show", "show_id", metavar="ID", help="Print one rule in full: its conditions, advice and evidence.")
def list_rules(kind: str | None, show_id: str | None) -> None:
    """List the rule base: id, kind, stage, priority, dimension, evidence and title (or one rule with --show)."""
    from .knowledge import load_knowledge_base

    kb = load_knowledge_base()
    if show_id is not None:
        if show_id not in kb.by_id:
            raise click.BadParameter(f"{show_id!r} is not a rule id; `clusteradvisor rules` lists them.", param_hint="--show")
        click.echo(_rule_text(kb.by_id[show_id]))
        return
    click.echo(f"# rule base {kb.version}: {len(kb.rules)} rules from {', '.join(kb.files)}")
    click.echo(f"{'id':<38} {'kind':<10} {'stage':<9} {'priority':<9} {'dim':<4} {'evidence':<11} title")
    for rule in (*kb.of_category("derived"), *kb.of_category("pattern"), *kb.recommendations):
        rule_kind = rule.kind or rule.category
        if kind and rule_kind != kind:
            continue
        click.echo(f"{rule.id:<38} {rule_kind:<10} {rule.stage or '-':<9} {rule.priority or '-':<9} {rule.dimension or '-':<4} {rule.evidence or '-':<11} {rule.title}")


def _rule_text(rule: Any) -> str:
    """One rule in full, for `rules --show`."""
    from .knowledge import describe_condition

    lines = [f"{rule.id}: {rule.title}"]
    if rule.category == "recommendation":
        lines.append(f"  {rule.kind}, stage {rule.stage}, priority {rule.priority}, dimension {rule.dimension}, plan order {rule.order}")
        lines.append(f"  who acts: {', '.join(rule.actor)}")
        if rule.applies is not None:
            lines.append(f"  applies when: {describe_condition(rule.applies)}")
        if rule.deficit is not None:
            lines.append(f"  fires when: {describe_condition(rule.deficit)}")
        else:
            lines.append(f"  fires when: {describe_condition(rule.when)}")
        for variant in rule.variants:
            lines.append(f"  variant {variant.id} when: {describe_condition(variant.when)}")
        if rule.supersedes:
            lines.append(f"  supersedes: {', '.join(rule.supersedes)}")
        lines.append(f"  evidence: {rule.evidence} ({rule.lines}); {rule.source}")
        lines.append(f"  advice: {rule.advice}")
        lines.append(f"  no longer applies once {rule.success}")
    else:
        lines.append(f"  {rule.category}; holds when: {describe_condition(rule.when)}")
        lines.append(f"  meaning: {rule.meaning}")
        lines.append(f"  evidence: {rule.lines}; {rule.source}")
    return "\n".join(lines)


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--check", is_flag=True, help="Change nothing; exit with status 1 if any file is still version 1.")
def migrate(files: tuple[str, ...], check: bool) -> None:
    """Rewrite version-1 region files as version 2, keeping their comments.

    A file written for ClusterAdvisor 0.1 is still read as it is (assess migrates it in memory and says
    so); this makes the change permanent. Each rewritten file is read back and must give exactly the
    facts the old one was read as. With --check, nothing is written (for CI).
    """
    from .errors import RegionError
    from .output import write_atomic
    from .region import read_text, upgrade_text

    pending = failed = 0
    for path in files:
        try:
            new_text = upgrade_text(read_text(path), path)
        except RegionError as err:
            failed += 1
            for message in err.messages:
                click.echo(f"Error: {message}", err=True)
            continue
        if new_text is None:
            click.echo(f"{path}: already version 2", err=True)
        elif check:
            pending += 1
            click.echo(f"{path}: version 1; `clusteradvisor migrate {path}` rewrites it", err=True)
        else:
            write_atomic(path, new_text)
            click.echo(f"{path}: rewritten as version 2", err=True)
    if failed or pending:
        sys.exit(1)


# --- interview command (issue 3) ---


def _ask_on_terminal(prompt: Any) -> str:
    """Show one question on stderr and read the answer line (stdout stays free for the memo)."""
    import os

    try:  # the questions go to stderr, so its width counts (stdout may be a file)
        columns = os.get_terminal_size(sys.stderr.fileno()).columns
    except (OSError, ValueError):
        columns = 80
    width = min(max(columns - 1, 40), 100)
    text = prompt.render(width)
    if text:
        click.echo("\n" + text, err=True)
    click.echo("> ", nl=False, err=True)
    try:
        # input() rather than click.prompt: click turns Ctrl-C and end of input into one Abort, and the
        # questionnaire saves and reports differently for each.
        return input()
    except (KeyboardInterrupt, EOFError):
        click.echo(err=True)  # end the "> ^C" line before the message
        raise


def _say_on_terminal(text: str) -> None:
    click.echo(text, err=True)


def _screen_lines() -> int:
    """Return the height of the terminal the questions go to (24 when it is not a terminal)."""
    import os

    try:
        if os.isatty(sys.stderr.fileno()):
            return max(os.get_terminal_size(sys.stderr.fileno()).lines, 12)
    except (OSError, ValueError):
        pass
    return 24


@main.command()
@click.option("--save", type=click.Path(dir_okay=False), help="Save the answers to this new region file (as you go, and at the end).")
@click.option("--resume", type=click.Path(dir_okay=False), help="Continue or revise the answers saved in this region file.")
@click.option("--force", is_flag=True, help="Let --save replace an existing file.")
@click.option("--no-save", is_flag=True, help="Keep no answers file (they are lost if the questionnaire stops early).")
@click.option("-f", "--format", "fmt", type=FORMAT_CHOICE, default="md", show_default=True, help="Memo format.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the memo to this file instead of stdout.")
@click.option("--role", type=ROLE_CHOICE, help="Who answers: ask only this role's questions, in its wording (without it, the first question asks).")
def interview(save: str | None, resume: str | None, force: bool, no_save: bool, fmt: str, output: str | None, role: str | None) -> None:
    """Answer questions about a region, then get the advisory memo.

    Questions and progress go to stderr, the memo to stdout (or to --output). At any question, ? says
    why it is asked and back returns to the previous one; every answer can be changed at the end.
    The answers are saved as you go to --save, to the --resume file, or else to a new
    clusteradvisor-answers.yaml (-2, -3, ...) in the current folder; `clusteradvisor assess` reads it.
    With --role firm (or official, support, researcher) only that role's questions are asked, in its
    wording; the saved file records the role, so that `assess --panel` can combine several files.
    """
    from .interview import run_interview

    if no_save and save:
        raise click.UsageError("--save and --no-save contradict each other; give one of them.")
    if force and not save:
        raise click.UsageError("--force only lets --save replace an existing file; add --save FILE.")
    reconfigure = getattr(sys.stdin, "reconfigure", None)
    if reconfigure is not None:
        # Bytes that are not UTF-8 arrive as lone surrogates, which the questionnaire refuses and asks
        # again, rather than as a UnicodeDecodeError that would end the interview.
        reconfigure(errors="surrogateescape")
    memo = run_interview(
        _ask_on_terminal,
        _say_on_terminal,
        save=save,
        resume=resume,
        output=output,
        fmt=fmt,
        force=force,
        no_save=no_save,
        autosave_folder=".",
        screen_lines=_screen_lines(),
        role=role,
    )
    if not output:
        click.echo(memo, nl=False)


# --- batch command (issue 4) ---


@main.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path())
@click.option("-o", "--out", required=True, type=click.Path(file_okay=False), help="Folder for the memos and the summary (created if missing).")
@click.option("-f", "--format", "fmt", type=FORMAT_CHOICE, default="md", show_default=True, help="Memo format.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=1, show_default=True, help="Worker processes.")
@click.option("--templates", type=click.Path(exists=True, file_okay=False), help="Folder of memo templates searched before the shipped ones.")
def batch(inputs: tuple[str, ...], out: str, fmt: str, jobs: int, templates: str | None) -> None:
    """Assess every region in INPUTS (files, or folders searched for *.yaml and *.yml).

    Writes one memo per region into --out, named after the region, and summary.csv and summary.md
    (and summary.json with --format json) to compare them. A bad file or region is reported and
    listed as failed while the others are still written; the exit status is then 1. Ctrl-C stops
    cleanly (exit status 130) and leaves the memos already written intact.
    """
    from .batch import run_batch

    result = run_batch(inputs, out, fmt, jobs, templates)
    if result.interrupted:
        sys.exit(130)
    if result.failed:
        sys.exit(1)
