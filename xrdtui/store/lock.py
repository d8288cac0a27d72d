"""One writer at a time: an exclusive lock per store, taken before any file of the store is touched.

The lock is ``flock`` on ``<store>.lock`` beside the store: advisory, released by the kernel when the holder
exits or is killed (a crash never leaves a stale lock, at most the small file), removed on release. The
holder writes ``host:pid`` and what it does into it, so a refused process can say who holds the store.
Temporary files get unique names (:func:`unique_temp`), so two processes never build the same temporary
and nothing deletes a file it did not create.
"""

from __future__ import annotations

import fcntl
import os
import socket
import tempfile
import time
from pathlib import Path

from xrdtui.errors import StoreError


def lock_path(path: Path) -> Path:
    """``store.h5`` -> ``store.h5.lock``."""
    return path.with_name(path.name + ".lock")


class StoreLock:
    """An exclusive lock of the store at ``path``; :meth:`acquire` refuses (StoreError, exit 5) when another
    process holds it, after waiting up to ``wait_s``."""

    def __init__(self, path: str | Path, purpose: str = "writing"):
        self.path = Path(path)
        self.purpose = purpose
        self._fd: int | None = None

    def acquire(self, wait_s: float = 0.0, wait_for: tuple[str, ...] = ()) -> StoreLock:
        """Take the lock; while another process holds it, wait up to ``wait_s`` if its purpose is one of
        ``wait_for`` (short jobs such as a landscape append), otherwise refuse at once."""
        lock = lock_path(self.path)
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fd = os.open(str(lock), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError as exc:
                raise StoreError(f"cannot lock {self.path}: {exc.strerror or exc} ({lock})") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(fd)
                os.close(fd)
                if time.monotonic() < deadline and holder.split(" ", 1)[-1] in wait_for:
                    time.sleep(0.1)
                    continue
                raise StoreError(f"{self.path} is being written by another xrdtui process ({holder}); "
                                 "one writer at a time") from None
            # The holder before us may have removed the file while we waited on it: lock the file that is there.
            try:
                same = os.fstat(fd).st_ino == os.stat(lock).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{socket.gethostname()}:{os.getpid()} {self.purpose}".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Remove the lock file and unlock (in that order: a waiter then re-checks which file it holds)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            lock_path(self.path).unlink(missing_ok=True)
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> StoreLock:
        return self if self.held else self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    try:
        text = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    except OSError:
        text = ""
    return text or "pid unknown"


def unique_temp(path: Path, tag: str) -> Path:
    """A new, empty file beside ``path`` whose name no other process can have chosen
    (``.store.h5.<tag>.<random>.tmp``); the caller owns it and removes it."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.{tag}.", suffix=".tmp", dir=str(path.parent))
    try:
        # mkstemp makes it 0600; the published store gets the mode a plain new file would (or the old one's)
        os.fchmod(fd, path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~_umask())
    finally:
        os.close(fd)
    return Path(name)


def _umask() -> int:
    # read, not set-and-restore: os.umask is process-wide and other threads may be creating files
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    return 0o022
