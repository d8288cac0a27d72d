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
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from xrdtui.errors import InputError
from xrdtui.jobs.config import ExperimentConfig, build_settings, members_per_task
from xrdtui.jobs.executors import worker_label
from xrdtui.methods import get_method
from xrdtui.methods.batch import Batch, Outcome
from xrdtui.store.records import TaskInfo, TaskResult
from xrdtui.vocab import Cell, Noise, StrainForm

PREVIEW_STRIDE = 10  # 0.01° simulator bins -> 0.1° previews stored for the TUI overlays
LIVE_EVERY = 10  # steps between live loss messages from a worker
MAX_REASON = 120
STRICT_FIELDS = ("recovered", "strict_rms", "length_error", "angle_error", "site_error")


@dataclass(frozen=True)
class WorkItem:
    """Everything a worker needs for one task (small and picklable): the task, its structure, the size of
    the seeded distortion batch its members come from, and the experiment's settings tables."""

    info: TaskInfo
    source: str  # benchmark name or structure file path
    distortions: int  # size of the seeded distortion batch the members are taken from
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    strain: str = StrainForm.CARTESIAN  # how lattice noise deforms the cell (engine.noise)
    part: tuple[int, int] | None = None  # members [start, stop) when a task is split across workers
    device: str = "cpu"  # torch device of the simulator, descent and CHGNet (engine.devices)
    cost_size: float | None = None  # one member's work per step for the cost model (Method.member_size)

    @property
    def members(self) -> tuple[int, int]:
        return self.part or (0, self.info.n_members)

    @property
    def pattern(self) -> dict[str, Any]:
        return dict(self.tables.get("pattern", {}))


SLICE_MEMBERS = 10  # members per slice of a split task


def split_work(item: WorkItem, parts: int) -> list[WorkItem]:
    """Tasks of a splittable method (CHGNet) become member slices of at most SLICE_MEMBERS (and at least
    ``parts``, the worker count, of them): workers share one (structure, level) cell, stay busy to the end
    of the sweep instead of one holding a long batch, and progress shows as slices come back. On CPU a
    CHGNet call costs the same per structure at any batch size, so smaller slices cost no time; members
    are independent, so the results are those of one batch. Other methods stay whole (an XRD batch is one
    vectorised computation). Results are joined by ``merge_results``."""
    n = item.info.n_members
    if not get_method(item.info.method).splittable:
        return [item]
    parts = min(n, max(parts, -(-n // SLICE_MEMBERS)))
    if parts < 2:
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
                 "final_loss", "final_similarity", "converged", "failed", "init_pattern", "final_pattern",
                 *STRICT_FIELDS):
        cat[name] = np.concatenate([getattr(p, name) for p in parts], axis=0)
    k, n = int(cat["matched"].sum()), len(cat["matched"])
    ks = int(cat["recovered"].sum())
    lo, hi = jeffreys_interval(k, n)
    lo_s, hi_s = jeffreys_interval(ks, n)
    return TaskResult(
        **cat,
        reasons=[r for p in parts for r in p.reasons],
        wall_s=sum(p.wall_s for p in parts),  # worker seconds: what the ETA's cost model learns from
        worker=",".join(sorted({p.worker for p in parts})),
        k=k,
        n=n,
        lo=float(lo),
        hi=float(hi),
        ks=ks,
        lo_s=float(lo_s),
        hi_s=float(hi_s),
    )


def structure_label(source: str) -> str:
    """Name of a structure in task ids: the benchmark name, or the file stem of a user structure."""
    return os.path.splitext(os.path.basename(source))[0] if os.sep in source or "." in source else source


def task_cell(config: ExperimentConfig, noise: str) -> str:
    """The cell a task distorts: the configured ``[noise] cell`` for coordinate noise, the conventional
    cell for lattice noise (the crystal-family projectors are written for it)."""
    return config.cell if noise == Noise.COORDS else Cell.CONVENTIONAL


def build_work(config: ExperimentConfig, n_sites: dict, device: str = "cpu",
               graph_sizes: dict | None = None) -> list[WorkItem]:
    """All tasks of ``config`` in a deterministic order, to run on torch ``device``. ``n_sites`` maps
    (structure label, cell) -> N (a plain label stands for its conventional cell); ``graph_sizes`` maps
    (label, cell) -> CHGNet graph size (engine.chgnet_graph.graph_cost_size) for the methods sized by it.

    Each method says which modes it runs in, how many trajectory rows its settings make, how many of the
    distortions it judges and whether it moves coordinates (``xrdtui.methods``)."""
    items = []
    sizes = graph_sizes or {}
    for source in config.structures:
        label = structure_label(source)
        for noise, levels in config.noise.items():
            cell = task_cell(config, noise)
            sites = n_sites[(label, cell)] if (label, cell) in n_sites else n_sites[label]
            # lattice noise keeps every translation: a method may relax the primitive cell instead
            primitive = n_sites.get((label, str(Cell.PRIMITIVE))) if noise == Noise.LATTICE else None
            for level in levels:
                for name in config.methods:
                    method = get_method(name)
                    settings = build_settings(config.tables, name)
                    for mode in method.task_modes(config.modes, noise):
                        info = TaskInfo.build(
                            label,
                            noise,
                            level,
                            name,
                            mode,
                            n_members=members_per_task(name, config),
                            n_sites=sites,
                            max_steps=method.steps(settings),
                            traj_frac=method.tracks_coords(noise),
                            seed=config.seed,
                            cell=cell,
                        )
                        reduced = bool(primitive) and method.reduces_supercells(settings)
                        used = str(Cell.PRIMITIVE) if reduced else str(cell)  # the cell the method computes on
                        size = method.member_size(primitive if reduced else sites, sizes.get((label, used)))
                        items.append(WorkItem(info, source, config.distortions, config.tables, config.strain,
                                              device=device, cost_size=size))
    return items


# ---------------------------------------------------------------- worker side

_STRUCTURES: dict[tuple, Any] = {}
_FAMILIES: dict[str, str] = {}
_SIMULATORS: dict[tuple, Any] = {}
_GROUND_TRUTH: dict[tuple, np.ndarray] = {}
_SETTINGS: dict[str, dict[str, Any]] = {}
_MATCHERS: dict[Any, Any] = {}


def warm_worker(methods: tuple[str, ...] = (), device: str = "cpu") -> None:
    """Import the engine (and let each method prepare on ``device``, e.g. load CHGNet) ahead of the first
    task, while the sweep sets up."""
    import xrdtui.engine.matching  # noqa: F401  (pymatgen's matcher)
    import xrdtui.engine.optimize  # noqa: F401  (torch, simulator)

    for name in methods:
        warm = get_method(name).warm
        if warm is not None:
            warm(device)


def structure_for(source: str, cell: str = Cell.CONVENTIONAL):
    """The (cached) structure of a benchmark name or file in ``cell`` (conventional standard by default)."""
    key = (source, str(cell))
    if key not in _STRUCTURES:
        from xrdtui.engine.structures import in_cell, resolve_structure

        conventional = _STRUCTURES.get((source, str(Cell.CONVENTIONAL)))
        if conventional is None:
            conventional = _STRUCTURES[(source, str(Cell.CONVENTIONAL))] = resolve_structure(source)[1]
        _STRUCTURES[key] = in_cell(conventional, cell)
    return _STRUCTURES[key]


def family_for(source: str) -> str:
    """The (cached) crystal family of a structure (the projectors' target)."""
    if source not in _FAMILIES:
        from xrdtui.engine.structures import crystal_family

        _FAMILIES[source] = crystal_family(structure_for(source))
    return _FAMILIES[source]


def simulator_for(source: str, pattern: dict[str, Any], cell: str = Cell.CONVENTIONAL, device: str = "cpu"):
    """The cached simulator of a structure (in ``cell``) with the campaign's pattern settings, on ``device``."""
    key = (source, tuple(sorted(pattern.items())), str(cell), device)
    if key not in _SIMULATORS:
        from xrdtui.engine.simulator import PatternSettings, XRDSimulator

        _SIMULATORS[key] = XRDSimulator(structure_for(source, cell), PatternSettings(**pattern), device=device)
    return _SIMULATORS[key]


def ground_truth_pattern(source: str, pattern: dict[str, Any], cell: str = Cell.CONVENTIONAL) -> np.ndarray:
    """The ground-truth pattern [M] (max 1) that every task of this structure (in ``cell``) fits; the
    same crystal in another cell gives the same pattern to float rounding (cached per process)."""
    key = (source, tuple(sorted(pattern.items())), str(cell))
    if key not in _GROUND_TRUTH:
        _GROUND_TRUTH[key] = simulator_for(source, pattern, cell).reference_pattern()
    return _GROUND_TRUTH[key]


def _settings(tables: dict[str, dict[str, Any]], method: str) -> dict[str, Any]:
    """Settings objects of the experiment's tables as ``method`` sees them (cached per process)."""
    key = repr((method, sorted((name, sorted(t.items())) for name, t in tables.items())))
    if key not in _SETTINGS:
        _SETTINGS[key] = build_settings(tables, method)
    return _SETTINGS[key]


def _matcher(settings):
    """The StructureMatcher of a MatcherSettings (cached per process)."""
    if settings not in _MATCHERS:
        _MATCHERS[settings] = settings.matcher()
    return _MATCHERS[settings]


def _patterns(source: str, pattern: dict[str, Any], lattice: np.ndarray, frac: np.ndarray,
              cell: str = Cell.CONVENTIONAL, device: str = "cpu") -> np.ndarray:
    """Full patterns [B,M] float32; NaN rows where a member's cell cannot be simulated."""
    import torch

    sim = simulator_for(source, pattern, cell, device)
    lat = torch.as_tensor(lattice, dtype=torch.float64, device=sim.device)
    fr = torch.as_tensor(frac, dtype=torch.float64, device=sim.device)
    out = np.full((lat.shape[0], len(sim.two_theta)), np.nan, dtype=np.float32)
    ok = ~sim.invalid_members(lat, fr).cpu().numpy()
    if ok.any():
        with torch.no_grad():
            out[ok] = sim.pattern(lat[ok], fr[ok]).cpu().numpy()
    return out


def _final_similarity(method: str, final_patterns: np.ndarray, target: np.ndarray, failed: np.ndarray) -> np.ndarray:
    """Similarity of each recovered pattern to the target under the method's similarity (for CHGNet the
    cosine: how far the relaxed cell is from the measured pattern); NaN for failed members."""
    import torch

    from xrdtui.engine.losses import similarity

    out = np.full(len(final_patterns), np.nan)
    ok = ~failed & np.isfinite(final_patterns).all(axis=1)
    if ok.any():
        name = get_method(method).similarity
        out[ok] = similarity(name, torch.as_tensor(final_patterns[ok]), torch.as_tensor(target)).numpy()
    return out


def _live_callback(task_id: str, live_queue: Any):
    """A ``progress(step, objective[B])`` that ships rows to the writer in blocks (whole curves, not samples)."""
    if live_queue is None:
        return None
    live_queue.put((task_id, "start"))
    buffer: list[np.ndarray] = []

    def progress(step: int, loss: np.ndarray) -> None:
        buffer.append(np.asarray(loss, dtype=np.float32))
        if len(buffer) >= LIVE_EVERY:
            live_queue.put((task_id, step - len(buffer) + 1, np.stack(buffer)))
            buffer.clear()

    return progress


def judge(truth, finals, settings) -> dict[str, np.ndarray]:
    """The paper's metric (``[matcher]``) and the strict one (``[strict]``) of every final structure
    (None = failed member), and the continuous errors against the truth in its own setting."""
    from xrdtui.engine.matching import cell_errors, judge_members
    from xrdtui.engine.structures import frac_coords, lattice_params

    out = judge_members(truth, finals, _matcher(settings["matcher"]), _matcher(settings["strict"]))
    ref_lattice, ref_frac = lattice_params(truth), frac_coords(truth)
    for b, s in enumerate(finals):
        if s is None:
            continue
        errors = cell_errors(ref_lattice, ref_frac, lattice_params(s), frac_coords(s))
        out["length_error"][b], out["angle_error"][b], out["site_error"][b] = (
            errors.length_error, errors.angle_error, errors.site_error)
    return out


def run_task(item: WorkItem, live_queue: Any = None) -> TaskResult:
    """Distort, recover (with the task's method from the registry), judge, and summarise one task."""
    import torch

    from xrdtui.engine.devices import require_device
    from xrdtui.engine.matching import jeffreys_interval
    from xrdtui.engine.noise import distort
    from xrdtui.engine.structures import with_params

    t0 = time.perf_counter()
    require_device(item.device)  # a Dask worker without the GPU the head node asked for: one clear reason
    # Denormal floats take a slow path on x86: flushing them speeds CHGNet's float32 calls up to 7 % on the
    # 24-site cell with forces bit for bit unchanged, and leaves XRD descent results identical (measured on
    # paper-preset tasks; none of these quantities lives below 1e-38). The flag is per thread, so it is set
    # here, on the thread that runs the task, under every executor (pool, Dask, inline).
    torch.set_flush_denormal(True)
    info = item.info
    cell = info.cell
    truth = structure_for(item.source, cell)
    batch = distort(truth, info.structure, info.noise, info.level, item.distortions, info.seed, strain=item.strain)
    start, stop = item.members
    init_lattice = np.asarray(batch.lattice[start:stop], dtype=np.float64)
    init_frac = np.asarray(batch.frac[start:stop], dtype=np.float64)
    n_members = stop - start
    settings = _settings(item.tables, info.method)

    method = get_method(info.method)
    out: Outcome = method.run(Batch(
        structure=truth,
        init_lattice=init_lattice,
        init_frac=init_frac,
        noise=info.noise,
        level=info.level,
        mode=info.mode,
        family=family_for(item.source),
        settings=settings,
        simulator=lambda: simulator_for(item.source, item.pattern, cell, item.device),
        target=lambda: ground_truth_pattern(item.source, item.pattern, cell),
        device=item.device,
        progress=_live_callback(info.task_id, live_queue),
        n_rows=info.n_rows,
    ))

    failed = np.asarray(out.failed, dtype=bool).copy()
    reasons = list(out.reasons)
    finals = []
    for b in range(n_members):
        if failed[b]:
            finals.append(None)
            continue
        try:
            finals.append(with_params(truth, out.final_lattice[b], out.final_frac[b]))
        except InputError as exc:  # a degenerate final cell fails this member, not the task
            failed[b], reasons[b] = True, f"final cell: {exc}"
            finals.append(None)
    verdicts = judge(truth, finals, settings)
    k, ks, n = int(verdicts["matched"].sum()), int(verdicts["recovered"].sum()), n_members
    lo, hi = jeffreys_interval(k, n)
    lo_s, hi_s = jeffreys_interval(ks, n)
    init_patterns = _patterns(item.source, item.pattern, init_lattice, init_frac, cell, item.device)
    final_patterns = _patterns(item.source, item.pattern, out.final_lattice, out.final_frac, cell, item.device)
    target = ground_truth_pattern(item.source, item.pattern, cell)
    return TaskResult(
        loss=np.asarray(out.loss).astype(np.float32),
        lattice=np.asarray(out.lattice).astype(np.float32),
        frac=None if out.frac is None or not info.traj_frac else np.asarray(out.frac).astype(np.float32),
        n_steps=np.asarray(out.n_steps).astype(np.int32),
        init_lattice=init_lattice,
        init_frac=init_frac,
        final_lattice=out.final_lattice,
        final_frac=out.final_frac,
        final_loss=out.final_loss,
        final_similarity=_final_similarity(info.method, final_patterns, target, failed),
        converged=out.converged,
        failed=failed,
        reasons=[r[:MAX_REASON] for r in reasons],
        init_pattern=init_patterns[:, ::PREVIEW_STRIDE].astype(np.float16),
        final_pattern=final_patterns[:, ::PREVIEW_STRIDE].astype(np.float16),
        wall_s=time.perf_counter() - t0,
        worker=worker_label(item.device),
        k=k,
        n=n,
        lo=float(lo),
        hi=float(hi),
        ks=ks,
        lo_s=float(lo_s),
        hi_s=float(hi_s),
        **verdicts,
    )
