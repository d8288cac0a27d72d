"""Plain records that go into and come out of a store (numpy + stdlib only).

Writer inputs: :class:`TaskInfo` (known before a task starts), :class:`StructureInfo` (ground truth, written
at creation), :class:`TaskResult` (after a task finishes), :class:`LandscapeRecord` (a 2-D loss slice).
Reader outputs: :class:`StoreInfo`, :class:`Progress`, :class:`TaskRow`, :class:`TaskRecord`,
:class:`MatchRow`, :class:`Failure`.

Units: lattice ``[..., 6]`` = (a, b, c in ångström, alpha, beta, gamma in degrees); fractional
coordinates ``[..., N, 3]`` dimensionless in [0, 1); 2θ in degrees; times in seconds (Unix epoch for
timestamps); losses dimensionless (XRD) or eV/atom (method "chgnet": energy per step).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xrdtui.store.layout import TASK_KINDS
from xrdtui.vocab import CampaignState

# Task status codes stored in /progress/status (int8).
PENDING, RUNNING, DONE, FAILED = 0, 1, 2, 3
STATUS_NAMES = {PENDING: "pending", RUNNING: "running", DONE: "done", FAILED: "failed"}


@dataclass(frozen=True)
class TaskInfo:
    """One (structure, noise, level, method, mode) cell of a campaign, known before it runs.

    ``task_id`` is the hierarchy path ``structure/noise/level/method/mode`` with the level formatted by
    :func:`xrdtui.store.layout.format_level`; build it with :meth:`TaskInfo.build` to get it right.
    ``n_members`` = B distorted starts; ``n_sites`` = N; trajectory arrays hold ``max_steps + 1`` rows
    (the initial state plus one row per step); ``traj_frac`` says whether fractional coordinates are
    stored per step (``TaskResult.frac``); ``seed`` is the distortion seed.
    """

    task_id: str
    structure: str
    noise: str  # "lattice" | "coords"
    level: float  # noise level sigma (dimensionless)
    method: str  # loss name or "chgnet"
    mode: str  # free | projected | free-from-projected-init | relax
    n_members: int
    n_sites: int
    max_steps: int
    traj_frac: bool
    seed: int
    cell: str = "conventional"  # the cell the task distorts and optimises (vocab.Cell)

    @classmethod
    def build(
        cls,
        structure: str,
        noise: str,
        level: float,
        method: str,
        mode: str,
        *,
        n_members: int,
        n_sites: int,
        max_steps: int,
        traj_frac: bool,
        seed: int,
        cell: str = "conventional",
    ) -> TaskInfo:
        """A TaskInfo whose ``task_id`` is the canonical hierarchy path."""
        from xrdtui.store.layout import task_id

        return cls(
            task_id(structure, noise, level, method, mode),
            str(structure),
            str(noise),
            float(level),
            str(method),
            str(mode),
            int(n_members),
            int(n_sites),
            int(max_steps),
            bool(traj_frac),
            int(seed),
            str(cell),
        )

    @property
    def n_rows(self) -> int:
        """Trajectory rows T+1 = max_steps + 1."""
        return self.max_steps + 1


@dataclass(frozen=True)
class StructureInfo:
    """Ground truth of one structure: ``lattice`` [6] (Å, degrees), ``frac`` [N,3], ``pattern`` [M]
    float32 (max 1) sampled at ``two_theta`` [M] (degrees)."""

    name: str
    species: list[str]
    lattice: np.ndarray
    frac: np.ndarray
    spacegroup_symbol: str
    spacegroup_number: int
    family: str
    pattern: np.ndarray
    two_theta: np.ndarray
    cells: dict[str, CellInfo] = field(default_factory=dict)  # the same crystal in other cells
    source: str = ""  # where its facts come from (e.g. "Materials Project mp-1709 ...", "literature ...")

    @property
    def n_sites(self) -> int:
        return len(self.species)

    def in_cell(self, cell: str) -> StructureInfo:
        """This ground truth in ``cell`` (its species, lattice and coordinates); itself for the stored
        conventional cell. StoreError-free: a cell the store lacks gives the conventional one."""
        other = self.cells.get(cell)
        if other is None:
            return self
        return StructureInfo(self.name, list(other.species), other.lattice, other.frac, self.spacegroup_symbol,
                             self.spacegroup_number, self.family, self.pattern, self.two_theta, self.cells,
                             self.source)


@dataclass(frozen=True)
class CellInfo:
    """One cell of a ground truth: species [N], lattice [6] (Å, degrees), frac [N, 3]."""

    species: list[str]
    lattice: np.ndarray
    frac: np.ndarray


@dataclass
class TaskResult:
    """Everything a finished task produced (B members, N sites, T+1 trajectory rows, P preview points).

    ``loss`` [T+1,B]: XRD loss per step (dimensionless) or, for chgnet, energy in eV/atom per step;
    ``lattice`` [T+1,B,6]; ``frac`` [T+1,B,N,3] or None; rows after a member's ``n_steps`` are NaN.
    ``n_steps`` [B] int; ``init_/final_lattice`` [B,6]; ``init_/final_frac`` [B,N,3];
    ``matched`` [B] bool; ``rms`` [B] (normalised RMS displacement, NaN when unmatched);
    ``final_loss`` / ``final_similarity`` [B]; ``converged`` / ``failed`` [B] bool; ``reasons`` [B] str
    (≤ 120 characters each, longer ones are cut); ``init_pattern`` / ``final_pattern`` [B,P] float16
    previews on the 0.1° axis; ``wall_s`` seconds; ``worker`` host/process name; match rate ``k`` of
    ``n`` with Jeffreys 95% interval ``[lo, hi]``.
    """

    loss: np.ndarray
    lattice: np.ndarray
    frac: np.ndarray | None
    n_steps: np.ndarray
    init_lattice: np.ndarray
    init_frac: np.ndarray
    final_lattice: np.ndarray
    final_frac: np.ndarray
    matched: np.ndarray
    rms: np.ndarray
    final_loss: np.ndarray
    final_similarity: np.ndarray
    converged: np.ndarray
    failed: np.ndarray
    reasons: list[str]
    init_pattern: np.ndarray
    final_pattern: np.ndarray
    wall_s: float
    worker: str
    k: int
    n: int
    lo: float
    hi: float
    # strict recovery metric and continuous errors (None in results from before they existed)
    recovered: np.ndarray | None = None
    strict_rms: np.ndarray | None = None
    length_error: np.ndarray | None = None
    angle_error: np.ndarray | None = None
    site_error: np.ndarray | None = None
    ks: int = 0
    lo_s: float = float("nan")
    hi_s: float = float("nan")

    @property
    def rate(self) -> float:
        """Match rate k/n (NaN when n = 0)."""
        return self.k / self.n if self.n else float("nan")

    @property
    def rate_s(self) -> float:
        """Strict recovery rate ks/n (NaN when n = 0 or not judged)."""
        return self.ks / self.n if self.n and self.recovered is not None else float("nan")


@dataclass(frozen=True)
class LandscapeMinimum:
    """One local minimum of a landscape grid: ``rank`` (0 = deepest), grid indices ``i, j``, parameter
    values ``p1, p2`` (units of the axes), objective ``value`` and ``depth`` (barrier to leave it, same
    units as the objective)."""

    rank: int
    i: int
    j: int
    p1: float
    p2: float
    value: float
    depth: float


@dataclass(frozen=True)
class LandscapePath:
    """A gradient-descent path drawn on the slice: ``points`` [S,2] in slice coordinates (p1, p2),
    ``start`` [2], ``final_loss`` (objective units), ``mode`` (e.g. "free", "projected")."""

    mode: str
    points: np.ndarray
    start: np.ndarray
    final_loss: float


@dataclass
class LandscapeRecord:
    """A 2-D slice of an objective through parameter pair (p1, p2) of one structure.

    ``axis1`` [n1] and ``axis2`` [n2] in ``unit1`` / ``unit2``; ``grid`` [n1,n2] float32 objective values
    (``grid[i, j]`` at ``axis1[i], axis2[j]``); ``truth`` [6] ground-truth lattice parameters (Å, degrees);
    ``minima`` ranked; ``minima_patterns`` [k,M] float32 on ``two_theta`` [M] (degrees); ``paths``;
    ``attrs`` free-form settings (str/int/float/bool values).
    """

    structure: str
    objective: str
    p1: str
    p2: str
    axis1: np.ndarray
    axis2: np.ndarray
    unit1: str
    unit2: str
    grid: np.ndarray
    truth: np.ndarray
    minima: list[LandscapeMinimum]
    minima_patterns: np.ndarray
    two_theta: np.ndarray
    paths: list[LandscapePath] = field(default_factory=list)
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """``structure/objective/p1-p2``: the name used by ``StoreReader.landscape(key)``."""
        return f"{self.structure}/{self.objective}/{self.p1}-{self.p2}"


@dataclass(frozen=True)
class StoreInfo:
    """Campaign-level facts from the root attributes. ``kind`` is "campaign", "refinement" or "landscapes"."""

    path: str
    kind: str
    schema: int
    name: str
    created: str
    config_text: str
    config_hash: str
    xrdtui_version: str
    versions: dict[str, str]
    seed: int | None
    conventions: dict = field(default_factory=dict)  # table -> settings as used ({} for older stores)

    @property
    def is_campaign(self) -> bool:
        """A store of tasks (a sweep's or a refinement's), not one holding landscapes only."""
        return self.kind in TASK_KINDS


@dataclass(frozen=True)
class Progress:
    """Campaign progress. ``started`` / ``last_update`` are Unix times (NaN if unknown); ``live`` is True
    when the writer's heartbeat is recent (≤ ``LIVE_WINDOW_S``) and it has not finished; ``finished``
    when the writer called ``finish()``; ``tasks_per_minute`` over the current writer session;
    ``eta_s`` seconds left at that rate (NaN when unknown)."""

    total: int
    done: int
    failed: int
    running: int
    pending: int
    started: float
    last_update: float
    live: bool
    finished: bool
    tasks_per_minute: float
    eta_s: float
    eta_basis: str = "tasks per minute"  # or "cost model" (xrdtui.store.eta) when the store has task costs
    running_members: tuple[int, int] = (0, 0)  # members finished / in all, over the running tasks

    @property
    def state(self) -> CampaignState:
        """The campaign's state in the project's one vocabulary (``xrdtui.vocab.CampaignState``)."""
        if self.finished:
            return CampaignState.FINISHED
        if self.live:
            return CampaignState.LIVE
        if self.done + self.failed + self.running == 0:
            return CampaignState.CREATED
        if self.done + self.failed == self.total:
            return CampaignState.COMPLETE
        return CampaignState.STOPPED


@dataclass(frozen=True)
class TaskRow:
    """One line of the task table (no trajectories read). ``status`` is a name from STATUS_NAMES;
    k/n/rate/lo/hi are the (paper) match rate with its Jeffreys interval (NaN/0 until done); ks/lo_s/hi_s
    the strict recovery rate's (NaN interval when the store has no strict metric)."""

    task_id: str
    structure: str
    noise: str
    level: float
    method: str
    mode: str
    status: str
    n: int
    k: int
    rate: float
    lo: float
    hi: float
    wall_s: float
    finished_at: float
    ks: int = 0
    lo_s: float = float("nan")
    hi_s: float = float("nan")
    cell: str = "conventional"
    members: int = 0          # distortions the task judges
    members_done: int = 0     # of them finished so far (slices of a split task report as they end)
    started_at: float = float("nan")  # Unix s, when the task was marked running

    @property
    def rate_s(self) -> float:
        return strict_rate(self.ks, self.n, self.lo_s)


def strict_rate(ks: int, n: int, lo_s: float) -> float:
    """ks / n, or NaN when nothing was judged or the strict metric is absent (its interval is NaN)."""
    return ks / n if n and lo_s == lo_s else float("nan")


def pooled(rows) -> tuple[int, int]:
    """(matched, judged) members summed over the finished tasks among ``rows`` (TaskRows): the pooled
    k/n of a group of tasks, as every table, tree and plot shows it."""
    done = [r for r in rows if r.status == STATUS_NAMES[DONE]]
    return sum(r.k for r in done), sum(r.n for r in done)


def pooled_strict(rows) -> tuple[int, int]:
    """(recovered, judged) under the strict metric over the finished tasks that have it."""
    done = [r for r in rows if r.status == STATUS_NAMES[DONE] and r.lo_s == r.lo_s]
    return sum(r.ks for r in done), sum(r.n for r in done)


@dataclass
class TaskRecord:
    """``StoreReader.task``: the task's info, status, its result when done (trajectories trimmed to
    ``max(n_steps) + 1`` rows), the streamed ``partial_loss`` [t,B] while running, and the task-level
    failure ``reason`` ("" if none)."""

    info: TaskInfo
    status: str
    result: TaskResult | None
    partial_loss: np.ndarray | None
    reason: str


@dataclass(frozen=True)
class MatchRow:
    """Aggregated match rate over the tasks sharing ``key`` (values of the group_by fields, in order)."""

    key: tuple
    k: int
    n: int
    rate: float
    lo: float
    hi: float
    tasks: int
    ks: int = 0  # strict: recovered of ns judged, with the Jeffreys interval [lo_s, hi_s]
    ns: int = 0
    lo_s: float = float("nan")
    hi_s: float = float("nan")

    @property
    def rate_s(self) -> float:
        return strict_rate(self.ks, self.ns, self.lo_s)


@dataclass(frozen=True)
class Failure:
    """A failure: ``member`` is the member index, or -1 when the whole task failed."""

    task_id: str
    member: int
    reason: str
