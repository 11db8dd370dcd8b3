"""Text from region files and file names made safe to print: invisible characters become escapes."""

from __future__ import annotations

import os
import re
import unicodedata

# Unicode categories that a terminal may act on or hide: controls (ESC, CR, NUL, DEL, C1), format
# characters (bidi overrides, zero-width joiners), surrogates and the line/paragraph separators.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})

# What a text field (a name, a country) may not hold: a memo or a terminal would act on it, or it
# would reorder the letters around it without showing itself. Zero-width joiners stay allowed:
# emoji sequences and some scripts need them.
FORBIDDEN_IN_TEXT = re.compile(
    "[\x00-\x1f\x7f-\x9f"  # C0 (tab and line breaks included), DEL, C1 (NEL included)
    "\u061c\u200e\u200f"  # Arabic letter mark, left-to-right and right-to-left marks
    "\u202a-\u202e\u2066-\u2069"  # bidi embeddings, overrides and isolates
    "\u2028\u2029"  # line and paragraph separators
    "\ud800-\udfff"  # lone surrogates (a Python str can hold them, no file can)
    "\ufffe\uffff]"
)


def escape(text: str) -> str:
    """Return `text` with every control, format and separator character written as an escape."""
    if text.isprintable():  # the common case: no character to look at one by one
        return text
    return "".join(_escape_char(ch) if unicodedata.category(ch) in _UNSAFE_CATEGORIES or _is_noncharacter(ch) else ch for ch in text)


def _is_noncharacter(ch: str) -> bool:
    """U+FDD0..U+FDEF and the last two code points of every plane: never text, often shown as nothing."""
    code = ord(ch)
    return 0xFDD0 <= code <= 0xFDEF or code & 0xFFFE == 0xFFFE


def _escape_char(ch: str) -> str:
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:
        # A byte that was not UTF-8 in a file name (os.fsdecode's surrogateescape): show the byte.
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def display_path(path: str | os.PathLike[str]) -> str:
    """Return a file name as it can be printed safely (undecodable bytes shown as \\xNN)."""
    return escape(os.fspath(path))
