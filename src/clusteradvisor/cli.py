"""The command line: the only module that imports click. Each command makes one library call."""

from __future__ import annotations

import os
import sys

try:  # Ctrl-C while the command line loads gets the same message and status as later on
    import json
    import signal
    import time
    from types import FrameType, TracebackType
    from typing import IO, TYPE_CHECKING, Any, TextIO

    import click

    from . import __version__
    from .errors import ClusterAdvisorError
    from .safetext import escape
except KeyboardInterrupt:
    sys.stderr.write("\nInterrupted; nothing was written.\n")
    raise SystemExit(130) from None

if TYPE_CHECKING:  # the batch package loads the engine: imported only when `batch` runs
    from .batch import BatchResult, Event

FORMAT_CHOICE = click.Choice(["md", "html", "txt", "json"])
ASSESS_FORMAT_CHOICE = click.Choice(["md", "html", "txt", "json", "docx"])
# vocabulary.ROLES, written out: importing the vocabulary here would load YAML for every --help
# (tests/test_cli.py checks that the two agree).
ROLES = ("official", "firm", "support", "researcher")
ROLE_CHOICE = click.Choice(list(ROLES))


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


class Stopped(Exception):
    """Raised by a command that has already told the user it was interrupted."""


class _Signals:
    """While a command runs, SIGTERM stops it the way Ctrl-C does; remembers which one it was."""

    def __init__(self) -> None:
        self.terminated = False
        self._previous: Any = None

    def _terminate(self, signum: int, frame: FrameType | None) -> None:
        self.terminated = True
        raise KeyboardInterrupt

    def __enter__(self) -> _Signals:
        try:
            self._previous = signal.signal(signal.SIGTERM, self._terminate)
        except ValueError:  # not the main thread (an embedding program): leave its handlers alone
            self._previous = None
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)

    @property
    def status(self) -> int:
        """The exit status a shell gives a command stopped by this signal: 128 + its number."""
        return 128 + (signal.SIGTERM if self.terminated else signal.SIGINT)


class Group(click.Group):
    """Turns the library's errors, Ctrl-C and SIGTERM into clean messages once, for every command."""

    def invoke(self, ctx: click.Context) -> Any:
        with _Signals() as signals:
            try:
                return super().invoke(ctx)
            except ClusterAdvisorError as err:
                raise UserError(err.messages) from err
            except BrokenPipeError:
                # `clusteradvisor assess x.yaml | head`: the reader left; nothing to report.
                sys.stderr.close()
                raise SystemExit(1) from None
            except Stopped:
                raise SystemExit(signals.status) from None
            except KeyboardInterrupt:
                # Not click's "Aborted!" and status 1: the documented interrupt message and 128 + signal.
                click.echo("\nInterrupted; nothing was written.", err=True)
                raise SystemExit(signals.status) from None


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="clusteradvisor")
def main() -> None:
    """Advise on cluster policy for a region, from the findings of a field study of Japanese clusters.

    Describe a region in a YAML file (see `clusteradvisor schema` and examples/), then assess it.
    """


@main.command()
@click.argument("region_files", nargs=-1, required=True, type=click.Path(allow_dash=True))
@click.option("-f", "--format", "fmt", type=ASSESS_FORMAT_CHOICE, default="md", show_default=True, help="Memo format (docx needs -o).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), help="Write the memo to this file instead of stdout.")
@click.option("--templates", type=click.Path(exists=True, file_okay=False), help="Folder of memo templates searched before the shipped ones (md, html, txt).")
@click.option("--brief", is_flag=True, help="Only the brief: the first page of the memo (md, html, txt).")
@click.option("--panel", is_flag=True, help="The files (or a folder of them) are several respondents' answers about one region: assess them combined.")
@click.option("--show-respondents", is_flag=True, help="With --panel: name each answer's respondent label and file (by default only roles and counts).")
def assess(region_files: tuple[str, ...], fmt: str, output: str | None, templates: str | None, brief: bool, panel: bool, show_respondents: bool) -> None:
    """Assess the region(s) in REGION_FILE (- for stdin) and print the advisory memo.

    A file with several YAML documents holds several regions: Markdown and text memos follow each
    other, JSON becomes a list; for HTML and DOCX use `clusteradvisor batch`. A DOCX memo (for Word
    or LibreOffice) is a binary file, so it is only written to the file given with -o.

    With --panel, the files (or the *.yaml files of a folder) are respondents' answers about one
    region, e.g. an official's and two firms': `assess --panel official.yaml firm-1.yaml firm-2.yaml`.
    They are combined (firms' view on how policy is experienced; facts they disagree on become
    unknown) and the memo shows where officials and firms see the region differently.
    """
    from .region import read_stream, read_text
    from .report import assess_docx_text, assess_panel, assess_text

    if brief and fmt in ("json", "docx"):
        raise click.UsageError("--brief gives the first page of a memo in md, html or txt.")
    if fmt == "docx" and not output:
        raise click.UsageError("a DOCX memo is a binary file and is not printed; add -o FILE.docx to write it.")
    content: str | bytes
    if panel:
        if "-" in region_files:
            raise click.UsageError("--panel reads files or folders, not stdin (-).")
        content = assess_panel(region_files, fmt, templates, brief=brief, show_respondents=show_respondents)
    else:
        if show_respondents:
            raise click.UsageError("--show-respondents only applies to a panel; add --panel.")
        if len(region_files) > 1:
            raise click.UsageError(
                f"got {len(region_files)} files; assess reads one region file. For several respondents' files about one region, add --panel; "
                "for many regions, use `clusteradvisor batch`."
            )
        region_file = region_files[0]
        if os.path.isdir(region_file):
            raise click.UsageError(f"{region_file} is a folder; give a region file, or add --panel for a folder of one region's files.")
        if region_file == "-":
            stream = getattr(sys.stdin, "buffer", None)
            if stream is None:
                raise click.UsageError("stdin is closed; give a region file or pipe one in.")
            text, source = read_stream(stream, "<stdin>"), "<stdin>"
        else:
            text, source = read_text(region_file), region_file
        content = assess_docx_text(text, source) if fmt == "docx" else assess_text(text, source, fmt, templates, brief=brief)
    if output:
        from .output import write_atomic

        write_atomic(output, content)
        click.echo(f"Memo written to {output}", err=True)
    else:
        click.echo(content, nl=False)


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


class Progress:
    """A one-line progress bar on stderr, redrawn at most ten times a second."""

    def __init__(self, stream: TextIO, total: int, enabled: bool) -> None:
        self._stream, self._total, self.enabled = stream, total, enabled
        self._start = self._last = time.monotonic()
        self._shown = False

    def advance(self, done: int, regions: int) -> None:
        """Show that `done` of the files are finished, with `regions` rows so far."""
        now = time.monotonic()
        if self.enabled and (now - self._last >= 0.1 or done == self._total):
            self._last = now
            filled = 30 * done // self._total
            bar = "#" * filled + "." * (30 - filled)
            self._stream.write(f"\r[{bar}] {done}/{self._total} files, {regions} regions, {now - self._start:.0f} s")
            self._stream.flush()
            self._shown = True

    def clear(self) -> None:
        """Erase the bar, so that a message starts on a clean line."""
        if self._shown:
            self._stream.write("\r\x1b[K")
            self._stream.flush()
            self._shown = False


PROGRESS_MIN_FILES = 6  # fewer files than this finish before a progress bar would help


class BatchScreen:
    """What `batch` shows on stderr: the bar, one `Error:` line per failure, notices, the last sentence."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._progress = Progress(stream, 1, enabled=False)

    def __call__(self, event: Event) -> None:
        """Show one event of the batch run."""
        from .batch import FileDone, Notice, RegionDone, Started

        if isinstance(event, Started):
            total = event.files + event.unusable
            self._progress = Progress(self._stream, total, enabled=self._stream.isatty() and total >= PROGRESS_MIN_FILES)
        elif isinstance(event, RegionDone) and not event.outcome.ok:
            self._progress.clear()
            for message in event.outcome.errors:
                self._stream.write(f"Error: {message}\n")
        elif isinstance(event, FileDone):
            self._progress.advance(event.done, event.regions)
        elif isinstance(event, Notice):
            self._progress.clear()
            self._stream.write(f"Note: {event.message}\n")

    def finish(self, result: BatchResult) -> None:
        """Say what the run did (or how far it got)."""
        from .batch import counted, shown

        self._progress.clear()
        folder = shown(str(result.out))
        if result.interrupted and not result.assessed:
            self._stream.write(f"Interrupted after {result.seconds:.1f} s; no memo was written.\n")
        elif result.interrupted:
            memos = f"{result.assessed} memo{'' if result.assessed == 1 else 's'}"
            self._stream.write(
                f"Interrupted after {result.seconds:.1f} s: {memos} written to {folder}/ ({result.failed} failed); "
                "they are complete, the rest were not assessed and no summary was written.\n"
            )
        else:
            self._stream.write(
                f"{counted(result.regions, result.files, result.unusable)}: {result.assessed} assessed, {result.failed} failed, "
                f"in {result.seconds:.2f} s; memos and summary in {folder}/\n"
            )
        self._stream.flush()


@main.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path())
@click.option("-o", "--out", required=True, type=click.Path(file_okay=False), help="Folder for the memos and the summary (created if missing).")
@click.option("-f", "--format", "fmt", type=ASSESS_FORMAT_CHOICE, default="md", show_default=True, help="Memo format.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=1, show_default=True, help="Worker processes.")
@click.option("--templates", type=click.Path(exists=True, file_okay=False), help="Folder of memo templates searched before the shipped ones.")
@click.option("--clean", is_flag=True, help="Also remove memos and summaries an earlier run wrote into --out that this run did not (only files in its manifest).")
@click.option(
    "--panel-by",
    type=click.Choice(["folder", "name"]),
    default="folder",
    show_default=True,
    help="Respondents' files (with `respondent:`) sharing a name form one panel: within a folder, or across all inputs.",
)
def batch(inputs: tuple[str, ...], out: str, fmt: str, jobs: int, templates: str | None, clean: bool, panel_by: str) -> None:
    """Assess every region in INPUTS (files, or folders searched for *.yaml and *.yml).

    Writes one memo per region into --out, named after the region, and summary.csv and summary.md
    (and summary.json with --format json) to compare them. A bad file or region is reported and
    listed as failed while the others are still written; the exit status is then 1. Ctrl-C stops
    cleanly (exit status 130; SIGTERM: 143) and leaves the memos already written intact. --jobs is
    capped at the CPU count; a second batch writing into the same --out is refused.
    """
    from .batch import run_batch

    screen = BatchScreen(sys.stderr)
    result = run_batch(inputs, out, fmt, jobs, templates, clean=clean, panel_by=panel_by, on_event=screen)
    screen.finish(result)
    if result.interrupted:
        raise Stopped
    if result.failed:
        sys.exit(1)


# --- explain and compare (issue 9, items 6 and 7) ---


@main.command()
@click.argument("region_file", type=click.Path(dir_okay=False))
@click.argument("rule_id")
@click.option("-f", "--format", "fmt", type=click.Choice(["text", "md", "json"]), default="text", show_default=True, help="Output format.")
def explain(region_file: str, rule_id: str, fmt: str) -> None:
    """Say why RULE_ID applies to the region in REGION_FILE or not, and what would change that.

    Lists each condition with the region's value and whether it holds, then the smallest changes of
    the region's facts (one fact, else two) that would change the rule's status.
    """
    from .explain import UnknownRuleError, explain_file

    try:
        text = explain_file(region_file, rule_id, fmt)
    except UnknownRuleError as err:
        raise click.UsageError(err.messages[0]) from err
    click.echo(text, nl=False)


@main.command()
@click.argument("before", type=click.Path(dir_okay=False))
@click.argument("after", type=click.Path(dir_okay=False))
@click.option("-f", "--format", "fmt", type=click.Choice(["md", "html", "json"]), default="md", show_default=True, help="Output format.")
def compare(before: str, after: str, fmt: str) -> None:
    """Show what changed from BEFORE to AFTER: advice added, removed and kept, and the facts behind each.

    Each of BEFORE and AFTER is a region file or a verdict written by `assess --format json`. When
    they were assessed with different rule bases, changes from the rule base are shown apart.
    """
    from .compare import compare_files, render

    click.echo(render(compare_files(before, after), fmt), nl=False)
