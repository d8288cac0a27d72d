"""Figure 1 (Figure 7a when the store has CHGNet rows): match rate vs noise level, one series per
(method, mode) with 95 % Jeffreys intervals as error bars, one panel per noise type, pooled over the
structures (k and n summed per cell, as ``StoreReader.match_table`` does) or restricted to one. The
no-optimisation baseline is drawn as a grey band-less line; ``metric="strict"`` plots the strict recovery
rate instead of the paper's match rate, ``"both"`` puts it in a second row."""

from __future__ import annotations

import numpy as np

from xrdtui.errors import ConfigError, StoreError
from xrdtui.figures.style import method_colour, mode_rank, mode_style, new_figure, styled
from xrdtui.methods import is_kind, method_info, method_rank
from xrdtui.vocab import NOISE_TYPES, MethodKind, Noise

NOISE_ORDER = NOISE_TYPES
NOISE_TITLES = {Noise.LATTICE: "lattice noise", Noise.COORDS: "coordinate noise"}
NOISE_AXES = {
    Noise.LATTICE: "lattice strain level σ (relative, dimensionless)",
    Noise.COORDS: "coordinate noise σ (fractional units)",
}


METRICS = ("paper", "strict", "both")
METRIC_LABELS = {"paper": "match rate, paper metric", "strict": "recovery rate, strict metric"}


def match_rows(reader, structure: str | None = None, metric: str = "paper") -> dict:
    """``{noise: {(method, mode): [(level, k, n, rate, lo, hi), ...] sorted by level}}`` of the
    finished tasks under ``metric`` ("paper" or "strict"; cells without the strict metric are left out);
    StoreError when there are none (for ``structure``)."""
    done = [t for t in reader.tasks() if t.status == "done"]
    if not done:
        raise StoreError(f"{reader.path.name} has no finished sweep tasks to plot match rates from")
    if structure is not None:
        names = sorted({t.structure for t in done})
        if structure not in names:
            raise StoreError(f"no finished tasks of structure {structure!r} in {reader.path.name}; "
                             f"stored: {', '.join(names)}")
        rows = [r for r in reader.match_table(group_by=("structure", "noise", "method", "mode", "level"))
                if r.key[0] == structure]
        keys = [r.key[1:] for r in rows]
    else:
        rows = reader.match_table(group_by=("noise", "method", "mode", "level"))
        keys = [r.key for r in rows]
    out: dict = {}
    for (noise, method, mode, level), r in zip(keys, rows, strict=True):
        if metric == "strict":
            if not r.ns:
                continue
            point = (float(level), r.ks, r.ns, r.rate_s, r.lo_s, r.hi_s)
        else:
            point = (float(level), r.k, r.n, r.rate, r.lo, r.hi)
        out.setdefault(noise, {}).setdefault((method, mode), []).append(point)
    for series in out.values():
        for points in series.values():
            points.sort()
    return out


def _level_gap(levels: list[float]) -> float:
    """Smallest spacing of the noise levels (half the level when there is one)."""
    lv = np.unique(levels)
    return float(np.diff(lv).min()) if lv.size > 1 else max(abs(float(lv[0])) * 0.5, 1e-3)


def series_label(method: str, mode: str) -> str:
    info = method_info(method)
    return info.display if info.kind == MethodKind.BASELINE else f"{method} · {mode}"


def _draw_panel(ax, points_by_series: dict, ylabel: str) -> None:
    series = sorted(points_by_series, key=lambda mm: (method_rank(mm[0]), mode_rank(mm[1])))
    levels = [p[0] for s in series for p in points_by_series[s]]
    gap = _level_gap(levels)
    step = 0.35 * gap / len(series)  # neighbouring series side by side, error bars apart
    for i, (method, mode) in enumerate(series):
        pts = np.array([p[:1] + p[3:] for p in points_by_series[(method, mode)]], dtype=np.float64)
        level, rate, lo, hi = pts.T
        ls, marker = mode_style(mode)
        baseline = is_kind(method, MethodKind.BASELINE)
        x = level + (i - (len(series) - 1) / 2) * step
        ax.errorbar(x, rate, yerr=[rate - lo, hi - rate], color=method_colour(method), ls=":" if baseline else ls,
                    marker=marker, ms=5, lw=1.1 if baseline else 1.3, capsize=3, elinewidth=0.9,
                    label=series_label(method, mode), zorder=1 if baseline else 2)
    ax.set_ylabel(ylabel)
    ax.set_ylim(-0.03, 1.03)
    ax.set_xticks(sorted(set(levels)))
    ax.set_xlim(min(levels) - 0.5 * gap, max(levels) + 0.5 * gap)
    ax.grid(axis="y", color="0.9", lw=0.6)


def match_rate_figure(reader, structure: str | None = None, metric: str = "paper"):
    """Figure 1 / 7a. Returns a Figure with one panel per noise type in the store (a second row with the
    strict metric when ``metric="both"``)."""
    if metric not in METRICS:
        raise ConfigError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
    rows_of = ("paper", "strict") if metric == "both" else (metric,)
    data = {m: match_rows(reader, structure, m) for m in rows_of}
    if not any(data.values()):
        raise StoreError(f"{reader.path.name} has no strict recovery rates (a store from before they existed)")
    noises = [n for n in NOISE_ORDER if any(n in d for d in data.values())]
    noises += sorted({n for d in data.values() for n in d} - set(noises))
    methods = sorted({m for d in data.values() for series in d.values() for m, _ in series})
    n_structures = len({t.structure for t in reader.tasks() if t.status == "done"})
    with styled():
        fig = new_figure(4.6 * len(noises) + 0.4, 4.2 * len(rows_of))
        grid = fig.subplots(len(rows_of), len(noises), squeeze=False)
        for row, which in zip(grid, rows_of, strict=True):
            for ax, noise in zip(row, noises, strict=True):
                if noise not in data[which]:
                    ax.set_axis_off()
                    continue
                _draw_panel(ax, data[which][noise], f"{METRIC_LABELS[which]} (95 % Jeffreys interval)")
                ax.set_title(NOISE_TITLES.get(noise, noise) + (f" · {which} metric" if len(rows_of) > 1 else ""))
                ax.set_xlabel(NOISE_AXES.get(noise, f"{noise} noise level σ"))
        handles, labels = [], []
        for ax in grid.flat:
            for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
                if lab not in labels:
                    handles.append(h)
                    labels.append(lab)
        fig.legend(handles, labels, loc="outside right center", title="method · mode", fontsize=8)
        scope = structure if structure is not None else f"pooled over {n_structures} structure{'s' * (n_structures > 1)}"
        relaxations = [method_info(m).display for m in methods if is_kind(m, MethodKind.RELAXATION)]
        what = "XRD gradient descent" + (f" vs {', '.join(relaxations)} relaxation" if relaxations else "")
        matcher = reader.info.conventions.get("matcher") or {"ltol": 0.1, "stol": 0.2, "angle_tol": 5}
        fig.suptitle(f"Match rate vs noise level: {what}\n{scope}; StructureMatcher ltol {matcher['ltol']:g}, "
                     f"stol {matcher['stol']:g}, angle {matcher['angle_tol']:g}°", fontsize=10)
    return fig
