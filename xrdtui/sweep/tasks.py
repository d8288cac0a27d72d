"""The task list of an experiment and the pure function that runs one task in a worker.

A task is one (structure, noise type, level, method, mode) cell: all distortions of that structure at
that level are recovered together as one batch. The distortions depend only on (seed, structure, noise,
level) — never on the method or mode — so every loss, every mode and CHGNet start from the very same
distorted structures.

``run_task`` runs in worker processes (local pool or Dask); it touches no store and returns a
:class:`~xrdtui.store.records.TaskResult`. Structures and simulators are cached per worker process.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from xrdtui.errors import InputError
from xrdtui.store.records import TaskInfo, TaskResult
from xrdtui.sweep.config import RELAX_METHOD, RELAX_MODE, ExperimentConfig

PREVIEW_STRIDE = 10  # 0.01° simulator bins -> 0.1° previews stored for the TUI overlays
LIVE_EVERY = 10  # steps between live loss messages from a worker
MAX_REASON = 120


@dataclass(frozen=True)
class WorkItem:
    """Everything a worker needs for one task (small and picklable)."""

    info: TaskInfo
    source: str  # benchmark name or structure file path
    distortions: int  # size of the seeded distortion batch the members are taken from
    pattern: dict[str, Any] = field(default_factory=dict)
    optimizer: dict[str, Any] = field(default_factory=dict)
    chgnet: dict[str, Any] = field(default_factory=dict)
    part: tuple[int, int] | None = None  # members [start, stop) when a task is split across workers

    @property
    def members(self) -> tuple[int, int]:
        return self.part or (0, self.info.n_members)


def split_work(item: WorkItem, parts: int) -> list[WorkItem]:
    """CHGNet tasks split into member slices so several workers share one (structure, level) cell; XRD
    tasks stay whole (their members are one vectorised batch). Results are joined by ``merge_results``."""
    n = item.info.n_members
    parts = min(parts, n)
    if item.info.method != RELAX_METHOD or parts < 2:
        return [item]
    bounds = np.linspace(0, n, parts + 1).round().astype(int)
    return [replace(item, part=(int(a), int(b))) for a, b in zip(bounds[:-1], bounds[1:])]


def merge_results(parts: list[TaskResult]) -> TaskResult:
    """One TaskResult from member slices (in member order); the match rate is recomputed on the whole."""
    from xrdtui.engine.matching import jeffreys_interval

    if len(parts) == 1:
        return parts[0]
    cat = {}
    for name in ("loss", "lattice", "frac"):
        arrays = [getattr(p, name) for p in parts]
        cat[name] = None if arrays[0] is None else np.concatenate(arrays, axis=1)  # [T+1, B, ...]
    for name in ("n_steps", "init_lattice", "init_frac", "final_lattice", "final_frac", "matched", "rms",
                 "final_loss", "final_similarity", "converged", "failed", "init_pattern", "final_pattern"):
        cat[name] = np.concatenate([getattr(p, name) for p in parts], axis=0)
    k, n = int(cat["matched"].sum()), len(cat["matched"])
    lo, hi = jeffreys_interval(k, n)
    return TaskResult(
        **cat,
        reasons=[r for p in parts for r in p.reasons],
        wall_s=max(p.wall_s for p in parts),
        worker=",".join(sorted({p.worker for p in parts})),
        k=k,
        n=n,
        lo=float(lo),
        hi=float(hi),
    )


def structure_label(source: str) -> str:
    """Name of a structure in task ids: the benchmark name, or the file stem of a user structure."""
    return os.path.splitext(os.path.basename(source))[0] if os.sep in source or "." in source else source


def build_work(config: ExperimentConfig, n_sites: dict[str, int]) -> list[WorkItem]:
    """All tasks of ``config`` in a deterministic order. ``n_sites`` maps structure label -> N."""
    from xrdtui.engine.optimize import OptimizerSettings
    from xrdtui.engine.relax import RelaxSettings

    xrd_steps = OptimizerSettings(**config.optimizer).max_steps
    relax_steps = RelaxSettings(**_relax_kwargs(config.chgnet)).steps
    relax_members = config.chgnet.get("members", config.distortions)
    items = []
    for source in config.structures:
        label = structure_label(source)
        for noise, levels in config.noise.items():
            for level in levels:
                for method in config.methods:
                    is_relax = method == RELAX_METHOD
                    for mode in (RELAX_MODE,) if is_relax else config.modes:
                        info = TaskInfo.build(
                            label,
                            noise,
                            level,
                            method,
                            mode,
                            n_members=relax_members if is_relax else config.distortions,
                            n_sites=n_sites[label],
                            max_steps=relax_steps if is_relax else xrd_steps,
                            # CHGNet moves atoms and cell; XRD coordinates move only under coordinate noise.
                            traj_frac=is_relax or noise == "coords",
                            seed=config.seed,
                        )
                        items.append(
                            WorkItem(info, source, config.distortions, config.pattern, config.optimizer, config.chgnet)
                        )
    return items


def _relax_kwargs(chgnet: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in chgnet.items() if k != "members"}


# ---------------------------------------------------------------- worker side

_STRUCTURES: dict[str, Any] = {}
_SIMULATORS: dict[tuple, Any] = {}
_GROUND_TRUTH: dict[tuple, np.ndarray] = {}


def warm_worker(chgnet: bool) -> None:
    """Import the engine (and load CHGNet) ahead of the first task, while the sweep sets up."""
    import xrdtui.engine.matching  # noqa: F401  (pymatgen's matcher)
    import xrdtui.engine.optimize  # noqa: F401  (torch, simulator)

    if chgnet:
        from xrdtui.engine.relax import load_model

        load_model()


def structure_for(source: str):
    """The (cached) conventional-cell structure of a benchmark name or file."""
    if source not in _STRUCTURES:
        from xrdtui.engine.structures import resolve_structure

        _STRUCTURES[source] = resolve_structure(source)[1]
    return _STRUCTURES[source]


def simulator_for(source: str, pattern: dict[str, Any]):
    """The cached simulator of a structure with the campaign's pattern settings."""
    key = (source, tuple(sorted(pattern.items())))
    if key not in _SIMULATORS:
        from xrdtui.engine.simulator import PatternSettings, XRDSimulator

        _SIMULATORS[key] = XRDSimulator(structure_for(source), PatternSettings(**pattern))
    return _SIMULATORS[key]


def ground_truth_pattern(source: str, pattern: dict[str, Any]) -> np.ndarray:
    """The ground-truth pattern [M] (max 1) that every XRD task of this structure fits (cached per process)."""
    key = (source, tuple(sorted(pattern.items())))
    if key not in _GROUND_TRUTH:
        import torch

        from xrdtui.engine.structures import frac_coords, lattice_params

        s = structure_for(source)
        with torch.no_grad():
            lat = torch.as_tensor(lattice_params(s), dtype=torch.float64)[None]
            frac = torch.as_tensor(frac_coords(s), dtype=torch.float64)[None]
            pat = simulator_for(source, pattern).pattern(lat, frac)[0]
        _GROUND_TRUTH[key] = pat.detach().cpu().numpy().astype(np.float32)
    return _GROUND_TRUTH[key]


def _patterns(source: str, pattern: dict[str, Any], lattice: np.ndarray, frac: np.ndarray) -> np.ndarray:
    """Full patterns [B,M] float32; NaN rows where a member's cell cannot be simulated."""
    import torch

    sim = simulator_for(source, pattern)
    lat = torch.as_tensor(lattice, dtype=torch.float64)
    fr = torch.as_tensor(frac, dtype=torch.float64)
    out = np.full((lat.shape[0], len(sim.two_theta)), np.nan, dtype=np.float32)
    ok = ~sim.invalid_members(lat, fr).cpu().numpy()
    if ok.any():
        with torch.no_grad():
            out[ok] = sim.pattern(lat[ok], fr[ok]).cpu().numpy()
    return out


def _final_similarity(method: str, final_patterns: np.ndarray, target: np.ndarray, failed: np.ndarray) -> np.ndarray:
    """Similarity of each recovered pattern to the target under the task's loss (cosine for CHGNet: how far
    the relaxed cell is from the measured pattern); NaN for failed members."""
    import torch

    from xrdtui.engine.losses import similarity

    out = np.full(len(final_patterns), np.nan)
    ok = ~failed & np.isfinite(final_patterns).all(axis=1)
    if ok.any():
        name = "cosine" if method == RELAX_METHOD else method
        out[ok] = similarity(name, torch.as_tensor(final_patterns[ok]), torch.as_tensor(target)).numpy()
    return out


def run_task(item: WorkItem, live_queue: Any = None) -> TaskResult:
    """Distort, recover (XRD gradient descent or CHGNet), match, and summarise one task."""
    from xrdtui.engine.matching import jeffreys_interval, match_structures
    from xrdtui.engine.noise import distort
    from xrdtui.engine.structures import with_params

    t0 = time.perf_counter()
    info = item.info
    truth = structure_for(item.source)
    batch = distort(truth, info.structure, info.noise, info.level, item.distortions, info.seed)
    start, stop = item.members
    init_lattice = np.asarray(batch.lattice[start:stop], dtype=np.float64)
    init_frac = np.asarray(batch.frac[start:stop], dtype=np.float64)
    n_members = stop - start

    if info.method == RELAX_METHOD:
        out = _run_relax(item, truth, init_lattice, init_frac)
    else:
        out = _run_xrd(item, truth, init_lattice, init_frac, live_queue)

    failed = out["failed"]
    finals = []
    for b in range(n_members):
        if failed[b]:
            finals.append(None)
            continue
        try:
            finals.append(with_params(truth, out["final_lattice"][b], out["final_frac"][b]))
        except InputError as exc:  # a degenerate final cell fails this member, not the task
            failed[b], out["reasons"][b] = True, f"final cell: {exc}"
            finals.append(None)
    matched = np.zeros(n_members, dtype=bool)
    rms = np.full(n_members, np.nan)
    candidates = [(b, s) for b, s in enumerate(finals) if s is not None]
    if candidates:
        results = match_structures(truth, [s for _, s in candidates])
        for (b, _), res in zip(candidates, results):
            matched[b] = bool(res.matched)
            rms[b] = res.rms if res.matched else np.nan
    k, n = int(matched.sum()), n_members
    lo, hi = jeffreys_interval(k, n)
    init_patterns = _patterns(item.source, item.pattern, init_lattice, init_frac)
    final_patterns = _patterns(item.source, item.pattern, out["final_lattice"], out["final_frac"])
    target = ground_truth_pattern(item.source, item.pattern)
    return TaskResult(
        loss=out["loss"].astype(np.float32),
        lattice=out["lattice"].astype(np.float32),
        frac=None if out["frac"] is None else out["frac"].astype(np.float32),
        n_steps=out["n_steps"].astype(np.int32),
        init_lattice=init_lattice,
        init_frac=init_frac,
        final_lattice=out["final_lattice"],
        final_frac=out["final_frac"],
        matched=matched,
        rms=rms,
        final_loss=out["final_loss"],
        final_similarity=_final_similarity(info.method, final_patterns, target, failed),
        converged=out["converged"],
        failed=failed,
        reasons=[r[:MAX_REASON] for r in out["reasons"]],
        init_pattern=init_patterns[:, ::PREVIEW_STRIDE].astype(np.float16),
        final_pattern=final_patterns[:, ::PREVIEW_STRIDE].astype(np.float16),
        wall_s=time.perf_counter() - t0,
        worker=f"{socket.gethostname()}:{os.getpid()}",
        k=k,
        n=n,
        lo=float(lo),
        hi=float(hi),
    )


def _run_xrd(item: WorkItem, truth, init_lattice, init_frac, live_queue) -> dict[str, np.ndarray]:
    import torch

    from xrdtui.engine.optimize import OptimizerSettings, recover
    from xrdtui.engine.structures import crystal_family

    info = item.info
    sim = simulator_for(item.source, item.pattern)
    target = torch.as_tensor(ground_truth_pattern(item.source, item.pattern))
    optimise = ("coords",) if info.noise == "coords" else ("lattice",)

    callback = None
    if live_queue is not None:
        live_queue.put((info.task_id, "start"))
        buffer: list[np.ndarray] = []

        def callback(step: int, loss: np.ndarray) -> None:
            # Called every step; ship rows in blocks so the writer sees whole curves, not samples.
            buffer.append(np.asarray(loss, dtype=np.float32))
            if len(buffer) >= LIVE_EVERY:
                live_queue.put((info.task_id, step - len(buffer) + 1, np.stack(buffer)))
                buffer.clear()

    traj = recover(
        sim,
        target,
        init_lattice,
        init_frac,
        loss=info.method,
        mode=info.mode,
        family=crystal_family(truth),
        optimise=optimise,
        settings=OptimizerSettings(**{**item.optimizer, "callback_every": 1}),
        callback=callback,
    )
    final_lattice = np.asarray(traj.final_lattice, dtype=np.float64)
    final_frac = np.asarray(traj.final_frac, dtype=np.float64)
    failed = np.asarray(traj.failed, dtype=bool)
    n_members = len(init_lattice)
    final_loss = traj.loss[np.minimum(traj.n_steps, traj.loss.shape[0] - 1), np.arange(n_members)]
    return dict(
        loss=traj.loss,
        lattice=traj.lattice,
        frac=traj.frac if info.traj_frac else None,
        n_steps=traj.n_steps,
        final_lattice=final_lattice,
        final_frac=final_frac,
        final_loss=np.asarray(final_loss, dtype=np.float64),
        converged=np.asarray(traj.converged, dtype=bool),
        failed=failed,
        reasons=list(traj.reasons),
    )


def _run_relax(item: WorkItem, truth, init_lattice, init_frac) -> dict[str, np.ndarray]:
    from xrdtui.engine.relax import RelaxSettings, relax_structures
    from xrdtui.engine.structures import frac_coords, lattice_params, with_params

    info = item.info
    B, T1, N = len(init_lattice), info.n_rows, info.n_sites
    starts = [with_params(truth, init_lattice[b], init_frac[b]) for b in range(B)]
    results = relax_structures(starts, RelaxSettings(**_relax_kwargs(item.chgnet)))
    loss = np.full((T1, B), np.nan)
    lattice = np.full((T1, B, 6), np.nan)
    frac = np.full((T1, B, N, 3), np.nan)
    n_steps = np.zeros(B, dtype=np.int64)
    final_lattice = init_lattice.copy()
    final_frac = init_frac.copy()
    final_loss = np.full(B, np.nan)
    converged = np.zeros(B, dtype=bool)
    failed = np.zeros(B, dtype=bool)
    reasons = [""] * B
    for b, res in enumerate(results):
        if res.failed:
            failed[b], reasons[b] = True, res.reason
            continue
        rows = min(len(res.energy), T1)
        loss[:rows, b] = res.energy[:rows]
        lattice[:rows, b] = res.lattice[:rows]
        frac[:rows, b] = res.frac[:rows]
        n_steps[b] = res.n_steps
        final_lattice[b] = lattice_params(res.final_structure)
        final_frac[b] = frac_coords(res.final_structure)
        final_loss[b] = res.energy[rows - 1]
        converged[b] = res.converged
    return dict(
        loss=loss,
        lattice=lattice,
        frac=frac,
        n_steps=n_steps,
        final_lattice=final_lattice,
        final_frac=final_frac,
        final_loss=final_loss,
        converged=converged,
        failed=failed,
        reasons=reasons,
    )
