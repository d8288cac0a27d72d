"""One writer at a time: a second writer (create, resume, landscape append) is refused with one line, two
simultaneous `xrdtui run` never lose a store, and nothing deletes a file it did not create."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from xrdtui.errors import StoreError
from xrdtui.store.lock import StoreLock, lock_path
from xrdtui.store.reader import StoreReader
from xrdtui.store.writer import StoreWriter
from tests.test_store import _campaign, _landscape

TOML = """
name = "race"
seed = 3
structures = ["U2Ti", "Au2S"]
distortions = 3
methods = ["none", "cosine"]
modes = ["free"]
[noise]
lattice = [0.02, 0.05]
[optimizer]
max_steps = 5
"""


def _create(path, overwrite=False):
    return _campaign(path, overwrite=overwrite)[0]


def test_second_writer_is_refused_while_the_first_holds_the_store(tmp_path):
    path = tmp_path / "a.h5"
    first = _create(path)
    try:
        with pytest.raises(StoreError, match="being written by another xrdtui process .*creating"):
            _create(path, overwrite=True)
        with pytest.raises(StoreError, match="being written"):
            StoreWriter.resume(path)
    finally:
        first.close()
    writer, _ = StoreWriter.resume(path)  # released on close: the next writer gets it
    writer.close()
    assert not lock_path(path).exists()  # removed on release


def test_landscape_append_waits_for_the_lock_then_refuses(tmp_path, monkeypatch):
    from xrdtui.store import landscapes

    path = tmp_path / "land.h5"
    landscapes.append_landscape(path, _landscape())
    monkeypatch.setattr(landscapes, "LOCK_WAIT_S", 0.3)
    with StoreLock(path, landscapes.APPENDING):  # another append: waited for, then refused
        with pytest.raises(StoreError, match="being written by another xrdtui process"):
            landscapes.append_landscape(path, _landscape(), replace=True)
    with StoreLock(path, "writing"):  # a campaign writer: refused at once
        with pytest.raises(StoreError, match="being written"):
            landscapes.append_landscape(path, _landscape(), replace=True)
    landscapes.append_landscape(path, _landscape(), replace=True)


def test_files_the_writer_did_not_create_are_left_alone(tmp_path):
    path = tmp_path / "b.h5"
    foreign = [tmp_path / "b.h5.tmp", tmp_path / "b.h5.bak", tmp_path / ".b.h5.new.abc.tmp"]
    for f in foreign:
        f.write_bytes(b"someone else's")
    _create(path).close()
    writer, _ = StoreWriter.resume(path)
    writer.close()
    assert all(f.read_bytes() == b"someone else's" for f in foreign)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(["b.h5", *(f.name for f in foreign)])


def _race(tmp_path, trial: int, resume: bool) -> None:
    cfg = tmp_path / "race.toml"
    cfg.write_text(TOML)
    store = tmp_path / f"race{trial}.h5"
    if resume:  # a stopped campaign that two `run --resume` then race to finish
        from xrdtui.jobs.campaign import run_campaign
        from xrdtui.jobs.config import parse_config

        run_campaign(parse_config(TOML), store_path=store, scheduler="inline", only="U2Ti/*")
    args = [sys.executable, "-m", "xrdtui", "run", str(cfg), "--store", str(store), "--scheduler", "inline", "-q",
            *(["--resume"] if resume else [])]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for _ in range(2)]
    outs = [p.communicate(timeout=240) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes[0] == 0, outs
    for p, (_, err) in zip(procs, outs):
        if p.returncode:
            assert p.returncode == 5 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    with StoreReader.open(store) as r:
        prog = r.progress()
        assert (prog.done, prog.total, prog.finished) == (8, 8, True)
    assert [q.name for q in tmp_path.iterdir() if q.name.endswith(".tmp")] == []


@pytest.mark.parametrize("resume", [False, pytest.param(True, marks=pytest.mark.slow)])  # ~14 s each
def test_two_simultaneous_runs_never_lose_the_store(tmp_path, resume):
    _race(tmp_path, 0, resume)


@pytest.mark.slow
def test_twenty_races_of_two_writers(tmp_path):
    for trial in range(20):
        _race(tmp_path, trial, resume=bool(trial % 2))


def test_a_store_gets_the_mode_of_a_plain_new_file_and_keeps_it_on_resume(tmp_path):
    import os
    import stat

    from xrdtui.store.synthetic import run_fake

    path = tmp_path / "mode.h5"
    old = os.umask(0o027)
    try:
        run_fake(path, n_tasks=2)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    path.chmod(0o644)
    run_fake(path, n_tasks=2, resume=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
