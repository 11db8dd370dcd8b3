"""Writing output files atomically, and file names that never leave their folder."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from .errors import OutputError


def write_atomic(path: str | Path, content: str | bytes | Callable[[TextIO], None], *, sync: bool = True) -> None:
    """Write `content` (text, bytes, or a function that writes to a text handle) to `path` atomically.

    The text goes to a temporary file in the same folder, which is then renamed over `path`: a reader
    never sees a half-written file, and an interrupted write leaves the old file intact. `sync=False`
    skips the fsync (batch memos: the rename keeps them whole, and fsync doubled their cost here;
    only an operating-system crash could lose the newest ones).
    """
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    except FileNotFoundError:
        raise OutputError(f"{target}: the folder {folder} does not exist.") from None
    except OSError as err:
        raise OutputError(f"{target}: cannot write in {folder} ({err.strerror}).") from None
    try:
        if isinstance(content, bytes):
            with os.fdopen(fd, "wb") as binary:
                binary.write(content)
                if sync:
                    binary.flush()
                    os.fsync(binary.fileno())
        else:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
                if isinstance(content, str):
                    handle.write(content)
                else:
                    content(handle)
                if sync:
                    handle.flush()
                    os.fsync(handle.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, target)
    except BaseException as err:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if isinstance(err, OSError):
            raise OutputError(f"{target}: cannot be written ({err.strerror}).") from None
        raise


_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10)), "summary"}


def slug(name: str, limit: int = 60) -> str:
    """Return a safe file-name stem for a region name: lower-case ASCII letters, digits and dashes.

    The result never contains a path separator or dots, so it cannot leave the output folder.
    """
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    stem = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:limit].strip("-")
    if not stem:
        stem = "region"
    if stem in _RESERVED:
        stem = f"{stem}-region"
    return stem
