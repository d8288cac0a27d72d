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
