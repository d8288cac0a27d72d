"""Synthetic campaigns (random arrays, deterministic per seed) for tests, demos and TUI development.

``python -m xrdtui.store.synthetic STORE [--delay S] [--resume] [--tasks N]`` writes one slowly, so a
reader (``xrdtui status``, the TUI) can be watched against a live store without torch or pymatgen.
"""

from __future__ import annotations

import argparse
import time
import zlib
from pathlib import Path

import numpy as np

from xrdtui.store.records import StructureInfo, TaskInfo, TaskResult

_STRUCTS = {"U2Ti": ["U", "U", "Ti"], "Au2S": ["Au"] * 4 + ["S"] * 2, "NaX": ["Na"] * 5 + ["O"] * 5}


def fake_structures(names=tuple(_STRUCTS)) -> list[StructureInfo]:
    """Ground truths with random (seeded) coordinates and a 9000-point pattern."""
    out = []
    two_theta = np.arange(9000) * 0.01
    for name in names:
        rng = np.random.default_rng(zlib.crc32(name.encode()))
        species = _STRUCTS[name]
        pattern = rng.random(9000).astype("f4")
        out.append(
            StructureInfo(
                name=name,
                species=list(species),
                lattice=np.array([4.0, 4.5, 5.0, 90.0, 95.0, 120.0]),
                frac=rng.random((len(species), 3)),
                spacegroup_symbol="P1",
                spacegroup_number=1,
                family="triclinic",
                pattern=pattern / pattern.max(),
                two_theta=two_theta,
            )
        )
    return out


def fake_tasks(
    structures: list[StructureInfo],
    *,
    n_members: int = 4,
    max_steps: int = 20,
    levels=(0.05, 0.1),
    methods=("cosine", "mse"),
    modes=("free", "projected"),
    seed: int = 7,
) -> list[TaskInfo]:
    """All combinations; coords-noise tasks store frac trajectories, lattice-noise ones do not."""
    tasks = []
    for s in structures:
        for noise in ("lattice", "coords"):
            for level in levels:
                for method in methods:
                    for mode in modes:
                        tasks.append(
                            TaskInfo.build(
                                s.name, noise, level, method, mode,
                                n_members=n_members, n_sites=len(s.species), max_steps=max_steps,
                                traj_frac=noise == "coords", seed=seed,
                            )
                        )
    return tasks


def fake_result(info: TaskInfo, n_preview: int = 900) -> TaskResult:
    """A deterministic random result for ``info`` (same task -> same arrays in every process)."""
    rng = np.random.default_rng(zlib.crc32(info.task_id.encode()))
    b, n = info.n_members, info.n_sites
    n_steps = rng.integers(0, info.max_steps + 1, size=b).astype(np.int32)
    rows = int(n_steps.max()) + 1
    loss = rng.random((rows, b)).astype("f4")
    lattice = rng.random((rows, b, 6)).astype("f4")
    frac = rng.random((rows, b, n, 3)).astype("f4") if info.traj_frac else None
    for m in range(b):  # rows past a member's n_steps are NaN, as the engine pads them
        loss[n_steps[m] + 1 :, m] = np.nan
        lattice[n_steps[m] + 1 :, m] = np.nan
        if frac is not None:
            frac[n_steps[m] + 1 :, m] = np.nan
    matched = rng.random(b) < 0.5
    failed = rng.random(b) < 0.2
    k = int(matched.sum())
    return TaskResult(
        loss=loss,
        lattice=lattice,
        frac=frac,
        n_steps=n_steps,
        init_lattice=rng.random((b, 6)),
        init_frac=rng.random((b, n, 3)),
        final_lattice=rng.random((b, 6)),
        final_frac=rng.random((b, n, 3)),
        matched=matched,
        rms=np.where(matched, rng.random(b), np.nan),
        final_loss=rng.random(b),
        final_similarity=rng.random(b),
        converged=rng.random(b) < 0.5,
        failed=failed,
        reasons=["NaN in lattice ✗ " * (m + 1) if failed[m] else "" for m in range(b)],
        init_pattern=rng.random((b, n_preview)).astype("f2"),
        final_pattern=rng.random((b, n_preview)).astype("f2"),
        wall_s=float(rng.random()),
        worker="fake:1",
        k=k,
        n=b,
        lo=k / b / 2,
        hi=min(1.0, k / b + 0.1),
    )


def run_fake(path: str | Path, *, delay: float = 0.0, resume: bool = False, n_tasks: int | None = None,
             fail_every: int = 0, stream: bool = True) -> None:
    """Write a synthetic campaign task by task (``delay`` s each), printing ``done <i>`` as it goes."""
    from xrdtui.store.writer import StoreWriter

    structures = fake_structures()
    tasks = fake_tasks(structures)
    if n_tasks is not None:
        tasks = tasks[:n_tasks]
    if resume:
        writer, done = StoreWriter.resume(path, tasks=tasks, config_hash="fake")
    else:
        writer = StoreWriter.create(
            path, name="fake", tasks=tasks, structures=structures, config_text="[fake]\n",
            config_hash="fake", versions={"numpy": np.__version__}, seed=7,
        )
        done = set()
    with writer:
        for i, t in enumerate(tasks):
            if t.task_id in done:
                continue
            writer.mark_running(t.task_id)
            result = fake_result(t)
            if stream:
                half = max(1, result.loss.shape[0] // 2)
                writer.write_partial_loss(t.task_id, 0, result.loss[:half])
            if delay:
                time.sleep(delay)
            if fail_every and i % fail_every == fail_every - 1:
                writer.mark_failed(t.task_id, f"synthetic failure of task {i}")
            else:
                writer.write_result(t.task_id, result)
            print(f"done {i}", flush=True)
        writer.finish()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("store")
    ap.add_argument("--delay", type=float, default=0.0)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--tasks", type=int, default=None)
    ap.add_argument("--fail-every", type=int, default=0)
    args = ap.parse_args(argv)
    run_fake(args.store, delay=args.delay, resume=args.resume, n_tasks=args.tasks, fail_every=args.fail_every)


if __name__ == "__main__":
    main()


# Datasets whose values are clock readings (they differ between an interrupted+resumed run and an
# uninterrupted one by construction).
CLOCK_DATASETS = ("/progress/started_at", "/progress/finished_at", "/progress/heartbeat", "/progress/started",
                  "/progress/session_started", "/progress/session_done0", "/progress/finished_at_campaign",
                   "/progress/writer")


def dump_datasets(path: str | Path, skip=CLOCK_DATASETS) -> dict[str, np.ndarray]:
    """Every dataset of a store as ``{hdf5 path: array}`` (clock readings left out by default)."""
    import h5py

    from xrdtui.store.access import open_checked

    out: dict[str, np.ndarray] = {}
    with open_checked(path) as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and "/" + name not in skip:
                out["/" + name] = obj[...]
        f.visititems(visit)
    return out
