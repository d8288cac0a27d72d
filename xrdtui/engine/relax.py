"""CHGNet energy relaxation as a structure-recovery method, and batched CHGNet energies.

The pretrained CHGNet 0.3.0 (the weights ship inside the ``chgnet`` wheel; they are read from the
package folder, nothing is downloaded) relaxes positions and cell with an ASE optimiser (FIRE by
default) through a cell filter (``FrechetCellFilter`` by default) until the largest generalised force
is below ``fmax`` or ``steps`` optimiser steps were taken — what ``chgnet.model.StructOptimizer.relax``
does. A start that is an exact supercell of a smaller cell (a lattice-strained conventional cell) is relaxed
as its primitive cell and reported in its own (``RelaxSettings.supercells``). Units: energies eV/atom, forces eV/Å, stresses as ASE wants them (eV/Å^3), lengths Å, angles
degrees.

Two engines give the same trajectories (see tests/test_relax.py and benchmarks/relax.py):

- ``"lockstep"`` (default): one ASE optimiser per structure, all stepped in lockstep; each round the
  forces/stress of every unconverged structure come from *one* batched CHGNet call. CHGNet's batched
  forward equals its per-structure forward, so each optimiser sees the forces it would see alone.
- ``"sequential"``: ``StructOptimizer.relax`` per structure (CHGNet's own loop), kept as the reference.

One CHGNet model per (process, model name, device) is loaded on first use and cached. This module
never changes torch's thread count: worker processes set ``torch.set_num_threads(1)`` themselves, and
should start with OPENBLAS_NUM_THREADS=1 (OpenBLAS threads busy-wait in the cell filter's 3x3 matrix
functions: measured 2x the CPU in one process and ~9x slower relaxations with two workers on 2 cores).

Per-member problems (unknown element, atoms closer than ``min_distance``, NaN or degenerate cell,
disordered sites, CHGNet errors, non-finite forces) never raise: that member's ``RelaxResult`` has
``failed=True`` and a one-line ``reason``; the other members go on. Bad settings raise ``ConfigError``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

from xrdtui.engine.chgnet_internals import (
    fed_calculator,
    feed_calculator,
    memoise_gradient,
    predict_efs,
    quiet,
    use_fast_cell_math,
)
from xrdtui.engine.chgnet_graph import graph_of
from xrdtui.engine.supercell import PrimitiveMap, primitive_map
from xrdtui.errors import ConfigError, InputError

if TYPE_CHECKING:
    from pymatgen.core import Structure

MODEL_NAME = "0.3.0"
# CHGNet 0.3.0 embeds elements 1..94 (H..Pu); heavier ones crash deep inside its composition model.
MAX_ATOMIC_NUMBER = 94
# Closest approach (Å) we accept between two atoms (periodic images included). Real interatomic
# distances are > 0.7 Å (H2); below 0.5 Å CHGNet's energy is meaningless and forces explode.
MIN_DISTANCE = 0.5
OPTIMIZERS = ("FIRE", "BFGS", "LBFGS", "MDMin")
CELL_FILTERS = ("FrechetCellFilter", "ExpCellFilter", "UnitCellFilter", "StrainFilter")
ENGINES = ("lockstep", "sequential")
SUPERCELLS = ("reduce", "keep")
CELL_MATH = ("fast", "scipy")


@dataclass(frozen=True)
class RelaxSettings:
    """How to relax.

    fmax: convergence threshold (eV/Å) on the largest generalised force of the cell filter (atomic forces
        and the filter's cell "forces"); 0.1 is StructOptimizer's default. The FrechetCellFilter's cell
        force is virial / N = sigma V / N, so fmax 0.1 leaves residual stresses up to 0.1 N / V eV/Å^3
        (about 1.1 GPa for 6-atom Au2S, 152 Å^3): small strains of soft cells count as converged.
    steps: most optimiser steps per structure (StructOptimizer's default 500).
    optimizer: ASE optimiser name, one of OPTIMIZERS; FIRE as in the paper.
    cell_filter: ASE filter relaxing the cell with the positions, one of CELL_FILTERS.
    relax_cell: False relaxes positions only (no filter).
    min_distance: Å; a structure with two atoms (or an atom and its image) closer fails up front.
    engine: "lockstep" (batched model calls, default: faster, same results) or "sequential".
    batch_size: most structures relaxed together in the lockstep engine.
    max_edges: most atom-graph edges (summed over structures) per CHGNet call: bounds memory, since CHGNet's
        second-order backward holds ~0.12 MB per edge (a 24-site Na3MnCoNiO6 graph has ~2000 edges, 230 MB);
        calls on CPU cost the same per structure at any batch size (benchmarks/chgnet_profile.py), so
        splitting costs no time, and the numbers are those of one call (bit for bit, tests/test_relax.py).
    second_order: True takes forces and stress through CHGNet's own second-order backward graph
        (``create_graph=True``, as ``predict_graph`` and StructOptimizer do): bit for bit CHGNet's numbers.
        False (default) takes first-order gradients: forces equal to float32 rounding (max |ΔF| ~3e-5
        eV/Å), 2.3x faster per CHGNet call on CPU and lighter; trajectories then agree with
        StructOptimizer's to that rounding, not bit for bit (tests/test_relax.py).
    supercells: "reduce" (default) relaxes a start that is an exact supercell of a smaller cell (a
        lattice-strained conventional cell: BPO4, Na3MnCoNiO6, UC2, PbF2, CsTlO) as its primitive cell, the
        cell MP-20 and the paper's CIFs give, and reports every step in the start's own cell and site order
        (engine.supercell: exact, linear). CHGNet's cost is linear in the sites: 2-4x less for those
        starts. Not bit-identical to relaxing the big cell: FIRE's step limit acts on the norm over all
        degrees of freedom, and the cell filter scales cell moves by the site count, so the big cell takes
        other (smaller) cell steps to a relaxed state of the same crystal. "keep" relaxes the start as given.
    cell_math: "fast" (default) gives the lockstep engine's cell filter the 3x3 matrix log and Fréchet
        derivatives of engine.cell_math; "scipy" keeps SciPy's, which ASE calls. Same values to round-off
        (~1e-15), so trajectories agree to ~1e-12 Å rather than bit for bit; 1.3-1.7x faster relaxations of
        3-6-site cells, where SciPy's overhead on 3x3 matrices was 30-45 % of the time (tests/test_cell_math.py,
        benchmarks/chgnet_profile.py). The sequential engine is CHGNet's own loop and always uses SciPy's.
    device: torch device for CHGNet ("cpu" by default; never chosen automatically).
    """

    fmax: float = 0.1
    steps: int = 500
    optimizer: str = "FIRE"
    cell_filter: str = "FrechetCellFilter"
    relax_cell: bool = True
    min_distance: float = MIN_DISTANCE
    engine: str = "lockstep"
    batch_size: int = 64
    max_edges: int = 6000
    second_order: bool = False
    supercells: str = "reduce"
    cell_math: str = "fast"
    device: str = "cpu"

    def check(self) -> None:
        """Raise ConfigError for a setting out of range."""
        if not (np.isfinite(self.fmax) and self.fmax > 0):
            raise ConfigError(f"relax fmax must be a positive number of eV/Å, got {self.fmax!r}")
        if not (isinstance(self.steps, int) and self.steps >= 0):
            raise ConfigError(f"relax steps must be a non-negative integer, got {self.steps!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"unknown relax optimizer {self.optimizer!r}; choose from {', '.join(OPTIMIZERS)}")
        if self.cell_filter not in CELL_FILTERS:
            raise ConfigError(f"unknown cell filter {self.cell_filter!r}; choose from {', '.join(CELL_FILTERS)}")
        if self.engine not in ENGINES:
            raise ConfigError(f"unknown relax engine {self.engine!r}; choose from {', '.join(ENGINES)}")
        if self.supercells not in SUPERCELLS:
            raise ConfigError(f"relax supercells must be one of {', '.join(SUPERCELLS)}, got {self.supercells!r}")
        if self.cell_math not in CELL_MATH:
            raise ConfigError(f"relax cell_math must be one of {', '.join(CELL_MATH)}, got {self.cell_math!r}")
        if not isinstance(self.second_order, bool):
            raise ConfigError(f"relax second_order must be true or false, got {self.second_order!r}")
        if not (isinstance(self.batch_size, int) and self.batch_size >= 1):
            raise ConfigError(f"relax batch_size must be a positive integer, got {self.batch_size!r}")
        if not (isinstance(self.max_edges, int) and self.max_edges >= 1):
            raise ConfigError(f"relax max_edges must be a positive integer, got {self.max_edges!r}")
        if not (np.isfinite(self.min_distance) and self.min_distance >= 0):
            raise ConfigError(f"min_distance must be a non-negative number of Å, got {self.min_distance!r}")


@dataclass
class RelaxResult:
    """One structure's relaxation.

    energy: [T+1] CHGNet energy per step, eV/atom (entry 0 = the input structure).
    lattice: [T+1, 6] (a, b, c, alpha, beta, gamma) per step, Å and degrees.
    frac: [T+1, N, 3] fractional positions per step, wrapped into [0, 1).
    final_structure: the relaxed structure (species of the input), None when failed.
    n_steps: optimiser steps taken (T).
    converged: the largest generalised force fell below fmax.
    failed / reason: a per-member problem; reason is one line, "" when not failed.
    """

    energy: np.ndarray
    lattice: np.ndarray
    frac: np.ndarray
    final_structure: Structure | None
    n_steps: int
    converged: bool
    failed: bool = False
    reason: str = ""

    @classmethod
    def failure(cls, n_sites: int, reason: str) -> RelaxResult:
        return cls(
            energy=np.zeros(0),
            lattice=np.zeros((0, 6)),
            frac=np.zeros((0, n_sites, 3)),
            final_structure=None,
            n_steps=0,
            converged=False,
            failed=True,
            reason=_one_line(reason),
        )


# ---------------------------------------------------------------------------------------------
# model cache


_MODELS: dict[tuple[str, str], object] = {}


def packaged_weights(model_name: str = MODEL_NAME) -> str:
    """Path of the pretrained checkpoint inside the installed chgnet package; ConfigError if absent."""
    import chgnet

    folder = os.path.join(os.path.dirname(chgnet.__file__), "pretrained", model_name)
    files = sorted(f for f in os.listdir(folder) if f.endswith(".pth.tar")) if os.path.isdir(folder) else []
    if not files:
        raise ConfigError(f"CHGNet {model_name} weights not found in the chgnet package ({folder})")
    return os.path.join(folder, files[0])


def load_model(model_name: str = MODEL_NAME, device: str = "cpu"):
    """The pretrained CHGNet, loaded once per process from the packaged weights (no network)."""
    key = (model_name, device)
    model = _MODELS.get(key)
    if model is None:
        packaged_weights(model_name)  # clear error instead of chgnet's deep FileNotFoundError
        from chgnet.model import CHGNet

        # CHGNet.load reads chgnet/pretrained/<name>/*.pth.tar; it has no download code path.
        with quiet():
            model = CHGNet.load(model_name=model_name, use_device=device, verbose=False)
        model.eval()
        _MODELS[key] = model
    return model


# ---------------------------------------------------------------------------------------------
# validation


def check_structure(structure: Structure, min_distance: float = MIN_DISTANCE) -> str:
    """Why CHGNet cannot relax ``structure`` ("" if it can): not a Structure, NaN or degenerate cell,
    disordered sites, unknown element or Z > 94, or two atoms closer than ``min_distance`` Å.
    """
    from pymatgen.core import Structure

    from xrdtui.engine.structures import validate_structure

    if not isinstance(structure, Structure):
        return f"not a pymatgen Structure ({type(structure).__name__})"
    try:
        validate_structure(structure)  # NaN/inf, non-positive volume, dummy species
    except InputError as exc:
        return str(exc)
    if not structure.is_ordered:
        return "disordered structure (partial occupancies): CHGNet needs one element per site"
    for element in structure.composition.elements:
        z = getattr(element, "Z", 0)
        if not 1 <= z <= MAX_ATOMIC_NUMBER:
            return f"element {element.symbol} (Z={z}) is not supported by CHGNet {MODEL_NAME} (Z <= {MAX_ATOMIC_NUMBER})"
    if structure.volume / len(structure) < min_distance**3 / np.sqrt(2):
        # below the densest packing of spheres of diameter min_distance: some pair must be too close;
        # saying so up front avoids a huge periodic neighbour search on a collapsed cell
        return f"degenerate cell: {structure.volume / len(structure):.3g} Å^3 per atom"
    if min_distance > 0:
        centers, points, _, dists = structure.get_neighbor_list(r=min_distance)
        if len(dists):
            k = int(np.argmin(dists))
            return (
                f"atoms {int(centers[k])} and {int(points[k])} are {float(dists[k]):.3g} Å apart "
                f"(minimum {min_distance} Å)"
            )
    return ""


def _n_sites(obj) -> int:
    from pymatgen.core import Structure

    return len(obj) if isinstance(obj, Structure) else 0


def _one_line(text) -> str:
    return (" ".join(str(text).split()) or "unknown error")[:300]


# ---------------------------------------------------------------------------------------------
# relaxation


def relax_structures(structures: Sequence[Structure], settings: RelaxSettings = RelaxSettings()) -> list[RelaxResult]:
    """Relax each structure with CHGNet; one RelaxResult per input, in order; never raises for a member."""
    settings.check()
    structures = list(structures)
    results: list[RelaxResult | None] = [None] * len(structures)
    todo = []
    for i, s in enumerate(structures):
        reason = check_structure(s, settings.min_distance)
        if reason:
            results[i] = RelaxResult.failure(_n_sites(s), reason)
        else:
            todo.append(i)
    if todo:
        model = load_model(MODEL_NAME, settings.device)
        maps = {i: _reduction(structures[i], settings) for i in todo}
        with quiet():
            if settings.engine == "sequential":
                for i in todo:
                    results[i] = _relax_sequential(model, structures[i], settings, maps[i])
            else:
                for start in range(0, len(todo), settings.batch_size):
                    chunk = todo[start : start + settings.batch_size]
                    starts, chunk_maps = [structures[i] for i in chunk], [maps[i] for i in chunk]
                    for i, r in zip(chunk, _relax_lockstep(model, starts, settings, chunk_maps)):
                        results[i] = r
    return results  # type: ignore[return-value]


def _reduction(structure: Structure, settings: RelaxSettings) -> PrimitiveMap | None:
    """The primitive cell to relax instead of ``structure`` (``supercells = "reduce"``), or None."""
    if settings.supercells != "reduce":
        return None
    try:
        return primitive_map(structure)
    except Exception:  # pymatgen cannot reduce this start: relax it as given
        return None


def _optimizer_class(name: str):
    from ase import optimize

    return getattr(optimize, name)


def _filter_class(name: str):
    from ase import filters

    return getattr(filters, name)


def _to_atoms(structure: Structure):
    from ase import Atoms

    return Atoms(
        numbers=[site.specie.Z for site in structure],
        cell=np.array(structure.lattice.matrix),
        positions=np.array(structure.cart_coords),
        pbc=True,
    )


def _converged(opt, fmax: float) -> bool:
    """ASE's own convergence test of optimiser ``opt`` (largest generalised force below fmax)."""
    opt.fmax = fmax
    return bool(opt.converged())


def _finish(structure, energies, cells, positions, n_steps, converged, pmap: PrimitiveMap | None = None) -> RelaxResult:
    """Build a RelaxResult for ``structure`` from per-step total energies (eV), cells [3,3] and cartesian
    positions of the cell that was relaxed: ``structure`` itself, or the primitive cell ``pmap`` maps back."""
    from pymatgen.core import Lattice, Structure

    n = len(structure) if pmap is None else len(pmap.primitive)
    energy = np.asarray(energies, dtype=np.float64) / n
    if pmap is not None:  # every step in the start's own cell and site order
        cells, positions = zip(*(pmap.expand(c, p) for c, p in zip(cells, positions)))
    lattices, fracs = [], []
    for cell, pos in zip(cells, positions):
        lattice = Lattice(np.asarray(cell, dtype=np.float64))
        lattices.append(np.array(lattice.parameters))
        fracs.append(np.mod(lattice.get_fractional_coords(pos), 1.0))
    frac = np.where(np.array(fracs) >= 1.0, 0.0, np.array(fracs))
    final = Structure(Lattice(np.asarray(cells[-1])), [site.species for site in structure], frac[-1])
    result = RelaxResult(
        energy=energy,
        lattice=np.array(lattices),
        frac=frac,
        final_structure=final,
        n_steps=int(n_steps),
        converged=bool(converged),
    )
    if not (np.all(np.isfinite(energy)) and np.all(np.isfinite(result.lattice))):
        return _failed_with(result, "relaxation produced non-finite energies or cells")
    return result


def _failed_with(result: RelaxResult, reason: str) -> RelaxResult:
    result.failed, result.reason, result.converged, result.final_structure = True, _one_line(reason), False, None
    return result


def _relax_sequential(model, structure, settings: RelaxSettings, pmap: PrimitiveMap | None = None) -> RelaxResult:
    """CHGNet's own StructOptimizer.relax (of the primitive cell ``pmap`` when given); the Atoms object is
    relaxed in place so we can read the end state."""
    from chgnet.model import StructOptimizer

    try:
        opt = StructOptimizer(model=model, optimizer_class=settings.optimizer, use_device=settings.device)
        atoms = _to_atoms(structure if pmap is None else pmap.primitive)
        out = opt.relax(
            atoms,
            fmax=settings.fmax,
            steps=settings.steps,
            relax_cell=settings.relax_cell,
            ase_filter=settings.cell_filter,
            verbose=False,
            assign_magmoms=False,
        )
        traj = out["trajectory"]
        # observers ran at step 0 and after each step; relax() appends the final state once more
        n_steps = len(traj.energies) - 2
        optimizable = _filter_class(settings.cell_filter)(atoms) if settings.relax_cell else atoms
        converged = n_steps < settings.steps or _converged(
            _optimizer_class(settings.optimizer)(optimizable, logfile=None), settings.fmax
        )
        return _finish(structure, traj.energies[:-1], traj.cells[:-1], traj.atom_positions[:-1], n_steps, converged,
                       pmap)
    except Exception as exc:  # a per-member failure inside CHGNet/ASE must not stop the batch
        return RelaxResult.failure(len(structure), f"CHGNet relaxation failed: {type(exc).__name__}: {exc}")


class _Member:
    """One structure in the lockstep engine: its Atoms (of its primitive cell when ``pmap`` is given),
    filter, optimiser and recorded trajectory."""

    def __init__(self, structure, model, settings: RelaxSettings, pmap: PrimitiveMap | None = None):
        self.structure = structure
        self.pmap = pmap
        self.atoms = _to_atoms(structure if pmap is None else pmap.primitive)
        # The calculator's cache is filled by the batched call; if an optimiser asks for a geometry
        # we did not precompute it falls back to CHGNet's normal per-structure calculation.
        self.atoms.calc = fed_calculator(model, settings.device)
        self.optimizable = _filter_class(settings.cell_filter)(self.atoms) if settings.relax_cell else self.atoms
        if settings.relax_cell and settings.cell_math == "fast":
            use_fast_cell_math(self.optimizable)
        self.opt = _optimizer_class(settings.optimizer)(self.optimizable, logfile=None)
        memoise_gradient(self.opt, self.atoms)
        self.energies: list[float] = []
        self.cells: list[np.ndarray] = []
        self.positions: list[np.ndarray] = []
        self.converged = False
        self.done = False
        self.error = ""

    def feed(self, prediction: dict, model) -> None:
        """Store one CHGNet prediction as the calculator's result for the current geometry."""
        feed_calculator(self.atoms, prediction, model, self.opt.nsteps)

    def record(self) -> None:
        self.energies.append(self.atoms.get_potential_energy())
        self.cells.append(np.array(self.atoms.get_cell()[:]))
        self.positions.append(self.atoms.get_positions())


def _graph_of(model, atoms):
    from pymatgen.core import Lattice, Structure

    structure = Structure(Lattice(atoms.get_cell()[:]), atoms.get_atomic_numbers(), atoms.get_positions(),
                          coords_are_cartesian=True)
    return graph_of(model.graph_converter, structure)


def _predict_into(model, members: list[_Member], max_edges: int = 6000, second_order: bool = False) -> None:
    """Batched CHGNet calls for every member's current geometry, in chunks of at most ``max_edges``
    atom-graph edges (memory); errors isolate the member."""
    graphs, ok = [], []
    for m in members:
        try:
            graphs.append(_graph_of(model, m.atoms))
            ok.append(m)
        except Exception as exc:
            m.error = f"CHGNet graph construction failed at step {m.opt.nsteps}: {exc}"
    for lo, hi in edge_chunks([len(g.atom_graph) for g in graphs], max_edges):
        _predict_chunk(model, ok[lo:hi], graphs[lo:hi], second_order)


def edge_chunks(edges: list[int], max_edges: int) -> list[tuple[int, int]]:
    """Consecutive [lo, hi) ranges whose summed edge counts stay within ``max_edges`` (a graph larger than
    the budget gets a chunk of its own)."""
    out, lo, total = [], 0, 0
    for i, e in enumerate(edges):
        if i > lo and total + e > max_edges:
            out.append((lo, i))
            lo, total = i, 0
        total += e
    if lo < len(edges):
        out.append((lo, len(edges)))
    return out


def _predict_chunk(model, ok: list[_Member], graphs: list, second_order: bool = False) -> None:
    if not ok:
        return
    try:
        preds = predict_efs(model, graphs, second_order)
    except Exception:
        preds = []
        for m, g in zip(ok, graphs):  # find the member that broke the batch
            try:
                preds.append(predict_efs(model, [g], second_order)[0])
            except Exception as exc:
                m.error = f"CHGNet failed at step {m.opt.nsteps}: {type(exc).__name__}: {exc}"
                preds.append(None)
    for m, p in zip(ok, preds):
        if p is None:
            continue
        try:
            m.feed(p, model)
        except Exception as exc:
            m.error = str(exc)


def _relax_lockstep(model, structures, settings: RelaxSettings, maps=None) -> list[RelaxResult]:
    """ASE optimisers stepped together, one batched CHGNet call per round (mirrors Dynamics.irun); ``maps``
    (one PrimitiveMap or None per structure) names the primitive cells to relax instead."""
    members: list[_Member | None] = []
    results: list[RelaxResult | None] = [None] * len(structures)
    maps = list(maps) if maps is not None else [None] * len(structures)
    for i, s in enumerate(structures):
        try:
            members.append(_Member(s, model, settings, maps[i]))
        except Exception as exc:
            members.append(None)
            results[i] = RelaxResult.failure(len(s), f"cannot set up relaxation: {exc}")

    def live():
        return [m for m in members if m is not None and not m.done and not m.error]

    # irun: forces at the start, observe step 0, check convergence; then step, observe, check, ...
    active = live()
    _predict_into(model, active, settings.max_edges, settings.second_order)
    while True:
        for m in live():
            try:
                m.record()
                if _converged(m.opt, settings.fmax):
                    m.converged = m.done = True
                elif m.opt.nsteps >= settings.steps:
                    m.done = True
                else:
                    m.opt.step()
                    m.opt.nsteps += 1
            except Exception as exc:
                m.error = f"optimiser step {m.opt.nsteps} failed: {type(exc).__name__}: {exc}"
        active = live()
        if not active:
            break
        _predict_into(model, active, settings.max_edges, settings.second_order)

    for i, m in enumerate(members):
        if m is None:
            continue
        if m.error:
            results[i] = RelaxResult.failure(len(m.structure), m.error)
        else:
            results[i] = _finish(m.structure, m.energies, m.cells, m.positions, m.opt.nsteps, m.converged, m.pmap)
    return results  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------
# energies only


def chgnet_energies(
    structures: Sequence[Structure],
    batch_size: int = 64,
    device: str = "cpu",
    min_distance: float = MIN_DISTANCE,
) -> np.ndarray:
    """CHGNet energy (eV/atom) of each structure, float64 [n]; NaN where the structure fails
    :func:`check_structure` or CHGNet errors. Structures are predicted in batches of ``batch_size``.
    """
    import torch

    if not (isinstance(batch_size, int) and batch_size >= 1):
        raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
    structures = list(structures)
    out = np.full(len(structures), np.nan)
    good = [i for i, s in enumerate(structures) if not check_structure(s, min_distance)]
    if not good:
        return out
    model = load_model(MODEL_NAME, device)
    with quiet(), torch.no_grad():  # energies only: no autograd graph needed
        for start in range(0, len(good), batch_size):
            idx = good[start : start + batch_size]
            graphs, kept = [], []
            for i in idx:
                try:
                    graphs.append(graph_of(model.graph_converter, structures[i]))
                    kept.append(i)
                except Exception:
                    continue
            if not kept:
                continue
            try:
                preds = model.predict_graph(graphs, task="e", batch_size=len(graphs))
                preds = [preds] if isinstance(preds, dict) else preds
            except Exception:
                preds = []
                for g in graphs:
                    try:
                        preds.append(model.predict_graph(g, task="e"))
                    except Exception:
                        preds.append({"e": np.nan})
            for i, p in zip(kept, preds):
                out[i] = float(p["e"])
    return out
