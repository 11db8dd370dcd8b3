"""Finding the region files named on the command line, and showing path names safely."""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import RegionError
from ..region import read_text
from ..safetext import display_path

SUFFIXES = (".yaml", ".yml")
# Characters that would act on a terminal or break a line: C0, DEL, C1, bidi controls, line separators.
UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]")


def shown(path: str) -> str:
    """Return `path` safe to print: undecodable bytes as \\xNN, control and format characters escaped."""
    return display_path(path)


def escape_char(match: re.Match[str]) -> str:
    """Spell one unsafe character as \\xNN or \\uNNNN."""
    code = ord(match[0])
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


@dataclass(frozen=True)
class Found:
    """One input: a region file to read, a panel of respondents' files (`panel`), or an input that
    failed before any reading (`problem`)."""

    path: str
    problem: str = ""
    panel: tuple[str, ...] = ()


def _missing(path: str) -> str:
    """Return the words `assess` uses for a path that cannot be read."""
    try:
        read_text(path)
    except RegionError as err:
        return " ".join(err.messages).replace(path, shown(path))
    return ""


def _walk(folder: str, seen: set[str]) -> Iterator[Found]:
    """Yield the region files under `folder` (hidden ones skipped), files before sub-folders, sorted."""
    try:
        with os.scandir(folder) as listing:
            entries = sorted(listing, key=lambda e: e.name)
    except OSError as err:
        yield Found(folder, f"{shown(folder)}: cannot be read ({err.strerror}); the region files in it were not assessed.")
        return
    folders = []
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            is_folder = entry.is_dir()
        except OSError:
            is_folder = False
        if is_folder:
            if not entry.is_symlink():  # as os.walk: linked folders are not followed (no loops)
                folders.append(entry.path)
            continue
        if entry.name.lower().endswith(SUFFIXES):
            key = os.path.realpath(entry.path)
            if key not in seen:
                seen.add(key)
                yield Found(entry.path)
    for sub in folders:
        yield from _walk(sub, seen)


def region_files(inputs: Iterable[str]) -> Iterator[Found]:
    """Yield the region files named by `inputs`, each once: files as given, folders searched.

    Folders are searched recursively for *.yaml and *.yml in sorted order. A path that cannot be
    read, a folder without region files and an unreadable sub-folder are yielded with a `problem`:
    each becomes a failed row, and none counts as a file.
    """
    seen: set[str] = set()
    for item in inputs:
        if not os.path.isdir(item):
            key = os.path.realpath(item)
            if key in seen:
                continue
            seen.add(key)
            yield Found(item) if os.path.lexists(item) and os.access(item, os.F_OK) else Found(item, _missing(item))
            continue
        found = problems = 0
        for entry in _walk(item, seen):
            found += not entry.problem
            problems += bool(entry.problem)
            yield entry
        if not found and not problems:
            yield Found(item, f"{shown(item)}: holds no region files (*.yaml or *.yml).")


PEEK_BYTES = 1_000_000  # files larger than this are collections of regions, never one respondent's answers


def respondent_region(path: str) -> Peeked:
    """(region name, role) when `path` holds one region with a respondent; None otherwise."""
    text = _candidate(path)
    return None if text is None else _parsed(text, path)


def _parsed(text: str, path: str) -> Peeked:
    """(region name, role) when `text` (of `path`) parses to one region with a respondent; None otherwise."""
    from ..region import load_regions  # parsing only the files that may be answers

    try:
        regions = load_regions(text, path)
    except RegionError:
        return None
    if len(regions) != 1 or "respondent.role" not in regions[0].facts:
        return None
    return regions[0].name, str(regions[0].facts["respondent.role"])


def respondent_name(path: str) -> Named:
    """The region name a respondent's file may give, and whether it is sure; None when it is no such file.

    Most files give their name without parsing (yamlio.top_level_text): that name is not sure, as the
    file may still be refused or carry no role, but it is the name if the file counts at all. The
    others are parsed, and their name is sure.
    """
    text = _candidate(path)
    if text is None:
        return None
    from ..yamlio import top_level_text

    name = top_level_text(text, "name")
    if name is not None:
        return name, False
    peeked = _parsed(text, path)  # the text already read: not read again
    return None if peeked is None else (peeked[0], True)


def _candidate(path: str) -> str | None:
    """The text of a file that may be a respondent's answers (cheap tests first); None otherwise."""
    try:
        if os.path.getsize(path) > PEEK_BYTES:
            return None
        text = read_text(path)
    except (OSError, RegionError):
        return None  # the file's own row will say what is wrong
    return text if "respondent" in text else None


Peeked = tuple[str, str] | None  # (region name, role) of a respondent's file
Named = tuple[str, bool] | None  # (region name, whether the file was parsed to find it)
Peek = Callable[[Callable[[str], Any], list[str]], Iterable[Any]]


def group_panels(found: list[Found], by: str = "folder", peek_all: Peek = map) -> tuple[list[Found], list[str]]:
    """Gather respondents' files about one region into panels; return the inputs and notes to show.

    Files that carry `respondent` and share a `name` form one panel: within one folder (by="folder"),
    or across all inputs (by="name"). A panel takes the place of its first file. When one folder's
    respondent files name different regions, each name is a panel (or a single file) of its own and
    a note says so: files are never merged across names. `peek_all(function, paths)` reads the files
    (the built-in `map`, or a process pool's, which gives the same results).

    Names read without parsing are exact whenever the file counts (respondent_name), so a file whose
    name no other file shares stays on its own whatever parsing would say; only files that may join
    a panel, or that share a folder with one (its note lists them all), are parsed to be sure.
    """
    paths = [item.path for item in found if not item.problem]
    named = {path: found_name for path, found_name in zip(paths, peek_all(respondent_name, paths), strict=True) if found_name is not None}

    def place(path: str) -> str:
        return os.path.dirname(path) if by == "folder" else ""

    shared = Counter((place(path), name) for path, (name, _) in named.items())
    crowded = {where for (where, _), count in shared.items() if count > 1}
    unsure = [
        path
        for path, (name, sure) in named.items()
        if not sure and (place(path) in crowded if by == "folder" else shared[place(path), name] > 1)
    ]
    parsed = dict(zip(unsure, peek_all(respondent_region, unsure), strict=True))
    answers: dict[str, str] = {}
    for path, (name, sure) in named.items():
        if sure or path not in parsed:
            answers[path] = name
        elif (peeked := parsed[path]) is not None:
            answers[path] = peeked[0]
    groups: dict[tuple[str, str], list[str]] = {}
    for path, name in answers.items():
        groups.setdefault((place(path), name), []).append(path)
    notes: list[str] = []
    names_per_folder: dict[str, list[tuple[str, int]]] = {}
    for (folder, name), paths in groups.items():
        names_per_folder.setdefault(folder, []).append((name, len(paths)))
    for folder, names in names_per_folder.items():
        # Several regions' answers in a folder that holds a panel: say which went where. A folder of
        # separate regions, each answered by one respondent, is no mismatch.
        if by == "folder" and len(names) > 1 and any(count > 1 for _, count in names):
            listed = "; ".join(f"{shown(n)}: {c} file{'s' if c > 1 else ''}" for n, c in sorted(names))
            notes.append(f"{shown(folder or '.')}: respondents' files name {len(names)} different regions ({listed}); each name is assessed on its own.")
    first_of: dict[str, tuple[str, ...]] = {}
    members: set[str] = set()
    for paths in groups.values():
        if len(paths) > 1:
            first_of[paths[0]] = tuple(paths)
            members.update(paths)
    result: list[Found] = []
    for item in found:
        if item.path in first_of:
            result.append(Found(os.path.dirname(item.path) if by == "folder" else item.path, panel=first_of[item.path]))
        elif item.path not in members:
            result.append(item)
    return result, notes
