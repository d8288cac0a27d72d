"""Processes of a real `xrdtui run` with a local pool: kill -9 or SIGTERM of the writer leaves no process
behind, Ctrl+C and SIGTERM end in one line with the resume command, and a killed worker is survived."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

psutil = pytest.importorskip("psutil")

from xrdtui.store.reader import StoreReader  # noqa: E402

SLOW_TOML = """
name = "slow"
seed = 5
structures = ["U2Ti", "Au2S"]
distortions = 24
methods = ["cosine"]
modes = ["free", "projected"]
[noise]
lattice = [0.05, 0.08, 0.1]
[optimizer]
max_steps = 400
tol = 0
"""


def _start(tmp_path: Path, workers: int = 2) -> tuple[subprocess.Popen, Path]:
    cfg = tmp_path / "slow.toml"
    cfg.write_text(SLOW_TOML)
    store = tmp_path / "slow.h5"
    proc = subprocess.Popen([sys.executable, "-m", "xrdtui", "run", str(cfg), "--store", str(store), "--workers",
                             str(workers), "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"}, start_new_session=True,
                            preexec_fn=_interruptible)
    return proc, store


def _interruptible() -> None:
    """Ctrl+C reaches the sweep even when the test run itself was started in the background (``cmd &``
    leaves SIGINT ignored, every child inherits that, and Python then never raises KeyboardInterrupt)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _wait_for_workers(proc, store: Path, n: int, timeout: float = 180.0) -> list:
    """The pool's worker processes once a task has started (the store exists and a task runs)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        kids = [c for c in psutil.Process(proc.pid).children(recursive=True) if _is_worker(c)]
        if len(kids) >= n and store.exists():
            try:
                with StoreReader.open(store) as r:
                    if r.progress().running + r.progress().done > 0:
                        return kids
            except Exception:
                pass
        time.sleep(0.5)
    raise AssertionError("workers did not start")


def _is_worker(p) -> bool:
    try:
        return "spawn_main" in " ".join(p.cmdline())
    except psutil.Error:
        return False


def _alive(procs) -> list:
    out = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out


def _descendants(proc) -> list:
    return psutil.Process(proc.pid).children(recursive=True)


def test_kill_9_of_the_writer_leaves_no_process_behind(tmp_path):
    proc, store = _start(tmp_path)
    try:
        _wait_for_workers(proc, store, 2)
        family = _descendants(proc)
        assert family
        proc.kill()
        proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _alive(family) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _alive(family) == [], [p.cmdline()[:3] for p in _alive(family)]
    finally:
        for p in _alive(_safe_family(proc)):
            p.kill()


def _safe_family(proc):
    try:
        return _descendants(proc)
    except psutil.Error:
        return []


# the default run keeps Ctrl+C; SIGTERM takes the same path (terminate_as_interrupt) and runs with -m slow
@pytest.mark.parametrize("sig, code, word", [pytest.param(signal.SIGTERM, 143, "terminated", marks=pytest.mark.slow),
                                             (signal.SIGINT, 130, "interrupted")])
def test_sigterm_and_ctrl_c_end_in_one_line_with_the_resume_command(tmp_path, sig, code, word):
    proc, store = _start(tmp_path)
    _wait_for_workers(proc, store, 2)
    family = _descendants(proc)
    # Ctrl+C in a terminal reaches the whole foreground process group; SIGTERM (kill, sbatch) the writer only
    if sig == signal.SIGINT:
        os.killpg(proc.pid, sig)
    else:
        proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    # apart from the timestamped batch-log lines a non-terminal stderr gets, exactly one line
    lines = [line for line in err.splitlines() if line.strip() and not re.match(r"\d{4}-\d\d-\d\d \d\d:", line)]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"error: {word}: ") and "--resume" in lines[0] and str(store) in lines[0]
    deadline = time.monotonic() + 10
    while _alive(family) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _alive(family) == []
    with StoreReader.open(store) as r:  # the store is intact and resumable
        assert not r.progress().live and not r.progress().finished


@pytest.mark.slow  # ~100 s on 2 cores: the campaign runs to its end after the kill
def test_a_killed_worker_is_survived(tmp_path):
    proc, store = _start(tmp_path)
    workers = _wait_for_workers(proc, store, 2)
    workers[0].kill()
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-2000:]
    assert "Traceback" not in err
    with StoreReader.open(store) as r:
        prog = r.progress()
        assert prog.finished and prog.done == prog.total == 12 and prog.failed == 0


# A bug in the sweep's own loop (here: an exception injected into the writer's handling of live messages,
# in the sweep's process only) must end like an interrupt: one line, the workers stopped at once (not
# after their running tasks), the store intact and resumable, and the traceback kept in a file.
FAULTY_RUN = """
import sys
import xrdtui.jobs.campaign as campaign
real = campaign._write_live
def faulty(writer, messages):
    if messages:
        raise RuntimeError("injected fault")
    real(writer, messages)
campaign._write_live = faulty
from xrdtui.cli.entry import main
main(sys.argv[1:])
"""


def test_an_unexpected_error_in_the_sweep_ends_in_one_line_and_stops_the_workers(tmp_path):
    cfg = tmp_path / "slow.toml"
    cfg.write_text(SLOW_TOML)
    store = tmp_path / "slow.h5"
    state = tmp_path / "state"
    proc = subprocess.Popen([sys.executable, "-c", FAULTY_RUN, "run", str(cfg), "--store", str(store),
                             "--workers", "2", "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1", "XDG_STATE_HOME": str(state)},
                            start_new_session=True)
    family: list = []
    workers_seen = 0
    try:
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            family += [p for p in _safe_family(proc) if p not in family]
            workers_seen = max(workers_seen, sum(map(_is_worker, family)))
            time.sleep(0.2)
        out, err = proc.communicate(timeout=60)
    finally:
        for p in _alive(family + _safe_family(proc)):
            p.kill()
    assert proc.returncode == 1, err
    lines = [line for line in err.splitlines() if line.strip() and not re.match(r"\d{4}-\d\d-\d\d \d\d:", line)]
    assert len(lines) == 1 and "Traceback" not in err, err
    line = lines[0]
    assert line.startswith("error: the sweep stopped on an internal error (RuntimeError: injected fault); "), line
    assert "0 of 12 tasks are stored" in line and f"--resume --store {store}" in line
    saved = re.search(r"traceback saved to (\S+)$", line)
    assert saved and Path(saved.group(1)).parent == state / "xrdtui"
    report = Path(saved.group(1)).read_text()
    assert "Traceback" in report and "RuntimeError: injected fault" in report and "def faulty" not in report
    assert "in faulty" in report  # the original frame, not only the one-line wrapper
    assert workers_seen == 2  # the pool had started
    deadline = time.monotonic() + 10
    while _alive(family) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _alive(family) == []
    with StoreReader.open(store) as r:
        prog = r.progress()
        assert prog.done == 0 and not prog.live and not prog.finished
