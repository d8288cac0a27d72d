"""The target of a refinement: a known structure (its simulated pattern) or a measured powder pattern.

A structure target (CIF or pymatgen JSON) is simulated with the study's simulator on the full grid of the
pattern settings (2θ = 0-90° in 0.01° steps by default, at the given wavelength); refined candidates are
judged against the structure itself.

A measured target (see :mod:`xrdtui.refine.pattern_file`) is prepared in four steps:

1. the grid: the simulator's own points (``two_theta_min + i·step``) inside the measured 2θ range and
   inside the simulator's range; the loss sees only these (the refinement's ``PatternSettings`` has
   ``two_theta_min``/``two_theta_max`` set to them, so simulated patterns cover, and are normalised on, the
   same range);
2. resampling: each grid value is the mean of the measured curve (linear between measured points) over
   the grid bin [x − step/2, x + step/2] (cut to the measured range): linear interpolation where the data
   are coarser than the grid, an average over the points inside the bin where they are finer;
3. background: SNIP (:mod:`xrdtui.refine.background`) subtracted, negatives set to 0;
4. normalised to maximum 1, as every simulated pattern is.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from xrdtui.errors import InputError
from xrdtui.refine.background import DEFAULT_HALF_WINDOW, snip_background
from xrdtui.refine.pattern_file import MeasuredPattern, is_pattern_file, read_pattern

STRUCTURE, MEASURED = "structure", "measured"
MIN_SPAN = 10.0  # degrees 2θ of overlap with the simulator's range below which a pattern is refused


@dataclass(frozen=True)
class Target:
    """What candidates are refined against. ``settings``: the ``PatternSettings`` every simulated pattern
    uses (wavelength, the grid the loss sees); ``pattern`` [M] float32, max 1, on ``settings.two_theta``;
    ``structure`` (conventional standard cell) and ``family`` for a structure target, else None;
    ``measured`` the file as read and ``baseline`` [M] the background removed (in the file's intensity
    units, on the grid) for a measured one; ``notes``: what was done to it, in words."""

    kind: str
    path: Path
    settings: Any
    pattern: np.ndarray
    structure: Any = None
    family: str | None = None
    measured: MeasuredPattern | None = None
    baseline: np.ndarray | None = None
    background_window: float | None = None
    notes: tuple[str, ...] = ()

    @property
    def is_structure(self) -> bool:
        return self.kind == STRUCTURE

    def description(self) -> dict[str, Any]:
        """What the target is and how it was prepared (stored with the refinement's conventions)."""
        s = self.settings
        out: dict[str, Any] = {"kind": self.kind, "file": str(self.path), "wavelength": s.wavelength,
                               "two_theta_range": [s.two_theta_min, s.two_theta_min + s.n_points * s.step],
                               "step": s.step, "notes": list(self.notes)}
        if self.measured is not None:
            out.update(measured_range=list(self.measured.range), measured_points=len(self.measured.two_theta),
                       measured_step=self.measured.step, has_sigma=self.measured.sigma is not None,
                       resampling="mean of the linear interpolant over each grid bin",
                       background=f"pybaselines SNIP, decreasing window, max half-window {self.background_window}°",
                       normalisation="max 1 after background subtraction")
        if self.structure is not None:
            out.update(formula=self.structure.composition.reduced_formula, family=self.family)
        return out

    def reduced_chi2(self, patterns: np.ndarray) -> np.ndarray:
        """χ²/ν [B] of simulated ``patterns`` [B, M] (on the grid) against the measured points with their σ:
        Σ_i ((y_i − b_i − s·p(x_i)) / σ_i)² / (n − 1) over the measured points inside the grid, y the
        counts, b the background and p the pattern interpolated to x_i, s the weighted least-squares scale
        Σ w y′ p / Σ w p² (w = 1/σ²). NaN when the file has no σ column or a pattern is NaN."""
        patterns = np.atleast_2d(np.asarray(patterns, dtype=np.float64))
        out = np.full(len(patterns), np.nan)
        m = self.measured
        if m is None or m.sigma is None:
            return out
        grid = self.settings.two_theta
        inside = (m.two_theta >= grid[0]) & (m.two_theta <= grid[-1])
        x, sigma = m.two_theta[inside], m.sigma[inside]
        y = m.intensity[inside] - np.interp(x, grid, self.baseline)
        w = 1.0 / sigma ** 2
        for b, p in enumerate(patterns):
            if not np.isfinite(p).all():
                continue
            pi = np.interp(x, grid, p)
            scale = float((w * y * pi).sum() / max((w * pi * pi).sum(), 1e-300))
            out[b] = float((w * (y - scale * pi) ** 2).sum() / max(len(x) - 1, 1))
        return out


def load_target(path: str | Path, pattern_settings, background_window: float = DEFAULT_HALF_WINDOW) -> Target:
    """The target in ``path``: a measured pattern by its suffix (``pattern_file.PATTERN_SUFFIXES``), else
    a structure file. ``pattern_settings``: the simulator's settings (wavelength, grid) to prepare it on."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"target file not found: {path}")
    if is_pattern_file(path):
        return measured_target(read_pattern(path), pattern_settings, background_window)
    return structure_target(path, pattern_settings)


def structure_target(path: Path, pattern_settings) -> Target:
    """A known structure: its pattern from the study's simulator, its crystal family (symprec 0.01)."""
    from xrdtui.engine.simulator import reference_pattern
    from xrdtui.engine.structures import crystal_family, load_structure

    structure = load_structure(path)
    pattern = reference_pattern(structure, pattern_settings)
    if not pattern.max() > 0:
        raise InputError(f"{path.name}: its pattern has no reflection in 2θ "
                         f"{pattern_settings.two_theta_min:g}-{pattern_settings.two_theta_max:g}°")
    return Target(STRUCTURE, path, pattern_settings, pattern, structure=structure, family=crystal_family(structure),
                  notes=(f"pattern simulated from {path.name} at λ = {pattern_settings.wavelength} Å",))


def measured_grid(measured: MeasuredPattern, base) -> tuple[Any, list[str]]:
    """The refinement's PatternSettings: ``base`` with its range cut to the simulator's grid points inside
    the measured range; InputError when less than MIN_SPAN degrees of the two overlap."""
    lo, hi = measured.range
    step, t0 = base.step, base.two_theta_min
    last = base.n_points - 1
    first_i = max(0, math.ceil((lo - t0) / step - 1e-9))
    last_i = min(last, math.floor((hi - t0) / step + 1e-9))
    sim_hi = t0 + last * step
    if (last_i - first_i) * step < MIN_SPAN:
        raise InputError(f"{measured.path.name}: its 2θ range {lo:g}-{hi:g}° overlaps the simulator's "
                         f"{t0:g}-{sim_hi:g}° by less than {MIN_SPAN:g}° (wrong units, or another wavelength?)")
    notes = []
    if lo < t0 - 1e-9 or hi > sim_hi + 1e-9:
        notes.append(f"measured 2θ {lo:g}-{hi:g}° cut to the simulator's {t0 + first_i * step:g}-"
                     f"{t0 + last_i * step:g}°")
    settings = dataclasses.replace(base, two_theta_min=round(t0 + first_i * step, 10),
                                   two_theta_max=round(t0 + (last_i + 1) * step, 10))
    settings.validate()
    return settings, notes


def bin_means(x: np.ndarray, y: np.ndarray, centres: np.ndarray, width: float) -> np.ndarray:
    """Mean of the piecewise-linear curve through (x, y) over [c − width/2, c + width/2] ∩ [x₀, xₙ] for each
    centre c (x strictly increasing). Uses the exact integral of the linear pieces: with C the running
    integral at the nodes (trapezoids), inside piece k at distance d from x_k
    C(x_k + d) = C_k + y_k d + (y_{k+1} − y_k) d² / (2 h_k)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    h = np.diff(x)
    nodes = np.concatenate([[0.0], np.cumsum(0.5 * (y[1:] + y[:-1]) * h)])

    def running(at):
        at = np.clip(at, x[0], x[-1])
        k = np.clip(np.searchsorted(x, at, side="right") - 1, 0, len(x) - 2)
        d = at - x[k]
        return nodes[k] + y[k] * d + (y[k + 1] - y[k]) * d * d / (2.0 * h[k])

    lo = np.clip(centres - width / 2, x[0], x[-1])
    hi = np.clip(centres + width / 2, x[0], x[-1])
    span = hi - lo
    out = np.interp(centres, x, y)  # a bin that shrank to a point (the range's edge): the value there
    ok = span > 1e-12
    out[ok] = (running(hi[ok]) - running(lo[ok])) / span[ok]
    return out


def measured_target(measured: MeasuredPattern, base, background_window: float = DEFAULT_HALF_WINDOW) -> Target:
    """A measured pattern on the simulator's grid over its own range, background removed, max 1."""
    settings, notes = measured_grid(measured, base)
    grid = settings.two_theta
    values = bin_means(measured.two_theta, measured.intensity, grid, settings.step)
    baseline = snip_background(grid, values, background_window)
    corrected = np.clip(values - baseline, 0.0, None)
    peak = float(corrected.max())
    if not peak > 0:
        raise InputError(f"{measured.path.name}: nothing is left of the pattern after background removal")
    notes.append(f"resampled to {settings.step:g}° bins ({len(grid)} points), SNIP background "
                 f"(half-window {background_window:g}°) removed, normalised to max 1")
    return Target(MEASURED, measured.path, settings, (corrected / peak).astype(np.float32), measured=measured,
                  baseline=baseline, background_window=float(background_window), notes=tuple(notes))
