"""Figure 7b: an energy landscape slice (a relaxation method's objective, e.g. CHGNet in eV/atom) as
contours with its deepest minima, next to the XRD-loss landscape of the same slice when the store has one."""

from __future__ import annotations

from xrdtui.figures.landscape import add_colorbar, draw_landscape, matching_keys, pick_keys
from xrdtui.figures.style import new_figure, param_symbol, styled
from xrdtui.methods import is_energy_objective, method_info


def energy_figure(reader, key: str | None = None, n_minima: int = 3):
    """Figure 7b for the energy slice ``key`` (default: the first energy slice)."""
    rec = reader.landscape(pick_keys(reader, key, objective=is_energy_objective)[0])
    partner = [k for k in matching_keys(reader.landscapes(), rec.structure)
               if not is_energy_objective(k.split("/")[1]) and k.endswith(f"/{rec.p1}-{rec.p2}")]
    records = [rec, reader.landscape(partner[0])] if partner else [rec]
    with styled():
        fig = new_figure(5.2 * len(records), 4.4)
        axes = fig.subplots(1, len(records), squeeze=False)[0]
        for ax, r in zip(axes, records, strict=True):
            energy = is_energy_objective(r.objective)
            cs = draw_landscape(ax, r, minima=n_minima, robust=energy)
            add_colorbar(fig, cs, ax, r.objective, shrink=0.9)
            what = f"{method_info(r.objective).display} energy" if energy else f"{r.objective} loss"
            ax.set_title(f"{r.structure}: {what}, {param_symbol(r.p1)}–{param_symbol(r.p2)} slice")
        axes[0].legend(loc="upper right", framealpha=0.8)
    return fig
