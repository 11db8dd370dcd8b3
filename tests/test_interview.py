"""The questionnaire: skip logic, back, review and edit, unknowns, invalid answers, help, saving, resume."""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import Result
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from clusteradvisor.advisor import Advisor
from clusteradvisor.errors import InterviewAborted, OutputError, RegionError
from clusteradvisor.interview import (
    Interview,
    Prompt,
    input_problem,
    load_answers,
    parse_answer,
    region_text,
    run_interview,
)
from clusteradvisor.knowledge import evaluate_all, load_knowledge_base
from clusteradvisor.region import load_regions, read_text
from clusteradvisor.report import assess_text
from clusteradvisor.vocabulary import UNKNOWN, load_vocabulary

from .conftest import EXAMPLES

DEPENDENCY = "network.single_client_dependency"
NATIONAL_PLANS = {c.value.split("_")[0]: c.label for c in load_vocabulary().fields["policy.national_plans"].choices}
# The district section answered so that only the network's form decides the single-client question.
CITY_TYPE = {"name": "Testville", "district_type": "2", "hollowing_out": "2"}
# Replies the questionnaire takes as commands or as "not known" rather than as an answer.
KEYWORDS = {"?", "help", "why", "back", "unknown", "don't know", "dont know", "do not know", "not known"}


class Script:
    """A scripted user: replies per field path (each a list used in turn), and replies at the review.

    A field without scripted replies gets Enter (unknown, or keep the current answer). A review reply
    "#Label" types the number the review screens show for that answer; "done" finishes from any page.
    When the review replies run out the script ends its input, like a closed terminal.
    """

    def __init__(self, replies: Mapping[str, str | Sequence[str]], review: Sequence[str] = ("done",)) -> None:
        self.replies = {p: [r] if isinstance(r, str) else list(r) for p, r in replies.items()}
        self.review = list(review)
        self.prompts: list[Prompt] = []
        self.said: list[str] = []

    def ask(self, prompt: Prompt) -> str:
        self.prompts.append(prompt)
        if prompt.kind == "review":
            if not self.review:
                raise EOFError
            reply = self.review.pop(0)
            return review_number(self, reply[1:]) if reply.startswith("#") else reply
        queue = self.replies.get(str(prompt.path), [])
        return queue.pop(0) if queue else ""

    def say(self, text: str) -> None:
        self.said.append(text)

    @property
    def asked(self) -> list[str]:
        """Field paths in the order they were first put to the user."""
        return list(dict.fromkeys(str(p.path) for p in self.prompts if p.kind == "question"))

    @property
    def text(self) -> str:
        return "\n".join(self.said)


def interview(script: Script, answers: dict[str, Any] | None = None) -> dict[str, Any]:
    return Interview(script.ask, script.say, answers=answers or {}).run()


def review_number(script: Script, label: str) -> str:
    """The number the latest review screens give the answer labelled `label` (it may be on another page)."""
    screens = [s for s in script.said if "Review your answers" in s]
    for screen in reversed(screens):
        for line in screen.splitlines():
            number, _, rest = line.strip().partition(". ")
            if rest.startswith(label + ":"):
                return number
    raise AssertionError(f"{label} is not on the review screens:\n{screens[-1]}")


# ---------------------------------------------------------------- questions and skip logic


def test_the_role_then_the_name_come_first_and_the_name_cannot_be_unknown() -> None:
    script = Script({"name": ["", "unknown", "Ota ward"]})
    answers = interview(script)
    assert [p.path for p in script.prompts[:2]] == ["respondent.role", "name"]
    assert script.text.count("An answer is required here") == 2
    assert answers["name"] == "Ota ward"


def test_questions_and_options_come_from_the_vocabulary() -> None:
    vocabulary = load_vocabulary()
    script = Script({"name": "X"})
    interview(script)
    questions = [p for p in script.prompts if p.kind == "question"]
    assert "schema_version" not in script.asked
    for prompt in questions:
        f = vocabulary.fields[str(prompt.path)]
        assert prompt.question == f.question
        assert [(o.number, o.label, o.description) for o in prompt.options] == [
            (i, c.label, c.description) for i, c in enumerate(f.choices, start=1)
        ]
    # Sections in vocabulary order, each with its own progress count.
    assert [p.progress for p in questions[:3]] == [f"Region and respondent, question {n} of 5" for n in (1, 2, 3)]
    assert [vocabulary.fields[p].section for p in script.asked] == sorted(
        (vocabulary.fields[p].section for p in script.asked), key=[s.id for s in vocabulary.sections].index
    )


def test_single_client_dependency_is_skipped_when_the_network_is_not_one_to_many() -> None:
    script = Script({**CITY_TYPE, "network.form": "2", "network.former_pyramid": "no"})  # rigid many-to-many, never a pyramid
    answers = interview(script)
    assert DEPENDENCY not in script.asked and DEPENDENCY not in answers
    assert "network.spatial_collaboration" in script.asked
    # The skip follows from the rule base: every rule reading the field is already decided.
    kb = load_knowledge_base()
    facts = {"district_type": ["city_type"], "hollowing_out": "moderate", "network.form": ["rigid_many_to_many"], "network.former_pyramid": False}
    status = evaluate_all(kb, facts)
    assert kb.readers[DEPENDENCY] and all(status[r] is not None for r in kb.readers[DEPENDENCY])
    # The progress line counts only the questions still needed.
    networks = [p.progress for p in script.prompts if p.section == "Networks between firms"]
    # Answering that the district was never a pyramid settles the dependence question: one fewer.
    assert networks[:3] == [f"Networks between firms, question {n}" for n in ("1 of 7", "2 of 7", "3 of 6")]


@pytest.mark.parametrize(
    "replies",
    [
        {**CITY_TYPE, "network.form": "1"},  # one-to-many: a dependency crisis becomes possible
        {"name": "Testville", "network.form": "2"},  # the district type is unknown: it could be a castle town
    ],
)
def test_single_client_dependency_is_asked_while_a_rule_needs_it(replies: dict[str, str]) -> None:
    script = Script(replies)
    interview(script)
    assert DEPENDENCY in script.asked


def test_a_skipped_field_is_not_a_gap_in_the_memo(tmp_path: Path) -> None:
    script = Script({**CITY_TYPE, "network.form": "2", "network.former_pyramid": "no"})
    memo = json.loads(run_interview(script.ask, script.say, fmt="json"))
    gaps = {g["field"] for g in memo["gaps"]}
    assert DEPENDENCY not in gaps
    assert "network.spatial_collaboration" in gaps  # answered unknown, and it matters


# ---------------------------------------------------------------- answers of each type


@pytest.mark.parametrize(
    ("path", "reply", "value"),
    [
        ("district_type", "2", ["city_type"]),
        ("district_type", "City-type district", ["city_type"]),
        ("district_type", "company_castle_town", ["company_castle_town"]),
        ("hollowing_out", "sev", "severe"),
        ("network.spatial_collaboration", "Yes", True),
        ("network.spatial_collaboration", "n", False),
        ("leadership.key_persons", "2, 1", ["local_official", "entrepreneur"]),
        ("leadership.key_persons", "3 1", ["local_official", "skill_coordinator"]),
        ("leadership.key_persons", "entrepreneur,1,1", ["local_official", "entrepreneur"]),
        ("leadership.key_persons", "none", []),
        ("industries", "Metal, musical instruments, metal", ["metal", "musical_instruments"]),
        ("industries", "none", []),
        ("sme_count", "6,000", 6000),
        ("sme_count", "0", 0),
        ("country", "  Japan ", "Japan"),
    ],
)
def test_answers_are_read_in_plain_words(path: str, reply: str, value: Any) -> None:
    assert parse_answer(load_vocabulary().fields[path], reply) == value


@pytest.mark.parametrize(
    ("path", "reply", "message"),
    [
        ("sme_count", "-5", "-5 is out of range: type a whole number from 0 to 10000000."),
        ("sme_count", "about 6000", '"about 6000" is not a number. Type digits only, for example 6000 (a whole number from 0 to 10000000).'),
        ("sme_count", "12.5", '"12.5" is not a whole number. Please round it (a whole number from 0 to 10000000).'),
        ("hollowing_out", "5", '"5" is not one of the options. Type a number from 1 to 3 (or the start of an option), or press Enter'),
        ("district_type", "5", '"5" is not one of the options. Type the numbers of all that apply, separated by commas (for example 1,3)'),
        ("network.spatial_collaboration", "maybe", '"maybe" is not yes or no.'),
        ("leadership.key_persons", "1,9", '"9" is not one of the options. Type the numbers of all that apply'),
        ("industries", "3d printing", '"3d printing" is not a simple word.'),
        ("country", "a" * 201, "at most 200 are allowed"),
    ],
)
def test_invalid_answers_say_what_is_allowed(path: str, reply: str, message: str) -> None:
    result = parse_answer(load_vocabulary().fields[path], reply)
    assert message in getattr(result, "message", "")


def test_invalid_answers_are_asked_again_until_valid() -> None:
    script = Script({"name": "X", "sme_count": ["-5", "many", "12.5", "6000"], "hollowing_out": ["0", "9", "1"]})
    answers = interview(script)
    assert answers["sme_count"] == 6000 and answers["hollowing_out"] == "severe"
    assert sum(p.path == "sme_count" for p in script.prompts) == 4
    assert [p.again for p in script.prompts if p.path == "sme_count"] == ["", "invalid", "invalid", "invalid"]
    assert "out of range" in script.text and '"many" is not a number' in script.text
    assert "Please round it" in script.text and "Type a number from 1 to 3" in script.text


def test_unknown_and_empty_answers_are_unknown_and_saved_as_such(tmp_path: Path) -> None:
    target = tmp_path / "a.yaml"
    script = Script({"name": "X", "country": "unknown", "district_type": "UNKNOWN", "sme_count": ""})
    memo = json.loads(run_interview(script.ask, script.say, save=str(target), fmt="json"))
    saved = yaml.safe_load(target.read_text(encoding="utf-8"))
    assert saved["country"] == saved["district_type"] == saved["sme_count"] == UNKNOWN
    (region,) = load_regions(target.read_text(encoding="utf-8"), str(target))
    assert "district_type" not in region.facts and "sme_count" not in region.facts
    gaps = {g["field"] for g in memo["gaps"]}
    assert "district_type" in gaps and "sme_count" not in gaps  # no rule reads the number of firms


# ---------------------------------------------------------------- help, back, review


def test_question_mark_shows_help_and_why() -> None:
    script = Script({"name": "X", "network.form": "1", DEPENDENCY: ["?", "1"]})
    interview(script)
    kb = load_knowledge_base()
    explanation = next(s for s in script.said if "Why it is asked" in s and "The bands are the project's own" in s)
    advice, situation = kb.by_id["diversify-clients"].title, kb.by_id["dependency-crisis"].title
    assert f"advice: {advice}" in explanation.replace("\n      ", " ")  # a recommendation
    assert f"situation: {situation}" in explanation.replace("\n      ", " ")  # a derived fact
    asked_again = [p for p in script.prompts if p.path == DEPENDENCY]
    assert [p.again for p in asked_again] == ["", "help"]
    assert f"advice: {advice}" in asked_again[0].why


def test_why_for_a_field_no_advice_reads() -> None:
    script = Script({"name": ["?", "X"]})
    interview(script)
    explanation = next(s for s in script.said if "Why it is asked" in s)
    assert "Used as the memo's title" in explanation and "no advice depends on it" in explanation


def test_back_returns_to_the_previous_question_and_keeps_its_answer() -> None:
    script = Script({"name": ["Ota", ""], "country": ["back", "Japan"], "area": ["back", "back", "Tokyo"]})
    answers = interview(script)
    order = [p.path for p in script.prompts if p.kind == "question"][:7]
    assert order == ["respondent.role", "name", "country", "name", "country", "area", "country"]
    assert answers["name"] == "Ota" and answers["country"] == "Japan" and answers["area"] == "Tokyo"
    revisited = [p for p in script.prompts if p.path == "name"][1]
    assert revisited.current == "Ota" and "Enter = keep it" in revisited.hint


def test_back_on_the_first_question_says_so() -> None:
    script = Script({"respondent.role": ["back", ""], "name": "X"})
    interview(script)
    assert "This is the first question." in script.said


def test_going_back_and_changing_an_answer_drops_answers_it_makes_irrelevant() -> None:
    pyramid, spatial = "network.former_pyramid", "network.spatial_collaboration"
    replies = {**CITY_TYPE, "network.form": ["1", "2"], pyramid: ["no", "back"], DEPENDENCY: ["1", "back"], spatial: ["back", "yes"]}
    script = Script(replies)
    answers = interview(script)
    networks = [p.path for p in script.prompts if p.section == "Networks between firms"][:9]
    assert networks == ["network.form", pyramid, DEPENDENCY, spatial, DEPENDENCY, pyramid, "network.form", pyramid, spatial]
    assert DEPENDENCY not in answers and answers["network.form"] == ["rigid_many_to_many"]
    assert answers[spatial] is True and answers[pyramid] is False
    assert 'Dropped the answer to "Dependence on one client" (high (over half))' in script.text


def test_review_lists_every_answer_and_edits_by_number() -> None:
    # Enter turns the pages; a number from any page changes that answer, then its page is shown.
    script = Script({"name": "X", "country": ["Japan", "France"]}, review=["", "", "", "", "#Country", "done"])
    answers = interview(script)
    reviews = [s for s in script.said if "Review your answers" in s]
    assert [r.splitlines()[1][:40] for r in reviews] == [f"== Review your answers (page {n} of 5) ===" for n in (1, 2, 3, 4, 5, 1)]
    assert "   2. Region: X" in reviews[0] and "   3. Country: Japan" in reviews[0] and "   3. Country: France" in reviews[5]
    assert answers["country"] == "France"
    numbered = [line for r in reviews[:5] for line in r.splitlines() if line[:5].strip().rstrip(".").isdigit()]
    assert [int(line.split(".")[0]) for line in numbered] == list(range(1, len(answers) + 1))


def test_review_edit_drops_answers_the_edit_makes_irrelevant() -> None:
    replies = {**CITY_TYPE, "network.form": ["1", "2"], "network.former_pyramid": "no", DEPENDENCY: "1"}
    script = Script(replies, review=["", "#Network forms", "", "", "", "", "", ""])
    answers = interview(script)
    first_review = "\n".join(s for s in script.said[: script.said.index(next(s for s in script.said if "Noted: fixed" in s))] if "Review your answers" in s)
    assert "Dependence on one client: high (over half)" in first_review
    assert DEPENDENCY not in answers and answers["network.form"] == ["rigid_many_to_many"]
    dropped = 'Dropped the answer to "Dependence on one client" (high (over half)): it no longer affects the advice.'
    assert dropped in script.text
    final_review = "\n".join(s for s in script.said[script.said.index("  " + dropped) :] if "Review your answers" in s)
    assert "Dependence on one client:" not in final_review
    assert "Not asked, because your other answers already settle" in final_review and "Dependence on one" in final_review


def test_review_edit_asks_the_questions_it_makes_relevant() -> None:
    replies = {**CITY_TYPE, "network.form": ["2", "1"], "network.former_pyramid": "no", DEPENDENCY: "3"}
    script = Script(replies, review=["", "#Network forms", "done"])
    answers = interview(script)
    assert script.asked.index(DEPENDENCY) > script.asked.index("smes.innovation")  # asked after the edit
    assert "Your change raises 1 new question." in script.said
    assert answers[DEPENDENCY] == "low" and answers["network.form"] == ["one_to_many"]


def test_review_rejects_what_is_not_a_number_on_the_list() -> None:
    script = Script({"name": "X"}, review=["99", "abc", "done"])
    interview(script)
    assert '"99" is not a number from 1 to' in script.text and '"abc" is not a number' in script.text


# ---------------------------------------------------------------- saving, interrupting, resuming


def answer_then(stop: type[BaseException], at: str) -> Callable[[Prompt], str]:
    replies = {"name": "Ota ward", "country": "Japan", "district_type": "2", "sme_count": "6000"}

    def ask(prompt: Prompt) -> str:
        if prompt.path == at:
            raise stop
        return replies.get(str(prompt.path), "")

    return ask


@pytest.mark.parametrize(("stop", "cause"), [(KeyboardInterrupt, "interrupted"), (EOFError, "end of input")])
def test_ctrl_c_and_end_of_input_save_the_answers_so_far(tmp_path: Path, stop: type[BaseException], cause: str) -> None:
    target = tmp_path / "answers.yaml"
    said: list[str] = []
    with pytest.raises(InterviewAborted) as raised:
        run_interview(answer_then(stop, "network.form"), said.append, save=str(target))
    assert str(raised.value) == f"interview: stopped before the end ({cause}); the answers so far are saved in {target}."
    assert f"To continue later: clusteradvisor interview --resume {target}" in said
    (region,) = load_regions(target.read_text(encoding="utf-8"), str(target))
    assert region.facts["sme_count"] == 6000 and "network.form" not in region.facts
    assert [p.name for p in tmp_path.iterdir()] == ["answers.yaml"]  # no temporary file left behind


def test_an_interruption_without_a_file_says_nothing_was_saved() -> None:
    with pytest.raises(InterviewAborted, match=r"nothing was saved\. Add --save FILE"):
        run_interview(answer_then(KeyboardInterrupt, "country"), lambda text: None)


def test_an_interruption_before_the_name_writes_no_file(tmp_path: Path) -> None:
    target = tmp_path / "answers.yaml"
    with pytest.raises(InterviewAborted, match="nothing was saved"):
        run_interview(answer_then(EOFError, "name"), lambda text: None, save=str(target))
    assert not target.exists()


def test_resume_asks_only_what_is_missing_then_reviews(tmp_path: Path) -> None:
    target = tmp_path / "answers.yaml"
    with pytest.raises(InterviewAborted):
        run_interview(answer_then(KeyboardInterrupt, "network.form"), lambda text: None, save=str(target))
    script = Script({"network.form": "2", "network.former_pyramid": "no"})
    run_interview(script.ask, script.say, resume=str(target))
    assert script.asked[0] == "network.form"  # earlier answers, unknown ones included, are not asked again
    assert "area" not in script.asked and DEPENDENCY not in script.asked
    assert script.prompts[-1].kind == "review"
    assert script.said[0].startswith(f"Continuing Ota ward from {target}: 12 answers given, up to")
    (region,) = load_regions(target.read_text(encoding="utf-8"), str(target))
    assert region.facts["network.form"] == ["rigid_many_to_many"] and region.facts["sme_count"] == 6000


def test_resume_of_a_finished_interview_goes_straight_to_the_review(tmp_path: Path) -> None:
    first, second = tmp_path / "first.yaml", tmp_path / "second.yaml"
    run_interview(Script({"name": "X", "district_type": "1", "smes.innovation": "3"}).ask, lambda text: None, save=str(first))
    script = Script({}, review=["done"])
    run_interview(script.ask, script.say, resume=str(first), save=str(second))
    assert [p.kind for p in script.prompts] == ["review"]  # "done" finishes on the first page
    assert "no question left" in script.said[0]
    assert second.read_text(encoding="utf-8") == first.read_text(encoding="utf-8")


def test_resume_warns_that_comments_are_not_kept(tmp_path: Path) -> None:
    copy = tmp_path / "ota.yaml"
    shutil.copy(EXAMPLES / "ota-ward.yaml", copy)
    script = Script({})
    run_interview(script.ask, script.say, resume=str(copy))
    assert script.said[0].startswith(f"Note: the comments in {copy} will not be kept")
    assert {"name", "network.form", "sme_count"}.isdisjoint(script.asked)
    # Answers from the file are kept, even one the questionnaire itself would not have needed.
    original = load_regions(read_text(str(EXAMPLES / "ota-ward.yaml")), "x")[0].facts
    assert load_regions(copy.read_text(encoding="utf-8"), "y")[0].facts.items() >= original.items()


def test_resume_refuses_a_file_with_several_regions(tmp_path: Path) -> None:
    both = tmp_path / "two.yaml"
    both.write_text("name: A\n---\nname: B\n", encoding="utf-8")
    with pytest.raises(RegionError, match="holds 2 regions; an interview works on one"):
        run_interview(Script({}).ask, lambda text: None, resume=str(both))


def test_nothing_is_asked_when_the_files_cannot_be_written(tmp_path: Path) -> None:
    script = Script({})
    with pytest.raises(OutputError, match="does not exist"):
        run_interview(script.ask, script.say, save=str(tmp_path / "missing" / "a.yaml"))
    with pytest.raises(OutputError, match="cannot go to the same file"):
        run_interview(script.ask, script.say, save=str(tmp_path / "a"), output=str(tmp_path / "a"))
    assert script.prompts == []


def test_the_saved_file_is_a_region_file_in_vocabulary_order(tmp_path: Path) -> None:
    answers = {"sme_count": 6000, "name": "Plant #3: 'yes'", "network.form": ["one_to_many"], "area": UNKNOWN, "industries": []}
    text = region_text(answers, load_vocabulary())
    assert text.startswith("# Region file written by `clusteradvisor interview`.")
    body = [line for line in text.splitlines() if not line.startswith("#")]
    assert body == ["schema_version: 2", "name: 'Plant #3: ''yes'''", "area: unknown", "industries: []", "sme_count: 6000", "network:", "  form: [one_to_many]"]
    target = tmp_path / "r.yaml"
    target.write_text(text, encoding="utf-8")
    assert load_answers(str(target), load_vocabulary()) == answers


def test_the_memo_is_the_memo_assess_gives_for_the_saved_file(tmp_path: Path, advisor: Advisor) -> None:
    target, memo_file = tmp_path / "a.yaml", tmp_path / "memo.md"
    replies = {**CITY_TYPE, "name": "Ota ward", "network.form": "2", "network.skill_coordinators": "yes", "sme_count": "6000",
               "leadership.key_persons": "3", "policy.one_stop_platform": "2", "smes.innovation": "2"}
    script = Script(replies)
    memo = run_interview(script.ask, script.say, save=str(target), output=str(memo_file))
    text = target.read_text(encoding="utf-8")
    assert memo == memo_file.read_text(encoding="utf-8") == assess_text(text, str(target), "md")
    # The same verdict as the answers themselves give.
    (region,) = load_regions(text, str(target))
    verdict = json.loads(assess_text(text, str(target), "json"))
    assert [r["id"] for r in verdict["recommendations"]] == [f.id for f in advisor.assess(region).recommendations]
    assert "work-through-coordinators" in [r["id"] for r in verdict["recommendations"]]


# ---------------------------------------------------------------- the command


def test_the_command_keeps_stdout_for_the_memo(cli: Callable[..., Result], tmp_path: Path) -> None:
    target = tmp_path / "a.yaml"
    result = cli("interview", "--save", str(target), "--format", "json", input="\nTestville\n" + "\n" * 100)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["region"]["name"] == "Testville"
    assert "Region and respondent, question 2 of 5" in result.stderr and "Review your answers" in result.stderr
    assert f"Answers saved to {target}." in result.stderr


def test_the_command_reports_an_early_end_without_a_traceback(cli: Callable[..., Result], tmp_path: Path) -> None:
    target = tmp_path / "a.yaml"
    result = cli("interview", "--save", str(target), input="\nTestville\nJapan\n")
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.endswith(f"Error: interview: stopped before the end (end of input); the answers so far are saved in {target}.\n")
    assert "Japan" in target.read_text(encoding="utf-8")


def _read_until(fd: int, marker: bytes, seen: bytearray, timeout: float = 20.0) -> bytes:
    """Read the pseudo-terminal until `marker` appears after what was already consumed; return the new text."""
    start = len(seen)
    deadline = time.monotonic() + timeout
    while marker not in seen[start:]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"timed out waiting for {marker!r}; got:\n{bytes(seen[start:]).decode(errors='replace')}")
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the child closed the terminal
                chunk = b""
            if not chunk:
                raise AssertionError(f"the program ended before {marker!r}:\n{bytes(seen[start:]).decode(errors='replace')}")
            seen += chunk
    return bytes(seen[start:])


def _drive(args: list[str], script: Callable[[int, bytearray], None]) -> tuple[int, str]:
    """Run the real console script on a pseudo-terminal; return its exit status and everything it showed."""
    program = Path(sys.executable).with_name("clusteradvisor")
    pid, fd = pty.fork()
    if pid == 0:  # the child: become the command (never returns)
        os.execv(str(program), [str(program), *args])
    seen = bytearray()
    try:
        script(fd, seen)
        while True:  # drain until the child closes the terminal
            ready, _, _ = select.select([fd], [], [], 20)
            try:
                chunk = os.read(fd, 4096) if ready else b""
            except OSError:
                chunk = b""
            if not chunk:
                break
            seen += chunk
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    return os.waitstatus_to_exitcode(status), seen.decode("utf-8", errors="replace")


def test_end_to_end_on_a_terminal_with_ctrl_c_and_resume(tmp_path: Path) -> None:
    answers, memo = tmp_path / "answers.yaml", tmp_path / "memo.md"

    def first(fd: int, seen: bytearray) -> None:
        # role (unknown), name, country, area and label (unknown), city-type district
        for reply in (b"", b"Ota ward", b"Japan", b"", b"", b"2"):
            _read_until(fd, b"> ", seen)
            os.write(fd, reply + b"\r")
        _read_until(fd, b"industries?", seen)  # the terminal is narrow: the question wraps
        os.write(fd, b"\x03")  # Ctrl-C

    status, shown = _drive(["interview", "--save", str(answers), "-o", str(memo)], first)
    assert status == 1 and "Traceback" not in shown
    assert f"the answers so far are saved in {answers}" in shown.replace("\r\n", " ").replace("\n", " ")
    assert "Noted: city-type district" in shown

    def second(fd: int, seen: bytearray) -> None:
        text = _read_until(fd, b"> ", seen)
        assert b"industries?" in text
        os.write(fd, b"metal, machinery\r")
        while b"Press Enter to finish" not in _read_until(fd, b"> ", seen):
            os.write(fd, b"\r")  # every other question: unknown
        os.write(fd, b"\r")

    status, shown = _drive(["interview", "--resume", str(answers), "-o", str(memo)], second)
    assert status == 0, shown
    assert "Traceback" not in shown and f"Memo written to {memo}." in shown
    text = memo.read_text(encoding="utf-8")
    assert text.startswith("# Cluster policy advice: Ota ward")
    assert text == assess_text(answers.read_text(encoding="utf-8"), str(answers), "md")
    saved = yaml.safe_load(answers.read_text(encoding="utf-8"))
    assert saved["industries"] == ["metal", "machinery"] and saved["district_type"] == ["city_type"] and saved["area"] == UNKNOWN


# ---------------------------------------------------------------- issue 7: the questionnaire never loses work

HAND_WRITTEN = "# my notes\nname: Sakaki\nsme_count: 120  # counted by hand\n"


def test_save_refuses_an_existing_file_and_asks_nothing(tmp_path: Path) -> None:
    existing = tmp_path / "sakaki.yaml"
    existing.write_text(HAND_WRITTEN, encoding="utf-8")
    script = Script({"name": "Other"})
    with pytest.raises(OutputError) as raised:
        run_interview(script.ask, script.say, save=str(existing))
    assert str(raised.value) == (
        f"{existing}: already exists, and the interview would replace it. To continue it: clusteradvisor interview "
        f"--resume {existing}; to replace it, add --force; or give --save a new name."
    )
    assert script.prompts == [] and existing.read_text(encoding="utf-8") == HAND_WRITTEN


def test_save_over_another_file_than_the_resumed_one_is_refused_too(tmp_path: Path) -> None:
    existing, other = tmp_path / "sakaki.yaml", tmp_path / "other.yaml"
    existing.write_text(HAND_WRITTEN, encoding="utf-8")
    other.write_text("name: Other\n", encoding="utf-8")
    with pytest.raises(OutputError, match="already exists"):
        run_interview(Script({}).ask, lambda text: None, resume=str(other), save=str(existing))
    assert existing.read_text(encoding="utf-8") == HAND_WRITTEN


def test_save_may_replace_the_resumed_file_or_any_file_with_force(tmp_path: Path) -> None:
    existing = tmp_path / "sakaki.yaml"
    existing.write_text(HAND_WRITTEN, encoding="utf-8")
    run_interview(Script({"country": "Japan"}).ask, lambda text: None, resume=str(existing), save=str(existing))
    assert load_answers(str(existing), load_vocabulary())["country"] == "Japan"
    run_interview(Script({"name": "Replaced"}).ask, lambda text: None, save=str(existing), force=True)
    assert load_answers(str(existing), load_vocabulary())["name"] == "Replaced"


def test_the_command_refuses_an_existing_save_file(cli: Callable[..., Result], tmp_path: Path) -> None:
    existing = tmp_path / "sakaki.yaml"
    existing.write_text(HAND_WRITTEN, encoding="utf-8")
    result = cli("interview", "--save", str(existing), input="Other\n" + "\n" * 60)
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.startswith(f"Error: {existing}: already exists") and "--force" in result.stderr
    assert existing.read_text(encoding="utf-8") == HAND_WRITTEN
    result = cli("interview", "--force", input="\n")
    assert result.exit_code == 2 and "--force only lets --save replace an existing file" in result.stderr


def test_a_file_created_while_answering_is_not_replaced(tmp_path: Path) -> None:
    target = tmp_path / "answers.yaml"
    script = Script({"name": "Ota ward"})

    def ask(prompt: Prompt) -> str:
        if prompt.path == "name" and not target.exists():
            target.write_text(HAND_WRITTEN, encoding="utf-8")  # another program, between the start and the first save
        return script.ask(prompt)

    run_interview(ask, script.say, save=str(target))
    assert target.read_text(encoding="utf-8") == HAND_WRITTEN
    moved = tmp_path / "answers-2.yaml"
    assert f"Note: {target} was created by another program meanwhile; saving to {moved} instead." in script.said
    assert load_answers(str(moved), load_vocabulary())["name"] == "Ota ward"
    assert f"Answers saved to {moved}." in script.text


def _console(args: list[str], stdin: bytes, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    program = Path(sys.executable).with_name("clusteradvisor")
    return subprocess.run([str(program), *args], input=stdin, cwd=cwd, capture_output=True, timeout=60, check=False)


def test_without_save_the_console_script_keeps_answers_in_a_new_default_file(tmp_path: Path) -> None:
    runs = [_console(["interview"], b"\nTestville\nJapan\n", tmp_path) for _ in range(2)]
    for run, name in zip(runs, ["clusteradvisor-answers.yaml", "clusteradvisor-answers-2.yaml"], strict=True):
        stderr = run.stderr.decode()
        assert run.returncode == 1 and run.stdout == b"" and "Traceback" not in stderr
        intro = stderr.split("== Region and respondent")[0]  # said before the first question
        assert f"Your answers are saved to {name} as you go (--save FILE chooses the file, --no-save keeps none)." in intro
        assert stderr.endswith(f"the answers so far are saved in {name}.\n")
        assert load_answers(str(tmp_path / name), load_vocabulary()) == {"respondent.role": UNKNOWN, "name": "Testville", "country": "Japan"}
    result = _console(["interview", "--no-save"], b"\nTestville\n", tmp_path)
    assert "Your answers are not saved (--no-save)" in result.stderr.decode()
    assert result.stderr.decode().endswith("nothing was saved.\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clusteradvisor-answers-2.yaml", "clusteradvisor-answers.yaml"]


def test_a_finished_interview_without_save_leaves_a_region_file_assess_reads(
    cli: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli("interview", "--format", "json", input="\nTestville\n" + "\n" * 100)
    assert result.exit_code == 0, result.stderr
    assert "Answers saved to clusteradvisor-answers.yaml." in result.stderr
    text = (tmp_path / "clusteradvisor-answers.yaml").read_text(encoding="utf-8")
    assert result.stdout == assess_text(text, "clusteradvisor-answers.yaml", "json")


@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        ("Ota\udcffward", "not valid text: the terminal sent bytes that are not UTF-8"),
        ("Ota\x85ward", "(U+0085 NEXT LINE)"),
        ("Ota\u2028ward", "(U+2028 LINE SEPARATOR)"),
        ("\u202eawo", "(U+202E RIGHT-TO-LEFT OVERRIDE)"),
        ("Ota\x1b[2K", "(U+001B ESCAPE, sent by arrow and function keys)"),
        ("Ota\x7f", "(U+007F DELETE)"),
        ("Ota\x9b", "(U+009B)"),
        ("Ota\tward", "(U+0009 TAB)"),
        ("Ota\u200bward", "(U+200B ZERO WIDTH SPACE)"),
        ("Ota\ufffe", "(U+FFFE)"),
    ],
)
def test_control_and_undecodable_input_is_refused_and_asked_again(typed: str, shown: str) -> None:
    script = Script({"name": "X", "country": [typed, "Japan"], "sme_count": [typed, "12"]}, review=[typed, "done"])
    answers = interview(script)
    assert answers["country"] == "Japan" and answers["sme_count"] == 12
    assert [p.again for p in script.prompts if p.path == "country"] == ["", "invalid"]
    refusals = [s for s in script.said if s.startswith("That answer ")]
    assert len(refusals) == 3 and all(shown in s.replace("\n", " ") for s in refusals)
    assert [p.kind for p in script.prompts[-2:]] == ["review", "review"]


def test_the_console_script_refuses_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    result = _console(["interview", "--save", "a.yaml"], b"\nOta\xffward\nOta ward\nJa\xc2\x85pan\nJapan\n", tmp_path)
    stderr = result.stderr.decode()
    assert result.returncode == 1 and "Traceback" not in stderr
    assert "That answer is not valid text" in stderr and "(U+0085 NEXT LINE)" in stderr.replace("\n", " ")
    assert load_answers(str(tmp_path / "a.yaml"), load_vocabulary()) == {"respondent.role": UNKNOWN, "name": "Ota ward", "country": "Japan"}


def test_a_save_that_would_not_read_back_the_same_is_not_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import clusteradvisor.interview as module

    real = module.region_text
    monkeypatch.setattr(module, "region_text", lambda answers, vocabulary: real(answers, vocabulary).replace("Japan", "Japon"))
    target = tmp_path / "a.yaml"
    hand_written = HAND_WRITTEN + "respondent: {role: official}\n"  # so that the country is the first question
    target.write_text(hand_written, encoding="utf-8")
    script = Script({"country": "Japan"})
    with pytest.raises(OutputError, match=r"a\.yaml: the answers do not read back the same \(country\); nothing was written\."):
        run_interview(script.ask, script.say, resume=str(target))
    assert target.read_text(encoding="utf-8") == hand_written
    assert any(s.startswith(f"Warning: {target}: the answers do not read back") for s in script.said)


# Text a user can type that YAML or the region reader might take for something else.
ODD_TEXT = [
    "yes", "No", "null", "~", "true", "0x10", "0750", "1:30:00", "1e3", ".inf", "- a", "a: b", "#3", "a #b", "'", '"',
    "[1]", "{a: 1}", "|", ">", "---", "...", "&a", "*a", "!tag", "%YAML", "@x", "`x`", "?x", "a\\nb", "\\", "ü",
    "大田区", "Ōta", "Ota\u00a0ward", "Ota\u3000ward", "\U0001f3ed", "e\u0301", "\ue000", "x" * 200,
]
_TYPABLE = st.text(
    st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Zl", "Zp")), min_size=1, max_size=40
)


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    texts=st.lists(st.one_of(st.sampled_from(ODD_TEXT), _TYPABLE), min_size=3, max_size=3),
    count=st.integers(min_value=0, max_value=load_vocabulary().fields["sme_count"].maximum or 10**15 - 1),
)
def test_every_save_reads_back_to_the_same_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, texts: list[str], count: int
) -> None:
    assume(all(input_problem(t) is None and t.strip() and t.strip().lower() not in KEYWORDS for t in texts))
    monkeypatch.setattr(os, "fsync", lambda fd: None)  # durability is not under test; a busy disk made this slow
    target = tmp_path / "odd.yaml"
    target.unlink(missing_ok=True)
    saves: list[dict[str, Any]] = []
    script = Script({"name": texts[0], "country": texts[1], "area": texts[2], "sme_count": str(count)})

    def ask(prompt: Prompt) -> str:
        if target.exists():  # what the previous save left on disk, as assess would read it
            saves.append(load_answers(str(target), load_vocabulary()))
        if prompt.path == "hollowing_out":  # the odd answers are given: stop, which saves once more
            raise EOFError
        return script.ask(prompt)

    with pytest.raises(InterviewAborted, match="the answers so far are saved"):
        run_interview(ask, script.say, save=str(target))
    assert not [s for s in script.said if s.startswith("Warning")]
    final = load_answers(str(target), load_vocabulary())
    assert {p: final[p] for p in ("name", "country", "area", "sme_count")} == {
        "name": texts[0].strip(), "country": texts[1].strip(), "area": texts[2].strip(), "sme_count": count,
    }
    assert saves and all(s.items() <= final.items() for s in saves)


@pytest.mark.parametrize(
    ("path", "reply"),
    [
        ("sme_count", "9" * 5000),
        ("sme_count", "x" * 5000),
        ("network.spatial_collaboration", "x" * 5000),
        ("district_type", "x" * 5000),
        ("district_type", "9" * 5000),
        ("leadership.key_persons", "x" * 5000),
        ("industries", "3" * 5000),
    ],
)
def test_a_long_wrong_answer_is_echoed_cut(path: str, reply: str) -> None:
    message = getattr(parse_answer(load_vocabulary().fields[path], reply), "message", "")
    echoed = message.split('"')[1]
    assert echoed == reply[:57] + "..." and len(message) < 250


@pytest.mark.parametrize("letter", ["z", "9"])
def test_a_long_wrong_reply_at_the_review_is_echoed_cut(letter: str) -> None:
    script = Script({"name": "X"}, review=[letter * 5000, "done"])
    interview(script)
    refusal = next(s for s in script.said if "is not a number from 1 to" in s.replace("\n", " "))
    assert '"' + letter * 57 + '..." is not a number' in refusal.replace("\n", " ") and len(refusal) < 300


# ---------------------------------------------------------------- issue 10 item 6: the questionnaire as a new user finds it


@pytest.mark.parametrize(
    ("path", "reply", "value"),
    [
        ("district_type", "traditional", ["traditional_industry"]),
        ("district_type", "Tech", ["technology_oriented"]),
        ("district_type", "city", ["city_type"]),
        ("hollowing_out", "sev", "severe"),
        ("respondent.role", "official", "official"),
        ("uig.official_channel", "none", "none"),  # an exact label wins over labels it starts
        ("leadership.key_persons", "entre, univ", ["entrepreneur", "university_researcher"]),
        ("leadership.key_persons", "skill", ["skill_coordinator"]),
    ],
)
def test_an_unambiguous_start_of_a_label_is_an_answer(path: str, reply: str, value: Any) -> None:
    assert parse_answer(load_vocabulary().fields[path], reply) == value


@pytest.mark.parametrize(
    ("path", "reply", "message"),
    [
        ("district_type", "c", '"c" could be "company castle town" or "city-type district". Type more of it, or the number.'),
        ("policy.national_plans", "1, n", '"n" could be "{industrial}" or "{intellectual}"'.format(**NATIONAL_PLANS)),
        ("district_type", "²", '"²" is not one of the options.'),  # a digit that is no number
        ("district_type", "castle", '"castle" is not one of the options.'),  # only the start of a label counts
    ],
)
def test_an_ambiguous_or_unknown_start_says_what_it_could_be(path: str, reply: str, message: str) -> None:
    assert message in getattr(parse_answer(load_vocabulary().fields[path], reply), "message", "")


def test_help_shows_the_options_again() -> None:
    script = Script({"name": "X", "network.form": "1", DEPENDENCY: ["?", "1"]})
    interview(script)
    again = [p for p in script.prompts if p.path == DEPENDENCY][1].render()
    assert "   1. high (over half) - " in again and "   3. low (under a quarter) - " in again and "Type a number from 1 to 4" in again
    assert "Networks between firms, question" not in again  # the progress line was shown before the help


def test_multiple_choice_examples_use_numbers_that_exist() -> None:
    fields = [f for f in load_vocabulary().file_fields if f.type == "choices"]
    for f in fields:
        hint = Interview(Script({}).ask, lambda text: None).prompt(f.path, "").hint
        invalid = getattr(parse_answer(f, "9"), "message", "")
        for text in (hint, invalid):
            example = text.split("like " if text is hint else "for example ")[1].split(")")[0]
            assert [int(n) for n in example.split(",")] and all(1 <= int(n) <= len(f.choices) for n in example.split(","))


def test_progress_counts_the_answered_questions_of_the_section_on_resume(tmp_path: Path) -> None:
    target = tmp_path / "answers.yaml"
    with pytest.raises(InterviewAborted):
        run_interview(answer_then(KeyboardInterrupt, "area"), lambda text: None, save=str(target))
    script = Script({})
    run_interview(script.ask, script.say, resume=str(target))
    assert script.prompts[0].path == "area" and script.prompts[0].progress == "Region and respondent, question 4 of 5"


class Terminal(Script):
    """A scripted user that also keeps the transcript the terminal would show (as cli.py prints it)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lines: list[str] = []

    def ask(self, prompt: Prompt) -> str:
        reply = super().ask(prompt)
        text = prompt.render()
        self.lines += ["", *text.splitlines()] if text else []
        self.lines.append(f"> {reply}")
        return reply

    def say(self, text: str) -> None:
        super().say(text)
        self.lines += text.splitlines() or [""]

    def review_screens(self) -> list[list[str]]:
        """Each review page as shown: from its heading to the input line below it."""
        starts = [i - 1 for i, line in enumerate(self.lines) if line.startswith("== Review your answers")]
        return [self.lines[i : next(j for j in range(i, len(self.lines)) if self.lines[j].startswith("> ")) + 1] for i in starts]


def test_the_review_fits_a_24_line_terminal_page_by_page() -> None:
    long_text = "a very long name " * 11  # 187 characters: wider than the terminal
    replies = {**CITY_TYPE, "name": long_text, "country": long_text, "area": long_text, "network.form": "2"}
    script = Terminal(replies, review=[""] * 5)
    answers = interview(script)
    screens = script.review_screens()
    assert len(screens) == 5 and [p.kind for p in script.prompts[-5:]] == ["review"] * 5
    for screen in screens:
        assert len(screen) <= 24 and max(map(len, screen)) <= 80, "\n".join(screen)
    numbers = [int(line.split(".")[0]) for s in screens for line in s if line[:5].strip().rstrip(".").isdigit()]
    assert numbers == list(range(1, len(answers) + 1))
    assert "Not asked, because your other answers already settle" in "\n".join(screens[-1])


def test_enter_always_goes_on_and_every_screen_says_what_it_does() -> None:
    script = Script({"name": "X", "country": "", "area": ["Tokyo", ""]}, review=["", "back", "", "", "", "", ""])
    memo = run_interview(script.ask, script.say, fmt="json")
    facts = json.loads(memo)["region"]["facts"]
    assert facts["name"] == "X" and facts["area"] == "Tokyo" and "country" not in facts
    for prompt in script.prompts:
        if prompt.kind == "question" and prompt.path != "name":
            assert "Enter = don't know" in prompt.hint or "Enter = keep it" in prompt.hint
    reviews = [p.hint for p in script.prompts if p.kind == "review"]
    # Page 1, page 2, back to page 1, then pages 2 to 5, where Enter finishes.
    assert [h.endswith("Press Enter for the next page.") for h in reviews] == [True] * 6 + [False]
    assert reviews[-1].endswith("Press Enter to finish and get the memo.") and "back = previous page" in reviews[1]
    assert "Enter always goes on without changing anything" in script.text


# ---------------------------------------------------------------- issue 10: a questionnaire per role


def test_a_role_is_asked_only_its_questions_in_its_wording() -> None:
    vocabulary = load_vocabulary()
    script = Script({"name": "Higashi Osaka"})
    answers = Interview(script.ask, script.say, role="firm").run()
    assert answers["respondent.role"] == "firm"
    assert "respondent.role" not in script.asked
    for prompt in (p for p in script.prompts if p.kind == "question"):
        f = vocabulary.fields[str(prompt.path)]
        assert "firm" in f.asked, f.path
        assert prompt.question == f.question_for("firm")
    assert "policy.national_plans" not in script.asked  # a firm owner is not asked about plan documents
    visits = next(p for p in script.prompts if p.path == "policy.officials_visit_firms")
    assert visits.question == vocabulary.fields["policy.officials_visit_firms"].question_firm


def test_without_a_role_the_role_comes_first_and_decides_the_rest() -> None:
    script = Script({"respondent.role": "2", "name": "Higashi Osaka"})
    answers = interview(script)
    assert script.asked[0] == "respondent.role"
    assert answers["respondent.role"] == "firm"
    assert "policy.national_plans" not in script.asked and "country" not in script.asked


def test_the_start_says_how_many_questions_and_how_long() -> None:
    firm, anyone = Script({"name": "X"}), Script({"name": "X"})
    Interview(firm.ask, firm.say, role="firm").intro(None, None)
    Interview(anyone.ask, anyone.say).intro(None, None)
    vocabulary = load_vocabulary()
    for_firms = sum(1 for f in vocabulary.file_fields if "firm" in f.asked)
    everyone = sum(1 for f in vocabulary.file_fields if f.asked)
    assert f"firm owner or manager: up to {for_firms} questions" in firm.said[0] and "minutes" in firm.said[0]
    assert f"up to {everyone} questions" in anyone.said[0] and f"at most {for_firms}" in anyone.said[0]
    assert for_firms < everyone


def test_end_to_end_a_firm_on_a_terminal_then_a_panel_of_the_saved_files(tmp_path: Path, cli: Callable[..., Result]) -> None:
    firm_file = tmp_path / "firm.yaml"

    def firm(fd: int, seen: bytearray) -> None:
        text = _read_until(fd, b"> ", seen)
        assert b"for a firm owner or manager: up to" in text
        os.write(fd, b"Higashi Osaka\r")
        while True:
            text = _read_until(fd, b"> ", seen)
            if b"Press Enter to finish" in text:
                break
            if b"come to see you at your firm" in text.replace(b"\r\n", b" "):
                os.write(fd, b"no\r")  # the firm's wording of the visits question
            else:
                os.write(fd, b"\r")
        os.write(fd, b"\r")

    status, shown = _drive(["interview", "--role", "firm", "--save", str(firm_file), "-o", str(tmp_path / "memo.md")], firm)
    assert status == 0, shown
    assert "Traceback" not in shown
    saved = yaml.safe_load(firm_file.read_text(encoding="utf-8"))
    assert saved["respondent"]["role"] == "firm"
    assert saved["policy"]["officials_visit_firms"] is False
    official = tmp_path / "official.yaml"
    official.write_text("schema_version: 2\nname: Higashi Osaka\nrespondent: {role: official}\npolicy: {officials_visit_firms: true}\n", encoding="utf-8")
    result = cli("assess", "--panel", str(tmp_path / "firm.yaml"), str(official), "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["panel"]["respondents"] == {"official": 1, "firm": 1}
    assert [g["field"] for g in data["perception_gaps"]] == ["policy.officials_visit_firms"]
    assert data["recommendations"][0]["id"] == "listen-to-firms-first"


def test_industry_synonyms_are_noted_as_the_rules_read_them_and_save_cleanly(tmp_path: Path) -> None:
    saved = tmp_path / "answers.yaml"
    script = Script({"name": "Higashi Osaka", "industries": "metal, moulds, machining"})
    run_interview(script.ask, script.say, save=str(saved))
    assert "Noted: metal, machinery" in "\n".join(script.said)
    assert "do not read back the same" not in "\n".join(script.said)
    (region,) = load_regions(saved.read_text(encoding="utf-8"), str(saved))
    assert region.facts["industries"] == ["metal", "machinery"]
