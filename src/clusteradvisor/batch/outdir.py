"""The output folder of a run: created only when needed, locked, swept of stale temporary files,
and a manifest of the files this tool wrote there (so `--clean` never removes anything else)."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import stat
from pathlib import Path
from types import TracebackType

from ..errors import OutputError
from ..output import write_atomic
from .discovery import shown

LOCK = ".clusteradvisor.lock"
MANIFEST = ".clusteradvisor-manifest.json"
# The only names this tool writes: memos (slugs), summaries, and its hidden temporary files.
OWN = re.compile(r"(summary\.(csv|md|json|html|xlsx)|[a-z0-9]+(-[a-z0-9]+)*\.(md|html|txt|json|docx))")
_STALE = re.compile(r"\.(clusteradvisor-.+|\.clusteradvisor-manifest\.json\.[a-z0-9_]{8}|(summary\.(csv|md|json|html|xlsx)|[a-z0-9-]+\.(md|html|txt|json|docx))\.[a-z0-9_]{8})\.tmp")


class OutputFolder:
    """A locked output folder for one run; `with` takes and releases the lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.shown = shown(str(path))
        self._fd = -1
        self.previous: frozenset[str] = frozenset()
        self.written: set[str] = set()

    def __enter__(self) -> OutputFolder:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise OutputError(f"{self.shown}: exists and is not a folder. Give a folder for --out.") from None
        except OSError as err:
            raise OutputError(f"{self.shown}: cannot create the output folder ({err.strerror}).") from None
        if not os.access(self.path, os.W_OK | os.X_OK):
            raise OutputError(f"{self.shown}: the output folder is not writable.")
        self._lock()
        try:
            self._sweep()
            self.previous = self._read_manifest()
        except BaseException:
            self._unlock()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self._unlock()

    def _lock(self) -> None:
        path = self.path / LOCK
        for _ in range(10):  # the holder may remove the file between our open and our lock: retry
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError as err:
                raise OutputError(f"{self.shown}: cannot create the lock file {LOCK} ({err.strerror}).") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                if err.errno in (errno.ENOLCK, errno.EOPNOTSUPP):  # a file system without locks: run unguarded
                    self._fd = fd
                    return
                os.close(fd)
                if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise OutputError(
                        f"{self.shown}: another clusteradvisor batch is writing to this folder (it holds {LOCK}). "
                        "Wait for it to finish, or give another --out."
                    ) from None
                raise OutputError(f"{self.shown}: cannot lock {LOCK} ({err.strerror}).") from None
            try:
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self._fd = fd
                return
            os.close(fd)
        raise OutputError(f"{self.shown}: cannot lock {LOCK}: it keeps changing. Is another batch starting and stopping?")

    def _unlock(self) -> None:
        if self._fd < 0:
            return
        # Removed while still held, so a waiting run that opened it sees a stale inode and retries.
        with contextlib.suppress(OSError):
            os.unlink(self.path / LOCK)
        os.close(self._fd)
        self._fd = -1

    def _sweep(self) -> None:
        """Remove hidden temporary files that earlier runs left when they were killed (we hold the lock)."""
        with os.scandir(self.path) as listing:
            for entry in listing:
                if entry.name.endswith(".tmp") and _STALE.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)

    def _read_manifest(self) -> frozenset[str]:
        try:
            data = json.loads((self.path / MANIFEST).read_text(encoding="utf-8"))
            names = data["files"] if isinstance(data, dict) else []
        except (OSError, ValueError, KeyError):
            return frozenset()  # no manifest, or not ours: then nothing is ours to remove
        return frozenset(n for n in names if isinstance(n, str) and OWN.fullmatch(n))

    def record(self, name: str) -> None:
        """Note a file this run wrote."""
        self.written.add(name)

    def stale(self) -> list[str]:
        """Files an earlier run wrote here that this run did not (and that are still regular files)."""
        found = []
        for name in sorted(self.previous - self.written):
            with contextlib.suppress(OSError):
                if stat.S_ISREG(os.lstat(self.path / name).st_mode):
                    found.append(name)
        return found

    def remove(self, names: list[str]) -> list[str]:
        """Remove files listed in the manifest (only those); return the ones removed."""
        removed = []
        for name in names:
            if name in self.previous and OWN.fullmatch(name):
                with contextlib.suppress(OSError):
                    os.unlink(self.path / name)
                    removed.append(name)
        return removed

    def write_manifest(self) -> None:
        """Record every file of this tool still in the folder: this run's and earlier runs'."""
        names = sorted(n for n in self.previous | self.written if (self.path / n).is_file())
        text = json.dumps({"tool": "clusteradvisor", "files": names}, ensure_ascii=False, indent=1) + "\n"
        write_atomic(self.path / MANIFEST, text, sync=False, replace=True)
