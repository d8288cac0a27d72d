"""Reading a measured powder pattern: two- or three-column text (2θ in degrees, intensity[, σ]).

Accepted files (``.xy``, ``.xye``, ``.csv``, ``.dat``, ``.txt``): one point per line, columns separated by
white space, commas or semicolons; blank lines and comment lines (starting with ``#``, ``!``, ``;``, ``%``,
``*`` or ``//``) anywhere; non-numeric header lines only before the first point. Every problem is an
:class:`~xrdtui.errors.InputError` with one line naming the file (and the line): an unreadable file, no
points, a ragged or wrong number of columns, non-finite values, 2θ not strictly increasing, negative
intensities, non-positive σ.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xrdtui.errors import InputError

PATTERN_SUFFIXES = (".xy", ".xye", ".csv", ".dat", ".txt")
COMMENT_PREFIXES = ("#", "!", ";", "%", "*", "//")
MIN_POINTS = 20  # fewer points than this cannot describe a powder pattern
_SPLIT = re.compile(r"[\s,;]+")


@dataclass(frozen=True)
class MeasuredPattern:
    """A measured pattern as read: ``two_theta`` [n] (degrees, strictly increasing), ``intensity`` [n]
    (counts or arbitrary units, ≥ 0), ``sigma`` [n] (same units, > 0) or None, and its file."""

    path: Path
    two_theta: np.ndarray
    intensity: np.ndarray
    sigma: np.ndarray | None

    @property
    def range(self) -> tuple[float, float]:
        return float(self.two_theta[0]), float(self.two_theta[-1])

    @property
    def step(self) -> float:
        """Median 2θ step (degrees)."""
        return float(np.median(np.diff(self.two_theta)))


def is_pattern_file(path: str | Path) -> bool:
    """Whether ``path`` names a measured-pattern file by its suffix."""
    return Path(path).suffix.lower() in PATTERN_SUFFIXES


def read_pattern(path: str | Path) -> MeasuredPattern:
    """Read and validate a measured pattern (see the module docstring)."""
    path = Path(path)
    name = path.name
    try:
        text = path.read_text(encoding="utf-8", errors="strict")
    except FileNotFoundError:
        raise InputError(f"pattern file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read pattern file {path}: {_one_line(exc)}") from None
    rows: list[list[float]] = []
    first_line = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(COMMENT_PREFIXES):
            continue
        fields = [f for f in _SPLIT.split(line) if f]
        try:
            values = [float(f) for f in fields]
        except ValueError:
            if rows:  # text after the data started: not a pattern file we understand
                raise InputError(f"{name} line {number}: not a number in {line[:40]!r}") from None
            continue  # a header line before the first point
        if not rows:
            first_line = number
        if len(values) not in (2, 3):
            raise InputError(f"{name} line {number}: expected 2 or 3 columns (2θ, intensity[, σ]), "
                             f"got {len(values)}")
        if rows and len(values) != len(rows[0]):
            raise InputError(f"{name} line {number}: {len(values)} columns, but line {first_line} has "
                             f"{len(rows[0])}")
        rows.append(values)
    if len(rows) < MIN_POINTS:
        raise InputError(f"{name}: {len(rows)} data points found; a powder pattern needs at least {MIN_POINTS} "
                         "lines of '2θ intensity[ σ]'")
    data = np.asarray(rows, dtype=np.float64)
    _check(data, name)
    sigma = data[:, 2].copy() if data.shape[1] == 3 else None
    return MeasuredPattern(path, data[:, 0].copy(), data[:, 1].copy(), sigma)


def _check(data: np.ndarray, name: str) -> None:
    bad = ~np.isfinite(data).all(axis=1)
    if bad.any():
        raise InputError(f"{name}: non-finite value (NaN or inf) at data point {int(np.argmax(bad)) + 1}")
    steps = np.diff(data[:, 0])
    if (steps <= 0).any():
        i = int(np.argmax(steps <= 0))
        raise InputError(f"{name}: 2θ is not strictly increasing ({data[i, 0]:g} then {data[i + 1, 0]:g} at data "
                         f"points {i + 1}-{i + 2})")
    if (data[:, 1] < 0).any():
        i = int(np.argmax(data[:, 1] < 0))
        raise InputError(f"{name}: negative intensity {data[i, 1]:g} at 2θ = {data[i, 0]:g}°")
    if data.shape[1] == 3 and (data[:, 2] <= 0).any():
        i = int(np.argmax(data[:, 2] <= 0))
        raise InputError(f"{name}: σ must be positive, got {data[i, 2]:g} at 2θ = {data[i, 0]:g}°")
    if not data[:, 1].max() > 0:
        raise InputError(f"{name}: every intensity is zero")


def _one_line(exc: BaseException) -> str:
    return (" ".join(str(exc).split()) or type(exc).__name__)[:200]
