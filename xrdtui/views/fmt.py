"""Text formatting shared by the screens (stdlib only): rates, durations, dates, counts."""

from __future__ import annotations

import math
import time

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
