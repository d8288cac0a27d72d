"""Live reading while another process writes, kill -9 of the writer, resume (real subprocesses)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from xrdtui.store import StoreReader, StoreWriter, append_landscape
from xrdtui.store.synthetic import dump_datasets, fake_result, fake_structures, fake_tasks, run_fake

ROOT = Path(__file__).resolve().parents[1]
TASKS = fake_tasks(fake_structures())


def _writer(path, *args):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen(
        [sys.executable, "-m", "xrdtui.store.synthetic", str(path), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
    )


def _check_done_tasks(r):
    """Every task the store calls done holds exactly its arrays."""
    done = [row.task_id for row in r.tasks() if row.status == "done"]
    for tid in done:
        got, want = r.task(tid).result, fake_result(next(t for t in TASKS if t.task_id == tid))
        np.testing.assert_array_equal(got.loss, want.loss)
        np.testing.assert_array_equal(got.lattice, want.lattice)
        if want.frac is not None:
            np.testing.assert_array_equal(got.frac, want.frac)
        np.testing.assert_array_equal(got.final_frac, want.final_frac)
        np.testing.assert_array_equal(got.final_pattern, want.final_pattern)
        assert got.reasons == want.reasons and got.k == want.k
    return done


def _assert_same_content(a, b):
    assert sorted(a) == sorted(b)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_live_reader_sees_every_flush(tmp_path):
    path = tmp_path / "live.h5"
    n = 16
    proc = _writer(path, "--delay", "0.1", "--tasks", str(n))
    errors: list[BaseException] = []
    stop = threading.Event()
    reader = None
    saw_running = saw_live = False
    try:
        for line in proc.stdout:
            i = int(line.split()[1])
            if reader is None:
                reader = StoreReader.open(path)  # published before the first task ran
                hammer = threading.Thread(target=_hammer, args=(path, stop, errors), daemon=True)
                hammer.start()
            reader.refresh()
            prog = reader.progress()
            # "done i" is printed after the writer's flush: the very next read must see it.
            assert prog.done >= i + 1 and prog.total == n
            assert reader.tasks()[i].status == "done"
            saw_live |= prog.live
            if prog.running:
                rec = reader.task(next(r.task_id for r in reader.tasks() if r.status == "running"))
                if rec.partial_loss is not None:  # (None between mark_running and the first rows)
                    want = fake_result(next(t for t in TASKS if t.task_id == rec.info.task_id))
                    # Streamed rows are always a prefix of the final loss: half of it from the
                    # stream, or all of it once write_result has flushed but not yet set "done".
                    rows = rec.partial_loss.shape[0]
                    assert max(1, want.loss.shape[0] // 2) <= rows <= want.loss.shape[0]
                    np.testing.assert_array_equal(rec.partial_loss, want.loss[:rows])
                    saw_running = True
        assert proc.wait(timeout=60) == 0, proc.stderr.read()
        reader.refresh()
        prog = reader.progress()
        assert prog.finished and not prog.live and prog.done == n
        assert len(_check_done_tasks(reader)) == n
    finally:
        stop.set()
        if proc.poll() is None:
            proc.kill()
        if reader is not None:
            reader.close()
    assert not errors, errors[0]
    assert saw_live and saw_running


def _hammer(path, stop, errors):
    """A second reader polling as fast as it can: no read may fail, counts never go down."""
    try:
        last = 0
        with StoreReader.open(path) as r:
            while not stop.is_set():
                r.refresh()
                prog = r.progress()
                assert prog.done >= last
                last = prog.done
                r.tasks()
                r.tree()
    except BaseException as exc:  # reported by the main thread
        errors.append(exc)


def _kill_after(path, lines: int, *args) -> int:
    proc = _writer(path, *args)
    for _ in range(lines):
        proc.stdout.readline()
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    return proc.returncode


def test_kill_9_then_resume_equals_uninterrupted_run(tmp_path):
    path = tmp_path / "crash.h5"
    assert _kill_after(path, 10, "--delay", "0.02", "--tasks", "24") == -signal.SIGKILL
    with StoreReader.open(path) as r:  # a killed SWMR writer's file opens and holds its done tasks
        prog = r.progress()
        assert prog.done >= 10 and not prog.live and not prog.finished
        done = _check_done_tasks(r)
    # Landscapes can be added to a crashed store (rebuilt object by object: its writer flags forbid
    # opening a byte copy for writing) and survive the resume.
    from tests.test_store import _landscape

    append_landscape(path, _landscape())
    with StoreReader.open(path) as r:
        assert _check_done_tasks(r) == done and r.landscapes() == ["U2Ti/cosine/a-c"]
    writer, resumed = StoreWriter.resume(path, tasks=TASKS[:24])
    writer.close()
    assert resumed == set(done)
    assert [q.name for q in tmp_path.iterdir() if q.name.endswith(".tmp")] == []
    run_fake(path, resume=True, n_tasks=24)
    ref = tmp_path / "ref.h5"
    run_fake(ref, n_tasks=24)
    append_landscape(ref, _landscape())
    _assert_same_content(dump_datasets(path), dump_datasets(ref))
    with StoreReader.open(path) as r:
        assert r.progress().finished and r.progress().done == 24


@pytest.mark.slow
def test_kill_9_at_random_moments(tmp_path):
    """Kill the writer at random times (creation included); the store always opens, holds every done
    task intact, and resumes to the uninterrupted content."""
    ref = tmp_path / "ref.h5"
    run_fake(ref, n_tasks=24)
    want = dump_datasets(ref)
    rng = random.Random(1)
    for trial in range(12):
        path = tmp_path / f"k{trial}.h5"
        proc = _writer(path, "--tasks", "24")
        try:
            proc.wait(timeout=rng.uniform(0.2, 2.0))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if path.exists():
            with StoreReader.open(path) as r:
                _check_done_tasks(r)
            run_fake(path, resume=True, n_tasks=24)
        else:  # killed while building the skeleton: only its own temporary (and the lock file) can be left
            left = {p.name for p in tmp_path.iterdir() if path.name in p.name}
            assert all(n == path.name + ".lock" or (n.startswith(f".{path.name}.new.") and n.endswith(".tmp"))
                       for n in left), left  # (a lock file outlives a kill -9; the next writer takes it over)
            run_fake(path, n_tasks=24)
        _assert_same_content(dump_datasets(path), want)
