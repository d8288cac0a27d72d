"""Loss and energy landscapes on 2-D slices of lattice-parameter space, their minima, and descent paths.

A *slice* varies two of the six lattice parameters (a, b, c, alpha, beta, gamma; angstrom and degrees)
over a grid and holds the other four at the ground truth (paper Figures 2, 3, 5, 7b). The objective is
an XRD loss against the ground-truth pattern (batched forward passes, no autograd, chunked), the
CHGNet energy through an ``energy_fn(structures) -> [B]`` (e.g. ``xrdtui.engine.relax.chgnet_energies``),
or any callable on lattice parameters ``[B, 6] -> [B]``.

Minima (:func:`find_minima`) are ranked by *depth* = topographic prominence: the height from the
minimum to the lowest saddle through which its basin connects to a deeper basin; the global
minimum's depth is ``max - min`` of the grid.

Projection on a slice (:func:`slice_projection`, used by :func:`descent_paths` and by
``landscape_grid(..., tied=True)``): the crystal-family projection P ties some parameters together
(hexagonal/tetragonal a=b, cubic a=b=c) and pins angles. On a slice we first copy each slice
parameter onto the parameters the family ties to it (so a hexagonal (a, c) point keeps its a and c
and gets b := a), then apply P. The family's tie groups are read off P itself, not restated here.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch

from xrdtui.errors import ConfigError, InputError
from xrdtui.vocab import PARAM_NAMES, Mode, param_index

ALL_PAIRS = tuple(itertools.combinations(PARAM_NAMES, 2))  # the 15 slices


def _pair(pair) -> tuple[int, int]:
    if len(pair) != 2:
        raise ConfigError(f"a slice needs two lattice parameters, got {pair!r}")
    i, j = (param_index(p) for p in pair)
    if i == j:
        raise ConfigError(f"a slice needs two different lattice parameters, got {pair!r}")
    return i, j


# --------------------------------------------------------------------------------------------------
# Minima ranked by depth (topographic prominence)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Minimum:
    """One separated local minimum of a grid."""

    index: tuple[int, int]   # (i, j) into values[i, j]
    value: float
    depth: float             # saddle - value (prominence); grid max - value for the global minimum
    saddle: float            # height of the lowest pass to a deeper basin (grid max for the global one)
    on_edge: bool            # the minimum lies on the grid's border (may continue outside the slice)
    coords: tuple[float, float] | None = None   # slice coordinates, filled in by landscape_grid


def find_minima(values, min_depth: float | None = None, exclude_edge: bool = False) -> list[Minimum]:
    """Separated local minima of a 2-D grid, deepest first.

    A local minimum is a point no higher than its 8 neighbours whose basin is separated from every
    deeper basin by a saddle at least ``min_depth`` above it. Found by flooding: points are visited
    from low to high; a point with no visited neighbour starts a basin; a point touching several
    basins merges them at its height h, and every basin but the one with the lowest minimum ends
    there with depth ``h - its minimum``. A plateau is one basin (depth-0 fragments are dropped).
    NaN points are walls (never visited). ``min_depth`` defaults to 1e-3 of the grid's range so
    float32 ripples do not count as minima.
    """
    grid = np.asarray(values, dtype=np.float64)
    if grid.ndim != 2:
        raise InputError(f"find_minima needs a 2-D grid, got shape {grid.shape}")
    n1, n2 = grid.shape
    flat = grid.ravel()
    finite = np.isfinite(flat)
    if not finite.any():
        return []
    top, bottom = float(flat[finite].max()), float(flat[finite].min())
    if min_depth is None:
        min_depth = 1e-3 * (top - bottom)

    order = np.flatnonzero(finite)[np.argsort(flat[finite], kind="stable")]
    rank = np.empty(flat.size, dtype=np.int64)
    rank[order] = np.arange(order.size)
    parent = np.full(flat.size, -1, dtype=np.int64)  # -1: not yet flooded
    parent_l = parent.tolist()

    def find(p: int) -> int:
        root = p
        while parent_l[root] != root:
            root = parent_l[root]
        while parent_l[p] != root:  # path compression
            parent_l[p], p = root, parent_l[p]
        return root

    offsets = [(di, dj) for di in (-1, 0, 1) for dj in (-1, 0, 1) if (di, dj) != (0, 0)]
    ended: dict[int, float] = {}  # basin root (its minimum point) -> saddle height
    flat_l = flat.tolist()
    rank_l = rank.tolist()
    for p in order.tolist():
        i, j = divmod(p, n2)
        roots = set()
        for di, dj in offsets:
            a, b = i + di, j + dj
            if 0 <= a < n1 and 0 <= b < n2:
                q = a * n2 + b
                if parent_l[q] != -1:
                    roots.add(find(q))
        if not roots:
            parent_l[p] = p
            continue
        # Roots are basin minima; the lowest (earliest flooded on ties) survives.
        best = min(roots, key=lambda r: rank_l[r])
        for r in roots:
            if r != best:
                ended[r] = flat_l[p]
                parent_l[r] = best
        parent_l[p] = best

    survivors = {find(p) for p in order.tolist()}
    minima = []
    for root, saddle in itertools.chain(ended.items(), ((r, top) for r in survivors)):
        value = flat_l[root]
        depth = saddle - value
        if root in survivors:
            depth = max(depth, 0.0)
        elif depth <= min_depth:
            continue
        i, j = divmod(root, n2)
        edge = i in (0, n1 - 1) or j in (0, n2 - 1)
        if exclude_edge and edge:
            continue
        minima.append(Minimum(index=(i, j), value=value, depth=depth, saddle=saddle, on_edge=edge))
    minima.sort(key=lambda m: (-m.depth, m.value))
    return minima


# --------------------------------------------------------------------------------------------------
# Slice projection
# --------------------------------------------------------------------------------------------------


def tie_groups(family: str, reference) -> list[tuple[int, ...]]:
    """Groups of lattice parameters that the projection of ``family`` sets equal (e.g. [(0, 1)]).

    Read off ``projectors.project`` by perturbing one parameter at a time around ``reference``
    (a cell of that family): the parameters that move with it are tied to it.
    """
    from xrdtui.engine.projectors import project

    ref = torch.as_tensor(np.asarray(reference, dtype=np.float64))
    base = project(ref[None], family)[0]
    groups: list[tuple[int, ...]] = []
    for i in range(6):
        bumped = ref.clone()
        bumped[i] += 0.1
        moved = (project(bumped[None], family)[0] - base).abs() > 1e-9
        members = tuple(int(k) for k in torch.nonzero(moved).flatten().tolist())
        if len(members) > 1 and members not in groups:
            groups.append(members)
    return groups


def slice_projection(points, pair, family: str, reference) -> np.ndarray:
    """Project full 6-vectors [B, 6] onto ``family`` keeping the slice coordinates where possible.

    Each slice parameter's value is first copied to the parameters tied to it (a parameter tied to
    both slice parameters gets their mean), then the family projection is applied.
    """
    from xrdtui.engine.projectors import project

    i, j = _pair(pair)
    pts = np.array(points, dtype=np.float64, copy=True)
    for group in tie_groups(family, reference):
        in_slice = [k for k in (i, j) if k in group]
        if not in_slice:
            continue
        fill = pts[:, in_slice].mean(axis=1)
        for k in group:
            if k not in (i, j):
                pts[:, k] = fill
    return project(torch.as_tensor(pts), family).double().numpy()


# --------------------------------------------------------------------------------------------------
# Grids
# --------------------------------------------------------------------------------------------------


@dataclass
class Landscape:
    """An objective on a 2-D slice: ``values[i, j]`` at ``(x[i], y[j])`` (parameters ``pair``)."""

    pair: tuple[str, str]
    x: np.ndarray                  # [n1] values of pair[0] (angstrom or degrees)
    y: np.ndarray                  # [n2] values of pair[1]
    values: np.ndarray             # [n1, n2]; NaN where the cell is invalid
    truth: np.ndarray              # [6] ground-truth lattice parameters (the other four are held here)
    objective: str
    minima: list[Minimum] = field(default_factory=list)
    minima_lattice: np.ndarray | None = None    # [K, 6] cells of the top minima
    minima_patterns: np.ndarray | None = None   # [K, M] their XRD patterns
    two_theta: np.ndarray | None = None         # [M]
    tied: bool = False             # grid points were slice-projected onto the family
    family: str | None = None

    def lattice_at(self, i: int, j: int) -> np.ndarray:
        return _grid_lattice(self.truth, self.pair, self.x[[i]], self.y[[j]], self.tied, self.family)[0]


def _axis(truth, index, span, bounds, n) -> np.ndarray:
    if n < 2:
        raise ConfigError(f"a landscape axis needs at least 2 points, got {n}")
    if bounds is not None:
        lo, hi = (float(v) for v in bounds)
    else:
        lo, hi = truth[index] * (1 - span), truth[index] * (1 + span)
    if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
        raise ConfigError(f"bad range for {PARAM_NAMES[index]}: [{lo}, {hi}]")
    return np.linspace(lo, hi, n)


def _grid_lattice(truth, pair, x, y, tied=False, family=None) -> np.ndarray:
    i, j = _pair(pair)
    xx, yy = np.meshgrid(x, y, indexing="ij")
    lat = np.tile(np.asarray(truth, dtype=np.float64), (xx.size, 1))
    lat[:, i] = xx.ravel()
    lat[:, j] = yy.ravel()
    if tied:
        lat = slice_projection(lat, pair, family, truth)
    return lat


MARGINS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.8, 1.2, 1.9)  # strain margins tried, smallest first


def simulator_for_grid(structure, lattice, settings=None):
    """An ``XRDSimulator`` whose reflection list covers every cell of ``lattice`` [B, 6].

    The smallest strain margin in :data:`MARGINS` for which no (valid) cell lies outside the
    simulator's enumeration margin: fewer reflections make forward passes faster. Cells that no
    margin covers are reported as NaN by :func:`loss_objective`.
    """
    from xrdtui.engine.simulator import PatternSettings, XRDSimulator

    lattice = torch.as_tensor(np.asarray(lattice, dtype=np.float64))
    sim = None
    for margin in MARGINS:
        sim = XRDSimulator(structure, settings or PatternSettings(), strain_margin=margin)
        ok = ~sim.invalid_members(lattice)
        if not bool(sim.outside_margin(lattice[ok]).any()):
            break
    return sim


def loss_objective(sim, target, loss="cosine", chunk: int = 256,
                   dtype: torch.dtype = torch.float32) -> Callable[[np.ndarray], np.ndarray]:
    """``f(lattice[B,6]) -> [B]``: an XRD loss of each cell's pattern against ``target``.

    The simulator's geometry runs in ``dtype``: float32 is ~2-5x faster than float64 and changes a
    U2Ti cosine landscape by < 5e-6 (measured, 4096 random cells within +-15 %). Small chunks keep
    the [chunk, 9000] buffers in cache: 64-256 cells per call were fastest on the 2-core machine.

    Forward only (``torch.no_grad``; not inference_mode, whose tensors the simulator would cache and
    autograd could not reuse later). Cells that are degenerate or beyond the simulator's
    enumeration margin give NaN.
    """
    from xrdtui.engine.optimize import resolve_loss

    fn = resolve_loss(loss)
    target_t = torch.as_tensor(np.asarray(target), dtype=torch.float32)

    def f(lattice: np.ndarray) -> np.ndarray:
        lattice = np.asarray(lattice, dtype=np.float64)
        out = np.full(lattice.shape[0], np.nan)
        checks = [c for c in (getattr(sim, "invalid_members", None), getattr(sim, "outside_margin", None)) if c]
        with torch.no_grad():
            for start in range(0, lattice.shape[0], chunk):
                lat = torch.as_tensor(lattice[start : start + chunk])
                ok = torch.isfinite(lat).all(dim=-1)
                if not ok.any():
                    continue
                # Degenerate cells and cells beyond the enumeration margin are NaN, never a wrong value.
                # Ask the simulator about finite rows only (non-finite rows get a finite stand-in).
                for check in checks:
                    if ok.any():
                        ok &= ~torch.as_tensor(check(torch.where(ok[:, None], lat, lat[ok][0])), dtype=torch.bool)
                if not ok.any():
                    continue
                vals = fn(sim.pattern(lat[ok].to(dtype), None), target_t)
                block = out[start : start + chunk]
                block[ok.numpy()] = vals.double().numpy()
        return out

    return f


def energy_objective(structure, energy_fn: Callable, chunk: int = 64) -> Callable[[np.ndarray], np.ndarray]:
    """``f(lattice[B,6]) -> [B]``: ``energy_fn`` (e.g. CHGNet energy per atom, eV) of each cell.

    ``energy_fn(list[Structure]) -> array[B]`` sees ``chunk`` structures per call (its own batching).
    """
    from xrdtui.engine.structures import with_params

    def f(lattice: np.ndarray) -> np.ndarray:
        out = np.full(len(lattice), np.nan)
        for start in range(0, len(lattice), chunk):
            block = lattice[start : start + chunk]
            ok = np.isfinite(block).all(axis=1)
            structs = [with_params(structure, row) for row in block[ok]]
            if structs:
                out[start : start + chunk][ok] = np.asarray(energy_fn(structs), dtype=np.float64)
        return out

    return f


def landscape_grid(
    structure,
    pair: Sequence[str] = ("a", "c"),
    objective: str | Callable = "cosine",
    *,
    span: float = 0.15,
    bounds: Sequence[Sequence[float] | None] | None = None,
    resolution: int | Sequence[int] = 61,
    energy_fn: Callable | None = None,
    target=None,
    sim=None,
    settings=None,
    tied: bool = False,
    chunk: int = 256,
    n_patterns: int = 3,
    min_depth: float | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Landscape:
    """Evaluate an objective on a 2-D slice of one structure's lattice parameters.

    structure: a pymatgen Structure (its lattice parameters are the ground truth).
    pair: the two varied parameters, e.g. ("a", "c"). The other four stay at the truth.
    objective: a loss name ("cosine", "mse", "entropy") against ``target`` (default: the truth's
        pattern), "energy" (needs ``energy_fn(list[Structure]) -> [B]``), or a callable
        ``f(lattice[B, 6]) -> [B]``.
    span: relative half-width (0.15 = +/-15 % of the truth) unless ``bounds=((lo, hi), (lo, hi))``
        gives absolute ranges (either entry may be None to use ``span``).
    resolution: points per axis (int or (n1, n2)).
    tied: evaluate at :func:`slice_projection` of each point (the landscape the projected mode sees).
    progress: ``progress(done, total)`` after each chunk.
    Returns a :class:`Landscape` with its minima ranked by depth and the patterns of the top
    ``n_patterns`` minima.
    """
    from xrdtui.engine.structures import crystal_family, lattice_params

    i, j = _pair(pair)
    names = (PARAM_NAMES[i], PARAM_NAMES[j])
    truth = np.asarray(lattice_params(structure), dtype=np.float64)
    n1, n2 = (resolution, resolution) if np.isscalar(resolution) else tuple(int(r) for r in resolution)
    bounds = bounds or (None, None)
    x = _axis(truth, i, span, bounds[0], int(n1))
    y = _axis(truth, j, span, bounds[1], int(n2))
    family = crystal_family(structure)
    lattice = _grid_lattice(truth, names, x, y, tied, family)

    if objective == "energy" and energy_fn is None:
        raise ConfigError("the energy objective needs an energy_fn (e.g. xrdtui.engine.relax.chgnet_energies)")
    if sim is None and (isinstance(objective, str) and objective != "energy" or n_patterns > 0):
        sim = simulator_for_grid(structure, lattice, settings)
    if isinstance(objective, str) and objective == "energy":
        f, label = energy_objective(structure, energy_fn), "energy"
    elif isinstance(objective, str):
        if target is None:
            target = sim.reference_pattern()
        f, label = loss_objective(sim, target, objective, chunk), objective
    elif callable(objective):
        f, label = objective, getattr(objective, "__name__", "custom")
    else:
        raise ConfigError(f"objective must be a loss name, 'energy' or a callable, got {objective!r}")

    values = np.empty(lattice.shape[0])
    step = max(chunk, 1)
    for start in range(0, lattice.shape[0], step):
        values[start : start + step] = np.asarray(f(lattice[start : start + step]), dtype=np.float64)
        if progress is not None:
            progress(min(start + step, lattice.shape[0]), lattice.shape[0])
    values = values.reshape(len(x), len(y))

    minima = [
        Minimum(m.index, m.value, m.depth, m.saddle, m.on_edge, (float(x[m.index[0]]), float(y[m.index[1]])))
        for m in find_minima(values, min_depth=min_depth)
    ]
    land = Landscape(pair=names, x=x, y=y, values=values, truth=truth, objective=label, minima=minima,
                     tied=tied, family=family)
    if n_patterns > 0 and minima:
        top = np.stack([land.lattice_at(*m.index) for m in minima[:n_patterns]])
        with torch.no_grad():
            land.minima_patterns = sim.pattern(torch.as_tensor(top), None).float().numpy()
        land.minima_lattice = top
        land.two_theta = np.asarray(sim.two_theta)
    return land


def all_slices(structure, objective: str | Callable = "cosine", **kwargs) -> dict[tuple[str, str], Landscape]:
    """The 15 slices (every pair of the six lattice parameters) of one structure."""
    return {pair: landscape_grid(structure, pair, objective, **kwargs) for pair in ALL_PAIRS}


# --------------------------------------------------------------------------------------------------
# Descent paths on a slice (paper Figure 3)
# --------------------------------------------------------------------------------------------------


@dataclass
class DescentPath:
    """One gradient-descent run drawn on a slice."""

    mode: str
    points: np.ndarray       # [S, 2] slice coordinates after 0..S-1 steps (row 0: the start, projected if so)
    loss: np.ndarray         # [S]
    lattice: np.ndarray      # [S, 6] the full cell along the path
    final_loss: float
    converged: bool
    failed: bool
    reason: str


def descent_paths(
    structure,
    pair: Sequence[str],
    starts,
    mode: str = "free",
    loss: str | Callable = "cosine",
    *,
    others: str = "fixed",
    optimizer=None,
    target=None,
    sim=None,
    settings=None,
) -> list[DescentPath]:
    """Gradient descent from each start ``[K, 2]`` (slice coordinates) in one of the three modes.

    The state is the full 6-vector: slice parameters at the start, the rest at the truth.
    ``others="fixed"``: in "free" mode only the two slice parameters move, so the path descends
    exactly the drawn landscape; in the projected modes the parameters the family ties to them move
    too (the start is :func:`slice_projection`-ed, e.g. hexagonal b := a, then P = the family
    projection after every step: projected gradient descent in the tied subspace, whose landscape is
    ``landscape_grid(..., tied=True)``). ``others="free"``: all six parameters move; the path is the
    shadow of a 6-D run on the slice.
    """
    from xrdtui.engine.optimize import OptimizerSettings, recover
    from xrdtui.engine.structures import crystal_family, lattice_params

    if others not in ("fixed", "free"):
        raise ConfigError(f"others must be 'fixed' or 'free', got {others!r}")
    i, j = _pair(pair)
    truth = np.asarray(lattice_params(structure), dtype=np.float64)
    family = crystal_family(structure)
    starts = np.atleast_2d(np.asarray(starts, dtype=np.float64))
    init = np.tile(truth, (len(starts), 1))
    init[:, i], init[:, j] = starts[:, 0], starts[:, 1]

    mask = np.zeros(6, dtype=bool)
    mask[[i, j]] = True
    if mode != Mode.FREE:
        init = slice_projection(init, (i, j), family, truth)
        for group in tie_groups(family, truth):
            if i in group or j in group:
                mask[list(group)] = True
    if others == "free":
        mask[:] = True

    if sim is None:
        # Room for the descent to wander 20 % beyond its starts.
        room = np.concatenate([init, truth[None]]) * np.array([1.2, 1.2, 1.2, 1.0, 1.0, 1.0])
        sim = simulator_for_grid(structure, np.concatenate([init, room]), settings)
    if target is None:
        target = sim.reference_pattern()
    traj = recover(sim, target, init, None, loss=loss, mode=mode, family=family, optimise=("lattice",),
                   settings=optimizer or OptimizerSettings(), lattice_mask=mask)
    paths = []
    for k in range(len(starts)):
        n = int(traj.n_steps[k])
        lat = traj.lattice[: n + 1, k]
        paths.append(DescentPath(mode=mode, points=lat[:, [i, j]].copy(), loss=traj.loss[: n + 1, k].copy(),
                                 lattice=lat.copy(), final_loss=float(traj.loss[n, k]),
                                 converged=bool(traj.converged[k]), failed=bool(traj.failed[k]),
                                 reason=traj.reasons[k]))
    return paths


def descent_path(structure, pair, start, mode: str = "free", loss="cosine", **kwargs) -> DescentPath:
    """:func:`descent_paths` for a single start ``(x, y)``."""
    return descent_paths(structure, pair, [start], mode, loss, **kwargs)[0]
