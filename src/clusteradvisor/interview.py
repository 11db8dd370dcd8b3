"""The questionnaire: asks an official about a region through an `ask` function, then writes the memo.

No click here: the command line supplies `ask` (show a Prompt, return the typed line) and `say` (show
a message); tests supply scripted ones. Question texts come from the vocabulary only, and which
questions are asked follows from the rule base: a question is asked while some rule that reads its
field is still undecided by the earlier answers.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import re
import shlex
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import InterviewAborted, OutputError, RegionError
from .knowledge import KnowledgeBase, evaluate_all, load_knowledge_base
from .output import write_atomic
from .region import MAX_TEXT, format_region, load_regions, read_text
from .vocabulary import UNKNOWN, Field, Vocabulary
from .yamlio import load_all

WIDTH = 78
UNKNOWN_WORDS = frozenset({"", UNKNOWN, "don't know", "dont know", "do not know", "not known"})
YES_WORDS = frozenset({"yes", "y", "true"})
NO_WORDS = frozenset({"no", "n", "false"})
ENTER_FINISHES = "Press Enter to finish and get the memo."
DONE_WORDS = frozenset({"", "done", "ok", "finish", "yes", "y"})
HEADER = (
    "# Region file written by `clusteradvisor interview`.",
    "# Assess it with `clusteradvisor assess FILE`; continue or revise it with",
    "# `clusteradvisor interview --resume FILE`. `unknown` marks a question answered as not known;",
    "# questions that could not change the advice given the other answers are left out.",
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_KIND_WORDS = {"recommendation": "advice", "derived": "situation"}

Ask = Callable[["Prompt"], str]
Say = Callable[[str], None]


class _Nav(enum.Enum):
    BACK = "back"


@dataclass(frozen=True)
class Option:
    """One numbered option of a choice question."""

    number: int
    label: str
    description: str


@dataclass(frozen=True)
class Prompt:
    """Everything an `ask` function needs to put one question (or the review's choice) to the user."""

    kind: str  # "question" or "review"
    section: str
    progress: str
    question: str
    hint: str
    path: str | None = None
    options: tuple[Option, ...] = ()
    current: str | None = None
    help: str = ""
    why: tuple[str, ...] = ()
    again: str = ""  # "" on first asking, "help" after the help text, "invalid" after an invalid answer

    def render(self, width: int = WIDTH) -> str:
        """Return the prompt as plain text lines to print above the input line ("" when nothing is needed)."""
        if self.again == "invalid":  # the message just shown says what is allowed
            return ""
        if self.again == "help":
            return "\n".join(textwrap.wrap(self.question, width) + textwrap.wrap(self.hint, width))
        lines = [self.progress] if self.progress else []
        lines += textwrap.wrap(self.question, width) or [""]
        for o in self.options:
            head = f"  {o.number:>2}. "
            text = f"{o.label} - {o.description}" if o.description else o.label
            lines += textwrap.wrap(text, width, initial_indent=head, subsequent_indent=" " * len(head))
        if self.current is not None:
            lines.append(f"  Current answer: {self.current}")
        lines += textwrap.wrap(self.hint, width)
        return "\n".join(lines)


@dataclass(frozen=True)
class _Invalid:
    message: str


def _wrap(text: str, indent: str = "") -> str:
    return "\n".join(textwrap.wrap(text, WIDTH, initial_indent=indent, subsequent_indent=indent))


# ---------------------------------------------------------------- reading one answer


def parse_answer(f: Field, text: str) -> Any:
    """Turn a typed answer into a field value, or an _Invalid saying what is allowed.

    Keywords (unknown, ?, back) are handled by the caller; this sees real answers only.
    """
    reply = text.strip()
    low = reply.lower()
    if f.type == "text":
        if len(reply) > MAX_TEXT:
            return _Invalid(f"That is {len(reply)} characters long; at most {MAX_TEXT} are allowed.")
        if _CONTROL.search(reply):
            return _Invalid("Please type plain text on one line (no tabs or control characters).")
        return reply
    if f.type == "boolean":
        if low in YES_WORDS:
            return True
        if low in NO_WORDS:
            return False
        return _Invalid(f'"{reply}" is not yes or no. Please answer yes or no (or press Enter if unknown).')
    if f.type == "integer":
        return _parse_integer(f, reply)
    if f.type == "choice":
        found = _match_option(f, reply)
        if found is None:
            allowed = f"Type a number from 1 to {len(f.choices)}, or press Enter if unknown."
            return _Invalid(f'"{reply}" is not one of the options. {allowed}')
        return found
    if low == "none":
        return []
    if f.type == "choices":
        return _parse_choices(f, reply)
    return _parse_words(f, reply)


def _match_option(f: Field, reply: str) -> str | None:
    if reply.isdigit():
        number = int(reply)
        return f.choices[number - 1].value if 1 <= number <= len(f.choices) else None
    key = _norm(reply)
    for c in f.choices:
        if key in (_norm(c.value), _norm(c.label)):
            return c.value
    return None


def _norm(text: str) -> str:
    return re.sub(r"[\s_-]+", " ", text.strip().lower())


def _parse_integer(f: Field, reply: str) -> int | _Invalid:
    digits = re.sub(r"[\s,_']", "", reply)
    allowed = _integer_range(f)
    if not re.fullmatch(r"[+-]?\d{1,15}", digits):
        if re.fullmatch(r"[+-]?\d*[.]\d+|[+-]?\d+[.]", digits):
            return _Invalid(f'"{reply}" is not a whole number. Please round it ({allowed}).')
        return _Invalid(f'"{reply}" is not a number. Type digits only, for example 6000 ({allowed}).')
    value = int(digits)
    if (f.minimum is not None and value < f.minimum) or (f.maximum is not None and value > f.maximum):
        return _Invalid(f"{value} is out of range: type {allowed}.")
    return value


def _integer_range(f: Field) -> str:
    if f.minimum is not None and f.maximum is not None:
        return f"a whole number from {f.minimum} to {f.maximum}"
    if f.minimum is not None:
        return f"a whole number, {f.minimum} or more"
    if f.maximum is not None:
        return f"a whole number, {f.maximum} or less"
    return "a whole number"


def _parse_choices(f: Field, reply: str) -> list[str] | _Invalid:
    tokens = [t.strip() for t in re.split(r"[,;]", reply) if t.strip()]
    if len(tokens) == 1 and re.fullmatch(r"\d+(\s+\d+)+", tokens[0]):
        tokens = tokens[0].split()
    picked: set[str] = set()
    for token in tokens:
        found = _match_option(f, token)
        if found is None:
            return _Invalid(
                f'"{token}" is not one of the options. Type the numbers of all that apply, separated by commas '
                f"(for example 1,3), or none."
            )
        picked.add(found)
    return [c.value for c in f.choices if c.value in picked]


def _parse_words(f: Field, reply: str) -> list[str] | _Invalid:
    words: list[str] = []
    for token in reply.split(","):
        word = re.sub(r"[\s-]+", "_", token.strip().lower())
        if not word:
            continue
        if not re.fullmatch(f.pattern or r".+", word):
            return _Invalid(
                f'"{token.strip()}" is not a simple word. Use letters, digits and underscores, starting with a letter '
                f"(for example {', '.join(f.suggestions[:3]) or 'textile'}); separate words with commas."
            )
        if word not in words:
            words.append(word)
    if f.max_items is not None and len(words) > f.max_items:
        return _Invalid(f"That is {len(words)} words; at most {f.max_items} are allowed.")
    return words


def _hint(f: Field, answered: bool) -> str:
    if f.required:
        return "Type the name (required). Enter = keep it, ? = help." if answered else "Type the name (required). ? = help."
    main = {
        "text": "Type a short answer.",
        "boolean": "Type yes or no.",
        "integer": "Type a whole number.",
        "choice": f"Type a number from 1 to {len(f.choices)}.",
        "choices": "Type all numbers that apply (like 1,3) or none.",
        "words": "Type words separated by commas, or none.",
    }[f.type]
    enter = "Enter = keep it, unknown = don't know" if answered else "Enter = don't know"
    return f"{main} {enter}, ? = help, back = go back."


# ---------------------------------------------------------------- the region file


def region_text(answers: Mapping[str, Any], vocabulary: Vocabulary) -> str:
    """Return the region file for `answers`: a header comment, then the fields in vocabulary order.

    Unknown answers are written as `unknown`, so a resumed interview does not ask them again.
    """
    values = {p: v for p, v in answers.items() if p in vocabulary.fields and p != "schema_version"}
    return format_region(values, HEADER, vocabulary)


def load_answers(path: str, vocabulary: Vocabulary) -> dict[str, Any]:
    """Read a saved (or hand-written) region file into answers; `unknown` entries count as answered."""
    text = read_text(path)
    regions = load_regions(text, path, vocabulary)
    if len(regions) != 1:
        raise RegionError(
            f"{path}: holds {len(regions)} regions; an interview works on one. Copy one region into a file of its own."
        )
    answers = {p: v for p, v in regions[0].facts.items() if p != "schema_version"}
    document = next(d for d in load_all(text) if d is not None)
    for path_, f in vocabulary.fields.items():
        if f.ask and path_ not in answers and _marked_unknown(document, path_):
            answers[path_] = UNKNOWN
    return answers


def _marked_unknown(document: Any, path: str) -> bool:
    node = document
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
        if node is None or node == UNKNOWN:
            return True
    return False


def _has_own_comments(text: str) -> bool:
    return any(line.lstrip().startswith("#") and line not in HEADER for line in text.splitlines()) or bool(
        re.search(r"\s#", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    )


# ---------------------------------------------------------------- the questionnaire


@dataclass
class Interview:
    """One questionnaire session over a set of answers (path -> value, or `unknown`)."""

    ask: Ask
    say: Say
    kb: KnowledgeBase = field(default_factory=load_knowledge_base)
    answers: dict[str, Any] = field(default_factory=dict)
    on_change: Callable[[Mapping[str, Any]], None] | None = None
    _announced: str | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.vocabulary = self.kb.vocabulary
        self.order = [p for p, f in self.vocabulary.fields.items() if f.ask]
        self.index = {p: i for i, p in enumerate(self.order)}
        self.titles = {s.id: s.title for s in self.vocabulary.sections}
        self.section_ids = [s.id for s in self.vocabulary.sections]

    # -- skip logic

    def live(self, answers: Mapping[str, Any] | None = None) -> list[str]:
        """Return the fields a questionnaire going in order would ask, given `answers`.

        A field is asked when no rule reads it (it only describes the region) or when a rule that
        reads it is still undecided by the known answers to the fields before it.
        """
        answers = self.answers if answers is None else answers
        facts: dict[str, Any] = {}
        result: list[str] = []
        for path in self.order:
            readers = self.kb.readers.get(path, ())
            if not readers:
                result.append(path)
            else:
                status = evaluate_all(self.kb, facts)
                if any(status[r] is None for r in readers):
                    result.append(path)
            value = answers.get(path, UNKNOWN)
            if not _is_unknown(value):
                facts[path] = value
        return result

    # -- the whole session

    def run(self) -> dict[str, Any]:
        """Ask what is missing, then show the review until the user confirms; return the answers."""
        self._fill(back_exits=False)
        self._review()
        return dict(self.answers)

    def intro(self, save_to: str | None, resumed_from: str | None) -> None:
        """Tell the user how the questionnaire works (and, on resume, where it stands)."""
        sections = len({self.vocabulary.fields[p].section for p in self.order})
        if resumed_from:
            missing = [p for p in self.live() if p not in self.answers]
            name = self.answers.get("name", "the region")
            left = f"up to {len(missing)} question{'' if len(missing) == 1 else 's'} left" if missing else "no question left"
            self.say(f"Continuing {name} from {resumed_from}: {len(self.answers)} answers given, {left}, then the review.")
        else:
            self.say(f"ClusterAdvisor questionnaire: up to {len(self.order)} questions in {sections} parts.")
            self.say("Questions that cannot change the advice, given your earlier answers, are skipped.")
        self.say(
            "At any question: press Enter if you do not know, type ? to see why it is asked,\n"
            "or back to return to the previous question. You can check every answer at the end."
        )
        if save_to:
            self.say(f"Your answers are saved to {save_to} as you go.")

    # -- asking

    def _fill(self, *, back_exits: bool) -> None:
        """Ask every live, unanswered field in order, with `back` to revisit this pass's questions."""
        asked: list[str] = []
        cursor = -1
        while True:
            live = self.live()
            pending = [p for p in live if p not in self.answers or p in asked]
            upcoming = [p for p in pending if self.index[p] > cursor]
            if not upcoming:
                return
            path = upcoming[0]
            f = self.vocabulary.fields[path]
            in_section = [p for p in pending if self.vocabulary.fields[p].section == f.section]
            progress = f"{self.titles[f.section]}, question {in_section.index(path) + 1} of {len(in_section)}"
            self._announce(f.section)
            result = self._ask_field(path, progress)
            if result is _Nav.BACK:
                earlier = [p for p in asked if self.index[p] < self.index[path] and p in self.answers]
                if earlier:
                    cursor = self.index[earlier[-1]] - 1
                elif back_exits:
                    return
                elif asked or self.answers:
                    self.say("There is no earlier question to go back to; you can change any answer at the review at the end.")
                else:
                    self.say("This is the first question.")
                continue
            self._set(path, result)
            if path not in asked:
                asked.append(path)
                asked.sort(key=self.index.__getitem__)
            cursor = self.index[path]

    def _announce(self, section: str) -> None:
        if section == self._announced:
            return
        self._announced = section
        sections = [s for s in self.section_ids if any(self.vocabulary.fields[p].section == s for p in self.order)]
        title = f"{self.titles[section]} (part {sections.index(section) + 1} of {len(sections)})"
        self.say(f"\n== {title} " + "=" * max(3, WIDTH - len(title) - 4))

    def prompt(self, path: str, progress: str) -> Prompt:
        """Build the prompt for one field."""
        f = self.vocabulary.fields[path]
        current = self.answers.get(path)
        return Prompt(
            kind="question",
            section=self.titles[f.section],
            progress=progress,
            question=f.question,
            hint=_hint(f, current is not None),
            path=path,
            options=tuple(Option(i, c.label, c.description) for i, c in enumerate(f.choices, start=1)),
            current=None if current is None else self.describe(path, current),
            help=f.help,
            why=self.why(path),
        )

    def _ask_field(self, path: str, progress: str) -> Any:
        """Ask one field until the reply is valid; return its value, `unknown`, or _Nav.BACK."""
        f = self.vocabulary.fields[path]
        first = self.prompt(path, progress)
        prompt = first
        while True:
            reply = self.ask(prompt).strip()
            low = reply.lower()
            if low in ("?", "help", "why"):
                self.say(self.explain(path))
                prompt = dataclasses.replace(first, again="help")
                continue
            prompt = dataclasses.replace(first, again="invalid")
            if low == "back":
                return _Nav.BACK
            value: Any
            if reply == "" and path in self.answers:
                value = self.answers[path]
            elif low in UNKNOWN_WORDS:
                if f.required:
                    self.say("An answer is required here: please type it.")
                    continue
                value = UNKNOWN
            else:
                value = parse_answer(f, reply)
                if isinstance(value, _Invalid):
                    self.say(_wrap(value.message))
                    continue
            self.say(f"  Noted: {self.describe(path, value)}")
            return value

    def describe(self, path: str, value: Any) -> str:
        """Render an answer in plain words."""
        if _is_unknown(value):
            return "unknown"
        return self.vocabulary.fields[path].describe(value)

    def why(self, path: str) -> tuple[str, ...]:
        """Titles of the advice and situations whose conditions read `path`, with their kind."""
        rules = [self.kb.by_id[r] for r in self.kb.readers.get(path, ())]
        return tuple(f"{_KIND_WORDS[r.kind]}: {r.title}" for kind in _KIND_WORDS for r in rules if r.kind == kind)

    def explain(self, path: str) -> str:
        """The help text and WHY the question is asked, for `?`."""
        f = self.vocabulary.fields[path]
        lines = [_wrap(f.help, "  ")]
        why = self.why(path)
        if why:
            lines.append("  Why it is asked: the answer helps decide")
            lines += [_wrap(item, "    - ").replace("\n    - ", "\n      ") for item in why]
        elif self.kb.readers.get(path):
            lines.append("  Why it is asked: it shows which strengths and which case of the study fit the region.")
        else:
            lines.append("  Why it is asked: it names and places the region in the memo; no advice depends on it.")
        return "\n".join(lines)

    # -- changing answers

    def _set(self, path: str, value: Any) -> None:
        """Record an answer and drop the answers it makes irrelevant."""
        before = dict(self.answers)
        live_before = set(self.live(before))
        self.answers[path] = value
        live_after = set(self.live())
        for p in self.order:
            if p != path and p in self.answers and p in live_before and p not in live_after:
                dropped = self.answers.pop(p)
                if not _is_unknown(dropped):
                    label = self.vocabulary.fields[p].label
                    shown = self.describe(p, dropped)
                    self.say(f'  Dropped the answer to "{label}" ({shown}): it no longer affects the advice.')
        if self.on_change is not None and before != self.answers:
            self.on_change(self.answers)

    # -- the review screen

    def review_lines(self) -> tuple[list[str], list[str]]:
        """Return the review listing and the answered paths in the order they are numbered."""
        live = self.live()
        numbered = [p for p in self.order if p in self.answers or p in live]
        lines = ["", "== Review your answers " + "=" * (WIDTH - 23)]
        section = None
        for number, path in enumerate(numbered, start=1):
            f = self.vocabulary.fields[path]
            if f.section != section:
                section = f.section
                lines.append(self.titles[section])
            shown = self.describe(path, self.answers[path]) if path in self.answers else "(not answered)"
            lines.append(f"  {number:>2}. {f.label}: {shown}")
        skipped = [self.vocabulary.fields[p].label for p in self.order if p not in numbered]
        if skipped:
            reason = "Not asked, because your other answers already settle what they could change: "
            lines.append(_wrap(reason + "; ".join(skipped) + "."))
        return lines, numbered

    def _review(self) -> None:
        while True:
            lines, numbered = self.review_lines()
            self.say("\n".join(lines))
            prompt = Prompt(
                kind="review",
                section="Review",
                progress="",
                question="Is everything right?",
                hint=f"Type the number of an answer to change it (1 to {len(numbered)}). {ENTER_FINISHES}",
            )
            while True:
                reply = self.ask(prompt).strip()
                low = reply.lower()
                if low in DONE_WORDS:
                    return
                if reply.isdigit() and 1 <= int(reply) <= len(numbered):
                    break
                if low in ("?", "help", "back"):
                    self.say(_wrap(f"To change an answer, type its number, then the new answer. {ENTER_FINISHES}"))
                else:
                    self.say(_wrap(f'"{reply}" is not a number from 1 to {len(numbered)}. {prompt.hint}'))
                prompt = dataclasses.replace(prompt, again="invalid")
            self._edit(numbered[int(reply) - 1])

    def _edit(self, path: str) -> None:
        f = self.vocabulary.fields[path]
        self._announced = f.section
        result = self._ask_field(path, f"{self.titles[f.section]}, changing an answer (back returns to the review)")
        if result is _Nav.BACK:
            return
        self._set(path, result)
        new = [p for p in self.live() if p not in self.answers]
        if new:
            self.say(f"Your change raises {len(new)} new question{'' if len(new) == 1 else 's'}.")
            self._fill(back_exits=True)


def _is_unknown(value: Any) -> bool:
    return isinstance(value, str) and value == UNKNOWN


# ---------------------------------------------------------------- the whole run


@dataclass(frozen=True)
class _Saver:
    path: str
    vocabulary: Vocabulary

    def __call__(self, answers: Mapping[str, Any]) -> None:
        if "name" in answers:  # a region file without a name is not a region file
            write_atomic(self.path, region_text(answers, self.vocabulary))


def _check_writable(path: str, what: str) -> None:
    folder = os.path.dirname(path) or "."
    if os.path.isdir(path):
        raise OutputError(f"{path}: is a folder; give a file name for the {what}.")
    if not os.path.isdir(folder):
        raise OutputError(f"{path}: the folder {folder} does not exist. Create it first, or choose another place for the {what}.")
    if not os.access(folder, os.W_OK):
        raise OutputError(f"{path}: cannot write in {folder}. Choose another place for the {what}.")


def run_interview(
    ask: Ask,
    say: Say,
    *,
    save: str | None = None,
    resume: str | None = None,
    output: str | None = None,
    fmt: str = "md",
) -> str:
    """Run the questionnaire and return the memo (also written to `output` when given).

    Answers go to `save` (or back to `resume`) after every answer, atomically; on Ctrl-C or end of
    input the answers so far are kept there and InterviewAborted says where.
    """
    from .report import assess_text

    kb = load_knowledge_base()
    target = save or resume
    for path, what in ((target, "answers"), (output, "memo")):
        if path:
            _check_writable(path, what)
    if output and target and os.path.abspath(output) == os.path.abspath(target):
        raise OutputError(f"{output}: the memo and the answers cannot go to the same file. Choose another name for one of them.")
    answers: dict[str, Any] = {}
    if resume:
        answers = load_answers(resume, kb.vocabulary)
        if not save and _has_own_comments(read_text(resume)):
            say(f"Note: the comments in {resume} will not be kept when answers are saved; add --save NEW.yaml to keep it.")
    elif save and os.path.exists(save):
        say(f"Note: {save} already exists and will be replaced (use --resume {save} to continue it instead).")
    saver = _Saver(target, kb.vocabulary) if target else None
    interview = Interview(ask, say, kb=kb, answers=answers, on_change=saver)
    try:
        interview.intro(target, resume)
        final = interview.run()
    except (KeyboardInterrupt, EOFError) as err:
        cause = "interrupted" if isinstance(err, KeyboardInterrupt) else "end of input"
        if saver is not None and "name" in interview.answers:
            saver(interview.answers)
            say(f"To continue later: clusteradvisor interview --resume {shlex.quote(str(target))}")
            raise InterviewAborted(f"interview: stopped before the end ({cause}); the answers so far are saved in {target}.") from None
        hint = "" if saver is not None else " Add --save FILE to keep the answers of an unfinished interview."
        raise InterviewAborted(f"interview: stopped before the end ({cause}); nothing was saved.{hint}") from None
    text = region_text(final, kb.vocabulary)
    if target:
        write_atomic(target, text)
        say(f"\nAnswers saved to {target}.")
    memo = assess_text(text, target or "<interview>", fmt)
    if output:
        write_atomic(output, memo)
        say(f"Memo written to {output}.")
    return memo
