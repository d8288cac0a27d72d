"""What a method's ``run`` receives (:class:`Batch`) and returns (:class:`Outcome`): numpy arrays and
pymatgen objects only, no store and no UI.

Units: lattice ``[..., 6]`` = (a, b, c in Å, α, β, γ in degrees); fractional coordinates ``[..., N, 3]`` in
[0, 1); the per-step objective in the method's unit (``Method.unit``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the registry and its records stay importable without numpy (TUI start-up)
    import numpy as np


@dataclass
class Batch:
    """The distorted starts of one task and everything needed to recover them.

    ``structure``: the ground truth (pymatgen Structure, in the task's cell); ``init_lattice`` [B, 6] and
    ``init_frac`` [B, N, 3] the distorted starts; ``noise``/``level``/``mode`` of the task; ``family`` the
    truth's crystal family (the projectors' target); ``settings`` the experiment's settings objects by
    table name (``settings["optimizer"]`` an ``OptimizerSettings``, ...); ``simulator()`` the (cached)
    ``XRDSimulator`` of the truth with the campaign's pattern settings and ``target()`` the truth's pattern
    [M] (max 1) that descent methods fit; ``progress(step, objective[B])`` streams live values (or None);
    ``n_rows`` the trajectory rows the store holds (max steps + 1); ``device`` where tensors live.
    """

    structure: Any
    init_lattice: np.ndarray
    init_frac: np.ndarray
    noise: str
    level: float
    mode: str
    family: str
    settings: Mapping[str, Any]
    simulator: Callable[[], Any]
    target: Callable[[], np.ndarray]
    progress: Callable[[int, np.ndarray], None] | None = None
    n_rows: int = 1
    device: str = "cpu"  # torch device of simulator() (and of CHGNet): cpu, cuda, cuda:N

    @property
    def n_members(self) -> int:
        return int(self.init_lattice.shape[0])

    @property
    def n_sites(self) -> int:
        return int(self.init_frac.shape[1])


@dataclass
class Outcome:
    """What a method did to a batch (T + 1 trajectory rows; rows past a member's ``n_steps`` repeat or are
    NaN). ``loss`` [T+1, B] the objective per step, ``lattice`` [T+1, B, 6], ``frac`` [T+1, B, N, 3] or None
    (coordinates not tracked), ``n_steps`` [B], ``final_lattice`` [B, 6], ``final_frac`` [B, N, 3],
    ``final_loss`` [B], ``converged`` / ``failed`` [B] bool, ``reasons`` [B] one line each ("" if none)."""

    loss: np.ndarray
    lattice: np.ndarray
    frac: np.ndarray | None
    n_steps: np.ndarray
    final_lattice: np.ndarray
    final_frac: np.ndarray
    final_loss: np.ndarray
    converged: np.ndarray
    failed: np.ndarray
    reasons: list[str]
