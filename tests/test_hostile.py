"""Hostile region files through the real command, in a subprocess with a memory cap and a timeout.

Each test is one item of issue 7 (1, 2, 3, 14, 17, 18): the command must exit with status 1 and print
exactly the expected `Error: FILE:LINE: ...` lines, never a traceback, within bounded time and memory.
The limits below are the documented ones (README, "Limits"); they are spelled out here on purpose.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

MEMORY_CAP = 1 << 30  # 1 GiB of address space: a run that reads /dev/zero whole dies well before
TIMEOUT = 20.0  # seconds: a hang shows up as a failure, not as a stuck test run
BOUND = 10.0  # seconds any single refusal may take on a loaded 2-core machine
MAX_FILE_BYTES = 5_000_000
MAX_REGIONS = 10_000

# Anything a terminal would act on or hide: no message may carry one (newlines end messages).
TERMINAL_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")

ANCHORS = "anchors (&name) and aliases (*name) are not used in region files; write each value out in full."
TAG = "is not used in region files; remove it (write numbers as plain digits, text in quotes if needed)."
NOT_REGULAR = "not a regular file; give a region file (.yaml)."
TEXT = "contains a line break or control character; use one line."


@dataclass(frozen=True)
class Run:
    """What one command printed, how it ended and how long it took."""

    args: tuple[str, ...]
    status: int
    stdout: str
    stderr: str
    seconds: float


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def run(cwd: Path, *args: str, stdin: str | None = None) -> Run:
    """Run `python -m clusteradvisor ARGS` in `cwd` under the memory cap; fail the test if it hangs."""
    start = time.monotonic()
    with open(stdin or os.devnull, "rb") as source:
        try:
            done = subprocess.run(
                [sys.executable, "-m", "clusteradvisor", *args],
                cwd=cwd, stdin=source, capture_output=True, timeout=TIMEOUT, preexec_fn=_cap_memory,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"clusteradvisor {' '.join(args)} still running after {TIMEOUT:.0f} s")
    return Run(
        tuple(args), done.returncode, done.stdout.decode("utf-8", "replace"),
        done.stderr.decode("utf-8", "replace"), time.monotonic() - start,
    )


def run_all(cwd: Path, commands: Sequence[Sequence[str]]) -> list[Run]:
    """Run several commands side by side (each in its own process) and return their runs in order."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda args: run(cwd, *args), commands))


def assert_refused(result: Run, *expected: str) -> None:
    """Exit status 1, nothing on stdout, exactly the expected error lines, fast, and nothing raw."""
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert result.stderr.splitlines() == [f"Error: {line}" for line in expected], result.args
    assert result.status == 1
    assert result.stdout == ""
    assert not TERMINAL_CONTROL.search(result.stderr)
    assert result.seconds < BOUND, f"{result.args}: {result.seconds:.1f} s"


def write_corpus(folder: Path, corpus: dict[str, str]) -> None:
    for name, text in corpus.items():
        (folder / name).write_text(text, encoding="utf-8")


def check_corpus(folder: Path, corpus: dict[str, str], expected: dict[str, list[str]]) -> None:
    write_corpus(folder, corpus)
    names = sorted(corpus)
    for name, result in zip(names, run_all(folder, [["assess", name] for name in names]), strict=True):
        assert_refused(result, *expected[name])


# --- item 1: malformed scalars were Python exceptions (tracebacks) instead of errors with a line ---

BAD_SCALARS = {
    "date.yaml": ("name: Ota\narea: 2001-02-30\n", ['date.yaml:2: area: 2001-02-30 would be read as a date, which no field takes; put it in quotes if it is text ("2001-02-30").']),
    "int-abc.yaml": ("name: Ota\nsme_count: !!int abc\n", [f"int-abc.yaml:2: sme_count: the tag !!int {TAG}"]),
    "int-empty.yaml": ('name: Ota\nsme_count: !!int ""\n', [f"int-empty.yaml:2: sme_count: the tag !!int {TAG}"]),
    "float-abc.yaml": ("name: Ota\nsme_count: !!float abc\n", [f"float-abc.yaml:2: sme_count: the tag !!float {TAG}"]),
    "bool-maybe.yaml": ("name: Ota\npolicy:\n  officials_visit_firms: !!bool maybe\n", [f"bool-maybe.yaml:3: policy.officials_visit_firms: the tag !!bool {TAG}"]),
    "timestamp.yaml": ("name: Ota\narea: !!timestamp x\n", [f"timestamp.yaml:2: area: the tag !!timestamp {TAG}"]),
    "set-scalar.yaml": ("name: Ota\ncountry: !!set x\n", [f"set-scalar.yaml:2: country: the tag !!set {TAG}"]),
    "set-list.yaml": ("name: !!set [a]\n", [f"set-list.yaml:1: name: the tag !!set {TAG}"]),
    "set-duplicate.yaml": ("name: Ota\nname: !!set x\n", ["set-duplicate.yaml:2: name: appears twice in one mapping (first on line 1); keep one."]),
    "binary.yaml": ("name: !!binary aGVsbG8=\n", [f"binary.yaml:1: name: the tag !!binary {TAG}"]),
    "python.yaml": ("name: !!python/object/apply:os.system [echo hi]\n", [f"python.yaml:1: name: the tag !!python/object/apply:os.system {TAG}"]),
    "huge-int.yaml": (
        "name: Ota\nsme_count: " + "7" * 5001 + "\n",
        ["huge-int.yaml:2: sme_count: 777777777777777777777777777777777777777777777777777777777... has 5,001 digits; a whole number in a region file has at most 18."],
    ),
}


def test_malformed_scalars_are_errors_with_their_line(tmp_path: Path) -> None:
    check_corpus(tmp_path, {k: v[0] for k, v in BAD_SCALARS.items()}, {k: v[1] for k, v in BAD_SCALARS.items()})


def test_one_bad_file_does_not_stop_a_batch(tmp_path: Path) -> None:
    regions = tmp_path / "regions"
    regions.mkdir()
    write_corpus(regions, {k: v[0] for k, v in BAD_SCALARS.items()})
    (regions / "zz-good.yaml").write_text("name: Good town\n", encoding="utf-8")
    (regions / "zero.yaml").symlink_to("/dev/zero")
    os.mkfifo(regions / "pipe.yaml")
    result = run(tmp_path, "batch", "regions", "--out", "memos")
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert result.status == 1
    assert result.seconds < BOUND
    assert (tmp_path / "memos" / "good-town.md").is_file()
    errors = result.stderr.splitlines()
    for name, (_, messages) in BAD_SCALARS.items():
        assert f"Error: regions/{messages[0]}" in errors, name
    assert f"Error: regions/zero.yaml: is a character device, {NOT_REGULAR}" in errors
    assert f"Error: regions/pipe.yaml: is a named pipe (FIFO), {NOT_REGULAR}" in errors


# --- item 2: anchors and aliases (billion laughs, recursion) and deep nesting ---


def billion_laughs(levels: int = 9) -> str:
    lines = ["name: laughs", 'l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, levels):
        lines.append(f"l{level}: &l{level} [{','.join([f'*l{level - 1}'] * 10)}]")
    return "\n".join(lines) + "\n"


def test_anchors_aliases_and_deep_nesting_are_refused_before_any_walk(tmp_path: Path) -> None:
    deep = "[" * 30 + "]" * 30
    corpus = {
        "laughs.yaml": billion_laughs(),
        "recursive.yaml": "name: Ota\nindustries: &a [*a]\n",
        "alias-only.yaml": "name: Ota\ncountry: *nowhere\n",
        "deep.yaml": f"name: Ota\nindustries: {deep}\n",
        "deep-block.yaml": "name: Ota\nnetwork:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 25)) + "  " * 25 + "x: 1\n",
    }
    expected = {
        "laughs.yaml": [f"laughs.yaml:2: l0: uses the anchor &l0; {ANCHORS}"],
        "recursive.yaml": [f"recursive.yaml:2: industries: uses the anchor &a; {ANCHORS}"],
        "alias-only.yaml": [f"alias-only.yaml:2: country: uses the alias *nowhere; {ANCHORS}"],
        "deep.yaml": [f"deep.yaml:2: industries{'[0]' * 19}: is nested more than 20 levels deep; a region file needs 3 at most."],
        "deep-block.yaml": [
            f"deep-block.yaml:22: network.{'.'.join(f'k{i}' for i in range(1, 20))}: is nested more than 20 levels deep; a region file needs 3 at most."
        ],
    }
    check_corpus(tmp_path, corpus, expected)
    # Near libyaml's own nesting cap: one error with the line, whichever of the two limits speaks.
    (tmp_path / "abyss.yaml").write_text("name: Ota\nindustries: " + "[" * 1000 + "]" * 1000 + "\n", encoding="utf-8")
    result = run(tmp_path, "assess", "abyss.yaml")
    assert "Traceback" not in result.stderr and result.status == 1
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("Error: abyss.yaml:2: ")


# --- item 3: size and kind of file, before parsing ---


def test_non_regular_and_oversized_inputs_are_refused_at_once(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.yaml")
    (tmp_path / "zero.yaml").symlink_to("/dev/zero")
    big = "name: Ota\nindustries:\n" + "- metal\n" * 1_000_000
    (tmp_path / "big.yaml").write_text(big, encoding="utf-8")
    long_list = "name: Ota\nindustries:\n" + "- metal\n" * 400_000  # 3.2 MB: under the size limit
    (tmp_path / "long-list.yaml").write_text(long_list, encoding="utf-8")
    (tmp_path / "many.yaml").write_text("name: Ota\n---\n" * (MAX_REGIONS + 5), encoding="utf-8")
    results = run_all(tmp_path, [
        ["assess", "/dev/zero"], ["assess", "zero.yaml"], ["assess", "pipe.yaml"], ["assess", "big.yaml"],
        ["assess", "long-list.yaml"], ["assess", "many.yaml"],
    ])
    assert_refused(results[0], f"/dev/zero: is a character device, {NOT_REGULAR}")
    assert_refused(results[1], f"zero.yaml: is a character device, {NOT_REGULAR}")
    assert_refused(results[2], f"pipe.yaml: is a named pipe (FIFO), {NOT_REGULAR}")
    assert_refused(results[3], f"big.yaml: is {len(big):,} bytes; a region file may hold at most 5,000,000 (5 MB). Split it into several files.")
    assert_refused(results[4], "long-list.yaml:1003: industries: holds more than 1,000 items; no field takes that many.")
    assert_refused(results[5], "many.yaml:20000: holds more than 10,000 regions; a file may hold at most 10,000. Split it into several files.")


def test_stdin_is_read_up_to_the_size_limit_only(tmp_path: Path) -> None:
    over = tmp_path / "over.yaml"
    over.write_text("name: Ota\n# " + "x" * MAX_FILE_BYTES + "\n", encoding="utf-8")
    for source in ("/dev/zero", str(over)):
        result = run(tmp_path, "assess", "-", stdin=source)
        assert_refused(result, "<stdin>: holds more than 5,000,000 bytes; a region file may hold at most 5,000,000 (5 MB). Split it into several files.")


# --- item 14: terminal escapes from keys, values and file names ---


def test_control_and_bidi_characters_are_escaped_in_messages_and_refused_in_text(tmp_path: Path) -> None:
    corpus = {
        "key.yaml": 'name: Ota\n"\\e]0;pwned\\a\\e[2K\\rok: memo written\\0": 1\n',
        "nested.yaml": 'name: Ota\nnetwork:\n  "\\e[32mform": fragmented\n',
        "del.yaml": 'name: "Ota\\x7fward"\n',
        "c1.yaml": 'name: Ota\ncountry: "Ja\\x9bpan"\n',
        "bidi.yaml": 'name: "Ota\\u202eward"\n',
        "separator.yaml": 'name: Ota\narea: "Tokyo\\u2028Error: fake"\n',
        "isolate.yaml": 'name: "Ota\\u2067ward"\n',
        "raw-bidi.yaml": "name: Ota\n# a comment \u202e that reads backwards\n",
        "choice.yaml": 'name: Ota\nnetwork:\n  form: "\\e[2Kfragmented"\n',
        "nonchar.yaml": 'name: "Ota\\uFFFF ward"\n',
    }
    allowed = "Allowed: schema_version, name, country, area, district_type, industries, development_level, sme_count, hollowing_out, premises_pressure, respondent, governance, network, leadership, uig, policy, smes."
    expected = {
        "key.yaml": [f"key.yaml:2: \\x1b]0;pwned\\x07\\x1b[2K\\x0dok: memo written\\x00: is not a known field. {allowed}"],
        "nested.yaml": [(
            'nested.yaml:3: network.\\x1b[32mform: is not a known field. Did you mean "form"? Allowed under network: form, '
            "former_pyramid, single_client_dependency, spatial_collaboration, skill_coordinators, product_development_groups, "
            "product_groups_origin, subcontractor_associations."
        )],
        "del.yaml": [f'del.yaml:1: name: "Ota\\x7fward" {TEXT}'],
        "c1.yaml": [f'c1.yaml:2: country: "Ja\\x9bpan" {TEXT}'],
        "bidi.yaml": [f'bidi.yaml:1: name: "Ota\\u202eward" {TEXT}'],
        "separator.yaml": [f'separator.yaml:2: area: "Tokyo\\u2028Error: fake" {TEXT}'],
        "isolate.yaml": [f'isolate.yaml:1: name: "Ota\\u2067ward" {TEXT}'],
        "raw-bidi.yaml": ["raw-bidi.yaml:2: holds the invisible control character \\u202e (column 13), which a region file cannot contain. Remove it."],
        "choice.yaml": [
            'choice.yaml:3: network.form: "\\u001b[2Kfragmented" is not one of one_to_many, rigid_many_to_many, flexible_many_to_many, fragmented (or unknown). Did you mean "fragmented"?'
        ],
        "nonchar.yaml": [f'nonchar.yaml:1: name: "Ota\\uffff ward" {TEXT}'],  # a noncharacter: never shown raw
    }
    check_corpus(tmp_path, corpus, expected)


def test_file_names_are_escaped(tmp_path: Path) -> None:
    evil = "\x1b[2K\rok \u202e.yaml"
    (tmp_path / evil).write_text("name: Ota\nsme_count: lots\n", encoding="utf-8")
    undecodable = os.fsdecode(b"caf\xe9.yaml")
    (tmp_path / undecodable).write_text("name: Ota\nsme_count: lots\n", encoding="utf-8")
    message = 'sme_count: "lots" is text, expected a whole number. Write digits without quotes or separators, e.g. 6000.'
    first, second = run_all(tmp_path, [["assess", evil], ["assess", undecodable]])
    assert_refused(first, f"\\x1b[2K\\x0dok \\u202e.yaml:2: {message}")
    assert_refused(second, f"caf\\xe9.yaml:2: {message}")


# --- item 17: YAML 1.1 number forms, a plausible maximum, dotted keys ---


def test_yaml_11_number_forms_and_dotted_keys_are_refused_with_the_reason(tmp_path: Path) -> None:
    corpus = {
        "octal.yaml": "name: Ota\nsme_count: 0750\n",
        "base60.yaml": "name: Ota\nsme_count: 1:30:00\n",
        "hex.yaml": "name: Ota\nsme_count: 0x10\n",
        "binary.yaml": "name: Ota\nsme_count: 0b11\n",
        "separator.yaml": "name: Ota\nsme_count: 6_000\n",
        "googol.yaml": "name: Ota\nsme_count: 1" + "0" * 100 + "\n",
        "too-many.yaml": "name: Ota\nsme_count: 10000001\n",
        "infinity.yaml": "name: Ota\nsme_count: .inf\n",
        "leading-zero.yaml": "name: Ota\nsme_count: 09\n",
        "dotted.yaml": "name: Ota\nnetwork.form: fragmented\n",
        "dotted-both.yaml": "name: Ota\nnetwork.form: fragmented\nnetwork:\n  form: one_to_many\n",
    }
    expected = {
        "octal.yaml": ['octal.yaml:2: sme_count: 0750 would be read by YAML 1.1 as the octal number 488 (a leading 0 means octal); write 750, or "0750" in quotes if it is text.'],
        "base60.yaml": ['base60.yaml:2: sme_count: 1:30:00 would be read by YAML 1.1 as the base-60 number 5400; put it in quotes if it is text ("1:30:00").'],
        "hex.yaml": ["hex.yaml:2: sme_count: 0x10 would be read by YAML 1.1 as the hexadecimal number 16; write it in decimal digits."],
        "binary.yaml": ["binary.yaml:2: sme_count: 0b11 would be read by YAML 1.1 as the binary number 3; write it in decimal digits."],
        "separator.yaml": ["separator.yaml:2: sme_count: 6_000: YAML 1.1 reads _ in a number as a separator; write the digits alone (or put it in quotes if it is text)."],
        "googol.yaml": ["googol.yaml:2: sme_count: 100000000000000000000000000000000000000000000000000000000... has 101 digits; a whole number in a region file has at most 18."],
        "too-many.yaml": ["too-many.yaml:2: sme_count: 10000001 is out of range; allowed: whole numbers from 0 to 10000000."],
        "infinity.yaml": ['infinity.yaml:2: sme_count: .inf is a special YAML 1.1 number that no field takes; put it in quotes if it is text (".inf").'],
        "leading-zero.yaml": ['leading-zero.yaml:2: sme_count: "09" is text, expected a whole number. Write digits without quotes or separators, e.g. 6000.'],
        "dotted.yaml": ['dotted.yaml:2: network.form: a key cannot contain a dot; write "network:" and, indented on the next line, "form: ...".'],
        "dotted-both.yaml": ['dotted-both.yaml:2: network.form: is given twice: as the dotted key "network.form" on line 2 and nested on line 4; keep the nested one.'],
    }
    check_corpus(tmp_path, corpus, expected)


# --- item 18: every message keeps its line ---


def test_every_message_keeps_its_line(tmp_path: Path) -> None:
    corpus = {
        "control.yaml": "name: Ota\ncountry: Japan\narea: To\x01kyo\n",
        "separator.yaml": "name: Ota\r\narea: Tokyo\u2028\r\nsme_count: x\r\n",
        "nel.yaml": "name: Ota\narea: Tokyo\x85\n",
        "multi.yaml": "name: A\nsme_count: lots\n---\nname: B\nnetwork:\n  form: pyramid\n---\nname: [C\n",
        "later-documents.yaml": "name: A\n---\nname: B\nindustries: [metal, 0750]\n---\nname: C\ncountry: &x Japan\n",
    }
    expected = {
        "control.yaml": ["control.yaml:3: holds the invisible control character \\x01 (column 9), which a region file cannot contain. Remove it."],
        "separator.yaml": ["separator.yaml:2: holds the invisible control character \\u2028 (column 12), which a region file cannot contain. Remove it."],
        "nel.yaml": ["nel.yaml:2: holds the invisible control character \\x85 (column 12), which a region file cannot contain. Remove it."],
        "multi.yaml": [
            'multi.yaml:2: sme_count: "lots" is text, expected a whole number. Write digits without quotes or separators, e.g. 6000.',
            'multi.yaml:6: network.form: "pyramid" is not one of one_to_many, rigid_many_to_many, flexible_many_to_many, fragmented (or unknown).',
            "multi.yaml:8: not valid YAML: while parsing a flow sequence, did not find expected ',' or ']'.",
        ],
        "later-documents.yaml": [
            'later-documents.yaml:4: industries[1]: 0750 would be read by YAML 1.1 as the octal number 488 (a leading 0 means octal); write 750, or "0750" in quotes if it is text.',
            f"later-documents.yaml:7: country: uses the anchor &x; {ANCHORS}",
        ],
    }
    check_corpus(tmp_path, corpus, expected)
