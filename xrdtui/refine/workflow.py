"""``xrdtui refine``: candidates refined against a target with a registry method, into a store of kind
"refinement".

The workflow the paper concludes with: a generative model proposes structures, an XRD-conditioned,
symmetry-aware refinement finishes them (optionally followed by energy relaxation: the
``xrd-then-chgnet`` method). Every step reuses the study's parts:

* the target (:mod:`xrdtui.refine.targets`): a structure's simulated pattern, or a measured pattern on the
  simulator's grid over its own range, background removed, max 1;
* the candidates (:mod:`xrdtui.refine.candidates`) in the conventional setting of their loose symmetry;
* the crystal family the projectors use: ``--family``, else the target structure's, else the candidate's
  at the loose tolerance (each candidate's table row says which);
* the method: one registry entry (``methods.get_method``) run on a :class:`~xrdtui.methods.batch.Batch`
  whose starts are the candidates, whose ``structure`` is the candidate with its lattice projected onto the
  family (the template of the simulator and of the Wyckoff projector) and whose ``target`` is the target
  pattern. What moves follows ``noise`` exactly as in a sweep (lattice: the cell; the ``wyckoff`` method also
  the free coordinates; coords: the coordinates), and ``level`` sizes the multistart box. Candidates with
  the same species, family and arrangement (fractional coordinates within ``ARRANGEMENT_TOL`` once sites
  are relabelled and shifted, :func:`align_sites`) whose cells one simulator covers are refined as one batch;
* judging (structure targets only): the paper's matcher and the strict one of the ``[matcher]`` and
  ``[strict]`` tables (``engine.matching``); the continuous errors after the matcher's mapping onto the
  target's setting;
* the store (``store.writer.StoreWriter``, kind "refinement"): one task per candidate,
  ``<candidate>/<noise>/<level>/<method>/<mode>``, so ``xrdtui ls / show / export / open`` read it.

Nothing is written (store, CIFs) until every input has been read and checked.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xrdtui.errors import ConfigError, InputError, XrdtuiError
from xrdtui.jobs.executors import worker_label
from xrdtui.refine import (DEFAULT_BACKGROUND_WINDOW, DEFAULT_LEVEL, DEFAULT_METHOD, DEFAULT_OPTIMIZER,
                           DEFAULT_SYMPREC, DEFAULT_WAVELENGTH)
from xrdtui.refine.candidates import Candidate, load_candidates
from xrdtui.refine.targets import Target, load_target
from xrdtui.vocab import FAMILIES, Mode, Noise

ARRANGEMENT_TOL = 0.05  # max nearest-image difference of fractional coordinates within one batch
LIVE_EVERY = 10  # trajectory rows streamed to the store at a time
@dataclass(frozen=True)
class RefineOptions:
    """Everything a refinement is asked to do (see ``xrdtui refine --help``). ``tables``: settings tables
    overriding the defaults (table -> key -> value, as in an experiment file)."""

    method: str = DEFAULT_METHOD
    family: str = "auto"
    wavelength: float = DEFAULT_WAVELENGTH
    noise: str = Noise.LATTICE
    level: float = DEFAULT_LEVEL
    symprec: float = DEFAULT_SYMPREC
    background_window: float = DEFAULT_BACKGROUND_WINDOW
    tables: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    store: Path | None = None
    cif_dir: Path | None = None
    overwrite: bool = False
    command: str = ""
    device: str = "cpu"  # torch device of the simulator, descent and CHGNet (engine.devices)


@dataclass
class RefineEvent:
    """Progress for the caller: ``kind`` "start" | "batch" (a batch begins) | "step" | "batch-done" | "done";
    ``batch`` (1-based) of ``batches``, its ``members``, ``step`` of ``max_steps``, candidates ``done`` of
    ``total``, ``best`` the lowest objective in the batch at this step."""

    kind: str
    total: int
    done: int = 0
    batch: int = 0
    batches: int = 0
    members: int = 0
    step: int = 0
    max_steps: int = 0
    best: float = float("nan")
    message: str = ""


@dataclass
class CandidateResult:
    """One row of the result table. ``matched`` / ``recovered`` / ``rms`` are None for a measured target
    (nothing to judge against); ``wall_s`` is the batch's wall time divided by its size; ``chi2`` the
    reduced χ² against the measured points (σ column only)."""

    label: str
    path: str
    family: str
    family_source: str
    spacegroup: str
    start_similarity: float
    final_similarity: float
    matched: bool | None
    recovered: bool | None
    rms: float | None
    steps: int
    converged: bool
    failed: bool
    reason: str
    wall_s: float
    batch: int
    batch_size: int
    final_lattice: list[float]
    chi2: float | None = None
    cif: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class RefineReport:
    target: Target
    method: str
    mode: str
    similarity: str
    results: list[CandidateResult]
    store: Path
    cif_dir: Path | None
    wall_s: float
    batches: int

    def as_dict(self) -> dict[str, Any]:
        return {"target": self.target.description(), "method": self.method, "mode": self.mode,
                "similarity": self.similarity, "store": str(self.store),
                "cif_dir": None if self.cif_dir is None else str(self.cif_dir), "wall_s": self.wall_s,
                "batches": self.batches, "candidates": [r.as_dict() for r in self.results]}


@dataclass
class _Plan:
    """The checked inputs: target, candidates, method, settings, and per candidate its family, the
    family's source and its template (the candidate with its lattice projected)."""

    target: Target
    candidates: list[Candidate]
    method: Any
    mode: str
    settings: dict[str, Any]
    families: list[tuple[str, str]]
    templates: list[Any]
    groups: list[list[int]]
    simulators: list[Any]


def default_store(target_path: Path) -> Path:
    return Path("store") / f"refine-{Path(target_path).stem}.h5"


def refine(candidates, target, options: RefineOptions = RefineOptions(),
           on_event: Callable[[RefineEvent], None] | None = None) -> RefineReport:
    """Refine every candidate (paths of files or folders) against ``target`` (a path); see the module
    docstring. Raises InputError / ConfigError / StoreError (one line) before writing anything."""
    from xrdtui.engine.devices import require_device
    from xrdtui.engine.threads import one_torch_thread

    notify = on_event or (lambda event: None)
    t0 = time.perf_counter()
    options = dataclasses.replace(options, device=require_device(options.device))
    store = Path(options.store) if options.store else default_store(Path(target))
    if store.exists() and not options.overwrite:
        from xrdtui.errors import StoreError

        raise StoreError(f"store {store} already exists (use --overwrite, or -o another file)")
    plan = _plan(candidates, target, options)
    total = len(plan.candidates)
    notify(RefineEvent("start", total, batches=len(plan.groups), message=f"{total} candidates in "
                       f"{len(plan.groups)} batch{'es' if len(plan.groups) != 1 else ''}"))
    infos = _task_infos(plan, options)
    writer = _create_store(store, plan, infos, options)
    results: list[CandidateResult | None] = [None] * total
    try:
        done = 0
        for gi, group in enumerate(plan.groups):
            notify(RefineEvent("batch", total, done, gi + 1, len(plan.groups), len(group),
                               max_steps=infos[group[0]].max_steps))
            with one_torch_thread():  # a few cells per batch: extra torch threads only contend
                rows = _run_group(plan, gi, group, infos, writer, options, notify, done, total)
            for i, row in zip(group, rows):
                results[i] = row
            done += len(group)
            notify(RefineEvent("batch-done", total, done, gi + 1, len(plan.groups), len(group)))
        writer.finish()
    finally:
        writer.close()
    report = RefineReport(plan.target, plan.method.name, plan.mode, plan.method.similarity,
                          [r for r in results if r is not None], store, options.cif_dir,
                          time.perf_counter() - t0, len(plan.groups))
    notify(RefineEvent("done", total, total, len(plan.groups), len(plan.groups)))
    return report


# --- planning: every input read and checked -----------------------------------------------------------------
def _plan(candidate_paths, target_path, options: RefineOptions) -> _Plan:
    import torch

    from xrdtui.engine.noise import check_level
    from xrdtui.engine.projectors import project
    from xrdtui.engine.simulator import XRDSimulator
    from xrdtui.engine.structures import lattice_params, with_params
    from xrdtui.methods import get_method

    method = get_method(options.method)
    if method.needs_truth:  # e.g. continuation: here the batch's structure is the candidate, not a truth
        raise ConfigError(f"method {method.name!r} cannot refine: {method.needs_truth}, and a refinement has "
                          "only the target pattern")
    if options.noise not in tuple(Noise):
        raise ConfigError(f"--noise must be one of {', '.join(Noise)}, got {options.noise!r}")
    if options.noise not in method.noises:
        raise ConfigError(f"method {method.name!r} does not handle {options.noise} errors")
    if options.cif_dir is not None and Path(options.cif_dir).exists() and not Path(options.cif_dir).is_dir():
        raise ConfigError(f"--cif {options.cif_dir} exists and is not a folder")
    check_level(options.level)
    if options.family != "auto" and options.family not in FAMILIES:
        raise ConfigError(f"--family must be auto or one of {', '.join(FAMILIES)}, got {options.family!r}")
    tables = {name: dict(values) for name, values in options.tables.items()}
    pattern = _pattern_settings(tables, options.wavelength)
    target = load_target(target_path, pattern, options.background_window)
    candidates = load_candidates(candidate_paths, options.symprec)
    if target.is_structure:
        _check_compositions(candidates, target)
    tables["pattern"] = dataclasses.asdict(target.settings)
    if "method" not in tables.get("optimizer", {}):  # no update rule named: the refinement's default
        tables["optimizer"] = {**DEFAULT_OPTIMIZER, **tables.get("optimizer", {})}
    settings = _settings(tables, method.name)

    modes = method.task_modes((Mode.PROJECTED,), options.noise)
    mode = modes[0] if modes else Mode.PROJECTED
    families, templates = [], []
    for c in candidates:
        if options.family != "auto":
            families.append((options.family, "--family"))
        elif target.family is not None:
            families.append((target.family, "target"))
        else:
            families.append((c.family, f"candidate (symprec {c.symprec:g} Å)"))
        lattice = torch.as_tensor(lattice_params(c.structure))[None]
        with torch.no_grad():
            projected = project(lattice, families[-1][0])[0].numpy()
        templates.append(with_params(c.structure, projected))
    groups, simulators = [], []
    for i, c in enumerate(candidates):
        for g, members in enumerate(groups):
            aligned = _batch_member(candidates, families, members[0], i, simulators[g])
            if aligned is not None:
                candidates[i] = dataclasses.replace(c, structure=aligned)
                templates[i] = with_params(aligned, lattice_params(templates[i]))
                members.append(i)
                break
        else:
            groups.append([i])
            simulators.append(XRDSimulator(templates[i], target.settings, device=options.device))
    return _Plan(target, candidates, method, mode, settings, families, templates, groups, simulators)


def _pattern_settings(tables: dict, wavelength: float):
    from xrdtui.methods import settings_tables

    if not (np.isfinite(wavelength) and wavelength > 0):
        raise ConfigError(f"--wavelength must be a positive number of ångström, got {wavelength!r}")
    return settings_tables()["pattern"].build({**tables.get("pattern", {}), "wavelength": float(wavelength)})


def _settings(tables: dict, method: str) -> dict[str, Any]:
    from xrdtui.jobs.config import build_settings
    from xrdtui.methods import settings_tables

    known = settings_tables()
    for name, values in tables.items():
        if name not in known:
            raise ConfigError(f"unknown settings table [{name}]; known: {', '.join(known)}")
        allowed = known[name].field_types()
        for key in values:
            if key not in allowed:
                raise ConfigError(f"[{name}]: unknown key {key!r} (allowed: {', '.join(sorted(allowed))})")
    return build_settings(tables, method)


def _check_compositions(candidates: list[Candidate], target: Target) -> None:
    want = target.structure.composition.reduced_composition
    for c in candidates:
        have = c.structure.composition.reduced_composition
        if not have.almost_equals(want):
            raise InputError(f"candidate {c.path.name} is {have.reduced_formula}, the target "
                             f"{target.path.name} is {want.reduced_formula}: compositions differ")


def _species(structure) -> list[str]:
    return [str(site.specie) if site.is_ordered else site.species.formula for site in structure]


def _batch_member(candidates, families, first: int, i: int, simulator):
    """Candidate ``i`` ready to join the batch led by ``first`` (its sites reordered and shifted onto the
    leader's, :func:`align_sites`), or None: another family, species or arrangement, or a cell outside
    the batch simulator's reflection margin."""
    import torch

    from xrdtui.engine.structures import lattice_params

    if families[first][0] != families[i][0]:
        return None
    aligned = align_sites(candidates[first].structure, candidates[i].structure)
    if aligned is None or bool(simulator.outside_margin(torch.as_tensor(lattice_params(aligned))[None])[0]):
        return None
    return aligned


def align_sites(leader, other, tol: float = ARRANGEMENT_TOL):
    """``other`` with its sites permuted (within each species) and all shifted by one vector so that its
    fractional coordinates lie within ``tol`` (nearest image) of ``leader``'s site by site, or None. The
    same crystal (a uniform shift and a relabelling of sites change no pattern); the simulator of the
    leader then takes it. Shifts tried: those carrying ``other``'s first site onto a leader site of its
    species; per species the assignment minimising the summed distance (scipy's linear_sum_assignment)."""
    from pymatgen.core import Structure
    from scipy.optimize import linear_sum_assignment

    from xrdtui.engine.structures import frac_coords

    sa, sb = _species(leader), _species(other)
    if len(sa) != len(sb) or sorted(sa) != sorted(sb):
        return None
    fa, fb = frac_coords(leader), frac_coords(other)
    best = None
    for j in (k for k, name in enumerate(sa) if name == sb[0]):
        shifted = fb + (fa[j] - fb[0])
        order = np.empty(len(sa), dtype=int)
        worst = 0.0
        for name in set(sa):
            rows = [k for k, x in enumerate(sa) if x == name]
            cols = [k for k, x in enumerate(sb) if x == name]
            d = fa[rows][:, None, :] - shifted[cols][None, :, :]
            d = np.abs(d - np.round(d)).max(axis=-1)
            r, c = linear_sum_assignment(d)
            order[np.asarray(rows)[r]] = np.asarray(cols)[c]
            worst = max(worst, float(d[r, c].max()))
        if worst <= tol and (best is None or worst < best[0]):
            best = (worst, order, shifted)
    if best is None:
        return None
    _, order, shifted = best
    return Structure(other.lattice, [other[k].species for k in order], np.mod(shifted[order], 1.0))


# --- the store ---------------------------------------------------------------------------------------------
def _task_infos(plan: _Plan, options: RefineOptions):
    from xrdtui.store.records import TaskInfo

    steps = plan.method.steps(plan.settings)
    return [TaskInfo.build(c.label, options.noise, options.level, plan.method.name, plan.mode, n_members=1,
                           n_sites=len(c.structure), max_steps=steps,
                           traj_frac=plan.method.tracks_coords(options.noise), seed=0)
            for c in plan.candidates]


def _structure_infos(plan: _Plan):
    """Per candidate, what the store's views compare against: the target structure (when it has the
    candidate's site count) or the candidate's start, with the target pattern."""
    import warnings

    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    from xrdtui.engine.structures import SYMPREC, frac_coords, lattice_params
    from xrdtui.store.records import StructureInfo

    target = plan.target
    if target.is_structure:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sga = SpacegroupAnalyzer(target.structure, symprec=SYMPREC)
            group = (sga.get_space_group_symbol(), sga.get_space_group_number())
    out = []
    for c, (family, _) in zip(plan.candidates, plan.families):
        ref = target.structure if target.is_structure and len(target.structure) == len(c.structure) else c.structure
        symbol, number = group if target.is_structure else (c.spacegroup_symbol, c.spacegroup_number)
        what = "the target structure" if ref is target.structure else "the candidate's start (no target structure)"
        out.append(StructureInfo(
            name=c.label, species=_species(ref), lattice=lattice_params(ref), frac=frac_coords(ref),
            spacegroup_symbol=symbol, spacegroup_number=number, family=family, pattern=target.pattern,
            two_theta=np.asarray(target.settings.two_theta, dtype=np.float64),
            source=f"refinement of {c.path.name} against {target.kind} target {target.path.name}; "
                   f"structure: {what}; pattern: the target's"))
    return out


def _create_store(path: Path, plan: _Plan, infos, options: RefineOptions):
    from xrdtui.jobs.campaign import package_versions
    from xrdtui.jobs.tasks import PREVIEW_STRIDE
    from xrdtui.store import layout as L
    from xrdtui.store.writer import StoreWriter

    conventions = {name: _jsonable(dataclasses.asdict(obj)) for name, obj in plan.settings.items()}
    conventions["refinement"] = {
        "method": plan.method.name, "mode": plan.mode, "noise": str(options.noise), "level": options.level,
        "family": options.family, "symprec": options.symprec, "wavelength": plan.target.settings.wavelength,
        "families": {c.label: {"family": f, "source": s} for c, (f, s) in zip(plan.candidates, plan.families)},
        "candidates": {c.label: str(c.path) for c in plan.candidates},
    }
    conventions["target"] = _jsonable(plan.target.description())
    text = json.dumps(conventions, sort_keys=True)
    versions = package_versions()
    try:
        import importlib.metadata as md

        versions["pybaselines"] = md.version("pybaselines")
    except Exception:  # not installed: the measured-pattern path would have failed already
        pass
    return StoreWriter.create(
        path, name=path.stem, tasks=infos, structures=_structure_infos(plan), config_text=options.command,
        config_hash=hashlib.sha256(text.encode()).hexdigest()[:16], versions=versions, seed=0,
        preview_two_theta=np.asarray(plan.target.settings.two_theta[::PREVIEW_STRIDE]),
        overwrite=options.overwrite, conventions=conventions, kind=L.KIND_REFINEMENT)


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


# --- running one batch ----------------------------------------------------------------------------------
def _run_group(plan: _Plan, gi: int, group: list[int], infos, writer, options: RefineOptions, notify,
               done: int, total: int) -> list[CandidateResult]:
    from xrdtui.engine.structures import frac_coords, lattice_params
    from xrdtui.methods.batch import Batch

    sim, family = plan.simulators[gi], plan.families[group[0]][0]
    ids = [infos[i].task_id for i in group]
    for task_id in ids:
        writer.mark_running(task_id)
    buffer: list[tuple[int, np.ndarray]] = []
    max_steps = infos[group[0]].max_steps

    def flush():
        if not buffer:
            return
        first, rows = buffer[0][0], np.stack([r for _, r in buffer])
        buffer.clear()
        for b, task_id in enumerate(ids):
            try:
                writer.write_partial_loss(task_id, first, rows[:, b])
            except ValueError:  # rows a method reports beyond its stated steps: the final result has them
                return

    def progress(step: int, objective) -> None:
        values = np.asarray(objective, dtype=np.float64).reshape(-1)
        if buffer and step != buffer[-1][0] + 1:
            flush()
        buffer.append((int(step), values))
        if len(buffer) >= LIVE_EVERY:
            flush()
        finite = values[np.isfinite(values)]
        notify(RefineEvent("step", total, done, gi + 1, len(plan.groups), len(group), int(step), max_steps,
                           float(finite.min()) if finite.size else float("nan")))

    batch = Batch(
        structure=plan.templates[group[0]],
        init_lattice=np.stack([lattice_params(plan.candidates[i].structure) for i in group]),
        init_frac=np.stack([frac_coords(plan.candidates[i].structure) for i in group]),
        noise=str(options.noise), level=float(options.level), mode=plan.mode, family=family,
        settings=plan.settings, simulator=lambda: sim, target=lambda: plan.target.pattern, progress=progress,
        n_rows=max_steps + 1, device=str(sim.device))
    t0 = time.perf_counter()
    try:
        out = plan.method.run(batch)
    except XrdtuiError as exc:
        return _fail_group(plan, gi, group, ids, writer, str(exc), time.perf_counter() - t0)
    flush()
    wall = (time.perf_counter() - t0) / len(group)
    return _write_group(plan, gi, group, ids, writer, batch, out, wall, options)


def _fail_group(plan, gi, group, ids, writer, reason: str, wall: float) -> list[CandidateResult]:
    rows = []
    for i, task_id in zip(group, ids):
        writer.mark_failed(task_id, reason)
        c, (family, source) = plan.candidates[i], plan.families[i]
        rows.append(CandidateResult(c.label, str(c.path), family, source, c.spacegroup_symbol, float("nan"),
                                    float("nan"), None, None, None, 0, False, True, reason, wall / len(group),
                                    gi + 1, len(group), [float("nan")] * 6))
    return rows


def _write_group(plan: _Plan, gi, group, ids, writer, batch, out, wall: float, options) -> list[CandidateResult]:
    from xrdtui.engine.matching import jeffreys_interval
    from xrdtui.engine.structures import with_params
    from xrdtui.jobs.tasks import MAX_REASON, PREVIEW_STRIDE
    from xrdtui.store.records import TaskResult

    sim, target = plan.simulators[gi], plan.target
    failed = np.asarray(out.failed, dtype=bool).copy()
    reasons = list(out.reasons)
    finals = []
    for b, i in enumerate(group):
        try:
            final = None if failed[b] else with_params(plan.templates[i], out.final_lattice[b], out.final_frac[b])
            finals.append(final)
        except InputError as exc:
            failed[b], reasons[b] = True, f"final cell: {exc}"
            finals.append(None)
    init_patterns = _patterns(sim, batch.init_lattice, batch.init_frac)
    final_patterns = _patterns(sim, out.final_lattice, out.final_frac)
    start_sim = _similarity(plan.method.similarity, init_patterns, target.pattern)
    final_sim = _similarity(plan.method.similarity, final_patterns, target.pattern)
    final_sim[failed] = np.nan
    verdicts = judge(target.structure, finals, plan.settings) if target.is_structure else None
    chi2 = target.reduced_chi2(final_patterns) if target.measured is not None else np.full(len(group), np.nan)
    tracks = bool(plan.method.tracks_coords(options.noise))  # the store keeps coordinates per step
    rows = []
    for b, (i, task_id) in enumerate(zip(group, ids)):
        c, (family, source) = plan.candidates[i], plan.families[i]
        n_steps = int(out.n_steps[b])
        keep = min(n_steps + 1, out.loss.shape[0])
        one = slice(b, b + 1)
        v = {k: val[one] for k, val in verdicts.items()} if verdicts else {}
        k = int(v["matched"].sum()) if v else 0
        ks = int(v["recovered"].sum()) if v else 0
        n = 1 if v else 0  # a measured target judges nobody
        lo, hi = jeffreys_interval(k, n)
        lo_s, hi_s = jeffreys_interval(ks, n)
        result = TaskResult(
            loss=np.asarray(out.loss[:keep, one], dtype=np.float32),
            lattice=np.asarray(out.lattice[:keep, one], dtype=np.float32),
            frac=None if out.frac is None or not tracks else np.asarray(out.frac[:keep, one], dtype=np.float32),
            n_steps=np.array([n_steps], dtype=np.int32),
            init_lattice=batch.init_lattice[one], init_frac=batch.init_frac[one],
            final_lattice=np.asarray(out.final_lattice[one], dtype=np.float64),
            final_frac=np.asarray(out.final_frac[one], dtype=np.float64),
            matched=v.get("matched", np.zeros(1, dtype=bool)), rms=v.get("rms", np.full(1, np.nan)),
            final_loss=np.asarray(out.final_loss[one], dtype=np.float64), final_similarity=final_sim[one],
            converged=np.asarray(out.converged[one], dtype=bool), failed=failed[one],
            reasons=[reasons[b][:MAX_REASON]],
            init_pattern=init_patterns[one, ::PREVIEW_STRIDE].astype(np.float16),
            final_pattern=final_patterns[one, ::PREVIEW_STRIDE].astype(np.float16),
            wall_s=wall, worker=worker_label(), k=k, n=n, lo=float(lo), hi=float(hi),
            recovered=v.get("recovered"), strict_rms=v.get("strict_rms"), length_error=v.get("length_error"),
            angle_error=v.get("angle_error"), site_error=v.get("site_error"), ks=ks, lo_s=float(lo_s),
            hi_s=float(hi_s))
        writer.write_result(task_id, result)
        cif = _write_cif(finals[b], options.cif_dir, c.label)
        rows.append(CandidateResult(
            c.label, str(c.path), family, source, f"{c.spacegroup_symbol} ({c.spacegroup_number})",
            float(start_sim[b]), float(final_sim[b]), bool(v["matched"][0]) if v else None,
            bool(v["recovered"][0]) if v else None, float(v["rms"][0]) if v else None, n_steps,
            bool(out.converged[b]), bool(failed[b]), reasons[b], wall, gi + 1, len(group),
            [float(x) for x in out.final_lattice[b]], None if np.isnan(chi2[b]) else float(chi2[b]), cif))
    return rows


def _patterns(sim, lattice, frac) -> np.ndarray:
    """Simulated patterns [B, M] (float32); NaN rows for cells the simulator cannot take."""
    import torch

    lat = torch.as_tensor(np.asarray(lattice, dtype=np.float64), device=sim.device)
    fr = torch.as_tensor(np.asarray(frac, dtype=np.float64), device=sim.device)
    out = np.full((lat.shape[0], len(sim.two_theta)), np.nan, dtype=np.float32)
    ok = ~(sim.invalid_members(lat, fr) | sim.outside_margin(lat)).cpu().numpy()
    if ok.any():
        with torch.no_grad():
            out[ok] = sim.pattern(lat[ok], fr[ok]).cpu().numpy()
    return out


def _similarity(name: str, patterns: np.ndarray, target: np.ndarray) -> np.ndarray:
    import torch

    from xrdtui.engine.losses import similarity

    out = np.full(len(patterns), np.nan)
    ok = np.isfinite(patterns).all(axis=1)
    if ok.any():
        out[ok] = similarity(name, torch.as_tensor(patterns[ok]), torch.as_tensor(target)).double().numpy()
    return out


def judge(target, finals: list, settings: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Against a target structure: matched / rms (``[matcher]``, the paper's metric), recovered /
    strict_rms (``[strict]``), and the continuous errors (``engine.matching.cell_errors``) of the final
    structure mapped onto the target's setting and site order by the paper's matcher (NaN when it does not
    match). ``finals``: a Structure per member, None for a failed one."""
    import warnings

    from xrdtui.engine.matching import cell_errors, judge_members
    from xrdtui.engine.structures import frac_coords, lattice_params

    out = judge_members(target, finals, settings["matcher"].matcher(), settings["strict"].matcher())
    # pymatgen maps one structure onto another's setting only without its primitive-cell reduction
    mapper = dataclasses.replace(settings["matcher"], primitive_cell=False, attempt_supercell=True).matcher()
    for b, s in enumerate(finals):
        if s is None or not out["matched"][b]:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                mapped = mapper.get_s2_like_s1(target, s)
            except Exception:  # pymatgen's mapping failed: the errors stay NaN
                mapped = None
        if mapped is not None and len(mapped) == len(target):
            e = cell_errors(lattice_params(target), frac_coords(target), lattice_params(mapped), frac_coords(mapped))
            out["length_error"][b], out["angle_error"][b], out["site_error"][b] = (
                e.length_error, e.angle_error, e.site_error)
    return out


def _write_cif(structure, folder: Path | None, label: str) -> str | None:
    if structure is None or folder is None:
        return None
    from pymatgen.io.cif import CifWriter

    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{label}.cif"
        CifWriter(structure).write_file(str(path))
    except OSError as exc:
        raise InputError(f"cannot write CIF into {folder}: {exc.strerror or exc}") from None
    return str(path)
