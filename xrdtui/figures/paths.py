"""Figure 3: gradient-descent paths on a landscape slice, one panel per mode (free,
free-from-projected-init, projected): start (hollow circle), path, end (cross), ground truth (star).

The contours are the stored slice (the other four parameters at the truth). A projected path moves
the parameters the family ties to the slice parameters too (e.g. hexagonal b := a), so it descends
the tied landscape; where that differs from the drawn one the panel title says "tied".
"""

from __future__ import annotations

import numpy as np

from xrdtui.figures.landscape import add_colorbar, draw_landscape, pick_keys
from xrdtui.figures.style import mode_colour, mode_rank, new_figure, param_symbol, styled
from xrdtui.methods import is_energy_objective
from xrdtui.vocab import Family, Mode

MAX_ROWS = 5


def draw_paths(ax, paths, colour: str) -> int:
    """Each path as a line with its start and end marked; returns the number of paths drawn."""
    for p in paths:
        pts = np.asarray(p.points, dtype=np.float64)
        ax.plot(pts[:, 0], pts[:, 1], color="white", lw=3.0, alpha=0.7, zorder=8, solid_capstyle="round")
        ax.plot(pts[:, 0], pts[:, 1], color=colour, lw=1.6, zorder=9, label="path")
        ax.plot(*np.asarray(p.start), marker="o", ms=8, mfc="none", mec=colour, mew=1.6, ls="none", zorder=10,
                label="start")
        ax.plot(pts[-1, 0], pts[-1, 1], marker="X", ms=9, mfc=colour, mec="white", mew=0.8, ls="none", zorder=11,
                label="end")
    return len(paths)


def paths_figure(reader, key: str | None = None):
    """Figure 3 for the slice ``key`` (default: the first slice with paths; a prefix such as
    ``U2Ti/cosine`` draws up to five matching slices, one row each)."""
    keys = pick_keys(reader, key, need_paths=True)
    keys = keys[:MAX_ROWS] if key is not None else keys[:1]
    records = [reader.landscape(k) for k in keys]
    n_cols = max(len({p.mode for p in rec.paths}) for rec in records)
    with styled():
        fig = new_figure(3.6 * n_cols + 1.0, 3.4 * len(records))
        axes = np.atleast_2d(fig.subplots(len(records), n_cols, squeeze=False))
        for row, rec in zip(axes, records, strict=True):
            modes = sorted({p.mode for p in rec.paths}, key=mode_rank)
            cs = None
            for col, ax in enumerate(row):
                if col >= len(modes):
                    ax.set_visible(False)
                    continue
                mode = modes[col]
                cs = draw_landscape(ax, rec, minima=0, labels=True, robust=is_energy_objective(rec.objective))
                mine = [p for p in rec.paths if p.mode == mode]
                draw_paths(ax, mine, mode_colour(mode))
                finals = ", ".join(f"{p.final_loss:.3g}" for p in mine)
                tied = " (tied)" if mode != Mode.FREE and rec.attrs.get("family") not in (None, "", Family.TRICLINIC) else ""
                ax.set_title(f"{mode}{tied}\nfinal {rec.objective} loss {finals}", fontsize=9)
                if col > 0:
                    ax.set_ylabel("")
                if col == 0:
                    handles, labels = ax.get_legend_handles_labels()
                    seen = dict(zip(labels, handles))
                    ax.legend([seen[k] for k in ("ground truth", "start", "path", "end") if k in seen],
                              [k for k in ("ground truth", "start", "path", "end") if k in seen],
                              loc="lower left", fontsize=7, framealpha=0.85)
            add_colorbar(fig, cs, list(row), rec.objective, shrink=0.9)
            row[0].annotate(f"{rec.structure}  {param_symbol(rec.p1)}–{param_symbol(rec.p2)}", (0, 1.2),
                            xycoords="axes fraction", fontweight="bold", fontsize=10, annotation_clip=False)
    return fig
