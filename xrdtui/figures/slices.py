"""Figure 5: every stored slice of one structure and objective, laid out as the lower triangle of a
5 x 5 grid (column = first parameter a, b, c, α, β; row = second parameter b, c, α, β, γ), on one
shared colour scale so the depth of the minima compares across slices."""

from __future__ import annotations

import numpy as np

from xrdtui.errors import StoreError
from xrdtui.figures.landscape import add_colorbar, draw_landscape, grid_limits, pick_keys
from xrdtui.figures.style import new_figure, param_label, param_symbol, styled
from xrdtui.methods import is_energy_objective
from xrdtui.vocab import PARAM_NAMES


def slice_cell(p1: str, p2: str) -> tuple[int, int] | None:
    """(row, column) of the slice p1-p2 in the triangle, None for a pair outside it."""
    if p1 not in PARAM_NAMES or p2 not in PARAM_NAMES:
        return None
    i, j = PARAM_NAMES.index(p1), PARAM_NAMES.index(p2)
    if i >= j:
        return None
    return j - 1, i


def slices_figure(reader, key: str | None = None):
    """Figure 5 for ``key`` = ``structure/objective`` (a full slice key also works; default: those of
    the first stored slice)."""
    keys = pick_keys(reader, key)
    structure, objective = keys[0].split("/")[:2]
    records = [reader.landscape(k) for k in pick_keys(reader, f"{structure}/{objective}")]
    placed = {slice_cell(r.p1, r.p2): r for r in records if slice_cell(r.p1, r.p2) is not None}
    if not placed:
        raise StoreError(f"no lattice-parameter slices of {structure}/{objective} in {reader.path.name}")
    robust = is_energy_objective(objective)
    lims = [grid_limits(r, robust) for r in placed.values()]
    limits = (min(lo for lo, _ in lims), max(hi for _, hi in lims))
    with styled():
        fig = new_figure(12.0, 10.5)
        axes = fig.subplots(5, 5, squeeze=False)
        cs = None
        for (row, col), ax in np.ndenumerate(np.empty((5, 5))):
            axis = axes[row, col]
            rec = placed.get((row, col))
            if rec is None:
                axis.set_axis_off()
                if col <= row:  # a slice of the triangle that is not stored
                    p1, p2 = PARAM_NAMES[col], PARAM_NAMES[row + 1]
                    axis.text(0.5, 0.5, f"{param_symbol(p1)}–{param_symbol(p2)}: not stored", ha="center",
                              va="center", color="0.6", transform=axis.transAxes)
                continue
            cs = draw_landscape(axis, rec, minima=1, number_minima=False, labels=False, limits=limits)
            # Label the outer edge of the stored triangle: x below the lowest panel of a column,
            # y left of the first panel of a row.
            if not any((r, col) in placed for r in range(row + 1, 5)):
                axis.set_xlabel(param_label(rec.p1, rec.unit1))
            if not any((row, c) in placed for c in range(col)):
                axis.set_ylabel(param_label(rec.p2, rec.unit2))
            axis.tick_params(labelsize=6.5)
        add_colorbar(fig, cs, axes[:, -1].tolist(), objective, shrink=0.6, location="right")
        # The upper-right cell is outside the triangle: room for the legend.
        handles, labels = axes[next(iter(placed))].get_legend_handles_labels()
        axes[0, 4].legend(handles, labels, loc="upper right", fontsize=9)
        count = "all 15 slices" if len(placed) == 15 else f"{len(placed)} of the 15 slices"
        fig.suptitle(f"{structure}: {objective} landscape on {count} (other four parameters at the truth)",
                     fontsize=12)
    return fig
