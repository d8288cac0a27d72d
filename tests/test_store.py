"""Store round trip, layout, reader contract and error handling (in-process, fast)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

from xrdtui.errors import ConfigError, StoreError
from xrdtui.store import StoreReader, StoreWriter, TaskInfo
from xrdtui.store import layout as L
from xrdtui.store.synthetic import dump_datasets, fake_result, fake_structures, fake_tasks


def _campaign(path, n_members=3, max_steps=12, **kw):
    structures = fake_structures(("U2Ti", "Au2S"))
    tasks = fake_tasks(structures, n_members=n_members, max_steps=max_steps, levels=(0.05,), modes=("free",))
    writer = StoreWriter.create(
        path, name="t", tasks=tasks, structures=structures, config_text="a = 1\n", config_hash="h1",
        versions={"numpy": "x", "h5py": "y"}, seed=11, **kw,
    )
    return writer, tasks, structures


def _assert_result_equal(got, want):
    for name in ("loss", "lattice", "frac"):
        w = getattr(want, name)
        if w is None:
            assert getattr(got, name) is None
        else:
            np.testing.assert_array_equal(getattr(got, name), np.asarray(w, dtype="f4"))
    for name in ("n_steps", "init_lattice", "init_frac", "final_lattice", "final_frac", "matched", "rms",
                 "final_loss", "final_similarity", "converged", "failed", "init_pattern", "final_pattern"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)
    assert got.reasons == want.reasons
    assert (got.wall_s, got.worker, got.k, got.n, got.lo, got.hi) == (
        want.wall_s, want.worker, want.k, want.n, want.lo, want.hi)


def test_round_trip(tmp_path):
    path = tmp_path / "c.h5"
    writer, tasks, structures = _campaign(path)
    results = {}
    with writer:
        for t in tasks[::2]:
            writer.mark_running(t.task_id)
            results[t.task_id] = fake_result(t)
            writer.write_result(t.task_id, results[t.task_id])
        writer.mark_failed(tasks[1].task_id, "worker died: " + "x" * 300)
        assert writer.done_ids == set(results)
        writer.finish()
    with StoreReader.open(path) as r:
        assert r.info.kind == "campaign" and r.info.schema == L.SCHEMA and r.info.name == "t"
        assert r.info.config_text == "a = 1\n" and r.info.config_hash == "h1" and r.info.seed == 11
        assert r.info.versions == {"numpy": "x", "h5py": "y"}
        prog = r.progress()
        assert (prog.total, prog.done, prog.failed, prog.running) == (len(tasks), len(results), 1, 0)
        assert prog.pending == len(tasks) - len(results) - 1
        assert prog.finished and not prog.live
        rows = {row.task_id: row for row in r.tasks()}
        assert [row.task_id for row in r.tasks()] == [t.task_id for t in tasks]
        for tid, res in results.items():
            rec = r.task(tid)
            assert rec.status == "done" and rows[tid].status == "done"
            assert rec.info == next(t for t in tasks if t.task_id == tid)
            _assert_result_equal(rec.result, res)
            assert (rows[tid].k, rows[tid].n, rows[tid].rate) == (res.k, res.n, res.k / res.n)
        failed = r.task(tasks[1].task_id)
        assert failed.status == "failed" and failed.result is None
        assert failed.reason == ("worker died: " + "x" * 300)[:120]
        assert r.tasks()[3].status == "pending"
        s = r.structures()
        for want in structures:
            got = s[want.name]
            assert got.species == want.species and got.family == want.family
            np.testing.assert_array_equal(got.frac, want.frac)
            np.testing.assert_array_equal(got.pattern, want.pattern.astype("f4"))
        np.testing.assert_allclose(r.preview_two_theta(), np.arange(900) * 0.1, atol=1e-5)
        tree = r.tree()
        assert tree["U2Ti"]["lattice"]["0.050"]["cosine"]["free"] == "done"
        assert sum(1 for _ in _leaves(tree)) == len(tasks)
    # Readable without xrdtui: plain h5py, hierarchy paths as documented.
    with h5py.File(path, "r") as f:
        g = f["/runs/U2Ti/coords/0.050/mse/free"]
        assert g["frac"].compression == "gzip" and g["loss"].chunks is not None
        assert f.attrs["format"] == "xrdtui-store"
        assert "frac" not in f["/runs/U2Ti/lattice/0.050/mse/free"]


def _leaves(tree):
    for v in tree.values():
        if isinstance(v, dict):
            yield from _leaves(v)
        else:
            yield v


def test_partial_loss_then_result(tmp_path):
    path = tmp_path / "c.h5"
    writer, tasks, _ = _campaign(path, max_steps=12)
    t = tasks[0]
    res = fake_result(t)
    with writer, StoreReader.open(path) as r:
        writer.mark_running(t.task_id)
        streamed = np.arange(13 * t.n_members, dtype="f4").reshape(13, t.n_members)
        writer.write_partial_loss(t.task_id, 0, streamed[:5])
        writer.write_partial_loss(t.task_id, 5, streamed[5:])
        rec = r.task(t.task_id)
        assert rec.status == "running" and rec.result is None
        np.testing.assert_array_equal(rec.partial_loss, streamed)
        assert r.progress().running == 1
        writer.write_result(t.task_id, res)
        rec = r.task(t.task_id)
        _assert_result_equal(rec.result, res)
    with h5py.File(path, "r") as f:  # streamed rows past the final length are back to NaN
        loss = f[L.run_path(t.task_id)]["loss"][...]
        assert np.isnan(loss[res.loss.shape[0]:]).all()
    writer, done = StoreWriter.resume(path)
    with writer:
        assert done == {t.task_id}
        with pytest.raises(ValueError, match="already written"):
            writer.write_result(t.task_id, res)


def test_result_shape_checked(tmp_path):
    writer, tasks, _ = _campaign(tmp_path / "c.h5")
    with writer:
        bad = fake_result(tasks[0])
        bad.final_lattice = bad.final_lattice[:, :5]
        with pytest.raises(ValueError, match="final_lattice"):
            writer.write_result(tasks[0].task_id, bad)
        with pytest.raises(ValueError, match="unknown task"):
            writer.mark_running("nope/lattice/0.050/cosine/free")


def test_task_id_and_level_format():
    assert L.format_level(0.05) == "0.050" and L.format_level(0.1) == "0.100" and L.format_level(0.0005) == "0.0005"
    assert L.task_id("U2Ti", "lattice", 0.05, "cosine", "free-from-projected-init") == (
        "U2Ti/lattice/0.050/cosine/free-from-projected-init")
    with pytest.raises(ConfigError):
        L.task_id("a/b", "lattice", 0.05, "cosine", "free")
    with pytest.raises(ConfigError):
        L.format_level(float("nan"))
    t = TaskInfo("wrong", "U2Ti", "lattice", 0.05, "cosine", "free", 2, 3, 4, False, 1)
    with pytest.raises(ValueError, match="hierarchy path"):
        StoreWriter.create("/nonexistent/x.h5", name="x", tasks=[t], structures=fake_structures(("U2Ti",)))


def test_reader_never_reads_trajectories_for_status(tmp_path, monkeypatch):
    path = tmp_path / "c.h5"
    writer, tasks, _ = _campaign(path, n_members=8, max_steps=60)
    with writer:
        for t in tasks:
            writer.write_result(t.task_id, fake_result(t))
    reads = []
    original = h5py.Dataset.__getitem__

    def spy(self, sel):
        reads.append(self.name)
        return original(self, sel)

    monkeypatch.setattr(h5py.Dataset, "__getitem__", spy)
    with StoreReader.open(path) as r:
        reads.clear()
        r.refresh()
        r.progress()
        r.tasks()
        r.tree()
        r.match_table(("method",))
        assert reads and not [n for n in reads if n.startswith("/runs")]
        assert {n.rsplit("/", 1)[0] for n in reads} == {"/progress"}
        r.task(tasks[0].task_id)
        assert any(n.endswith("/loss") for n in reads)  # the spy does see trajectory reads


def test_match_table_pools_counts(tmp_path):
    from scipy.stats import beta

    path = tmp_path / "c.h5"
    writer, tasks, _ = _campaign(path)
    with writer:
        for t in tasks:
            writer.write_result(t.task_id, fake_result(t))
    with StoreReader.open(path) as r:
        table = r.match_table(("structure", "method"))
        assert len(table) == 4
        for row in table:
            sel = [t for t in tasks if (t.structure, t.method) == row.key]
            k = sum(fake_result(t).k for t in sel)
            n = sum(fake_result(t).n for t in sel)
            assert (row.k, row.n, row.tasks) == (k, n, len(sel))
            lo = 0.0 if k == 0 else beta.ppf(0.025, k + 0.5, n - k + 0.5)
            hi = 1.0 if k == n else beta.ppf(0.975, k + 0.5, n - k + 0.5)
            assert row.lo == pytest.approx(lo) and row.hi == pytest.approx(hi)
        with pytest.raises(ConfigError):
            r.match_table(("colour",))
        fails = r.failures()
        want = [(t.task_id, b) for t in tasks for b in np.flatnonzero(fake_result(t).failed)]
        assert [(f.task_id, f.member) for f in fails] == want
        assert all(f.reason.startswith("NaN in lattice") for f in fails)
        with pytest.raises(StoreError, match="no task"):
            r.task("X/lattice/0.050/cosine/free")


# ---- invalid files: clear StoreError, never modified ------------------------------------------------
def _valid_store(path):
    writer, tasks, _ = _campaign(path)
    with writer:
        writer.write_result(tasks[0].task_id, fake_result(tasks[0]))
    return path


def _make_bad(kind, tmp_path):
    p = tmp_path / f"{kind}.h5"
    if kind == "foreign":
        with h5py.File(p, "w") as f:
            f["x"] = np.arange(3)
    elif kind == "foreign-latest":
        with h5py.File(p, "w", libver="latest") as f:
            f.attrs["format"] = "something-else"
    elif kind == "random":
        p.write_bytes(np.random.default_rng(0).bytes(5000))
    elif kind == "empty":
        p.write_bytes(b"")
    elif kind in ("truncated", "truncated-tiny"):
        src = _valid_store(tmp_path / "src.h5").read_bytes()
        p.write_bytes(src[: len(src) // 2] if kind == "truncated" else src[:600])
    elif kind == "newer":
        _valid_store(p)
        with h5py.File(p, "r+") as f:
            f.attrs["schema"] = L.SCHEMA + 1
    elif kind == "directory":
        p.mkdir()
    return p


BAD = ["foreign", "foreign-latest", "random", "empty", "truncated", "truncated-tiny", "newer", "missing", "directory"]


@pytest.mark.parametrize("kind", BAD)
def test_bad_files_raise_store_error_and_stay_untouched(kind, tmp_path):
    from xrdtui.store import append_landscape

    p = _make_bad(kind, tmp_path)
    before = (p.read_bytes(), os.stat(p).st_mtime_ns) if p.is_file() else None
    attempts = [lambda: StoreReader.open(p), lambda: StoreWriter.resume(p)]
    if kind != "missing":  # (for a missing path these two create a new store, as they should)
        attempts.append(lambda: append_landscape(p, _landscape()))
        one = fake_structures(("U2Ti",))
        attempts.append(lambda: StoreWriter.create(p, name="x", tasks=fake_tasks(one)[:1], structures=one,
                                                   overwrite=True))
    for attempt in attempts:
        with pytest.raises(StoreError) as err:
            attempt()
        msg = str(err.value)
        assert "\n" not in msg and str(p.name) in msg
    if kind == "newer":
        assert "newer" in msg or "schema" in msg
    after = (p.read_bytes(), os.stat(p).st_mtime_ns) if p.is_file() else None
    assert before == after
    assert sorted(x.name for x in tmp_path.iterdir() if x.name != "src.h5") in ([p.name], [])


def test_existing_store_not_overwritten_without_flag(tmp_path):
    p = _valid_store(tmp_path / "c.h5")
    with pytest.raises(StoreError, match="already exists"):
        _campaign(p)
    w, _, _ = _campaign(p, overwrite=True)
    w.close()
    with StoreReader.open(p) as r:
        assert r.progress().done == 0


def test_resume_of_clean_store_keeps_content(tmp_path):
    p = tmp_path / "c.h5"
    writer, tasks, _ = _campaign(p)
    with writer:
        for t in tasks[:3]:
            writer.write_result(t.task_id, fake_result(t))
        writer.mark_running(tasks[3].task_id)
        writer.write_partial_loss(tasks[3].task_id, 0, np.ones((2, 3)))
        writer.mark_failed(tasks[4].task_id, "boom")
    with pytest.raises(ConfigError, match="configuration changed"):
        StoreWriter.resume(p, config_hash="other")
    with pytest.raises(ConfigError, match="task list"):
        StoreWriter.resume(p, tasks=tasks[:-1])
    follower = StoreReader.open(p)  # e.g. the TUI, open across the resume
    assert follower.progress().failed == 1
    writer, done = StoreWriter.resume(p, tasks=tasks, config_hash="h1")
    assert done == {t.task_id for t in tasks[:3]}
    assert [q.name for q in tmp_path.iterdir() if q.name.endswith(".tmp")] == []  # no backup, no temporary left
    with writer:
        assert writer.status(tasks[3].task_id) == "pending" and writer.status(tasks[4].task_id) == "pending"
        for t in tasks[3:]:
            writer.write_result(t.task_id, fake_result(t))
        writer.finish()
    follower.refresh()  # the file was replaced: refresh reopens it
    assert follower.progress().done == len(tasks) and follower.progress().finished
    follower.close()
    ref = tmp_path / "ref.h5"
    w2, _, _ = _campaign(ref)
    with w2:
        for t in tasks:
            w2.write_result(t.task_id, fake_result(t))
        w2.finish()
    _assert_same_content(dump_datasets(p), dump_datasets(ref))


def _assert_same_content(a, b):
    assert sorted(a) == sorted(b)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_reader_import_is_light():
    code = ("import sys, xrdtui.store, xrdtui.store.reader, xrdtui.store.writer; "
            "print(json.dumps([m for m in ('torch', 'pymatgen', 'scipy', 'chgnet') if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", "import json; " + code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


# ---- landscapes -----------------------------------------------------------------------------------
def _landscape(structure="U2Ti", objective="cosine", p1="a", p2="c", seed=0):
    from xrdtui.store import LandscapeMinimum, LandscapePath, LandscapeRecord

    rng = np.random.default_rng(seed)
    return LandscapeRecord(
        structure=structure, objective=objective, p1=p1, p2=p2,
        axis1=np.linspace(4.5, 5.0, 7), axis2=np.linspace(2.6, 3.0, 5), unit1="angstrom", unit2="angstrom",
        grid=rng.random((7, 5)).astype("f4"), truth=np.array([4.7887, 4.7887, 2.8022, 90, 90, 120.0]),
        minima=[LandscapeMinimum(0, 3, 2, 4.75, 2.8, 0.01, 0.5), LandscapeMinimum(1, 6, 0, 5.0, 2.6, 0.2, 0.05)],
        minima_patterns=rng.random((2, 900)).astype("f4"), two_theta=np.arange(900) * 0.1,
        paths=[LandscapePath("free", rng.random((11, 2)), np.array([4.6, 2.7]), 0.02),
               LandscapePath("projected", rng.random((4, 2)), np.array([4.9, 2.9]), 0.3)],
        attrs={"steps": 100, "lr": 0.01, "note": "test"},
    )


def _assert_landscape_equal(got, want):
    for name in ("structure", "objective", "p1", "p2", "unit1", "unit2", "minima", "attrs"):
        assert getattr(got, name) == getattr(want, name), name
    for name in ("axis1", "axis2", "grid", "truth", "minima_patterns"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name))
    np.testing.assert_allclose(got.two_theta, want.two_theta, rtol=1e-6)
    assert [(p.mode, p.final_loss) for p in got.paths] == [(p.mode, p.final_loss) for p in want.paths]
    for g, w in zip(got.paths, want.paths, strict=True):
        np.testing.assert_array_equal(g.points, w.points)
        np.testing.assert_array_equal(g.start, w.start)


def test_append_landscape_new_and_existing_store(tmp_path):
    from xrdtui.store import append_landscape

    new = tmp_path / "land.h5"
    rec = _landscape()
    assert append_landscape(new, rec) == "U2Ti/cosine/a-c"
    append_landscape(new, _landscape(p1="b", seed=1))
    with StoreReader.open(new) as r:
        assert r.info.kind == "landscapes"
        assert r.landscapes() == ["U2Ti/cosine/a-c", "U2Ti/cosine/b-c"]
        _assert_landscape_equal(r.landscape("U2Ti/cosine/a-c"), rec)
        assert r.progress().total == 0 and r.tasks() == [] and r.tree() == {}
        with pytest.raises(StoreError, match="no landscape"):
            r.landscape("U2Ti/mse/a-c")
    with pytest.raises(StoreError, match="already holds"):
        append_landscape(new, rec)
    append_landscape(new, _landscape(seed=5), replace=True)
    with StoreReader.open(new) as r:
        _assert_landscape_equal(r.landscape("U2Ti/cosine/a-c"), _landscape(seed=5))

    campaign = _valid_store(tmp_path / "c.h5")
    before = dump_datasets(campaign)
    follower = StoreReader.open(campaign)
    append_landscape(campaign, rec)
    follower.refresh()
    assert follower.landscapes() == ["U2Ti/cosine/a-c"]
    follower.close()
    after = dump_datasets(campaign)
    assert {k: v for k, v in after.items() if not k.startswith("/landscapes")}.keys() == before.keys()
    _assert_same_content(before, {k: v for k, v in after.items() if not k.startswith("/landscapes")})
    with StoreReader.open(campaign) as r:
        assert r.info.kind == "campaign" and r.landscapes() == ["U2Ti/cosine/a-c"]
        _assert_landscape_equal(r.landscape("U2Ti/cosine/a-c"), rec)
        assert r.progress().done == 1


def test_append_landscape_failure_leaves_store_intact(tmp_path, monkeypatch):
    from xrdtui.store import append_landscape, landscapes

    p = _valid_store(tmp_path / "c.h5")
    append_landscape(p, _landscape())
    before = (p.read_bytes(), os.stat(p).st_mtime_ns)
    real = landscapes.write_landscape

    def half_then_crash(f, key, record):
        real(f, key, record)
        f.flush()
        raise RuntimeError("simulated crash mid-write")

    monkeypatch.setattr(landscapes, "write_landscape", half_then_crash)
    with pytest.raises(RuntimeError, match="simulated"):
        append_landscape(p, _landscape(p1="b"))
    assert (p.read_bytes(), os.stat(p).st_mtime_ns) == before
    assert sorted(x.name for x in tmp_path.iterdir()) == ["c.h5"]
    with StoreReader.open(p) as r:
        assert r.landscapes() == ["U2Ti/cosine/a-c"]


def test_append_landscape_refused_while_sweep_is_live(tmp_path):
    from xrdtui.store import append_landscape

    p = tmp_path / "c.h5"
    writer, _, _ = _campaign(p)
    with writer:
        with pytest.raises(StoreError, match="being written"):
            append_landscape(p, _landscape())
        with pytest.raises(StoreError, match="being written"):
            _campaign(p, overwrite=True)
        with pytest.raises(StoreError, match="being written"):
            StoreWriter.resume(p)


@pytest.mark.skipif(not __import__("shutil").which("h5ls"), reason="hdf5-tools (h5ls, h5dump) not installed")
def test_ordinary_hdf5_tools_read_both_kinds_of_store(tiny_store, tmp_path):
    """Debian's h5ls / h5dump (HDF5 1.10) read a real campaign store and a landscape store without an error:
    the stores are written with 1.10 object formats (layout.LIBVER)."""
    land = tmp_path / "land.h5"
    from xrdtui.store.landscapes import append_landscape

    append_landscape(land, _landscape())
    for path in (tiny_store, land):
        ls = subprocess.run(["h5ls", "-r", str(path)], capture_output=True, text=True, timeout=60)
        assert ls.returncode == 0 and "ERROR" not in ls.stdout + ls.stderr, ls.stdout[-500:] + ls.stderr[-500:]
        assert ls.stdout.count("Dataset") > (20 if path == tiny_store else 8)
        dump = subprocess.run(["h5dump", "-A", str(path)], capture_output=True, text=True, timeout=60)
        assert dump.returncode == 0 and "error" not in dump.stderr.lower(), dump.stderr[-500:]


def test_live_rows_arriving_after_the_result_are_dropped(tmp_path):
    """A worker's last streamed loss rows can reach the writer after its task's result (two queues): the
    sweep drops them instead of failing (seen on the paper sweep: 'already done' ended the run)."""
    from xrdtui.jobs.campaign import _write_live

    path = tmp_path / "c.h5"
    writer, tasks, _ = _campaign(path)
    done, live = tasks[0], tasks[2]
    with writer:
        writer.mark_running(done.task_id)
        result = fake_result(done)
        writer.write_result(done.task_id, result)
        rows = np.full((2, done.n_members), 7.0)
        _write_live(writer, [(done.task_id, 0, rows), (live.task_id, "start"), (live.task_id, 0, rows)])
        assert writer.status(done.task_id) == "done" and writer.status(live.task_id) == "running"
        with pytest.raises(ValueError, match="already done"):  # the writer itself still refuses
            writer.write_partial_loss(done.task_id, 0, rows)
        writer.finish()
    with StoreReader.open(path) as r:
        np.testing.assert_array_equal(r.task(done.task_id).result.loss, np.asarray(result.loss, dtype="f4"))
