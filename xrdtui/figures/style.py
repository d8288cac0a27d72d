"""Shared look of the publication figures: labels with units, colours per loss and mode, saving.

Figures are built on ``matplotlib.figure.Figure`` directly (no pyplot): no global state, no GUI
backend, nothing left open between figures. Saving picks the Agg/SVG/PDF canvas from the suffix.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from xrdtui.errors import ConfigError
from xrdtui.methods import method_info
from xrdtui.vocab import MODE_ORDER, PARAM_SYMBOLS, PARAM_UNITS, Mode

FORMATS = (".png", ".svg", ".pdf")
DPI = 160

# One colour per method (from the registry), one line style / marker per mode: a series is readable in
# grey-scale print too.
MODE_STYLES = {
    Mode.FREE: ("-", "o"),
    Mode.FREE_FROM_PROJECTED_INIT: (":", "^"),
    Mode.PROJECTED: ("--", "s"),
    Mode.RELAX: ("-", "D"),
    Mode.START: ("-", "x"),
}
# Paths and member panels: one colour per mode.
MODE_COLOURS = {Mode.FREE: "#d62728", Mode.FREE_FROM_PROJECTED_INIT: "#ff7f0e", Mode.PROJECTED: "#1f77b4",
                Mode.RELAX: "#444444", Mode.START: "#888888"}
TRUTH_COLOUR = "black"

RC = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def new_figure(width: float, height: float, layout: str = "constrained") -> Figure:
    """A detached Figure (inches); create it and its axes inside ``with styled():``."""
    return Figure(figsize=(width, height), layout=layout)


def styled():
    """Context manager applying the house rc settings (artists read rcParams when they are made)."""
    import matplotlib

    return matplotlib.rc_context(RC)


def param_symbol(name: str) -> str:
    return PARAM_SYMBOLS.get(name, name)


def param_label(name: str, unit: str | None = None) -> str:
    """Axis label of a lattice parameter with its unit, e.g. ``a (Å)``, ``β (°)``."""
    return f"{param_symbol(name)} ({unit or PARAM_UNITS.get(name, '')})"


def objective_label(objective: str) -> str:
    """Colour-bar label of a landscape objective, from the registry (the method's objective, with unit)."""
    return method_info(objective).objective_axis


def method_colour(method: str) -> str:
    return method_info(method).colour


def mode_style(mode: str) -> tuple[str, str]:
    """(line style, marker) of a mode."""
    return MODE_STYLES.get(mode, ("-.", "v"))


def mode_rank(mode: str) -> int:
    return MODE_ORDER.index(mode) if mode in MODE_ORDER else len(MODE_ORDER)


def mode_colour(mode: str) -> str:
    return MODE_COLOURS.get(mode, "#7570b3")


def check_output(path: str | Path) -> Path:
    """The output path if its suffix is a supported format, else ConfigError."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise ConfigError(f"figure file must end in {', '.join(FORMATS)}, got {path.name!r}")
    return path


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` to ``path`` (format from the suffix); ConfigError when it cannot be written."""
    path = check_output(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=DPI, format=path.suffix.lower()[1:])
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def finite_limits(values) -> tuple[float, float]:
    """(min, max) of the finite values, or (0, 1) when there are none."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    return (float(v.min()), float(v.max())) if v.size else (0.0, 1.0)
