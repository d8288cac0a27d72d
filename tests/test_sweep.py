"""End-to-end sweeps: a real campaign into a store, a real kill -9 and resume, a real Dask cluster, the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from xrdtui.store.layout import SCHEMA
from xrdtui.store.reader import StoreReader
from xrdtui.jobs.config import parse_config
from xrdtui.jobs.campaign import run_campaign

SMALL = """
name = "small"
seed = 11
structures = ["U2Ti", "ErPt3"]
distortions = 3
methods = ["cosine", "entropy"]
modes = ["free", "projected"]
[noise]
lattice = [0.02, 0.08]
[optimizer]
max_steps = 25
"""


def _cli(*args, cwd=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "xrdtui", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout, env={**os.environ, "OMP_NUM_THREADS": "1"})


def _results(path: Path) -> dict[str, dict[str, np.ndarray]]:
    """Every stored result array of every task (timings and worker names excluded)."""
    out = {}
    with StoreReader.open(path) as r:
        for t in r.tasks():
            res = r.task(t.task_id).result
            if res is None:
                continue
            out[t.task_id] = {k: np.asarray(v) for k, v in res.__dict__.items()
                              if k not in ("wall_s", "worker") and v is not None and not isinstance(v, list)}
            out[t.task_id]["reasons"] = np.asarray(res.reasons)
    return out


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for tid in a:
        for key in a[tid]:
            np.testing.assert_array_equal(a[tid][key], b[tid][key], err_msg=f"{tid}:{key}")


def test_tiny_store_holds_real_results(tiny_store):
    with StoreReader.open(tiny_store) as r:
        prog = r.progress()
        # per structure: 2 lattice levels x (2 losses x 2 modes + CHGNet), 1 coordinate level x (2 losses, free
        # only: projection acts on the lattice, which coordinate noise leaves alone, + CHGNet)
        assert prog.total == 2 * (2 * (2 * 2 + 1) + (2 + 1)) and prog.done == prog.total and prog.finished
        rows = {t.task_id: t for t in r.tasks()}
        # Lattice noise 0.03 on U2Ti: the projected cosine descent matches every member.
        easy = rows["U2Ti/lattice/0.030/cosine/projected"]
        assert easy.k == easy.n == 4
        assert 0 < easy.lo < 1 and easy.hi == 1.0
        rec = r.task("U2Ti/lattice/0.100/cosine/free")
        res = rec.result
        assert res.loss.shape[1] == 4 and res.lattice.shape[1:] == (4, 6)
        # The first trajectory row is the distorted start; the loss decreases overall.
        np.testing.assert_allclose(res.lattice[0], res.init_lattice, rtol=1e-6)
        assert np.all(res.loss[res.n_steps, np.arange(4)] <= res.loss[0] + 1e-6)
        # Coordinate-noise tasks store coordinates per step; CHGNet tasks store energies per step.
        coords = r.task("Au2S/coords/0.050/cosine/free").result
        assert coords.frac is not None and coords.frac.shape[2:] == (6, 3)
        relax = r.task("Au2S/lattice/0.100/chgnet/relax").result
        assert relax.n == 1 and np.isfinite(relax.loss[0, 0]) and relax.loss[0, 0] < 0  # eV/atom
        truth = r.structures()["U2Ti"]
        assert truth.spacegroup_number == 191 and truth.pattern.shape == (9000,)


def test_same_seed_same_store(tmp_path):
    cfg = parse_config(SMALL.replace('["U2Ti", "ErPt3"]', '["ErPt3"]').replace("[0.02, 0.08]", "[0.05]"))
    a = run_campaign(cfg, store_path=tmp_path / "a.h5", scheduler="inline")
    b = run_campaign(cfg, store_path=tmp_path / "b.h5", scheduler="inline")
    _assert_same(_results(a), _results(b))


def test_existing_store_needs_resume_or_overwrite(tmp_path):
    from xrdtui.errors import ConfigError

    cfg = parse_config(SMALL.replace('["U2Ti", "ErPt3"]', '["ErPt3"]').replace("[0.02, 0.08]", "[0.05]")
                       .replace('["cosine", "entropy"]', '["cosine"]'))
    path = run_campaign(cfg, store_path=tmp_path / "s.h5", scheduler="inline")
    before = path.read_bytes()
    with pytest.raises(ConfigError, match="--resume"):
        run_campaign(cfg, store_path=path, scheduler="inline")
    assert path.read_bytes() == before


@pytest.mark.slow  # ~50 s; the store-level kill -9 / resume test (test_store_live) stays in the default run
def test_kill_minus_9_then_resume_equals_uninterrupted(tmp_path):
    """A real sweep process is killed mid-run; the store opens with every finished task, and --resume
    completes it to the same content as an uninterrupted run with the same seed."""
    config = tmp_path / "small.toml"
    config.write_text(SMALL)
    reference = run_campaign(parse_config(SMALL), store_path=tmp_path / "reference.h5", scheduler="inline")

    store = tmp_path / "killed.h5"
    proc = subprocess.Popen([sys.executable, "-m", "xrdtui", "run", str(config), "--store", str(store),
                             "--workers", "1", "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "OMP_NUM_THREADS": "1"}, start_new_session=True)
    deadline = time.time() + 240
    done = 0
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.3)
        if store.exists():
            try:
                with StoreReader.open(store) as r:
                    done = r.progress().done
            except Exception:
                continue
            if done >= 2:
                break
    assert proc.poll() is None, f"sweep ended before it could be killed: {proc.stderr.read()}"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()

    with StoreReader.open(store) as r:  # opens after the crash
        prog = r.progress()
        assert 2 <= prog.done < prog.total and not prog.finished
        survived = _results(store)
    ref = _results(reference)
    for tid, arrays in survived.items():  # every finished task is intact
        for key in arrays:
            np.testing.assert_array_equal(arrays[key], ref[tid][key], err_msg=f"{tid}:{key}")

    result = _cli("run", config, "--store", store, "--resume", "--workers", "1", "--quiet")
    assert result.returncode == 0, result.stderr
    _assert_same(_results(store), ref)
    with h5py.File(store, "r") as f:  # closed cleanly: plain h5py (no SWMR flag) opens it
        assert f.attrs["format"] == "xrdtui-store" and f.attrs["schema"] == SCHEMA


def test_dask_local_cluster_runs_the_same_tasks(tmp_path):
    cfg = parse_config(SMALL.replace('["U2Ti", "ErPt3"]', '["U2Ti"]').replace("[0.02, 0.08]", "[0.05]")
                       .replace('["cosine", "entropy"]', '["cosine"]'))
    inline = run_campaign(cfg, store_path=tmp_path / "inline.h5", scheduler="inline")
    dask = run_campaign(cfg, store_path=tmp_path / "dask.h5", scheduler="local", workers=2)
    _assert_same(_results(dask), _results(inline))


def test_rerunning_a_finished_campaign_shows_it_and_changes_nothing(tmp_path, tiny_store, tiny_config_text):
    config = tmp_path / "tiny.toml"
    config.write_text(tiny_config_text)
    before = tiny_store.read_bytes()
    again = _cli("run", config, "--store", tiny_store)
    assert again.returncode == 0, again.stderr
    assert "already holds this finished campaign" in again.stderr
    assert "26/26 tasks" in again.stdout
    assert tiny_store.read_bytes() == before
    changed = config.with_name("changed.toml")
    changed.write_text(tiny_config_text.replace("seed = 7", "seed = 8"))
    refused = _cli("run", changed, "--store", tiny_store)
    assert refused.returncode == 4 and "--resume" in refused.stderr
    assert tiny_store.read_bytes() == before


def test_cli_end_to_end(tmp_path, tiny_store):
    status = _cli("status", tiny_store, "--json")
    assert status.returncode == 0, status.stderr
    data = json.loads(status.stdout)
    assert data["done"] == data["total"] == 26 and data["state"] == "finished"

    ls = _cli("ls", tiny_store)
    assert "U2Ti/lattice/0.030/cosine/projected" in ls.stdout

    show = _cli("show", tiny_store, "U2Ti/lattice/0.030/cosine/projected", "--json")
    members = json.loads(show.stdout)["members"]
    assert len(members) == 4 and all(m["matched"] for m in members)

    compare = _cli("compare", tiny_store, "--json")
    assert compare.returncode == 0, compare.stderr
    rows = {(r["noise"], r["level"]): r for r in json.loads(compare.stdout)}
    assert set(rows) == {("lattice", 0.03), ("lattice", 0.1), ("coords", 0.05)}
    easy = rows[("lattice", 0.03)]
    assert easy["cosine projected"]["k"] == easy["cosine projected"]["n"] == 8  # 2 structures x 4 members
    assert easy["chgnet"]["n"] == 2 and set(easy) == {"noise", "level", "cosine free", "cosine projected", "chgnet"}

    out = tmp_path / "members.csv"
    assert _cli("export", tiny_store, "-o", out).returncode == 0
    lines = out.read_text().splitlines()
    # 2 structures x (2 lattice levels x 4 XRD tasks + 1 coordinate level x 2 free tasks) x 4 members
    # + 6 CHGNet tasks x 1 member
    assert len(lines) == 1 + 2 * (2 * 4 + 2) * 4 + 6
    wide = tmp_path / "wide.csv"
    assert _cli("export", tiny_store, "-o", wide, "--wide").returncode == 0
    assert len(wide.read_text().splitlines()) == 1 + 26  # header + one row per task


@pytest.mark.parametrize(
    "args, code, fragment",
    [
        (("status", "missing.h5"), 5, "no such store"),
        (("run", "nope.toml"), 4, "not found"),
        (("status", "foreign.h5"), 5, "not an xrdtui store"),
    ],
)
def test_cli_errors_are_one_line(tmp_path, args, code, fragment):
    (tmp_path / "foreign.h5").write_bytes(b"definitely not hdf5")
    result = _cli(*args, cwd=tmp_path)
    assert result.returncode == code
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_no_terminal_prints_the_headless_commands(tmp_path):
    result = subprocess.run([sys.executable, "-m", "xrdtui"], capture_output=True, text=True, cwd=tmp_path,
                            stdin=subprocess.DEVNULL, timeout=60)
    assert result.returncode == 0
    assert "no terminal attached" in result.stdout
    for command in ("xrdtui run", "xrdtui status", "xrdtui export", "xrdtui compare", "xrdtui open"):
        assert command in result.stdout
    assert not (tmp_path / "store").exists()  # nothing was created


def test_chgnet_task_split_across_workers_merges_to_the_whole():
    """A CHGNet task runs as member slices on several workers; the merged result is the whole task's."""
    from xrdtui.jobs.tasks import build_work, merge_results, run_task, split_work

    cfg = parse_config(SMALL.replace('["U2Ti", "ErPt3"]', '["ErPt3"]').replace("[0.02, 0.08]", "[0.05]")
                       .replace('["cosine", "entropy"]', '["chgnet"]') + "[chgnet]\nsteps = 8\n")
    (item,) = build_work(cfg, {"ErPt3": 4})
    parts = split_work(item, 2)
    assert [p.members for p in parts] == [(0, 2), (2, 3)]
    whole = run_task(item)
    merged = merge_results([run_task(p) for p in parts])
    assert merged.n == whole.n == 3 and merged.k == whole.k
    np.testing.assert_array_equal(merged.n_steps, whole.n_steps)
    np.testing.assert_array_equal(merged.init_lattice, whole.init_lattice)
    np.testing.assert_allclose(merged.final_lattice, whole.final_lattice, rtol=1e-5)
    np.testing.assert_allclose(merged.loss, whole.loss, rtol=1e-5, equal_nan=True)
    assert (merged.lo, merged.hi) == (whole.lo, whole.hi)
    # XRD tasks stay whole: their members are one vectorised batch.
    (xrd,) = build_work(parse_config(SMALL.replace('["U2Ti", "ErPt3"]', '["ErPt3"]')
                                     .replace("[0.02, 0.08]", "[0.05]").replace('["cosine", "entropy"]', '["cosine"]')
                                     .replace('["free", "projected"]', '["free"]')), {"ErPt3": 4})
    assert split_work(xrd, 2) == [xrd]
