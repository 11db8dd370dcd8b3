"""Writing output files atomically, and file names that never leave their folder."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import re
import stat
import tempfile
import unicodedata
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, TextIO

from .errors import OutputError

Content = str | bytes | Callable[[TextIO], None]


def _open(fd: int, content: Content) -> IO[Any]:
    """A handle on `fd` for `content`: binary for bytes (a Word memo), UTF-8 text otherwise."""
    return os.fdopen(fd, "wb") if isinstance(content, bytes) else os.fdopen(fd, "w", encoding="utf-8", newline="")


def _fill(handle: IO[Any], content: Content) -> None:
    if isinstance(content, (str, bytes)):
        handle.write(content)
    else:
        content(handle)  # type: ignore[arg-type]  # a text handle: _open gives binary only for bytes


def _write_through(target: Path, content: Content) -> None:
    """Write to a character device or a FIFO in place (`-o /dev/null`, `-o /dev/stdout`)."""
    try:
        # O_NONBLOCK: opening a FIFO nobody reads fails at once (ENXIO) instead of hanging.
        fd = os.open(target, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as err:
        if err.errno == errno.ENXIO:
            raise OutputError(f"{target}: is a FIFO that nobody is reading. Start the reader first, or give a regular file.") from None
        raise OutputError(f"{target}: cannot be written ({err.strerror}).") from None
    os.set_blocking(fd, True)
    try:
        with _open(fd, content) as handle:
            _fill(handle, content)
    except OSError as err:
        raise OutputError(f"{target}: cannot be written ({err.strerror}).") from None


def write_atomic(path: str | Path, content: Content, *, sync: bool = True, replace: bool = False) -> None:
    """Write `content` (text, bytes, or a function that writes to a text handle) to `path` atomically.

    The text goes to a temporary file in the same folder, which is then renamed over `path`: a reader
    never sees a half-written file, and an interrupted write leaves the old file intact. A symbolic
    link is followed, so the link stays and its target gets the text; a character device or a FIFO
    is written to in place (never replaced by a regular file); other kinds are refused. `sync=False`
    skips the fsync (batch memos: the rename keeps them whole, and fsync doubled their cost here;
    only an operating-system crash could lose the newest ones). `replace=True` is for a folder this
    tool fills (batch --out): whatever has the name is replaced, so a planted link leads nowhere.
    """
    target = Path(path)
    if not replace and target.is_symlink():
        target = Path(os.path.realpath(target))
    try:
        mode = 0 if replace else os.stat(target).st_mode
    except OSError:
        mode = 0  # not there yet (or unreachable: creating the temporary file says why)
    if mode and not stat.S_ISREG(mode):
        if stat.S_ISCHR(mode) or stat.S_ISFIFO(mode):
            _write_through(target, content)
            return
        kind = "a folder" if stat.S_ISDIR(mode) else "a socket" if stat.S_ISSOCK(mode) else "a block device" if stat.S_ISBLK(mode) else "not a regular file"
        raise OutputError(f"{target}: is {kind}; give a file name.")
    folder = target.parent if str(target.parent) else Path(".")
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    except FileNotFoundError:
        raise OutputError(f"{target}: the folder {folder} does not exist.") from None
    except OSError as err:
        raise OutputError(f"{target}: cannot write in {folder} ({err.strerror}).") from None
    try:
        with _open(fd, content) as handle:
            _fill(handle, content)
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


ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip entry can carry
_CORE_DATES = re.compile(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:)")


def stable_zip(data: bytes) -> bytes:
    """Re-pack an Office file (.docx, .xlsx) so that equal content gives equal bytes.

    Entries are sorted and carry a fixed date, system and mode; the document's own created and
    modified stamps (which the writing libraries set to now) are fixed too.
    """
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for name in sorted(source.namelist()):
            content = source.read(name)
            if name == "docProps/core.xml":
                content = _CORE_DATES.sub(rb"\g<1>2001-01-01T00:00:00Z\g<2>", content)  # the stamp docx_memo sets too
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 0  # otherwise the host's operating system is recorded
            info.external_attr = 0o644 << 16
            target.writestr(info, content)
    return out.getvalue()
