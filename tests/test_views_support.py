"""Deterministic synthetic stores for the TUI tests (written with the real StoreWriter).

Values look like a real campaign (decaying losses, lattices near the truth, peaked patterns) so the
screens and snapshots show something meaningful, but everything is numpy and seeded by task id.
No tests live here; the other ``test_views*`` modules import these helpers.
"""

from __future__ import annotations

import time
import zlib
from pathlib import Path

import h5py
import numpy as np

from xrdtui.store import layout as L
from xrdtui.store.records import (
    LandscapeMinimum,
    LandscapePath,
    LandscapeRecord,
    StructureInfo,
    TaskInfo,
    TaskResult,
)
from xrdtui.store.writer import StoreWriter, append_landscape

TWO_THETA = np.arange(9000) * 0.01
PREVIEW = TWO_THETA[::10]
FROZEN = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC: every clock reading of a frozen store
TRUTHS = {
    "U2Ti": (["U", "U", "Ti"], [4.83, 4.83, 2.85, 90.0, 90.0, 120.0], "P6/mmm", 191, "hexagonal"),
    "Au2S": (["Au"] * 4 + ["S"] * 2, [3.78, 3.78, 3.78, 90.0, 90.0, 90.0], "Pn-3m", 224, "cubic"),
}


def _rng(*parts) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32("/".join(map(str, parts)).encode()))


def peaks(positions, heights, axis=TWO_THETA, width=0.15) -> np.ndarray:
    y = np.zeros_like(axis, dtype=float)
    for p, h in zip(positions, heights):
        y += h * np.exp(-0.5 * ((axis - p) / width) ** 2)
    return y / y.max()


def structure(name: str) -> StructureInfo:
    species, lattice, symbol, number, family = TRUTHS[name]
    rng = _rng("truth", name)
    pos = np.sort(rng.uniform(15, 85, 8))
    return StructureInfo(
        name=name,
        species=species,
        lattice=np.array(lattice, float),
        frac=rng.random((len(species), 3)),
        spacegroup_symbol=symbol,
        spacegroup_number=number,
        family=family,
        pattern=peaks(pos, rng.uniform(0.2, 1.0, 8)).astype("f4"),
        two_theta=TWO_THETA,
    )


def tasks_for(structs, *, levels=(0.02, 0.08), noises=("lattice", "coords"), methods=("cosine", "mse"),
              modes=("free", "projected"), chgnet=True, members=6, steps=40) -> list[TaskInfo]:
    out = []
    for s in structs:
        for noise in noises:
            for level in levels:
                for method in methods:
                    for mode in modes:
                        out.append(TaskInfo.build(s.name, noise, level, method, mode, n_members=members,
                                                  n_sites=len(s.species), max_steps=steps,
                                                  traj_frac=noise == "coords", seed=3))
                if chgnet:
                    out.append(TaskInfo.build(s.name, noise, level, "chgnet", "relax", n_members=2,
                                              n_sites=len(s.species), max_steps=steps, traj_frac=True, seed=3))
    return out


def result_for(info: TaskInfo, truth: StructureInfo) -> TaskResult:
    """A plausible result: members converge unless the level is high; matched ones end near the truth."""
    rng = _rng(info.task_id)
    b, t = info.n_members, info.max_steps
    n_steps = rng.integers(t // 2, t + 1, size=b).astype(np.int32)
    rows = int(n_steps.max()) + 1
    p_match = 0.9 - 6 * info.level - (0.1 if info.mode == "free" else 0.0)
    matched = rng.random(b) < p_match
    steps = np.arange(rows)[:, None]
    if info.method == "chgnet":
        loss = -5.0 - 0.5 * (1 - np.exp(-steps / 8.0)) + 0.01 * rng.random((rows, b))
    else:
        floor = np.where(matched, 1e-4, 0.05)[None, :]
        loss = (0.5 * np.exp(-steps / (5 + 10 * rng.random(b))) + floor).astype(float)
    loss = loss.astype("f4")
    lattice = np.repeat(np.asarray(truth.lattice, "f4")[None, None, :], rows, axis=0).repeat(b, axis=1)
    frac = (np.repeat(np.asarray(truth.frac, "f4")[None, None], rows, 0).repeat(b, 1) if info.traj_frac else None)
    for m in range(b):
        loss[n_steps[m] + 1:, m] = np.nan
        lattice[n_steps[m] + 1:, m] = np.nan
        if frac is not None:
            frac[n_steps[m] + 1:, m] = np.nan
    init = np.asarray(truth.lattice)[None, :] * (1 + info.level * rng.uniform(-1, 1, (b, 6)))
    final = np.where(matched[:, None], np.asarray(truth.lattice)[None, :] * (1 + 0.002 * rng.uniform(-1, 1, (b, 6))),
                     init * (1 + 0.03 * rng.uniform(-1, 1, (b, 6))))
    failed = np.zeros(b, bool)
    if info.level > 0.05 and info.mode == "free":
        failed[-1] = True
        matched[-1] = False
    k = int(matched.sum())
    recovered = matched & (np.arange(b) % 2 == 0)  # the strict metric keeps every other matched member
    ks = int(recovered.sum())
    rng_pat = _rng("truth", truth.name)
    pos = np.sort(rng_pat.uniform(15, 85, 8))
    heights = rng_pat.uniform(0.2, 1.0, 8)
    init_pat = np.stack([peaks(pos * (1 - info.level * (i % 3 - 1)), heights, PREVIEW, 0.3) for i in range(b)])
    final_pat = np.stack([peaks(pos * (1.0 if matched[i] else 1.01), heights, PREVIEW, 0.3) for i in range(b)])
    return TaskResult(
        loss=loss, lattice=lattice, frac=frac, n_steps=n_steps,
        init_lattice=init, init_frac=np.repeat(truth.frac[None], b, 0), final_lattice=final,
        final_frac=np.repeat(truth.frac[None], b, 0), matched=matched,
        rms=np.where(matched, 0.01 + 0.05 * rng.random(b), np.nan),
        final_loss=np.nan_to_num(loss[n_steps, np.arange(b)].astype(float)),
        final_similarity=1 - np.nan_to_num(loss[n_steps, np.arange(b)].astype(float)),
        converged=n_steps < t, failed=failed,
        reasons=["degenerate cell (volume < 0)" if f else ("converged" if s < t else "max steps") for f, s in zip(failed, n_steps)],
        init_pattern=init_pat.astype("f2"), final_pattern=final_pat.astype("f2"),
        wall_s=1.0 + round(float(rng.random()), 2), worker="synthetic:1", k=k, n=b,
        lo=max(0.0, k / b - 0.3) if k else 0.0, hi=min(1.0, k / b + 0.3) if k < b else 1.0,
        recovered=recovered, strict_rms=np.where(recovered, 0.01, np.nan),
        length_error=np.abs(final / np.asarray(truth.lattice)[None] - 1)[:, :3].max(1),
        angle_error=np.abs(final - np.asarray(truth.lattice)[None])[:, 3:].max(1), site_error=np.zeros(b),
        ks=ks, lo_s=max(0.0, ks / b - 0.3) if ks else 0.0, hi_s=min(1.0, ks / b + 0.3) if ks < b else 1.0,
    )


def make_store(path: Path, *, names=("U2Ti", "Au2S"), finish=True, freeze=True, running=0, fail_task=True,
               **task_kw) -> Path:
    """A campaign store; the last ``running`` tasks are left running (with streamed loss) or pending."""
    path = Path(path)
    structs = [structure(n) for n in names]
    truths = {s.name: s for s in structs}
    tasks = tasks_for(structs, **task_kw)
    w = StoreWriter.create(path, name=path.stem, tasks=tasks, structures=structs, config_text="# synthetic\n",
                           config_hash="synthetic", versions={"numpy": np.__version__}, seed=3)
    with w:
        todo = tasks[: len(tasks) - running] if running else tasks
        for i, t in enumerate(todo):
            w.mark_running(t.task_id)
            if fail_task and i == 1:
                w.mark_failed(t.task_id, "worker died: synthetic failure")
                continue
            w.write_result(t.task_id, result_for(t, truths[t.structure]))
        for t in tasks[len(tasks) - running:] if running else []:
            w.mark_running(t.task_id)
            r = result_for(t, truths[t.structure])
            w.write_partial_loss(t.task_id, 0, r.loss[: r.loss.shape[0] // 2])
        w.heartbeat()
        if finish:
            w.finish()
    if freeze:
        freeze_clocks(path)
    return path


def freeze_clocks(path: Path, when: float = FROZEN) -> None:
    """Replace every clock reading (and the creation stamp) so screens and snapshots are deterministic."""
    with h5py.File(path, "r+") as f:
        f.attrs[L.A_CREATED] = "2023-11-14T22:13:20+00:00"
        for col in (L.P_STARTED_AT, L.P_FINISHED_AT):
            ds = f[L.progress_path(col)]
            vals = ds[...]
            ds[...] = np.where(np.isfinite(vals), when, np.nan)
        for col in (L.C_HEARTBEAT, L.C_STARTED, L.C_SESSION_STARTED, L.C_FINISHED_AT):
            name = L.progress_path(col)
            if name in f:
                ds = f[name]
                ds[...] = np.where(np.isfinite(ds[...]), when, np.nan)


def landscape(structure_name="U2Ti", objective="cosine", p1="a", p2="c", n=41) -> LandscapeRecord:
    """A bowl with its global minimum at the truth and a second, shallower one, plus two GD paths."""
    truth = np.array(TRUTHS[structure_name][1], float)
    names = ("a", "b", "c", "alpha", "beta", "gamma")
    t1, t2 = truth[names.index(p1)], truth[names.index(p2)]
    a1 = np.linspace(t1 * 0.9, t1 * 1.1, n)
    a2 = np.linspace(t2 * 0.9, t2 * 1.1, n)
    x, y = np.meshgrid((a1 - t1) / t1, (a2 - t2) / t2, indexing="ij")
    grid = 1 - np.exp(-((x / 0.03) ** 2 + (y / 0.03) ** 2)) - 0.5 * np.exp(-(((x - 0.06) / 0.02) ** 2 + ((y + 0.06) / 0.02) ** 2))
    if objective == "chgnet":
        grid = -5 + 2 * grid
    i2, j2 = int(np.argmin(np.abs(a1 - t1 * 1.06))), int(np.argmin(np.abs(a2 - t2 * 0.94)))
    i0, j0 = n // 2, n // 2
    minima = [LandscapeMinimum(0, i0, j0, float(a1[i0]), float(a2[j0]), float(grid[i0, j0]), 0.9),
              LandscapeMinimum(1, i2, j2, float(a1[i2]), float(a2[j2]), float(grid[i2, j2]), 0.3)]
    start = np.array([t1 * 0.95, t2 * 1.07])
    path_pts = np.linspace(start, [t1, t2], 12)
    path2 = np.linspace([t1 * 1.08, t2 * 0.9], [a1[i2], a2[j2]], 8)
    return LandscapeRecord(
        structure=structure_name, objective=objective, p1=p1, p2=p2, axis1=a1, axis2=a2, unit1="Å", unit2="Å",
        grid=grid.astype("f4"), truth=truth, minima=minima,
        minima_patterns=np.stack([peaks([20, 40], [1, 0.5], PREVIEW), peaks([21, 41], [1, 0.5], PREVIEW)]).astype("f4"),
        two_theta=PREVIEW,
        paths=[LandscapePath("free", path_pts, start, 0.001), LandscapePath("projected", path2, path2[0], 0.5)],
        attrs={"points": n},
    )


def add_landscapes(path: Path) -> list[str]:
    keys = []
    for obj, (p1, p2) in (("cosine", ("a", "c")), ("mse", ("a", "c")), ("chgnet", ("a", "c")), ("cosine", ("a", "b"))):
        keys.append(append_landscape(path, landscape("U2Ti", obj, p1, p2)))
    return keys


def write_live(path: Path, delay: float = 0.1, members: int = 6, steps: int = 40) -> None:
    """Write a campaign as the runner does, slowly: each task is marked running, streams half its loss
    rows, waits ``delay`` s, then gets its result; heartbeats throughout. Prints ``created`` once the
    store exists and ``done <i>`` after each task (run it in a subprocess: one writer per file)."""
    structs = [structure("U2Ti")]
    tasks = tasks_for(structs, members=members, steps=steps)
    w = StoreWriter.create(path, name="live", tasks=tasks, structures=structs, config_hash="live", seed=3)
    print("created", flush=True)
    with w:
        for i, t in enumerate(tasks):
            w.mark_running(t.task_id)
            r = result_for(t, structs[0])
            half = r.loss.shape[0] // 2
            for row in range(half):  # stream rows as the runner's live messages do
                w.write_partial_loss(t.task_id, row, r.loss[row:row + 1])
                if row % 5 == 4:
                    w.heartbeat()
                    time.sleep(delay / 4)
            w.heartbeat()
            if i == 3:
                w.mark_failed(t.task_id, "live synthetic failure")
            else:
                w.write_result(t.task_id, r)
            print(f"done {i}", flush=True)
        w.finish()


if __name__ == "__main__":  # python -m tests.test_views_support STORE [DELAY]
    import sys

    write_live(Path(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else 0.1)
