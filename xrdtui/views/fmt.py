"""Text formatting shared by the screens (stdlib only): rates, durations, dates, counts."""

from __future__ import annotations

import math
import time
from pathlib import Path

DASH = "—"


def finite(x) -> bool:
    """True for a real, finite number."""
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def fmt_rate(rate: float, lo: float | None = None, hi: float | None = None) -> str:
    """``0.82 [0.70,0.90]``: a match rate with its interval, or a dash when unknown."""
    if not finite(rate):
        return DASH
    if lo is None or hi is None or not (finite(lo) and finite(hi)):
        return f"{rate:.2f}"
    return f"{rate:.2f} [{lo:.2f},{hi:.2f}]"


def fmt_duration(seconds: float) -> str:
    """Compact duration: ``0.3s``, ``45s``, ``3m05s``, ``2h04m``, ``3d05h``; a dash when unknown."""
    if not finite(seconds) or seconds < 0:
        return DASH
    if seconds < 9.95:
        return f"{seconds:.1f}s"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d{(s % 86400) // 3600:02d}h"


def fmt_time(unix: float) -> str:
    """Local date and time to the minute (``2024-05-01 12:03``), a dash when unknown."""
    if not finite(unix) or unix <= 0:
        return DASH
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(float(unix)))


def fmt_iso(created: str) -> str:
    """An ISO 8601 stamp in local time to the minute (``2024-05-01 12:03``), like :func:`fmt_time`."""
    if not created:
        return DASH
    from datetime import datetime

    try:
        stamp = datetime.fromisoformat(created)
    except ValueError:
        return created.replace("T", " ")[:16]
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone()
    return stamp.strftime("%Y-%m-%d %H:%M")


def axis_label(unit: str) -> str:
    """The y label of an objective's curve: "loss" for a dimensionless XRD loss, else its unit."""
    return unit if unit and unit != "dimensionless" else "loss"


def fmt_num(x: float, digits: int = 4) -> str:
    """A float with ``digits`` significant digits, a dash for NaN."""
    if not finite(x):
        return DASH
    return f"{float(x):.{digits}g}"


ENERGY_DECIMALS = 3  # 1 meV/atom: tells -10.071 from -10.076 eV/atom (4 significant digits show both as -10.07)


def fmt_objective(x: float, unit: str, digits: int = 4) -> str:
    """An objective's value: energies (eV/atom) to a fixed 1 meV/atom, dimensionless losses to ``digits``
    significant digits; a dash for NaN."""
    if not finite(x):
        return DASH
    if unit == "eV/atom":
        return f"{float(x):.{ENERGY_DECIMALS}f}"
    return fmt_num(x, digits)


PRESETS = Path(__file__).resolve().parents[1] / "jobs" / "presets"


def resume_command(name: str, store: str | Path) -> str:
    """The command that finishes a stopped campaign: its preset's name when it is one, else CONFIG.toml
    (the experiment file it ran, whose text the store keeps)."""
    config = name if name and (PRESETS / f"{name}.toml").is_file() else "CONFIG.toml"
    return f"xrdtui run {config} --store {store} --resume"
