"""The report's figures (matplotlib, no pyplot): Figure 1 with both metrics, Figure 7a on paired members,
the C7 scatter, and the landscape of C5 when one is given."""

from __future__ import annotations

import numpy as np

from xrdtui.figures.style import method_colour, mode_colour, new_figure, styled
from xrdtui.methods import method_info
from xrdtui.report.claims import c7_points
from xrdtui.report.data import ReportData
from xrdtui.vocab import Mode, MethodKind, Noise


def series_label(method: str, mode: str) -> str:
    info = method_info(method)
    return f"{method} {mode}" if info.kind == MethodKind.DESCENT else info.display


def series_colour(method: str, mode: str) -> str:
    return mode_colour(mode) if method_info(method).kind == MethodKind.DESCENT else method_colour(method)


def paired_7a(data: ReportData, loss: str = "cosine") -> dict:
    """{(noise, level): {(method, mode): (k, n)}} on the members the relaxation ran: XRD descent with
    ``loss`` free and projected, the baseline and the relaxation, the same members for every bar."""
    relax = data.methods(MethodKind.RELAXATION)
    baseline = data.methods(MethodKind.BASELINE)
    out: dict = {}
    if not relax:
        return out
    series = [(b, Mode.START) for b in baseline] + [(loss, Mode.FREE), (loss, Mode.PROJECTED), (relax[0], Mode.RELAX)]
    for noise in (Noise.LATTICE, Noise.COORDS):
        for level in data.levels(noise):
            cell: dict = {}
            for structure in data.structures_of(noise):
                ref = data.get(structure, noise, level, relax[0], Mode.RELAX)
                if ref is None:
                    continue
                n = len(ref["matched"])  # the relaxation judged the first n distortions
                for method, mode in series:
                    r = data.get(structure, noise, level, method, mode)
                    if r is None:
                        continue
                    k0, n0 = cell.get((method, mode), (0, 0))
                    cell[(method, mode)] = (k0 + int(np.sum(r["matched"][:n])), n0 + n)
            if cell:
                out[(noise, level)] = cell
    return out


def figure_7a(data: ReportData):
    from xrdtui.engine.matching import match_rate

    table = paired_7a(data)
    if not table:
        return None
    conditions = list(table)
    labels = list(dict.fromkeys(series for cell in table.values() for series in cell))
    with styled():
        fig = new_figure(max(6.0, 1.1 * len(conditions) + 2.5), 4.2)
        ax = fig.subplots()
        width = 0.8 / len(labels)
        for j, label in enumerate(labels):
            xs, ys, lo, hi = [], [], [], []
            for i, c in enumerate(conditions):
                if label not in table[c]:
                    continue
                r = match_rate(*table[c][label])
                xs.append(i + (j - (len(labels) - 1) / 2) * width)
                ys.append(r.rate)
                lo.append(r.rate - r.lo)
                hi.append(r.hi - r.rate)
            ax.bar(xs, ys, width, yerr=[lo, hi], capsize=2, color=series_colour(*label), label=series_label(*label),
                   edgecolor="white")
        ax.set_xticks(range(len(conditions)), [f"{'lat' if n == Noise.LATTICE else 'crd'} {lv:g}" for n, lv in conditions])
        ax.set_ylabel("match rate, paper metric (95 % Jeffreys)")
        ax.set_ylim(0, 1.05)
        ax.set_title("Figure 7a, paired: each condition's bars judge the same distortions", fontsize=10)
        ax.legend(fontsize=7, ncols=min(4, len(labels)), loc="lower left")
        ax.grid(axis="y", color="0.9", lw=0.6)
    return fig


def figure_c7(data: ReportData):
    """XRD similarity against structural similarity, start and final points, free vs projected."""
    losses = [m for m in ("cosine", "entropy") if m in data.methods(MethodKind.DESCENT)]
    if not losses:
        return None
    with styled():
        fig = new_figure(5.0 * len(losses), 4.2)
        axes = fig.subplots(1, len(losses), squeeze=False)[0]
        for ax, loss in zip(axes, losses):
            for mode, colour in ((Mode.FREE, "#d62728"), (Mode.PROJECTED, "#1f77b4")):
                x, y, _ = c7_points(data, loss, mode)
                if x.size:
                    ax.scatter(y, x, s=3, alpha=0.25, color=colour, label=f"{mode} (start and final points)",
                               rasterized=True)
            ax.set_xlabel("structural similarity −(max |Δl/l| + max |Δangle| rad)")
            ax.set_ylabel(f"XRD similarity ({loss})")
            ax.set_title(f"{loss}: lattice-noise members")
            ax.legend(fontsize=7, markerscale=3)
    return fig


def figure_1(reader):
    from xrdtui.figures.match_rate import match_rate_figure

    return match_rate_figure(reader, metric="both")


def figure_landscape(data: ReportData, reader_paths):
    """Figure 2 of the C5 slice, when a landscapes store holds it."""
    from xrdtui.figures.landscape import landscape_figure
    from xrdtui.store.reader import StoreReader

    for path in reader_paths:
        with StoreReader.open(path) as r:
            if "U2Ti/cosine/a-c" in r.landscapes():
                return landscape_figure(r, "U2Ti/cosine/a-c")
    return None


__all__ = ["figure_1", "figure_7a", "figure_c7", "figure_landscape", "paired_7a"]
