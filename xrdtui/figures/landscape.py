"""Figure 2: a landscape slice as filled contours with its ranked minima, and beside it the XRD
patterns of the top minima against the ground truth's.

Also the helpers the other landscape figures share: picking a stored slice by key, drawing a slice
on an axes, and the ground-truth pattern of a slice.
"""

from __future__ import annotations

import json

import numpy as np

from xrdtui.errors import StoreError
from xrdtui.figures.style import (
    TRUTH_COLOUR,
    finite_limits,
    new_figure,
    objective_label,
    param_label,
    param_symbol,
    styled,
)
from xrdtui.methods import is_energy_objective, method_info
from xrdtui.store.records import LandscapeRecord
from xrdtui.vocab import PARAM_NAMES

LANDSCAPE_CMAP = "viridis"
MINIMUM_COLOUR = "#ff3b30"
N_LEVELS = 24


# ------------------------------------------------------------------------------------------ selection


def stored_keys(reader) -> list[str]:
    """All landscape keys of the store; StoreError when it holds none."""
    keys = reader.landscapes()
    if not keys:
        raise StoreError(
            f"{reader.path.name} holds no landscapes; make one with: xrdtui landscape STRUCTURE --params a,c -o {reader.path}"
        )
    return keys


def matching_keys(keys: list[str], key: str | None) -> list[str]:
    """Keys equal to ``key`` or below it (``key`` may be ``structure`` or ``structure/objective``)."""
    if key is None:
        return list(keys)
    key = key.strip("/")
    return [k for k in keys if k == key or k.startswith(key + "/")]


def pick_keys(reader, key: str | None = None, objective=None, need_paths: bool = False) -> list[str]:
    """Stored keys matching ``key`` (exact or prefix), restricted to ``objective`` (a name or a
    predicate on it) and to slices with paths; StoreError naming what is stored when none fits."""
    keys = stored_keys(reader)
    found = matching_keys(keys, key)
    if not found:
        shown = ", ".join(keys[:6]) + (", …" if len(keys) > 6 else "")
        raise StoreError(f"no landscape {key!r} in {reader.path.name}; stored: {shown}")
    if objective is not None:
        test = objective if callable(objective) else (lambda o: o == objective)
        found = [k for k in found if test(k.split("/")[1])]
        if not found:
            raise StoreError(f"no {'matching' if callable(objective) else objective} landscape"
                             f"{'' if key is None else f' under {key!r}'} in {reader.path.name}")
    if need_paths:
        found = [k for k in found if reader.landscape(k).paths]
        if not found:
            raise StoreError(f"no landscape{'' if key is None else f' under {key!r}'} in {reader.path.name} has "
                             "descent paths (make one with xrdtui landscape ... --paths)")
    return found


# ---------------------------------------------------------------------------------------- drawing


def grid_limits(rec: LandscapeRecord, robust: bool = False) -> tuple[float, float]:
    """Colour range of a slice: finite min/max, or with ``robust`` the 0th..98th percentile (a few
    huge values, e.g. CHGNet energies of squeezed cells, would otherwise flatten the picture)."""
    vals = np.asarray(rec.grid, dtype=np.float64)
    vals = vals[np.isfinite(vals)]
    if not vals.size:
        return 0.0, 1.0
    lo, hi = finite_limits(vals)
    if robust and vals.size > 20:
        hi = float(np.percentile(vals, 98))
    return (lo, hi) if hi > lo else (lo - 0.5, lo + 0.5)


def draw_landscape(ax, rec: LandscapeRecord, *, minima: int = 0, truth: bool = True, robust: bool = False,
                   levels: int = N_LEVELS, labels: bool = True, limits: tuple[float, float] | None = None,
                   number_minima: bool = True):
    """Filled contours of ``rec.grid`` on ``ax`` (x = p1, y = p2, NaN cells left blank), the ground
    truth as a white star and the top ``minima`` minima as (numbered) red circles. ``limits`` fixes
    the colour range (default :func:`grid_limits`). Returns the contour set (for a colour bar)."""
    x, y = np.asarray(rec.axis1, dtype=np.float64), np.asarray(rec.axis2, dtype=np.float64)
    z = np.ma.masked_invalid(np.asarray(rec.grid, dtype=np.float64).T)  # grid[i, j] is at (x[i], y[j])
    lo, hi = limits if limits is not None else grid_limits(rec, robust)
    bounds = np.linspace(lo, hi, levels + 1)
    top = float(z.max()) if z.count() else hi
    # Values above a robust limit get the colour map's "over" colour (and an arrow on the colour bar).
    cs = ax.contourf(x, y, z, levels=bounds, cmap=LANDSCAPE_CMAP, extend="max" if top > hi else "neither")
    ax.contour(x, y, z, levels=bounds[::4], colors="white", linewidths=0.3, alpha=0.45)
    ax.set_xlim(x[0], x[-1])
    ax.set_ylim(y[0], y[-1])
    if labels:
        ax.set_xlabel(param_label(rec.p1, rec.unit1))
        ax.set_ylabel(param_label(rec.p2, rec.unit2))
    if truth:
        t = truth_point(rec)
        if t is not None:
            ax.plot(*t, marker="*", ms=11, mfc="white", mec=TRUTH_COLOUR, mew=0.8, ls="none", zorder=5,
                    label="ground truth")
    for m in sorted(rec.minima, key=lambda m: m.rank)[:minima]:
        # Minima on the border stay visible (clip_on=False).
        ax.plot(m.p1, m.p2, marker="o", ms=10 if number_minima else 7, mfc="none", mec=MINIMUM_COLOUR, mew=1.4,
                ls="none", zorder=6, clip_on=False, label="deepest minimum" if m.rank == 0 else None)
        if number_minima:
            ax.annotate(str(m.rank + 1), (m.p1, m.p2), xytext=(5, 4), textcoords="offset points",
                        color=MINIMUM_COLOUR, fontsize=8, fontweight="bold", zorder=7, annotation_clip=False)
    return cs


def add_colorbar(fig, cs, ax, objective: str, **kwargs):
    """A colour bar for ``cs`` labelled with the objective and its unit, with about six ticks."""
    from matplotlib.ticker import MaxNLocator

    cb = fig.colorbar(cs, ax=ax, label=objective_label(objective), **kwargs)
    cb.locator = MaxNLocator(6)
    cb.update_ticks()
    return cb


def truth_point(rec: LandscapeRecord) -> tuple[float, float] | None:
    """Ground-truth (p1, p2) from ``rec.truth`` (a, b, c, alpha, beta, gamma)."""
    if rec.p1 not in PARAM_NAMES or rec.p2 not in PARAM_NAMES or np.asarray(rec.truth).shape != (6,):
        return None
    return float(rec.truth[PARAM_NAMES.index(rec.p1)]), float(rec.truth[PARAM_NAMES.index(rec.p2)])


def slice_structure(rec: LandscapeRecord):
    """The slice's ground-truth pymatgen Structure: the JSON stored by ``xrdtui landscape``, else the
    benchmark of that name, else None."""
    text = rec.attrs.get("structure_json")
    if isinstance(text, str) and text:
        from xrdtui.engine.structures import structure_from_dict  # imports nothing the stored JSON names

        try:
            return structure_from_dict(json.loads(text))
        except Exception as exc:
            raise StoreError(f"{rec.key}: the stored structure cannot be read ({type(exc).__name__})") from None
    from xrdtui.engine.structures import BENCHMARK_NAMES, benchmark_structure

    if rec.structure in BENCHMARK_NAMES:
        return benchmark_structure(rec.structure)
    return None


def truth_pattern(rec: LandscapeRecord) -> np.ndarray | None:
    """Ground-truth pattern [M] on ``rec.two_theta`` (recomputed by the engine simulator), or None
    when the slice's structure is unknown."""
    structure = slice_structure(rec)
    if structure is None:
        return None
    from xrdtui.engine.simulator import XRDSimulator

    sim = XRDSimulator(structure, strain_margin=0.05)
    return np.interp(np.asarray(rec.two_theta, dtype=np.float64), sim.two_theta, sim.reference_pattern())


def pattern_xlim(two_theta, patterns, floor: float = 2e-3, pad: float = 3.0) -> tuple[float, float]:
    """2θ range from a little before the first visible peak to the end of the axis."""
    tt = np.asarray(two_theta, dtype=np.float64)
    visible = np.zeros(tt.shape, dtype=bool)
    for p in patterns:
        visible |= np.asarray(p) > floor
    first = tt[np.argmax(visible)] if visible.any() else tt[0]
    return max(float(tt[0]), float(first) - pad), float(tt[-1])


def minimum_label(rec: LandscapeRecord, m) -> str:
    s1, s2 = param_symbol(rec.p1), param_symbol(rec.p2)
    energy = is_energy_objective(rec.objective)
    what = "energy" if energy else "loss"
    unit = f" {method_info(rec.objective).unit}" if energy else ""
    return f"#{m.rank + 1}: {s1} = {m.p1:.3f} {rec.unit1}, {s2} = {m.p2:.3f} {rec.unit2};  {what} {m.value:.4g}{unit}"


def stack_patterns(ax, two_theta, rows, offset: float = 1.3) -> int:
    """Patterns (max 1) stacked top to bottom, each labelled just above its trace (in the gap below
    the next one, so a label never covers a peak). ``rows`` = [(pattern, label, colour)]; returns the
    number of lines drawn."""
    tt = np.asarray(two_theta, dtype=np.float64)
    for level, (pattern, label, colour) in enumerate(rows):
        base = (len(rows) - 1 - level) * offset
        ax.plot(tt, np.asarray(pattern) + base, color=colour, lw=0.8, label=label)
        ax.text(0.01, base + 1.04, label, transform=ax.get_yaxis_transform(), ha="left", va="bottom",
                fontsize=7.5, color=colour)
    ax.set_xlim(*pattern_xlim(tt, [r[0] for r in rows]))
    ax.set_ylim(-0.05, len(rows) * offset)
    ax.set_yticks([])
    ax.set_xlabel("2θ (°)")
    ax.set_ylabel("intensity (normalised, offset)")
    return len(rows)


def draw_patterns(ax, rec: LandscapeRecord, n: int, truth: np.ndarray | None) -> int:
    """The truth pattern on top and the top ``n`` minima below it; returns the number of lines."""
    minima = sorted(rec.minima, key=lambda m: m.rank)[:n]
    rows = [(truth, "ground truth", TRUTH_COLOUR)] if truth is not None else []
    rows += [(rec.minima_patterns[k], minimum_label(rec, m), MINIMUM_COLOUR if k == 0 else f"C{k}")
             for k, m in enumerate(minima)]
    return stack_patterns(ax, rec.two_theta, rows)


# ---------------------------------------------------------------------------------------- figure


def landscape_figure(reader, key: str | None = None, n_minima: int = 3):
    """Figure 2 for the slice ``key`` (default: the first stored): contours + ranked minima, and the
    XRD patterns of the top ``n_minima`` minima under the ground truth's."""
    keys = pick_keys(reader, key)
    if key is None:  # energy slices have their own figure: prefer an XRD-loss slice by default
        keys = [k for k in keys if not is_energy_objective(k.split("/")[1])] or keys
    rec = reader.landscape(keys[0])
    if not rec.minima:
        raise StoreError(f"landscape {rec.key} has no minima stored")
    with styled():
        fig = new_figure(11.0, 4.4)
        fig.get_layout_engine().set(wspace=0.08)
        left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.0, 1.2]})
        cs = draw_landscape(left, rec, minima=n_minima, robust=is_energy_objective(rec.objective))
        add_colorbar(fig, cs, left, rec.objective, shrink=0.9)
        left.set_title(f"{rec.structure}: {rec.objective} landscape, {param_symbol(rec.p1)}–{param_symbol(rec.p2)} slice")
        left.legend(loc="upper right", framealpha=0.8)
        draw_patterns(right, rec, n_minima, truth_pattern(rec))
        right.set_title(f"XRD patterns of the {min(n_minima, len(rec.minima))} deepest minima vs the ground truth")
    return fig
