"""The command line: the only module that imports click. Each command makes one library call."""

from __future__ import annotations

import json
import sys
from typing import IO, Any

import click

from . import __version__
from .errors import ClusterAdvisorError

FORMAT_CHOICE = click.Choice(["md", "html", "txt", "json"])


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


# --- batch command (issue 4) ---
