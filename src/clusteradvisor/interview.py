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
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import InterviewAborted, OutputError, RegionError
from .knowledge import KnowledgeBase, evaluate_all, load_knowledge_base
from .output import write_atomic
from .region import MAX_TEXT, format_region, load_regions, read_text
from .vocabulary import UNKNOWN, Field, Vocabulary, canonical_words
from .yamlio import load_all

WIDTH = 78
UNKNOWN_WORDS = frozenset({"", UNKNOWN, "don't know", "dont know", "do not know", "not known"})
YES_WORDS = frozenset({"yes", "y", "true"})
NO_WORDS = frozenset({"no", "n", "false"})
ENTER_FINISHES = "Press Enter to finish and get the memo."
ENTER_NEXT_PAGE = "Press Enter for the next page."
DONE_WORDS = frozenset({"done", "ok", "finish", "yes", "y"})
DEFAULT_ANSWERS = "clusteradvisor-answers.yaml"
ECHO_LIMIT = 60
SCREEN_LINES = 24
ROLE = "respondent.role"
SECONDS_PER_QUESTION = 20  # our estimate for the start-up message; skipped questions make it shorter
# Lines of a review screen that are not the listing: blank, header, blank, question, two of hint, input.
_REVIEW_CHROME = 8
HEADER = (
    "# Region file written by `clusteradvisor interview`.",
    "# Assess it with `clusteradvisor assess FILE`; continue or revise it with",
    "# `clusteradvisor interview --resume FILE`. `unknown` marks a question answered as not known;",
    "# questions that could not change the advice given the other answers are left out.",
)
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
# unicodedata has no names for control characters; these are the ones a keyboard or a paste sends.
_CONTROL_NAMES = {
    "\t": "TAB",
    "\x08": "BACKSPACE",
    "\x1b": "ESCAPE, sent by arrow and function keys",
    "\x7f": "DELETE",
    "\x85": "NEXT LINE",
}
_CATEGORY_WORDS = {"recommendation": "advice", "derived": "situation"}

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
        # After the help text the options are shown again: the help pushed them off the screen.
        lines = [self.progress] if self.progress and not self.again else []
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
    # Not at hyphens: a character name such as RIGHT-TO-LEFT OVERRIDE stays whole.
    return "\n".join(textwrap.wrap(text, WIDTH, initial_indent=indent, subsequent_indent=indent, break_on_hyphens=False))


def _cut(text: str, limit: int = ECHO_LIMIT) -> str:
    """Shorten `text` to at most `limit` characters, marking a cut with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_noncharacter(code: int) -> bool:
    return 0xFDD0 <= code <= 0xFDEF or (code & 0xFFFE) == 0xFFFE


def refused_character(text: str) -> str | None:
    """Return the first character of `text` that typed input may not hold, or None when it is clean.

    Refused: lone surrogates (bytes that were not UTF-8), control characters (C0, DEL, C1 with NEL),
    format characters (bidi controls, zero-width marks), line and paragraph separators and
    noncharacters. Each is invisible or moves the cursor, and YAML turns line breaks into spaces.
    """
    for char in text:
        if unicodedata.category(char) in _REFUSED_CATEGORIES or _is_noncharacter(ord(char)):
            return char
    return None


def input_problem(text: str) -> str | None:
    """Say why a typed line is refused before it is read as an answer, or return None."""
    char = refused_character(text)
    if char is None:
        return None
    if unicodedata.category(char) == "Cs":
        return (
            "That answer is not valid text: the terminal sent bytes that are not UTF-8. "
            "Please type it again (and set the terminal to UTF-8 if this repeats)."
        )
    name = unicodedata.name(char, "") or _CONTROL_NAMES.get(char, "")
    code = f"U+{ord(char):04X}" + (f" {name}" if name else "")
    return f"That answer holds an invisible control or formatting character ({code}). Please type it again without it."


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
        if refused_character(reply) is not None:
            return _Invalid("Please type plain text on one line (no tabs, control or formatting characters).")
        return reply
    if f.type == "boolean":
        if low in YES_WORDS:
            return True
        if low in NO_WORDS:
            return False
        return _Invalid(f'"{_cut(reply)}" is not yes or no. Please answer yes or no (or press Enter if unknown).')
    if f.type == "integer":
        return _parse_integer(f, reply)
    if f.type == "choice":
        found = _match_option(f, reply)
        if isinstance(found, _Invalid):
            return found
        if found is None:
            allowed = f"Type a number from 1 to {len(f.choices)} (or the start of an option), or press Enter if unknown."
            return _Invalid(f'"{_cut(reply)}" is not one of the options. {allowed}')
        return found
    if low == "none":
        return []
    if f.type == "choices":
        return _parse_choices(f, reply)
    return _parse_words(f, reply)


def _match_option(f: Field, reply: str) -> str | _Invalid | None:
    """Return the value an option number, value, label or unambiguous start of a label names."""
    if _is_number(reply):
        number = int(reply)
        return f.choices[number - 1].value if 1 <= number <= len(f.choices) else None
    key = _norm(reply)
    if not key:
        return None
    for c in f.choices:
        if key in (_norm(c.value), _norm(c.label)):
            return c.value
    starts = [c for c in f.choices if _norm(c.label).startswith(key) or _norm(c.value).startswith(key)]
    if len(starts) == 1:
        return starts[0].value
    if starts:
        which = " or ".join(f'"{c.label}"' for c in starts)
        return _Invalid(f'"{_cut(reply)}" could be {which}. Type more of it, or the number.')
    return None


def _is_number(reply: str) -> bool:
    # ASCII digits only: str.isdigit() accepts "²", which int() then refuses; and few of them, as
    # int() refuses more than 4,300 digits.
    return re.fullmatch(r"[0-9]{1,9}", reply) is not None


def _example_numbers(count: int) -> str:
    """Two option numbers that exist, as an example of a multiple choice answer."""
    return f"1,{min(3, count)}" if count >= 2 else "1"


def _norm(text: str) -> str:
    return re.sub(r"[\s_-]+", " ", text.strip().lower())


def _parse_integer(f: Field, reply: str) -> int | _Invalid:
    digits = re.sub(r"[\s,_']", "", reply)
    allowed = _integer_range(f)
    if not re.fullmatch(r"[+-]?\d{1,15}", digits):
        if re.fullmatch(r"[+-]?\d*[.]\d+|[+-]?\d+[.]", digits):
            return _Invalid(f'"{_cut(reply)}" is not a whole number. Please round it ({allowed}).')
        return _Invalid(f'"{_cut(reply)}" is not a number. Type digits only, for example 6000 ({allowed}).')
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
        if isinstance(found, _Invalid):
            return found
        if found is None:
            return _Invalid(
                f'"{_cut(token)}" is not one of the options. Type the numbers of all that apply, separated by commas '
                f"(for example {_example_numbers(len(f.choices))}), or none."
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
                f'"{_cut(token.strip())}" is not a simple word. Use letters, digits and underscores, starting with a letter '
                f"(for example {', '.join(f.suggestions[:3]) or 'textile'}); separate words with commas."
            )
        if word not in words:
            words.append(word)
    if f.max_items is not None and len(words) > f.max_items:
        return _Invalid(f"That is {len(words)} words; at most {f.max_items} are allowed.")
    return canonical_words(f, words)  # as the rules read them: "moulds" is noted as machinery


def _hint(f: Field, answered: bool) -> str:
    if f.required:
        return "Type the name (required). Enter = keep it, ? = help." if answered else "Type the name (required). ? = help."
    main = {
        "text": "Type a short answer.",
        "boolean": "Type yes or no.",
        "integer": "Type a whole number.",
        "choice": f"Type a number from 1 to {len(f.choices)} (or the start of an option).",
        "choices": f"Type all numbers that apply (like {_example_numbers(len(f.choices))}) or none.",
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
    return answers_from_text(read_text(path), path, vocabulary)


def answers_from_text(text: str, path: str, vocabulary: Vocabulary) -> dict[str, Any]:
    """Read the text of a region file into answers, as `load_answers` does for a file."""
    regions = load_regions(text, path, vocabulary)
    if len(regions) != 1:
        raise RegionError(
            f"{path}: holds {len(regions)} regions; an interview works on one. Copy one region into a file of its own."
        )
    answers = {p: v for p, v in regions[0].facts.items() if p != "schema_version"}
    document = next(d for d in load_all(text) if d is not None)
    for path_, f in ((f.path, f) for f in vocabulary.file_fields):
        if f.asked and path_ not in answers and _marked_unknown(document, path_):
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
    screen_lines: int = SCREEN_LINES
    role: str | None = None  # asks only this role's questions, in its wording; None asks the role first
    _announced: str | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.vocabulary = self.kb.vocabulary
        paths = [f.path for f in self.vocabulary.file_fields if f.asked]
        if ROLE in paths:  # the answer decides which questions follow and how they are worded
            paths.remove(ROLE)
            paths.insert(0, ROLE)
        self.all_order = paths
        self.index = {p: i for i, p in enumerate(self.all_order)}
        if self.role is not None:
            self.answers[ROLE] = self.role
        self.titles = {s.id: s.title for s in self.vocabulary.sections}
        self.section_ids = [s.id for s in self.vocabulary.sections]

    @property
    def current_role(self) -> str | None:
        """The respondent's role as answered so far (None while unknown)."""
        value = self.answers.get(ROLE)
        return None if value is None or _is_unknown(value) else str(value)

    @property
    def order(self) -> list[str]:
        """The questions for the current role (all of them while the role is unknown), in asking order."""
        return self.order_for(self.current_role)

    def order_for(self, role: str | None) -> list[str]:
        """The questions the vocabulary puts to `role` (all of them for None), in asking order."""
        return [p for p in self.all_order if role is None or role in self.vocabulary.fields[p].asked]

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
            precondition = self.kb.ask_when_truth.get(path)
            status = evaluate_all(self.kb, facts) if readers or precondition is not None else {}
            if precondition is not None and precondition(facts, status) is not True:
                pass  # the map's "only when": not asked, and never an information gap either
            elif not readers or any(status[r] is None for r in readers):
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

    def intro(self, save_to: str | None, resumed_from: str | None, save_note: str = "") -> None:
        """Tell the user how the questionnaire works, where the answers go (and, on resume, where it stands)."""
        sections = len({self.vocabulary.fields[p].section for p in self.order})
        if resumed_from:
            missing = [p for p in self.live() if p not in self.answers]
            name = self.answers.get("name", "the region")
            left = f"up to {len(missing)} question{'' if len(missing) == 1 else 's'} left" if missing else "no question left"
            self.say(f"Continuing {name} from {resumed_from}: {len(self.answers)} answers given, {left}, then the review.")
        else:
            role = self.current_role
            count = len(self.order)
            if role is not None:
                who = self.vocabulary.fields[ROLE].describe(role)
                self.say(f"ClusterAdvisor questionnaire for a {who}: up to {count} questions in {sections} parts, {_minutes(count)}.")
            else:
                firm = len(self.order_for("firm"))
                self.say(
                    f"ClusterAdvisor questionnaire: up to {count} questions in {sections} parts, {_minutes(count)}. "
                    f"The first asks who you are: a firm owner or manager gets at most {firm}, {_minutes(firm)}."
                )
            self.say("Questions that cannot change the advice, given your earlier answers, are skipped.")
        self.say(
            "Enter always goes on without changing anything: at a question it means you do not know\n"
            "(or keeps the answer you gave); on the review it turns the page, and on its last page finishes.\n"
            "Type ? to see why a question is asked, or back to return to the previous one."
        )
        if save_note:
            self.say(save_note)
        elif save_to:
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
            # Count every question of the section still asked, answered ones too, so that a resumed
            # interview says where it stands in the section rather than restarting the count.
            in_section = [p for p in live if self.vocabulary.fields[p].section == f.section]
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
            question=f.question_for(self.current_role),
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
            reply = self._read(prompt)
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

    def _read(self, prompt: Prompt) -> str:
        """Ask until the typed line holds only characters an answer may hold; return it stripped."""
        while True:
            reply = self.ask(prompt)
            problem = input_problem(reply)
            if problem is None:
                return reply.strip()
            self.say(_wrap(problem))
            prompt = dataclasses.replace(prompt, again="invalid")

    def describe(self, path: str, value: Any) -> str:
        """Render an answer in plain words."""
        if _is_unknown(value):
            return "unknown"
        return self.vocabulary.fields[path].describe(value)

    def why(self, path: str) -> tuple[str, ...]:
        """Titles of the advice and situations whose conditions read `path`, with their kind."""
        rules = [self.kb.by_id[r] for r in self.kb.readers.get(path, ())]
        return tuple(f"{_CATEGORY_WORDS[r.category]}: {r.title}" for category in _CATEGORY_WORDS for r in rules if r.category == category)

    def explain(self, path: str) -> str:
        """The help text and WHY the question is asked, for `?`."""
        f = self.vocabulary.fields[path]
        lines = [_wrap(f.help, "  ")]
        why = self.why(path)
        if why:
            lines.append("  Why it is asked: the answer helps decide")
            lines += [_wrap(item, "    - ").replace("\n    - ", "\n      ") for item in why]
        elif self.kb.readers.get(path):
            lines.append("  Why it is asked: it shows which case of the study the region resembles.")
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

    def review_pages(self) -> tuple[list[list[str]], list[str], dict[str, int]]:
        """Return the review pages that fit `screen_lines`, the numbered paths, and each path's page (from 0)."""
        live = self.live()
        numbered = [p for p in self.order if p in self.answers or p in live]
        body = max(5, self.screen_lines - _REVIEW_CHROME)
        pages: list[list[str]] = []
        page: list[str] = []
        page_section: str | None = None
        started: set[str] = set()
        page_of: dict[str, int] = {}
        for number, path in enumerate(numbered, start=1):
            f = self.vocabulary.fields[path]
            if len(page) + (1 if f.section == page_section else 2) > body:
                pages.append(page)
                page, page_section = [], None
            if f.section != page_section:
                title = self.titles[f.section]
                page.append(f"{title} (continued)" if f.section in started else title)
                page_section = f.section
                started.add(f.section)
            shown = self.describe(path, self.answers[path]) if path in self.answers else "(not answered)"
            page.append(_cut(f"  {number:>2}. {f.label}: {shown}", WIDTH))
            page_of[path] = len(pages)
        skipped = [self.vocabulary.fields[p].label for p in self.order if p not in numbered]
        if skipped:
            reason = "Not asked, because your other answers already settle what they could change: "
            note = _wrap(reason + "; ".join(skipped) + ".").splitlines()
            if page and len(page) + len(note) > body:
                pages.append(page)
                page = []
            while len(note) > body:
                pages.append(note[:body])
                note = note[body:]
            page += note
        if page or not pages:
            pages.append(page)
        heading = "== Review your answers "
        for index, lines in enumerate(pages, start=1):
            title = heading if len(pages) == 1 else f"{heading}(page {index} of {len(pages)}) "
            lines[:0] = ["", title + "=" * max(3, WIDTH - len(title))]
        return pages, numbered, page_of

    def _review(self) -> None:
        page = 0
        while True:
            pages, numbered, page_of = self.review_pages()
            page = min(page, len(pages) - 1)
            last = page == len(pages) - 1
            self.say("\n".join(pages[page]))
            back = "; back = previous page" if page else ""
            enter = ENTER_FINISHES if last else ENTER_NEXT_PAGE
            prompt = Prompt(
                kind="review",
                section="Review",
                progress="",  # the page heading says where the user is
                question="Is everything right?",
                hint=f"Type the number of an answer to change it (1 to {len(numbered)}){back}. {enter}",
            )
            while True:
                reply = self._read(prompt)
                low = reply.lower()
                if (low == "" and last) or low in DONE_WORDS:
                    return
                if low == "":
                    page += 1
                    break
                if low == "back" and page:
                    page -= 1
                    break
                if _is_number(reply) and 1 <= int(reply) <= len(numbered):
                    path = numbered[int(reply) - 1]
                    self._edit(path)
                    # Show the changed answer: the page that lists it, as the edit left it.
                    page = self.review_pages()[2].get(path, page_of[path])
                    break
                if low in ("?", "help", "back"):
                    first = "This is the first page. " if low == "back" else ""
                    self.say(_wrap(f"{first}To change an answer, type its number, then the new answer. {enter}"))
                else:
                    self.say(_wrap(f'"{_cut(reply)}" is not a number from 1 to {len(numbered)}. {prompt.hint}'))
                prompt = dataclasses.replace(prompt, again="invalid")

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


def _minutes(questions: int) -> str:
    """About how long `questions` take, at the 20 seconds or so a considered answer needs."""
    minutes = max(1, -(-questions * SECONDS_PER_QUESTION // 60))
    return f"about {minutes} minute{'' if minutes == 1 else 's'} at most"


# ---------------------------------------------------------------- the whole run


@dataclass
class _Saver:
    """Writes the answers file after every change and checks that it reads back to the same answers.

    With `claim` the file must not exist yet: the first write creates it exclusively, and moves on
    to the next free name if another program created it meanwhile, so no file is ever replaced.
    """

    path: str
    vocabulary: Vocabulary
    say: Say
    claim: bool = False

    def __call__(self, answers: Mapping[str, Any]) -> None:
        """Save after a change; a failure is reported and the next answer tries again."""
        if "name" not in answers:  # a region file without a name is not a region file
            return
        try:
            self.write(answers)
        except OutputError as err:
            self.say(f"Warning: {err} Your answers are kept; the next answer tries to save them again.")

    def write(self, answers: Mapping[str, Any]) -> None:
        """Write the answers (raising OutputError), after checking the text reads back to them."""
        expected = {p: v for p, v in answers.items() if p in self.vocabulary.fields and p != "schema_version"}
        text = region_text(expected, self.vocabulary)
        self._check(expected, lambda: answers_from_text(text, self.path, self.vocabulary), "nothing was written")
        if self.claim:
            self.path = _claim(self.path, self.say)
            self.claim = False
        write_atomic(self.path, text)
        self._check(expected, lambda: load_answers(self.path, self.vocabulary), "the file was written")

    def _check(self, expected: Mapping[str, Any], read: Callable[[], dict[str, Any]], state: str) -> None:
        try:
            got: dict[str, Any] | None = read()
        except RegionError:
            got = None
        if got == expected:
            return
        field_ = "the file" if got is None else next(
            p for p in sorted({*expected, *got}, key=str) if expected.get(p) != got.get(p)
        )
        raise OutputError(
            f"{self.path}: the answers do not read back the same ({field_}); {state}. "
            "This is a bug in clusteradvisor: please report it."
        )


def free_name(path: str) -> str:
    """Return `path`, or the first of PATH-2, PATH-3, ... (before the extension) that does not exist."""
    stem, ext = os.path.splitext(path)
    candidate, number = path, 1
    while os.path.lexists(candidate):
        number += 1
        if number > 9999:
            raise OutputError(f"{path}: {stem}-2{ext} to {stem}-9999{ext} all exist. Use --save FILE to choose a name.")
        candidate = f"{stem}-{number}{ext}"
    return candidate


def _claim(path: str, say: Say) -> str:
    """Create `path` exclusively (or the next free name); return the name created."""
    candidate = path
    while True:
        try:
            os.close(os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
            return candidate
        except FileExistsError:
            taken, candidate = candidate, free_name(path)
            say(f"Note: {taken} was created by another program meanwhile; saving to {candidate} instead.")
        except OSError as err:
            raise OutputError(f"{candidate}: cannot be created ({err.strerror}).") from None


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
    force: bool = False,
    no_save: bool = False,
    autosave_folder: str | None = None,
    screen_lines: int = SCREEN_LINES,
    role: str | None = None,
) -> str:
    """Run the questionnaire and return the memo (also written to `output` when given).

    With `role`, only the questions the vocabulary puts to that role are asked, in its wording, and
    the file records `respondent.role`; without it, the role is the first question.

    Answers go to `save` (or back to `resume`) after every answer, atomically; on Ctrl-C or end of
    input the answers so far are kept there and InterviewAborted says where. An existing `save` file
    is refused unless it is the `resume` file or `force` is given. With neither file, the answers go
    to a new file in `autosave_folder` (the command line passes the current folder); `no_save`
    writes no answers file at all.
    """
    from .report import assess_text

    kb = load_knowledge_base()
    target = None if no_save else save or resume
    claim = False
    save_note = ""
    if target is None and not no_save and autosave_folder is not None:
        target = free_name(os.path.join(autosave_folder, DEFAULT_ANSWERS) if autosave_folder != "." else DEFAULT_ANSWERS)
        claim = True
        save_note = (
            f"Your answers are saved to {target} as you go (--save FILE chooses the file, --no-save keeps none)."
        )
    elif no_save:
        save_note = "Your answers are not saved (--no-save): they are lost if the questionnaire stops early."
    for path, what in ((target, "answers"), (output, "memo")):
        if path:
            try:
                _check_writable(path, what)
            except OutputError as err:
                if not claim:
                    raise
                raise OutputError(f"{err} Add --save FILE to save elsewhere, or --no-save.") from None
    if output and target and os.path.abspath(output) == os.path.abspath(target):
        raise OutputError(f"{output}: the memo and the answers cannot go to the same file. Choose another name for one of them.")
    if save and not no_save and not force and os.path.lexists(save) and not _same_file(save, resume):
        quoted = shlex.quote(save)
        raise OutputError(
            f"{save}: already exists, and the interview would replace it. To continue it: "
            f"clusteradvisor interview --resume {quoted}; to replace it, add --force; or give --save a new name."
        )
    if save and not no_save and not force and not _same_file(save, resume):
        claim = True  # refuse a file another program creates while the questions are answered
    answers: dict[str, Any] = {}
    if resume:
        answers = load_answers(resume, kb.vocabulary)
        if target == resume and _has_own_comments(read_text(resume)):
            say(f"Note: the comments in {resume} will not be kept when answers are saved; add --save NEW.yaml to keep it.")
    saver = _Saver(target, kb.vocabulary, say, claim) if target else None
    if role is not None and answers.get(ROLE) not in (None, UNKNOWN, role):
        say(f"Note: {resume} was answered as {answers[ROLE]}; --role {role} replaces that.")
    interview = Interview(ask, say, kb=kb, answers=answers, on_change=saver, screen_lines=screen_lines, role=role)
    try:
        interview.intro(target, resume, save_note)
        final = interview.run()
    except (KeyboardInterrupt, EOFError) as err:
        cause = "interrupted" if isinstance(err, KeyboardInterrupt) else "end of input"
        if saver is not None and "name" in interview.answers:
            saver(interview.answers)
            say(f"To continue later: clusteradvisor interview --resume {shlex.quote(saver.path)}")
            raise InterviewAborted(f"interview: stopped before the end ({cause}); the answers so far are saved in {saver.path}.") from None
        hint = "" if saver is not None or no_save else " Add --save FILE to keep the answers of an unfinished interview."
        raise InterviewAborted(f"interview: stopped before the end ({cause}); nothing was saved.{hint}") from None
    text = region_text(final, kb.vocabulary)
    if saver is not None:
        saver.write(final)
        say(f"\nAnswers saved to {saver.path}.")
    memo = assess_text(text, saver.path if saver is not None else "<interview>", fmt)
    if output:
        write_atomic(output, memo)
        say(f"Memo written to {output}.")
    return memo


def _same_file(path: str, other: str | None) -> bool:
    if other is None:
        return False
    try:
        return os.path.samefile(path, other)
    except OSError:
        return os.path.abspath(path) == os.path.abspath(other)
