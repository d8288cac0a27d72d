"""The error types users see.

Every error a user can cause (bad file, bad config, bad structure, NaN parameters) is raised as a
subclass of :class:`XrdtuiError` with a one-line message. The CLI turns these into ``error: <message>``
and a documented non-zero exit code; it never prints a traceback for them.

Exit codes: 0 success, 1 other xrdtui error, 2 command-line usage error (Typer/Click), 3 bad structure
input, 4 bad configuration, 5 store problem, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM).
"""

from __future__ import annotations


class XrdtuiError(Exception):
    """Base class: a user-facing failure with a one-line message."""

    exit_code = 1

    def __init__(self, message: str):
        # Keep messages on one line whatever the caller passed.
        super().__init__(" ".join(str(message).split()))


class InputError(XrdtuiError):
    """Bad structure input: malformed CIF/JSON, unknown element, degenerate cell, NaN values."""

    exit_code = 3


class ConfigError(XrdtuiError):
    """Bad experiment configuration (TOML) or bad command-line values."""

    exit_code = 4


class StoreError(XrdtuiError):
    """Missing, corrupt, foreign or newer-schema HDF5 store, or an unknown path inside one."""

    exit_code = 5


class OutputError(XrdtuiError):
    """An output file or folder cannot be written (read-only place, a directory in the way, a full disk)."""

    exit_code = 1


class StoreWriteFailed(StoreError):
    """Writing a store failed inside HDF5 (a full disk, an I/O error). HDF5's state is then unusable: any
    later flush or close of that file crashes the process, so the CLI exits at once after printing the line
    (the file on disk keeps its last flushed state, which SWMR keeps consistent)."""

    poisoned = True


class Terminated(KeyboardInterrupt):
    """SIGTERM turned into an exception (see :func:`terminate_as_interrupt`) so that every clean-up path
    of Ctrl+C runs for it too; exit code 143."""


class Interrupted(XrdtuiError):
    """A sweep stopped by Ctrl+C or SIGTERM after its clean-up: the message says what is stored and how
    to resume."""

    def __init__(self, message: str, terminated: bool = False):
        super().__init__(message)
        self.exit_code = 143 if terminated else 130


def terminate_as_interrupt() -> None:
    """From now on SIGTERM raises :class:`Terminated` in the main thread (as SIGINT raises KeyboardInterrupt)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return

    def _raise(signum, frame):
        raise Terminated()

    signal.signal(signal.SIGTERM, _raise)
