"""The console script's entry (xrdtui.cli.entry): the TUI's own invocations start the app on a real
terminal (a pseudo-terminal here) without importing Typer; everything else goes through the Typer app."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from tests.test_views_support import make_store
from xrdtui.cli.entry import tui_request


@pytest.mark.parametrize("args, expected", [
    ([], (None, False)),
    (["open"], (None, False)),
    (["open", "s.h5"], (Path("s.h5"), False)),
    (["watch", "store"], (Path("store"), True)),
    (["open", "--help"], None),
    (["open", "a.h5", "b.h5"], None),
    (["--version"], None),
    (["status", "s.h5"], None),
    (["run"], None),
])
def test_only_plain_tui_invocations_skip_typer(args, expected):
    assert tui_request(args) == expected


def _read_until(fd: int, text: bytes, deadline: float, seen: bytearray) -> bool:
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the child closed the terminal
                return text in seen
            if not chunk:
                return text in seen
            seen.extend(chunk)
            if text in seen:
                return True
    return False


def test_open_on_a_terminal_shows_the_browser_and_quits_without_importing_typer(tmp_path):
    store = make_store(tmp_path / "store" / "demo.h5")
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    code = ("import sys; from xrdtui.cli.entry import main; main(['open', sys.argv[1]]); "
            "print('TYPER', 'typer' in sys.modules)")
    env = dict(os.environ, TERM="xterm-256color", COLUMNS="100", LINES="30")
    proc = subprocess.Popen([sys.executable, "-c", code, str(store)], stdin=slave, stdout=slave, stderr=slave,
                            cwd=tmp_path, env=env, close_fds=True)
    os.close(slave)
    seen = bytearray()
    try:
        assert _read_until(master, b"type to filter", time.monotonic() + 60, seen), seen[-400:]
        assert _read_until(master, b"U2Ti", time.monotonic() + 30, seen)  # the runs tree filled in
        os.write(master, b"q")
        _read_until(master, b"TYPER False", time.monotonic() + 30, seen)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    assert b"TYPER False" in seen


def test_a_bug_in_any_command_is_one_line_with_the_traceback_saved(tmp_path, monkeypatch, capsys):
    """An exception no check anticipated (here: the method registry failing) is 'error: internal error
    (...)', exit 1, and its full traceback in a new file under $XDG_STATE_HOME/xrdtui."""
    import xrdtui.methods
    from xrdtui.cli.main import main as cli_main

    def broken():
        raise ZeroDivisionError("division by zero in the registry")

    monkeypatch.setattr(xrdtui.methods, "all_methods", broken)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    with pytest.raises(SystemExit) as stop:
        cli_main(["methods"])
    assert stop.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("error: internal error (ZeroDivisionError: division by zero in the registry); "
                          "this is a bug in xrdtui, traceback saved to ")
    saved = Path(err.strip().rsplit(" ", 1)[1])
    assert saved.parent == tmp_path / "xrdtui"
    text = saved.read_text()
    assert text.startswith("Traceback") and "in broken" in text and text.rstrip().endswith(
        "ZeroDivisionError: division by zero in the registry")


def test_a_bug_in_a_screen_closes_the_app_with_one_line_not_a_rich_traceback(tmp_path):
    """A screen that raises (injected here into the runs browser's compose) ends the app on a real terminal
    with 'error: internal error in the TUI (...)', exit 1, and the traceback saved to a file: no pages of
    Textual's Rich traceback with locals."""
    store = make_store(tmp_path / "store" / "demo.h5")
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    code = ("import sys; import xrdtui.views.screens.browser as b\n"
            "def broken(self):\n    raise KeyError('injected into compose')\n"
            "b.BrowserScreen.compose = broken\n"
            "from xrdtui.cli.entry import main; main(['open', sys.argv[1]])")
    env = dict(os.environ, TERM="xterm-256color", COLUMNS="100", LINES="30", XDG_STATE_HOME=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-c", code, str(store)], stdin=slave, stdout=slave, stderr=slave,
                            cwd=tmp_path, env=env, close_fds=True)
    os.close(slave)
    seen = bytearray()
    try:
        _read_until(master, b"\x00never", time.monotonic() + 60, seen)  # read all until the child closes
        assert proc.wait(timeout=30) == 1
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    tail = seen.decode(errors="replace").rsplit("\x1b", 1)[-1]  # after the app's last escape sequence
    lines = [line for line in tail.splitlines() if line.strip()]
    assert b"Traceback" not in seen and b"locals" not in seen
    assert len(lines) == 1 and "error: internal error in the TUI (KeyError: 'injected into compose'); " \
        "this is a bug in xrdtui, traceback saved to " in lines[0], tail
    saved = Path(lines[0].rsplit(" ", 1)[1])
    assert saved.parent == tmp_path / "xrdtui" and "in broken" in saved.read_text()
