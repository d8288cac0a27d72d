"""The error types users see.

Every error a user can cause (bad file, bad config, bad structure, NaN parameters) is raised as a
subclass of :class:`XrdtuiError` with a one-line message. The CLI turns these into ``error: <message>``
and a documented non-zero exit code; it never prints a traceback for them.

A failure nobody anticipated (a bug) is :class:`InternalError`: still one line, naming the exception and
the file where :func:`save_traceback` kept the traceback for a bug report.

Exit codes: 0 success, 1 other xrdtui error (an internal error included), 2 command-line usage error
(Typer/Click), 3 bad structure input, 4 bad configuration, 5 store problem, 130 interrupted (Ctrl-C),
143 terminated (SIGTERM).
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


class InternalError(XrdtuiError):
    """An unexpected exception (a bug, not the user's input), raised ``from`` the original so that
    :func:`save_traceback` keeps its whole traceback. A sweep raises it after stopping its workers, with
    what is stored and the resume command."""


def describe(exc: BaseException) -> str:
    """``Type: message`` of an exception on one line (at most 300 characters)."""
    text = " ".join(str(exc).split())
    return (f"{type(exc).__name__}: {text}" if text else type(exc).__name__)[:300]


def save_traceback(exc: BaseException) -> str | None:
    """Write ``exc``'s traceback (its causes included) to a new file; its path, or None if nowhere is
    writable. The file goes to ``$XDG_STATE_HOME/xrdtui`` (default ``~/.local/state/xrdtui``), else the
    temporary folder: a bug report needs the traceback, the user's terminal only the one line."""
    import os
    import tempfile
    import time
    import traceback

    text = "".join(traceback.format_exception(exc))
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    name = f"crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.txt"
    for folder in (os.path.join(state, "xrdtui"), tempfile.gettempdir()):
        try:
            os.makedirs(folder, exist_ok=True)
            path = os.path.join(folder, name)
            with open(path, "x", encoding="utf-8") as fh:
                fh.write(text)
            return path
        except OSError:
            continue
    return None


def user_message(exc: XrdtuiError) -> str:
    """The line the CLI prints for ``exc``: its message, and for an :class:`InternalError` the file where
    the traceback of what caused it was saved."""
    if not isinstance(exc, InternalError):
        return str(exc)
    path = save_traceback(exc.__cause__ or exc)
    return f"{exc}; this is a bug in xrdtui" + (f", traceback saved to {path}" if path else "")


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
