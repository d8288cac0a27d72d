"""Peak-width continuation: descend against broad patterns first, then narrow the peaks stage by stage.

Stage s simulates both the candidate's and the target's pattern with the Caglioti width W_s (deg²; U and
V as in the campaign's settings) and runs the stage's descent from where the previous stage ended; the
widths narrow to the campaign's own W in the last stage (it is appended when the schedule stops short of
it). Broad peaks overlap more, so the landscape has fewer, wider basins (``benchmarks/continuation.py``
counts the minima of the U2Ti (a, c) slice at each width). As in Crystalyze's "snap" (W from 30 down to
1.5); the default schedule here ends at the paper's W = 0.1. With one stage at the campaign's W this is
plain descent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from xrdtui.errors import ConfigError


@dataclass(frozen=True)
class ContinuationSettings:
    """widths: Caglioti W per stage (deg²), non-increasing; stage_steps: most steps per stage (0: the
    optimiser's max_steps)."""

    widths: tuple[float, ...] = (10.0, 3.0, 1.0, 0.3)
    stage_steps: int = 0

    def check(self) -> None:
        widths = tuple(self.widths)
        if not widths or not all(isinstance(w, (int, float)) and math.isfinite(w) and w > 0 for w in widths):
            raise ConfigError(f"widths must be positive numbers (Caglioti W, deg²), got {self.widths!r}")
        if any(b > a for a, b in zip(widths, widths[1:])):
            raise ConfigError(f"widths must narrow from stage to stage (non-increasing), got {list(widths)}")
        if not (isinstance(self.stage_steps, int) and self.stage_steps >= 0):
            raise ConfigError(f"stage_steps must be a non-negative integer, got {self.stage_steps!r}")

    def schedule(self, final_w: float) -> tuple[float, ...]:
        """The stage widths ending at the campaign's W (appended unless the schedule already reaches it;
        stages narrower than it are dropped)."""
        widths = tuple(w for w in self.widths if w > final_w * (1 + 1e-12))
        return (*widths, final_w)
