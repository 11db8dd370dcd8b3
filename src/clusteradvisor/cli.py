"""The command line: the only module that imports click. Each command makes one library call."""

from __future__ import annotations

import json
import sys
from typing import IO, Any

import click

from . import __version__
from .errors import ClusterAdvisorError
from .safetext import escape

FORMAT_CHOICE = click.Choice(["md", "html", "txt", "json"])


class UserError(click.ClickException):
    """A ClusterAdvisorError shown the click way: `Error: ...` per line on stderr, exit status 1."""

    def __init__(self, messages: tuple[str, ...]) -> None:
        super().__init__("\n".join(messages))
        self.messages = messages

    def show(self, file: IO[Any] | None = None) -> None:
        """Print every message on its own line."""
        for message in self.messages:
            # Every module's messages pass here: escape what a file name or a file could smuggle in.
            click.echo(f"Error: {escape(message)}", err=True)


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
@click.argument("region_file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("-f", "--format", "fmt", type=FORMAT_CHOICE, default="md", show_default=True, help="Memo format.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), help="Write the memo to this file instead of stdout.")
@click.option("--templates", type=click.Path(exists=True, file_okay=False), help="Folder of memo templates searched before the shipped ones.")
def assess(region_file: str, fmt: str, output: str | None, templates: str | None) -> None:
    """Assess the region(s) in REGION_FILE (- for stdin) and print the advisory memo.

    A file with several YAML documents holds several regions: Markdown and text memos follow each
    other, JSON becomes a list; for HTML use `clusteradvisor batch`.
    """
    from .report import assess_file

    text = assess_file(region_file, fmt, templates)
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
@click.option("--kind", type=click.Choice(["derived", "pattern", "recommendation", "strength"]), help="Only rules of this kind.")
def list_rules(kind: str | None) -> None:
    """List the rule base: id, kind, priority, dimension, title and paper section."""
    from .knowledge import load_knowledge_base

    kb = load_knowledge_base()
    click.echo(f"# rule base {kb.version}: {len(kb.rules)} rules from {', '.join(kb.files)}")
    for rule in kb.rules:
        if kind and rule.kind != kind:
            continue
        tags = " ".join(t for t in (rule.priority, rule.dimension) if t)
        click.echo(f"{rule.id:<36} {rule.kind:<15} {tags:<12} {rule.title}  [{rule.source}]")


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


@main.command()
@click.option("--save", type=click.Path(dir_okay=False), help="Save the answers to this region file (as you go, and at the end).")
@click.option("--resume", type=click.Path(dir_okay=False), help="Continue or revise the answers saved in this region file.")
@click.option("-f", "--format", "fmt", type=FORMAT_CHOICE, default="md", show_default=True, help="Memo format.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the memo to this file instead of stdout.")
def interview(save: str | None, resume: str | None, fmt: str, output: str | None) -> None:
    """Answer questions about a region, then get the advisory memo.

    Questions and progress go to stderr, the memo to stdout (or to --output). At any question, ? says
    why it is asked and back returns to the previous one; every answer can be changed at the end.
    The saved file is a region file: `clusteradvisor assess` reads it.
    """
    from .interview import run_interview

    memo = run_interview(_ask_on_terminal, _say_on_terminal, save=save, resume=resume, output=output, fmt=fmt)
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
