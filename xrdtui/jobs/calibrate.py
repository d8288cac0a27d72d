"""Step sizes for plain gradient descent, by a rule stated in advance (the paper's preset uses them).

The paper's update is theta <- P(theta - grad L) with no stated step size; lengths (Å), angles (degrees)
and fractional coordinates need one each, and each loss its own (their gradients differ by orders of
magnitude: the MSE is a sum over 9000 bins). The rule:

1. For each loss and each parameter kind, the learning rate is the **largest** value on the grid
   lr = 10^(k/4) for which **one plain gradient step lowers the loss for at least 95 % of the members**
   (free mode), over ``n`` distortions at sigma = 0.01 of each structure: lattice noise for lengths and
   angles (the other kind frozen: lr 0), coordinate noise for fractional coordinates.
2. Lengths and angles together: both rates are divided by 10^(1/4) until one joint step also lowers the
   loss for >= 95 % of the lattice-noise members.

A step that does not change the loss at all (below float precision) does not count as lowering it, so
the rule picks neither vanishing nor overshooting steps. Engine calls only (``engine.optimize.recover``
with ``max_steps = 1``): the same code path as the sweep.

The same rule serves an objective with a penalty added to the XRD loss (the joint XRD + λ·energy objective
of ``engine.hybrid``): ``penalty_for(structure, starts)`` builds the penalty of one structure's batch, and
the fraction counts members whose whole objective one step lowered. There the search starts at the loss's
own steps (``start``) instead of the grid's top: a penalty is not meant to enlarge the steps, and the
grid's largest steps turn cells into crushed or needle-like ones whose CHGNet graphs are huge (one such
batch took 60 s and 4 GB; a whole calibration from the top ran out of 24 GB).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from xrdtui.vocab import Cell, Noise

GRID = tuple(10.0 ** (k / 4.0) for k in range(16, -49, -1))  # 1e4 down to 1e-12, largest first
KINDS = ("lr_length", "lr_angle", "lr_coords")
TARGET = 0.95


@dataclass
class Calibration:
    """The chosen rates per loss ({"lr_length": ..., "lr_angle": ..., "lr_coords": ...}: step 2 applied),
    each kind's rate from step 1 alone (``single``), and the measured fraction of members whose loss fell at
    each tried rate (loss -> kind -> [(lr, fraction)])."""

    rates: dict[str, dict[str, float]] = field(default_factory=dict)
    single: dict[str, dict[str, float]] = field(default_factory=dict)
    fractions: dict[str, dict[str, list[tuple[float, float]]]] = field(default_factory=dict)
    joint: dict[str, float] = field(default_factory=dict)  # loss -> fraction of the joint lattice step
    members: int = 0


def _batches(structures, sigma: float, n: int, seed: int, cell: str, strain: str, penalty_for=None):
    """(structure name, (simulator, target, starts, penalty) of the lattice-noise members, the same of the
    coordinate-noise members in their cell) for each structure; penalty None without ``penalty_for``."""
    import torch

    from xrdtui.engine.noise import distort
    from xrdtui.engine.simulator import PatternSettings, XRDSimulator
    from xrdtui.engine.structures import in_cell, resolve_structure

    out = []
    for source in structures:
        name, conv = resolve_structure(source)
        coords_cell = in_cell(conv, cell)
        # float64 profiles: the rule measures the landscape, not float32 rounding (at sigma = 0.01 a cosine step
        # changes the loss by less than float32 resolves for ~10 % of coordinate-noise members)
        sim_l = XRDSimulator(conv, PatternSettings(), profile_dtype=torch.float64)
        sim_c = XRDSimulator(coords_cell, PatternSettings(), profile_dtype=torch.float64)
        lat = distort(conv, name, Noise.LATTICE, sigma, n, seed, strain=strain)
        crd = distort(coords_cell, name, Noise.COORDS, sigma, n, seed)
        pen_l = penalty_for(conv, lat) if penalty_for else None
        pen_c = penalty_for(coords_cell, crd) if penalty_for else None
        out.append((name, (sim_l, sim_l.reference_pattern(), lat, pen_l),
                    (sim_c, sim_c.reference_pattern(), crd, pen_c)))
    return out


def fraction_lowered(batches, loss: str, rates: dict[str, float]) -> tuple[float, int]:
    """Fraction (and count) of members whose loss (plus penalty, where the batch has one) one plain GD step
    with ``rates`` lowered. Lattice-noise members when a lattice rate is set, coordinate-noise members for
    ``lr_coords``."""
    from xrdtui.engine.optimize import OptimizerSettings, recover

    settings = OptimizerSettings(method="gd", schedule="constant", max_steps=1, tol=0.0,
                                 **{k: rates.get(k, 0.0) for k in KINDS})
    coords = rates.get("lr_coords", 0.0) > 0
    lowered = total = 0
    for _, lattice, coordinate in batches:
        sim, target, starts, penalty = coordinate if coords else lattice
        traj = recover(sim, target, starts.lattice, starts.frac, loss=loss, mode="free",
                       optimise=("coords",) if coords else ("lattice",), settings=settings, penalty=penalty)
        ok = ~traj.failed & np.isfinite(traj.loss[-1])
        lowered += int((ok & (traj.loss[-1] < traj.loss[0])).sum())
        total += len(traj.failed)
    return lowered / max(total, 1), total


def calibrate(structures, losses=("cosine", "mse", "entropy"), *, sigma: float = 0.01, n: int = 16,
              seed: int = 0, cell: str = Cell.PRIMITIVE, strain: str = "cartesian",
              progress=None, penalty_for=None, start: dict[str, dict[str, float]] | None = None) -> Calibration:
    """Apply the module's rule to ``structures`` (benchmark names or files) for each loss (with
    ``penalty_for(structure, starts) -> penalty``, to the loss plus that penalty); ``start[loss][kind]``,
    where given, is the largest step tried."""
    batches = _batches(structures, sigma, n, seed, cell, strain, penalty_for)
    out = Calibration(members=n * len(batches))
    for loss in losses:
        chosen, table = {}, {}
        for kind in KINDS:
            tried = []
            top = (start or {}).get(loss, {}).get(kind, GRID[0])
            for lr in (g for g in GRID if g <= top * (1 + 1e-9)):
                fraction, _ = fraction_lowered(batches, loss, {kind: lr})
                tried.append((lr, fraction))
                if fraction >= TARGET:
                    chosen[kind] = lr
                    break
            table[kind] = tried
            if progress:
                progress(loss, kind, chosen.get(kind))
        out.single[loss] = dict(chosen)
        lattice = {k: chosen[k] for k in ("lr_length", "lr_angle") if k in chosen}
        joint, _ = fraction_lowered(batches, loss, lattice)
        while lattice and joint < TARGET and min(lattice.values()) > GRID[-1]:
            lattice = {k: v / 10.0 ** 0.25 for k, v in lattice.items()}
            joint, _ = fraction_lowered(batches, loss, lattice)
        chosen.update(lattice)
        out.rates[loss], out.fractions[loss], out.joint[loss] = chosen, table, joint
    return out
