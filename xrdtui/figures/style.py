"""Shared look of the publication figures: labels with units, colours per loss and mode, saving.

Figures are built on ``matplotlib.figure.Figure`` directly (no pyplot): no global state, no GUI
backend, nothing left open between figures. Saving picks the Agg/SVG/PDF canvas from the suffix.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from xrdtui.errors import ConfigError

FORMATS = (".png", ".svg", ".pdf")
DPI = 160

PARAM_NAMES = ("a", "b", "c", "alpha", "beta", "gamma")
PARAM_SYMBOLS = {"a": "a", "b": "b", "c": "c", "alpha": "α", "beta": "β", "gamma": "γ"}
LENGTHS = ("a", "b", "c")

# One colour per method (loss or CHGNet), one line style / marker per mode: a series is readable in
# grey-scale print too.
METHOD_COLOURS = {"cosine": "#1f77b4", "mse": "#d95f02", "entropy": "#1b9e77", "chgnet": "#444444"}
EXTRA_COLOURS = ("#7570b3", "#e7298a", "#66a61e", "#e6ab02")
MODE_STYLES = {
    "free": ("-", "o"),
    "free-from-projected-init": (":", "^"),
    "projected": ("--", "s"),
    "relax": ("-", "D"),
}
MODE_ORDER = ("free", "free-from-projected-init", "projected", "relax")
# Paths and member panels: one colour per mode.
MODE_COLOURS = {"free": "#d62728", "free-from-projected-init": "#ff7f0e", "projected": "#1f77b4", "relax": "#444444"}
TRUTH_COLOUR = "black"

OBJECTIVE_LABELS = {
    "cosine": "cosine loss  −cos(pattern, truth)",
    "mse": "MSE loss",
    "entropy": "entropy loss  −(spectral-entropy similarity)",
    "chgnet": "CHGNet energy (eV/atom)",
    "energy": "energy (eV/atom)",
}

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


def param_unit(name: str) -> str:
    return "Å" if name in LENGTHS else "°"


def param_label(name: str, unit: str | None = None) -> str:
    """Axis label of a lattice parameter with its unit, e.g. ``a (Å)``, ``β (°)``."""
    return f"{param_symbol(name)} ({unit or param_unit(name)})"


def objective_label(objective: str) -> str:
    return OBJECTIVE_LABELS.get(objective, f"{objective} loss")


def method_colour(method: str, others: list[str] | None = None) -> str:
    if method in METHOD_COLOURS:
        return METHOD_COLOURS[method]
    unknown = sorted(set(others or [method]) - set(METHOD_COLOURS))
    return EXTRA_COLOURS[unknown.index(method) % len(EXTRA_COLOURS)] if method in unknown else EXTRA_COLOURS[0]


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
