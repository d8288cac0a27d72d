"""Detached sweeps: a sweep started from the TUI (or any caller) as its own process.

A detached sweep runs as ``python -m xrdtui run CONFIG --store FILE`` in its own session
(``start_new_session=True``) with its output in ``FILE.log`` next to the store, so closing the app or
losing the SSH connection does not stop it; reopening the app finds it again by its heartbeat.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from xrdtui.errors import ConfigError


@dataclass(frozen=True)
class SweepProcess:
    """A sweep started from the app: its process id, store file and log file."""

    pid: int
    store: Path
    log: Path
    command: tuple[str, ...]


def sweep_command(config: str, store: Path, resume: bool = False, workers: int | None = None) -> list[str]:
    """The command line of a detached sweep (``workers``: processes; None: the configuration's)."""
    cmd = [sys.executable, "-m", "xrdtui", "run", config, "--store", str(store)]
    if resume:
        cmd.append("--resume")
    if workers is not None:
        cmd += ["--workers", str(int(workers))]
    return cmd


def start_sweep(config: str, store: Path, *, resume: bool = False, workers: int | None = None,
                cwd: Path | None = None) -> SweepProcess:
    """Start ``xrdtui run`` detached from this process (own session, stdin closed, output to
    ``<store>.log``); ConfigError when the store folder cannot be made or the process cannot start."""
    config = config.strip()
    if not config:
        raise ConfigError("give a configuration: a TOML file or a preset name (quick, paper)")
    store = Path(store)
    try:
        store.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create {store.parent}: {exc.strerror or exc}") from None
    log = store.with_suffix(".log")
    if workers is not None and not 1 <= int(workers) <= 256:
        raise ConfigError(f"workers must be between 1 and 256, got {workers}")
    cmd = sweep_command(config, store, resume, workers)
    try:
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=str(cwd) if cwd else None,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
    except OSError as exc:
        raise ConfigError(f"cannot start the sweep: {exc.strerror or exc}") from None
    return SweepProcess(proc.pid, store, log, tuple(cmd))
