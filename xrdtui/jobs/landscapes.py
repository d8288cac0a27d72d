"""Landscape jobs: 2-D slices of an objective over pairs of lattice parameters, ready for a store.

Per slice (:func:`compute_slice`): the grid (``engine.landscape.landscape_grid``), its minima ranked by
depth with the XRD pattern of each stored minimum, and, for XRD losses, gradient-descent paths from the
chosen starts in the three descent modes (``engine.landscape.descent_paths``), as one
:class:`~xrdtui.store.records.LandscapeRecord`. The CLI (``xrdtui landscape``), the TUI and notebooks call
this; the store appends the record atomically.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from xrdtui.engine.threads import one_torch_thread
from xrdtui.errors import ConfigError
from xrdtui.methods import is_energy_objective, method_info
from xrdtui.vocab import LENGTH_NAMES, PARAM_UNITS, Mode, param_index

PATH_MODES = (Mode.FREE, Mode.FREE_FROM_PROJECTED_INIT, Mode.PROJECTED)  # the three paths of Figure 3
DEFAULT_START = (0.2, 0.8)  # default start: this fraction along each axis (inside the slice, off the diagonal)


def parse_floats(text: str, n: int, what: str) -> tuple[float, ...]:
    """``"lo,hi"`` -> floats; ConfigError naming ``what`` unless there are exactly ``n`` finite numbers."""
    parts = [p.strip() for p in str(text).split(",")]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        raise ConfigError(f"{what} must be {n} comma-separated numbers, got {text!r}") from None
    if len(values) != n or not all(math.isfinite(v) for v in values):
        raise ConfigError(f"{what} must be {n} comma-separated finite numbers, got {text!r}")
    return values


@dataclass(frozen=True)
class SliceRequest:
    """One slice to compute: parameter names, axis bounds (absolute, Å or degrees) and points per axis."""

    p1: str
    p2: str
    bounds1: tuple[float, float]
    bounds2: tuple[float, float]
    points: tuple[int, int]


def check_bounds(name: str, lo: float, hi: float) -> tuple[float, float]:
    """Absolute range of one parameter: lo < hi, lengths positive, angles inside (0°, 180°)."""
    unit = PARAM_UNITS[name]
    if not hi > lo:
        raise ConfigError(f"bad range for {name}: {lo:g}..{hi:g} {unit} (need lo < hi)")
    if name in LENGTH_NAMES and lo <= 0:
        raise ConfigError(f"bad range for {name}: lengths must be positive, got {lo:g}..{hi:g} Å")
    if name not in LENGTH_NAMES and not (0 < lo and hi < 180):
        raise ConfigError(f"bad range for {name}: angles must lie inside 0..180°, got {lo:g}..{hi:g}°")
    return lo, hi


def slice_requests(pairs, truth, span: float, range1: str | None, range2: str | None,
                   points: tuple[int, int]) -> list[SliceRequest]:
    """Absolute bounds of every slice: ``truth * (1 ± span)`` unless ``--range1/--range2`` give them."""
    if not (0 < span < 1):
        raise ConfigError(f"--span is a relative half-width and must lie in (0, 1), got {span:g}")
    if (range1 or range2) and len(pairs) > 1:
        raise ConfigError("--range1/--range2 need one pair in --params (use --span with --params all)")
    out = []
    for p1, p2 in pairs:
        bounds = []
        for name, given in ((p1, range1), (p2, range2)):
            t = float(truth[param_index(name)])
            lo, hi = parse_floats(given, 2, f"the range of {name}") if given else (t * (1 - span), t * (1 + span))
            bounds.append(check_bounds(name, lo, hi))
        out.append(SliceRequest(p1, p2, bounds[0], bounds[1], points))
    return out


def slice_starts(req: SliceRequest, truth, starts_rel: list[str], starts_abs: list[str],
                 reverse: bool = False) -> list[tuple[float, float]]:
    """Descent starts in slice coordinates: relative factors of the truth (``--start``), absolute
    values (``--start-at``), or by default the point 20 % along the first axis and 80 % along the
    second. ``reverse``: the given values are in (p2, p1) order. Every start must lie inside the slice."""
    t1, t2 = float(truth[param_index(req.p1)]), float(truth[param_index(req.p2)])
    order = (lambda v: v[::-1]) if reverse else (lambda v: v)
    starts = []
    for text in starts_rel:
        f1, f2 = order(parse_floats(text, 2, "--start"))
        starts.append((t1 * f1, t2 * f2))
    for text in starts_abs:
        starts.append(order(parse_floats(text, 2, "--start-at")))
    if not starts:
        (lo1, hi1), (lo2, hi2) = req.bounds1, req.bounds2
        starts.append((lo1 + DEFAULT_START[0] * (hi1 - lo1), lo2 + DEFAULT_START[1] * (hi2 - lo2)))
    for s1, s2 in starts:
        (lo1, hi1), (lo2, hi2) = req.bounds1, req.bounds2
        eps1, eps2 = 1e-9 * (hi1 - lo1), 1e-9 * (hi2 - lo2)
        if not (lo1 - eps1 <= s1 <= hi1 + eps1 and lo2 - eps2 <= s2 <= hi2 + eps2):
            raise ConfigError(
                f"start ({s1:.4g}, {s2:.4g}) lies outside the {req.p1}-{req.p2} slice "
                f"[{lo1:.4g}, {hi1:.4g}] x [{lo2:.4g}, {hi2:.4g}]"
            )
    return starts


def check_objective(objective: str) -> str:
    """A landscape objective: an XRD loss name or a relaxation method's energy; ConfigError otherwise."""
    if is_energy_objective(objective):
        return objective
    from xrdtui.engine.losses import get_loss

    get_loss(objective)  # ConfigError naming the known losses
    return objective


def compute_slice(structure, name: str, req: SliceRequest, objective: str, *, n_minima: int, starts, steps: int,
                  tied: bool, extra_attrs: dict, progress=None):
    """The LandscapeRecord of one slice: grid, top ``n_minima`` minima with patterns, and descent paths from
    ``starts`` (none when empty) in the three modes. ``progress(done_units)`` counts grid points,
    then one unit per mode."""
    import numpy as np

    from xrdtui.engine.landscape import descent_paths, landscape_grid
    from xrdtui.engine.optimize import OptimizerSettings
    from xrdtui.engine.simulator import PatternSettings, reference_pattern
    from xrdtui.errors import InputError
    from xrdtui.store.records import LandscapeMinimum, LandscapePath, LandscapeRecord

    n_grid = req.points[0] * req.points[1]
    kwargs = dict(bounds=(req.bounds1, req.bounds2), resolution=req.points, tied=tied, n_patterns=n_minima,
                  progress=(lambda done, total: progress(done)) if progress else None)
    t0 = time.perf_counter()
    if is_energy_objective(objective):
        from xrdtui.engine.relax import chgnet_energies

        land = landscape_grid(structure, (req.p1, req.p2), "energy", energy_fn=chgnet_energies, chunk=64, **kwargs)
    else:
        land = landscape_grid(structure, (req.p1, req.p2), objective, chunk=1024, **kwargs)
    grid_s = time.perf_counter() - t0
    if not np.isfinite(land.values).any():
        raise InputError(f"every cell of the {req.p1}-{req.p2} slice is invalid (degenerate cells); narrow the range")

    top = land.minima[:n_minima]
    minima = [LandscapeMinimum(r, m.index[0], m.index[1], float(m.coords[0]), float(m.coords[1]), float(m.value),
                               float(m.depth)) for r, m in enumerate(top)]
    two_theta = land.two_theta if land.two_theta is not None else PatternSettings().two_theta
    patterns = land.minima_patterns[: len(top)] if land.minima_patterns is not None else np.zeros((0, len(two_theta)))

    paths = []
    t0 = time.perf_counter()
    target = reference_pattern(structure) if starts else None
    for k, mode in enumerate(PATH_MODES if starts else ()):
        with one_torch_thread():  # a few cells per batch: extra intra-op threads only contend
            found = descent_paths(structure, (req.p1, req.p2), np.asarray(starts, dtype=np.float64), mode, objective,
                                  optimizer=OptimizerSettings(max_steps=steps), target=target)
        for start, p in zip(starts, found, strict=True):
            paths.append(LandscapePath(mode=mode, points=p.points, start=np.asarray(start, dtype=np.float64),
                                       final_loss=float(p.final_loss)))
        if progress:
            progress(n_grid + k + 1)
    paths_s = time.perf_counter() - t0

    unit = PARAM_UNITS
    attrs = dict(extra_attrs)
    attrs.update(
        points1=req.points[0], points2=req.points[1], tied=bool(tied), family=land.family or "",
        objective_unit=method_info(objective).unit,
        minima_found=len(land.minima), edge_minima=",".join(str(r) for r, m in enumerate(top) if m.on_edge),
        path_steps=int(steps), path_others="fixed", grid_s=round(grid_s, 3), paths_s=round(paths_s, 3),
    )
    return LandscapeRecord(
        structure=name, objective=objective, p1=req.p1, p2=req.p2, axis1=land.x, axis2=land.y,
        unit1=unit[req.p1], unit2=unit[req.p2], grid=land.values.astype("float32"), truth=land.truth,
        minima=minima, minima_patterns=np.asarray(patterns, dtype="float32"), two_theta=np.asarray(two_theta),
        paths=paths, attrs=attrs,
    )

