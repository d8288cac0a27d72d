"""The landscape explorer's computations: a slice filled in progressively, the pattern at a cursor, descent
paths and saving, each run by the explorer screen in a thread worker (never on the UI thread).

Everything numerical is the engine's: the grid of cells and the objective are those of
``engine.landscape.landscape_grid`` (``simulator_for_grid``, ``loss_objective`` / ``energy_objective``,
``slice_projection`` when tied), the minima ``find_minima``, the paths ``descent_paths``; ranges and
objectives are checked by ``jobs.landscapes`` exactly as for ``xrdtui landscape``, and a saved slice is a
``LandscapeRecord`` appended with ``store.landscapes.append_landscape`` (the store's writer lock). What is
added here is the order of evaluation: passes on nested sub-grids (every s-th point per axis, s halving to
1), so a coarse picture is on screen after a fraction of the work, and a stop between chunks when the
screen cancels the worker.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

import numpy as np

from xrdtui.engine.threads import one_torch_thread
from xrdtui.vocab import PARAM_NAMES, PARAM_UNITS, param_index

PAIRS: tuple[tuple[str, str], ...] = tuple(itertools.combinations(PARAM_NAMES, 2))  # the 15 slices
SPANS = (0.05, 0.1, 0.15, 0.2, 0.3)          # relative half-widths offered by + and -
RESOLUTIONS = (51, 101, 201)                  # points per axis offered by r
FIRST_POINTS = {False: 26, True: 11}          # points per axis of the first pass (XRD loss, energy)
CHUNK = {False: 1024, True: 64}               # cells per objective call (as compute_slice / CHGNet batches)
PATH_STEPS = 300                              # most descent steps per path (the `xrdtui landscape` default)
N_MINIMA = 5                                  # minima stored with a saved slice (the `xrdtui landscape` default)


@dataclass(frozen=True)
class Choice:
    """What to explore: a structure (benchmark name or structure file), two lattice parameters in the
    canonical order, an objective (a registry loss or a relaxation method's energy), the axes (relative
    ``span`` around the truth unless absolute ``range1`` / ``range2`` are given, Å or degrees), points per
    axis, the crystal-family tie (``tied``: the landscape projected descent sees) and the Caglioti W of both
    patterns (deg²; None: the pattern settings' own, the paper's)."""

    structure: str = "U2Ti"
    p1: str = "a"
    p2: str = "c"
    objective: str = "cosine"
    span: float = 0.15
    range1: tuple[float, float] | None = None
    range2: tuple[float, float] | None = None
    points: int = 101
    tied: bool = False
    width: float | None = None

    def canonical(self) -> Choice:
        """The same choice with its pair in (a, b, c, alpha, beta, gamma) order (the stored slice's order;
        the ranges follow their parameters)."""
        if param_index(self.p1) <= param_index(self.p2):
            return self
        return replace(self, p1=self.p2, p2=self.p1, range1=self.range2, range2=self.range1)


def next_in(options, current, step: int = 1):
    """The option ``step`` places after ``current`` (cyclic); the first one when ``current`` is not an option."""
    options = list(options)
    if current not in options:
        return options[0]
    return options[(options.index(current) + step) % len(options)]


def widths() -> tuple[float, ...]:
    """Peak widths offered by w (Caglioti W, deg²): the paper's, then the continuation method's stages, narrow
    to broad (its schedule reversed)."""
    from xrdtui.engine.continuation import ContinuationSettings
    from xrdtui.engine.simulator import PatternSettings

    return tuple(reversed(ContinuationSettings().schedule(PatternSettings().W)))


def objective_names() -> list[str]:
    """Every objective a slice can show: the registry's XRD losses, then the relaxation methods' energies."""
    from xrdtui.engine.losses import LOSSES
    from xrdtui.methods import all_methods, is_energy_objective

    return list(LOSSES) + [m.name for m in all_methods() if is_energy_objective(m.name)]


def is_energy(objective: str) -> bool:
    from xrdtui.methods import is_energy_objective

    return is_energy_objective(objective)


# --------------------------------------------------------------------------------------------- the slice


@dataclass
class Slice:
    """A prepared choice: the structure, its truth, the axes, every cell of the grid and the objective."""

    choice: Choice
    name: str
    structure: object                 # pymatgen Structure (the ground truth)
    truth: np.ndarray                 # [6] Å, degrees
    family: str
    x: np.ndarray                     # [n1] values of p1
    y: np.ndarray                     # [n2] values of p2
    lattice: np.ndarray               # [n1 * n2, 6] cells, row i * n2 + j at (x[i], y[j])
    sim: object                       # XRDSimulator covering every cell
    target: np.ndarray                # [M] the truth's pattern (at the chosen peak width)
    settings: object                  # PatternSettings of both patterns
    objective: Callable[[np.ndarray], np.ndarray]
    energy: bool
    unit: str
    prepare_s: float = 0.0

    @property
    def pair(self) -> tuple[str, str]:
        return self.choice.p1, self.choice.p2

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.x), len(self.y)

    @property
    def truth_point(self) -> tuple[float, float]:
        return float(self.truth[param_index(self.choice.p1)]), float(self.truth[param_index(self.choice.p2)])

    def lattice_at(self, i: int, j: int) -> np.ndarray:
        return self.lattice[i * len(self.y) + j]

    def nearest_index(self, p1: float, p2: float) -> tuple[int, int]:
        return int(np.argmin(np.abs(self.x - p1))), int(np.argmin(np.abs(self.y - p2)))


_STRUCTURES: dict[str, tuple[str, object, str]] = {}
_STRUCTURES_LOCK = threading.Lock()


def _structure(text: str):
    """(name, Structure, crystal family) of a benchmark name or structure file, cached per process
    (files by path and modification time, so an edited CIF is read again)."""
    from pathlib import Path

    from xrdtui.engine.structures import crystal_family, resolve_structure

    path = Path(text)
    key = f"{text}@{path.stat().st_mtime_ns}" if path.is_file() else text
    with _STRUCTURES_LOCK:
        hit = _STRUCTURES.get(key)
    if hit is None:
        name, struct = resolve_structure(text)
        hit = (name, struct, crystal_family(struct))
        with _STRUCTURES_LOCK:
            _STRUCTURES[key] = hit
    return hit


def grid_cells(truth, pair, x, y, tied: bool, family: str) -> np.ndarray:
    """Cells [n1 * n2, 6] of the slice: the truth with pair[0] = x[i] and pair[1] = y[j] (row i * n2 + j),
    slice-projected onto the family when ``tied`` (as ``landscape_grid(..., tied=True)``)."""
    from xrdtui.engine.landscape import slice_projection

    i, j = param_index(pair[0]), param_index(pair[1])
    xx, yy = np.meshgrid(x, y, indexing="ij")
    cells = np.tile(np.asarray(truth, dtype=np.float64), (xx.size, 1))
    cells[:, i] = xx.ravel()
    cells[:, j] = yy.ravel()
    return slice_projection(cells, pair, family, truth) if tied else cells


def prepare(choice: Choice) -> Slice:
    """Resolve the structure, check the axes and objective (the ``xrdtui landscape`` rules: ConfigError or
    InputError with a one-line message) and build the grid's simulator and objective."""
    from xrdtui.engine.landscape import energy_objective, loss_objective, simulator_for_grid
    from xrdtui.engine.simulator import PatternSettings
    from xrdtui.engine.structures import lattice_params
    from xrdtui.errors import ConfigError
    from xrdtui.jobs.landscapes import check_objective, slice_requests
    from xrdtui.methods import method_info

    t0 = time.perf_counter()
    choice = choice.canonical()
    if choice.p1 == choice.p2:
        raise ConfigError(f"a slice needs two different lattice parameters, got {choice.p1} twice")
    if not (2 <= int(choice.points) <= 2001):
        raise ConfigError(f"points per axis must lie in 2..2001, got {choice.points}")
    objective = check_objective(choice.objective)
    name, struct, family = _structure(choice.structure)
    truth = lattice_params(struct)
    ranges = [None if r is None else f"{r[0]!r},{r[1]!r}" for r in (choice.range1, choice.range2)]
    req = slice_requests([(choice.p1, choice.p2)], truth, choice.span, *ranges,
                         (int(choice.points), int(choice.points)))[0]
    x = np.linspace(*req.bounds1, req.points[0])
    y = np.linspace(*req.bounds2, req.points[1])
    settings = PatternSettings() if choice.width is None else replace(PatternSettings(), W=float(choice.width))
    settings.validate()
    cells = grid_cells(truth, (choice.p1, choice.p2), x, y, choice.tied, family)
    sim = simulator_for_grid(struct, cells, settings)
    target = sim.reference_pattern()
    energy = is_energy(objective)
    if energy:
        from xrdtui.engine.relax import chgnet_energies

        fn = energy_objective(struct, chgnet_energies, chunk=CHUNK[True])
    else:
        fn = loss_objective(sim, target, objective, chunk=CHUNK[False])
    return Slice(choice=choice, name=name, structure=struct, truth=truth, family=family, x=x, y=y, lattice=cells,
                 sim=sim, target=target, settings=settings, objective=fn, energy=energy,
                 unit=method_info(objective).unit, prepare_s=time.perf_counter() - t0)


# ---------------------------------------------------------------------------------- progressive passes


def pass_strides(n1: int, n2: int, first_points: int) -> tuple[int, ...]:
    """Strides of the passes, coarsest first, halving down to 1: the first pass has about ``first_points``
    points along the longer axis (a single pass when the grid is no larger)."""
    n = max(n1, n2)
    s = 1
    while (n - 1) / (2 * s) >= first_points - 1:
        s *= 2
    return tuple(2 ** k for k in range(int(math.log2(s)), -1, -1))


def axis_indices(n: int, stride: int) -> np.ndarray:
    """Every ``stride``-th index of an axis of ``n`` points, the last one always included."""
    return np.unique(np.r_[np.arange(0, n, stride), n - 1])


def nearest_fill(values: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``values`` [n1, n2] resampled from its sub-grid ``rows`` x ``cols``: every point takes the value of the
    nearest sub-grid point (the picture a coarse pass gives before the finer ones arrive)."""
    n1, n2 = values.shape

    def nearest(idx: np.ndarray, n: int) -> np.ndarray:
        k = np.clip(np.searchsorted(idx, np.arange(n)), 1, len(idx) - 1) if len(idx) > 1 else np.zeros(n, int)
        if len(idx) == 1:
            return idx[k]
        left, right = idx[k - 1], idx[k]
        return np.where(np.arange(n) - left <= right - np.arange(n), left, right)

    return values[np.ix_(nearest(rows, n1), nearest(cols, n2))]


@dataclass
class SliceUpdate:
    """One step of a progressive slice, as the screen draws it."""

    values: np.ndarray            # [n1, n2] computed values, NaN where not computed yet (or invalid)
    known: np.ndarray             # [n1, n2] bool: computed
    display: np.ndarray           # [n1, n2] computed values, the rest from the last complete pass
    done: int                     # points computed
    total: int
    stride: int                   # of the pass in progress (or just completed)
    passes: tuple[int, ...]
    complete: bool                # every point computed: ``values`` is the engine's landscape
    minima: list = field(default_factory=list)   # engine Minimum (coords filled), deepest first
    elapsed: float = 0.0          # seconds since the passes started


def _minima(values: np.ndarray, rows: np.ndarray, cols: np.ndarray, x: np.ndarray, y: np.ndarray) -> list:
    """``find_minima`` of the sub-grid ``rows`` x ``cols`` with indices and coordinates on the full grid (the
    whole grid when the sub-grid is all of it, so the final minima are exactly ``landscape_grid``'s)."""
    from xrdtui.engine.landscape import Minimum, find_minima

    sub = values[np.ix_(rows, cols)]
    out = []
    for m in find_minima(sub):
        i, j = int(rows[m.index[0]]), int(cols[m.index[1]])
        out.append(Minimum((i, j), m.value, m.depth, m.saddle, m.on_edge, (float(x[i]), float(y[j]))))
    return out


def compute_passes(sl: Slice, cancelled: Callable[[], bool] = lambda: False) -> Iterator[SliceUpdate]:
    """Evaluate the slice pass by pass, yielding an update after every chunk; stop (without a further
    update) as soon as ``cancelled()`` is true, checked before each chunk."""
    n1, n2 = sl.shape
    values = np.full((n1, n2), np.nan)
    known = np.zeros((n1, n2), dtype=bool)
    strides = pass_strides(n1, n2, FIRST_POINTS[sl.energy])
    chunk = CHUNK[sl.energy]
    display = values
    minima: list = []
    done, total = 0, n1 * n2
    t0 = time.perf_counter()
    for stride in strides:
        rows, cols = axis_indices(n1, stride), axis_indices(n2, stride)
        sub = np.zeros((n1, n2), dtype=bool)
        sub[np.ix_(rows, cols)] = True
        todo = np.flatnonzero(sub & ~known)  # row-major: whole rows of the pass arrive in order
        for start in range(0, len(todo), chunk):
            if cancelled():
                return
            flat = todo[start : start + chunk]
            vals = np.asarray(sl.objective(sl.lattice[flat]), dtype=np.float64)
            values.flat[flat] = vals
            known.flat[flat] = True
            done += len(flat)
            last_of_pass = start + chunk >= len(todo)
            if last_of_pass:
                minima = _minima(values, rows, cols, sl.x, sl.y)
                display = nearest_fill(values, rows, cols)
            shown = np.where(known, values, display)
            yield SliceUpdate(values.copy(), known.copy(), shown, done, total, stride, strides,
                              complete=done == total, minima=list(minima), elapsed=time.perf_counter() - t0)


# ------------------------------------------------------------------------------------ cursor and paths


@dataclass
class Probe:
    """The cell at the cursor (grid point i, j): its lattice, objective value and XRD pattern."""

    i: int
    j: int
    lattice: np.ndarray          # [6]
    value: float                 # objective there (NaN for an invalid cell)
    pattern: np.ndarray | None   # [M] max-normalised, None for an invalid cell


def probe(sl: Slice, i: int, j: int, known_value: float | None = None) -> Probe:
    """One forward pass at grid point (i, j) for the pattern; the objective value is the slice's own there
    (``known_value``) once computed, else the XRD loss of that pattern in the grid's precision (float32
    geometry, as ``loss_objective``: equal to within float32 rounding, ~1e-7) or one CHGNet call."""
    import torch

    from xrdtui.engine.optimize import resolve_loss

    lat = np.asarray(sl.lattice_at(i, j), dtype=np.float64)
    t = torch.as_tensor(lat[None])
    with torch.no_grad():
        if bool(sl.sim.invalid_members(t).any()) or bool(sl.sim.outside_margin(t).any()):
            return Probe(i, j, lat, float("nan"), None)
        pattern = sl.sim.pattern(t.to(torch.float32), None)
        if known_value is not None:
            value = known_value
        elif sl.energy:
            value = float(sl.objective(lat[None])[0])
        else:
            target = torch.as_tensor(np.asarray(sl.target), dtype=torch.float32)
            value = float(resolve_loss(sl.choice.objective)(pattern, target)[0])
    return Probe(i, j, lat, value, pattern[0].double().numpy())


def relative_distance(sl: Slice, p1: float, p2: float) -> float:
    """Distance of slice point (p1, p2) from the truth (p1*, p2*): sqrt((Δp1/p1*)² + (Δp2/p2*)²),
    dimensionless (x100 for percent); relative so lengths and angles weigh alike."""
    t1, t2 = sl.truth_point
    return math.hypot((p1 - t1) / t1, (p2 - t2) / t2)


def descend(sl: Slice, start: tuple[float, float], steps: int = PATH_STEPS) -> list:
    """Descent paths from ``start`` (slice coordinates) in the three modes of Figure 3 on the slice's XRD loss
    at the slice's peak width, with the optimiser of ``xrdtui landscape``; LandscapePath records."""
    from xrdtui.engine.landscape import descent_paths
    from xrdtui.engine.optimize import OptimizerSettings
    from xrdtui.errors import ConfigError
    from xrdtui.jobs.landscapes import PATH_MODES
    from xrdtui.store.records import LandscapePath

    if sl.energy:
        raise ConfigError("descent paths follow an XRD loss; choose one with o")
    out = []
    begin = np.asarray(start, dtype=np.float64)
    for mode in PATH_MODES:
        with one_torch_thread():
            (p,) = descent_paths(sl.structure, sl.pair, begin[None], mode, sl.choice.objective,
                                 optimizer=OptimizerSettings(max_steps=steps), target=sl.target, settings=sl.settings)
        out.append(LandscapePath(mode=mode, points=p.points, start=begin.copy(), final_loss=float(p.final_loss)))
    return out


def peak_envelope(two_theta: np.ndarray, pattern: np.ndarray, bins: int = 360) -> tuple[np.ndarray, np.ndarray]:
    """The pattern's maximum in each of ``bins`` equal 2θ bins (bin centres, maxima): a terminal column is
    wider than a peak, and a plain subsample would miss the peak tops."""
    tt = np.asarray(two_theta, dtype=float)
    y = np.asarray(pattern, dtype=float)
    edges = np.linspace(tt[0], tt[-1], bins + 1)
    which = np.clip(np.searchsorted(edges, tt, side="right") - 1, 0, bins - 1)
    top = np.full(bins, 0.0)
    np.maximum.at(top, which, np.nan_to_num(y, nan=0.0))
    return 0.5 * (edges[:-1] + edges[1:]), top


# ------------------------------------------------------------------------------------------------ saving


def slice_record(sl: Slice, update: SliceUpdate, paths: list, *, n_minima: int = N_MINIMA, paths_s: float = 0.0,
                 path_steps: int = PATH_STEPS):
    """The finished slice as the ``LandscapeRecord`` ``xrdtui landscape`` stores (``jobs.landscapes.compute_slice``):
    grid, the top ``n_minima`` minima with their patterns, the paths drawn, and the same settings attributes,
    plus the peak width and the explorer as its maker."""
    import torch

    from xrdtui.errors import InputError
    from xrdtui.store.records import LandscapeMinimum, LandscapeRecord

    if not update.complete:
        raise InputError("the slice is still being computed; save it when it is complete")
    top = update.minima[:n_minima]
    minima = [LandscapeMinimum(r, m.index[0], m.index[1], float(m.coords[0]), float(m.coords[1]), float(m.value),
                               float(m.depth)) for r, m in enumerate(top)]
    if top:
        cells = np.stack([sl.lattice_at(*m.index) for m in top])
        with torch.no_grad():
            patterns = sl.sim.pattern(torch.as_tensor(cells), None).float().numpy()
    else:
        patterns = np.zeros((0, len(sl.sim.two_theta)), dtype="float32")
    c = sl.choice
    attrs = dict(
        source=c.structure, structure_json=sl.structure.to_json(), span=float(c.span),
        relative_range=c.range1 is None and c.range2 is None,
        points1=len(sl.x), points2=len(sl.y), tied=bool(c.tied), family=sl.family or "", objective_unit=sl.unit,
        minima_found=len(update.minima), edge_minima=",".join(str(r) for r, m in enumerate(top) if m.on_edge),
        path_steps=int(path_steps), path_others="fixed", grid_s=round(update.elapsed, 3), paths_s=round(paths_s, 3),
        pattern_W=float(sl.settings.W), made_by="xrdtui explore",
    )
    return LandscapeRecord(
        structure=sl.name, objective=c.objective, p1=c.p1, p2=c.p2, axis1=sl.x, axis2=sl.y,
        unit1=PARAM_UNITS[c.p1], unit2=PARAM_UNITS[c.p2], grid=update.values.astype("float32"), truth=sl.truth,
        minima=minima, minima_patterns=np.asarray(patterns, dtype="float32"), two_theta=np.asarray(sl.sim.two_theta),
        paths=list(paths), attrs=attrs,
    )


def save(path, record, replace: bool = False) -> str:
    """Append ``record`` to the landscapes store at ``path`` (created when missing) under the store's writer
    lock; StoreError (one line) when the store refuses, e.g. it already holds the key and not ``replace``."""
    from xrdtui.store.landscapes import append_landscape

    return append_landscape(path, record, replace=replace)
