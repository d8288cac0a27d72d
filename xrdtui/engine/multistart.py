"""Multi-start descent: K starts spread around each distorted start, descended together, the best kept.

Spread (quasi-random, scrambled Sobol points from scipy.stats.qmc in a box the size of the noise): start 0
is the distorted start itself; starts 1..K-1 add u·``spread``·σ with u in [−1, 1)^d to the parameters the
noise moved: lattice noise: lengths l·(1 + u σ s), angles + u σ s·(180/π)° (the angle change of a shear of
size σ); coordinate noise: fractional coordinates + u σ s. In the projected mode the family projection of
each start (``engine.optimize``) puts it in the crystal family's subspace. All B·K starts run as one batch
through the simulator; per member the start with the lowest final loss (the target pattern only, never
the truth) is kept. With K = 1 this is plain descent from the distorted start.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from xrdtui.errors import ConfigError


@dataclass(frozen=True)
class MultiStartSettings:
    """starts: K per member (including the distorted start); spread: the box half-width in units of the
    noise level σ; seed: of the Sobol scrambling (the same offsets for every member and task)."""

    starts: int = 16
    spread: float = 1.0
    seed: int = 0

    def check(self) -> None:
        if not (isinstance(self.starts, int) and self.starts >= 1):
            raise ConfigError(f"starts must be a positive integer, got {self.starts!r}")
        if not (math.isfinite(self.spread) and self.spread >= 0):
            raise ConfigError(f"spread must be a non-negative number, got {self.spread!r}")


def sobol_offsets(k: int, dim: int, seed: int = 0) -> np.ndarray:
    """[k, dim] offsets in [−1, 1); row 0 is zero (the start itself), rows 1.. scrambled Sobol points."""
    from scipy.stats import qmc

    out = np.zeros((k, dim))
    if k > 1:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "balance properties ... powers of 2": fine for K - 1 points
            out[1:] = 2.0 * qmc.Sobol(d=dim, scramble=True, seed=seed).random(k - 1) - 1.0
    return out


def spread_starts(init_lattice: np.ndarray, init_frac: np.ndarray, noise: str, level: float,
                  settings: MultiStartSettings) -> tuple[np.ndarray, np.ndarray]:
    """The B·K starts (member-major: start k of member b is row b·K + k): lattice [B·K, 6], frac [B·K, N, 3]."""
    k, (b, n) = settings.starts, init_frac.shape[:2]
    lattice = np.repeat(np.asarray(init_lattice, dtype=np.float64), k, axis=0)
    frac = np.repeat(np.asarray(init_frac, dtype=np.float64), k, axis=0)
    width = settings.spread * float(level)
    if noise == "lattice":
        u = np.tile(sobol_offsets(k, 6, settings.seed), (b, 1))
        lattice[:, :3] *= 1.0 + width * u[:, :3]
        lattice[:, 3:] += width * math.degrees(1.0) * u[:, 3:]
    else:
        u = np.tile(sobol_offsets(k, 3 * n, settings.seed), (b, 1)).reshape(b * k, n, 3)
        frac = np.mod(frac + width * u, 1.0)
    return lattice, frac


def best_of(final_loss: np.ndarray, failed: np.ndarray, k: int) -> np.ndarray:
    """Per member, the index (0..K-1) of its start with the lowest final loss (failed starts last)."""
    loss = np.where(failed | ~np.isfinite(final_loss), np.inf, final_loss).reshape(-1, k)
    return loss.argmin(axis=1)
