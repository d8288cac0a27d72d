"""Corruption is detected: every dataset is checksummed, a flipped byte is a one-line error on read,
`xrdtui verify` names the damaged task, and `--resume` runs it again while keeping the intact ones."""

from __future__ import annotations

import subprocess
import sys

import h5py
import numpy as np
import pytest

from xrdtui.errors import StoreError
from xrdtui.store import layout as L
from xrdtui.store.reader import StoreReader
from xrdtui.store.synthetic import dump_datasets, fake_structures, fake_tasks, run_fake
from xrdtui.store.writer import StoreWriter

N_TASKS = 4


def _flip_byte_in_chunk(path, dataset: str, chunk: int = 0) -> None:
    """Change one byte in the middle of a dataset's stored chunk, as a failing disk would."""
    with h5py.File(path, "r") as f:
        info = f[dataset].id.get_chunk_info(chunk)
    with open(path, "r+b") as fh:
        fh.seek(info.byte_offset + info.size // 2)
        byte = fh.read(1)
        fh.seek(info.byte_offset + info.size // 2)
        fh.write(bytes([byte[0] ^ 0x24]))


@pytest.fixture()
def damaged_store(tmp_path):
    path = tmp_path / "s.h5"
    run_fake(path, n_tasks=N_TASKS)
    tasks = fake_tasks(fake_structures())[:N_TASKS]
    victim = tasks[1].task_id
    before = dump_datasets(path)
    _flip_byte_in_chunk(path, f"{L.run_path(victim)}/{L.R_LOSS}")
    return path, tasks, victim, before


def _datasets(f: h5py.File) -> list[h5py.Dataset]:
    out: list[h5py.Dataset] = []
    f.visititems(lambda _n, obj: out.append(obj) if isinstance(obj, h5py.Dataset) else None)
    return out


def test_every_dataset_of_a_fresh_store_carries_a_checksum(tmp_path):
    path = tmp_path / "s.h5"
    run_fake(path, n_tasks=2)
    with h5py.File(path, "r") as f:
        datasets = _datasets(f)
        assert len(datasets) > 50
        assert [d.name for d in datasets if not d.fletcher32] == []


def test_a_flipped_byte_is_a_one_line_error_naming_the_dataset(damaged_store):
    path, tasks, victim, _ = damaged_store
    with StoreReader.open(path) as r:
        assert r.task(tasks[0].task_id).result is not None  # the others still read
        with pytest.raises(StoreError) as exc:
            r.task(victim)
    message = str(exc.value)
    assert "\n" not in message and "damaged" in message and f"{L.run_path(victim)}/{L.R_LOSS}" in message
    assert "xrdtui verify" in message


def test_verify_names_the_damaged_task_and_exits_5(damaged_store, tmp_path):
    path, tasks, victim, _ = damaged_store
    out = subprocess.run([sys.executable, "-m", "xrdtui", "verify", str(path), "--json"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 5, out.stderr
    import json

    report = json.loads(out.stdout)
    assert report["ok"] is False and report["damaged_tasks"] == [victim]
    assert report["checksummed"] == report["datasets"]
    assert out.stderr.strip().count("\n") == 0 and "--resume" in out.stderr
    clean = tmp_path / "clean.h5"
    run_fake(clean, n_tasks=2)
    ok = subprocess.run([sys.executable, "-m", "xrdtui", "verify", str(clean)], capture_output=True, text=True,
                        timeout=120)
    assert ok.returncode == 0 and "0 damaged" in ok.stdout


def test_resume_runs_the_damaged_task_again_and_keeps_the_rest(damaged_store):
    path, tasks, victim, before = damaged_store
    writer, done = StoreWriter.resume(path, tasks=tasks, config_hash="fake")
    with writer:
        assert writer.damaged == [victim]
        assert done == {t.task_id for t in tasks} - {victim}
    with StoreReader.open(path) as r:
        assert r.task(victim).status == "pending"
    after = dump_datasets(path)
    for t in tasks:
        if t.task_id == victim:
            continue
        prefix = L.run_path(t.task_id) + "/"
        kept = [k for k in before if k.startswith(prefix)]
        assert kept
        for k in kept:
            np.testing.assert_array_equal(after[k], before[k], err_msg=k)
    run_fake(path, n_tasks=N_TASKS, resume=True)  # finish: the damaged task is written again
    with StoreReader.open(path) as r:
        prog = r.progress()
        assert prog.finished and prog.done == N_TASKS
        np.testing.assert_array_equal(r.task(victim).result.loss.shape[1], tasks[1].n_members)


def _rewrite_without_checksums(src, dst) -> None:
    """A store as an older xrdtui wrote it: newest HDF5 object formats, no checksum filter."""
    with h5py.File(src, "r") as a, h5py.File(dst, "w", libver="latest") as b:
        for k, v in a.attrs.items():
            b.attrs[k] = v

        def copy(name, obj):
            if isinstance(obj, h5py.Group):
                g = b.require_group(name)
            else:
                g = b.create_dataset(name, data=obj[()], chunks=obj.chunks if obj.shape else None,
                                     maxshape=obj.maxshape if obj.shape else None)
            for k, v in obj.attrs.items():
                g.attrs[k] = v

        a.visititems(copy)


def test_resume_of_an_older_store_rewrites_it_checksummed(tmp_path):
    fresh = tmp_path / "fresh.h5"
    run_fake(fresh, n_tasks=3)
    old = tmp_path / "old.h5"
    _rewrite_without_checksums(fresh, old)
    with h5py.File(old, "r") as f:
        assert not any(d.fletcher32 for d in _datasets(f))
    before = dump_datasets(old)
    run_fake(old, n_tasks=3, resume=True)
    with h5py.File(old, "r") as f:
        assert [d.name for d in _datasets(f) if d.shape and not d.fletcher32] == []
    after = dump_datasets(old)
    runs = [k for k in before if k.startswith(f"/{L.G_RUNS}/")]
    assert runs
    for k in runs:
        np.testing.assert_array_equal(after[k], before[k], err_msg=k)
