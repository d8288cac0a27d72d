"""View models: pure shaping of reader records into what the screens draw (numpy + stdlib only).

Nothing here reads a store or touches Textual, so every function is tested on plain records. Match rates
and their Jeffreys intervals are never recomputed here: they come from ``StoreReader.match_table`` and
``TaskRow``; this module only groups, orders and resamples.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from xrdtui.store.layout import format_level
from xrdtui.store.records import LandscapeRecord, MatchRow, TaskRow, pooled, pooled_strict
from xrdtui.vocab import HIERARCHY




# --- hierarchy (runs browser) -------------------------------------------------------------------
@dataclass(frozen=True)
class Counts:
    """Task counts by status under one node."""

    total: int = 0
    done: int = 0
    failed: int = 0
    running: int = 0
    pending: int = 0

    @property
    def state(self) -> str:
        """One word: done | failed | running | partial | pending."""
        if self.total and self.done == self.total:
            return "done"
        if self.running:
            return "running"
        if self.total and self.done + self.failed == self.total:
            return "failed" if self.done == 0 else "done*"
        if self.done or self.failed:
            return "partial"
        return "pending"


def count_rows(rows: list[TaskRow]) -> Counts:
    """Status counts of task rows."""
    by = {"done": 0, "failed": 0, "running": 0, "pending": 0}
    for r in rows:
        by[r.status] = by.get(r.status, 0) + 1
    return Counts(len(rows), by["done"], by["failed"], by["running"], by["pending"])


@dataclass
class TreeNode:
    """A node of the structure → noise → level → method → mode hierarchy; ``key`` holds the field values
    from the root down to it (``()`` for the root); ``rows`` are all tasks below it in store order."""

    key: tuple
    rows: list[TaskRow] = field(default_factory=list)
    children: dict = field(default_factory=dict)

    @property
    def depth(self) -> int:
        return len(self.key)

    @property
    def field(self) -> str:
        return HIERARCHY[self.depth - 1] if self.depth else "campaign"

    @property
    def label(self) -> str:
        if not self.key:
            return "campaign"
        return _text(self.field, self.key[-1])

    @property
    def is_leaf(self) -> bool:
        return self.depth == len(HIERARCHY)

    @property
    def task_id(self) -> str | None:
        return self.rows[0].task_id if self.is_leaf and self.rows else None

    @property
    def path(self) -> str:
        """The hierarchy path (task id prefix) of this node."""
        return "/".join(_text(f, v) for f, v in zip(HIERARCHY, self.key))

    def counts(self) -> Counts:
        return count_rows(self.rows)

    def last_finished(self) -> float:
        """Latest finish time (Unix s) of the tasks below, NaN if none finished."""
        times = [r.finished_at for r in self.rows if np.isfinite(r.finished_at)]
        return max(times) if times else float("nan")

    def walk(self):
        """This node and all below it, depth first in store order."""
        yield self
        for child in self.children.values():
            yield from child.walk()


def _text(field_name: str, value) -> str:
    return format_level(value) if field_name == "level" else str(value)


def row_key(row: TaskRow, depth: int = len(HIERARCHY)) -> tuple:
    """The first ``depth`` hierarchy values of a task row."""
    return tuple(getattr(row, f) for f in HIERARCHY[:depth])


def build_tree(rows: list[TaskRow]) -> TreeNode:
    """Group task rows into the hierarchy, keeping store order at every level."""
    root = TreeNode(())
    for row in rows:
        node = root
        node.rows.append(row)
        for depth in range(1, len(HIERARCHY) + 1):
            value = getattr(row, HIERARCHY[depth - 1])
            child = node.children.get(value)
            if child is None:
                child = node.children[value] = TreeNode(row_key(row, depth))
            child.rows.append(row)
            node = child
    return root


def filter_rows(rows: list[TaskRow], text: str) -> list[TaskRow]:
    """Rows whose task id (``structure/noise/level/method/mode``) or status contains every
    whitespace-separated term of ``text`` (case-insensitive)."""
    terms = [t for t in text.lower().split() if t]
    if not terms:
        return list(rows)
    out = []
    for r in rows:
        hay = f"{r.task_id} {r.status}".lower()
        if all(t in hay for t in terms):
            out.append(r)
    return out


def hierarchy_rates(rows: list[TaskRow], interval) -> dict[tuple, MatchRow]:
    """Pooled match rates of ``rows`` at every hierarchy depth, keyed like :func:`rate_index` (the same
    k/n as ``StoreReader.match_table`` grouped by the first d fields, over these rows only: a filtered
    tree's labels). ``interval(k, n) -> (lo, hi)`` gives the intervals (the engine's Jeffreys interval,
    passed in so this module stays free of scipy); groups without a finished task are left out."""
    groups: dict[tuple, list[TaskRow]] = {}
    for r in rows:
        if r.status != "done":
            continue
        for depth in range(1, len(HIERARCHY) + 1):
            groups.setdefault(row_key(r, depth), []).append(r)
    out: dict[tuple, MatchRow] = {}
    nan = float("nan")
    for key, members in groups.items():
        k, n = pooled(members)
        ks, ns = pooled_strict(members)
        lo, hi = interval(k, n)
        lo_s, hi_s = interval(ks, ns) if ns else (nan, nan)
        out[key] = MatchRow(key=key, k=k, n=n, rate=k / n if n else nan, lo=lo, hi=hi, tasks=len(members),
                            ks=ks, ns=ns, lo_s=lo_s, hi_s=hi_s)
    return out


def rate_index(tables: list[list[MatchRow]]) -> dict[tuple, MatchRow]:
    """Merge match tables of several groupings into one key -> row lookup."""
    out: dict[tuple, MatchRow] = {}
    for table in tables:
        for m in table:
            out[tuple(m.key)] = m
    return out


# --- field orders and pivots (monitor, match table) ---------------------------------------------
def field_order(rows: list[TaskRow]) -> dict[str, dict]:
    """For each hierarchy field, value -> rank: levels ascending, everything else in store order."""
    order: dict[str, dict] = {f: {} for f in HIERARCHY}
    for r in rows:
        for f in HIERARCHY:
            order[f].setdefault(getattr(r, f), len(order[f]))
    levels = sorted(order["level"])
    order["level"] = {v: i for i, v in enumerate(levels)}
    return order


def sort_key(fields: tuple[str, ...], order: dict[str, dict]):
    """A key function ordering tuples of ``fields`` values by :func:`field_order`."""

    def key(values: tuple):
        out = []
        for f, v in zip(fields, values):
            rank = order.get(f, {}).get(v)
            out.append((0, rank, "") if rank is not None else (1, 0, str(v)))
        return tuple(out)

    return key


@dataclass(frozen=True)
class Cell:
    """Pooled members of the tasks in one pivot cell: ``k`` matched of ``n`` judged (finished tasks
    only), and the cell's task status counts."""

    k: int
    n: int
    counts: Counts
    ks: int = 0  # strict metric: recovered of ns judged (0 / 0 in stores without it)
    ns: int = 0

    @property
    def rate(self) -> float:
        return self.k / self.n if self.n else float("nan")

    @property
    def rate_s(self) -> float:
        return self.ks / self.ns if self.ns else float("nan")


@dataclass(frozen=True)
class Pivot:
    """Tasks split into row keys (``row_fields`` values) and column keys (``col_fields`` values)."""

    row_fields: tuple[str, ...]
    col_fields: tuple[str, ...]
    row_keys: list[tuple]
    col_keys: list[tuple]
    cells: dict[tuple[tuple, tuple], Cell]


def pivot(
    task_rows: list[TaskRow],
    row_fields: tuple[str, ...] = ("noise", "level"),
    col_fields: tuple[str, ...] = ("method", "mode"),
) -> Pivot:
    """Pool task rows into cells; every cell that has tasks appears, finished or not. The pooled rate
    is the same k/n as ``StoreReader.match_table`` over these fields (no interval: the monitor shows
    rates only, and the intervals live with the reader)."""
    order = field_order(task_rows)
    groups: dict[tuple[tuple, tuple], list[TaskRow]] = {}
    for r in task_rows:
        key = (tuple(getattr(r, f) for f in row_fields), tuple(getattr(r, f) for f in col_fields))
        groups.setdefault(key, []).append(r)
    cells = {
        key: Cell(*pooled(rows), count_rows(rows), *pooled_strict(rows))
        for key, rows in groups.items()
    }
    row_keys = sorted({k[0] for k in cells}, key=sort_key(row_fields, order))
    col_keys = sorted({k[1] for k in cells}, key=sort_key(col_fields, order))
    return Pivot(row_fields, col_fields, row_keys, col_keys, cells)


@dataclass(frozen=True)
class Series:
    """One line of the Figure-1 plot: match rate vs noise level with interval ends."""

    label: str
    x: np.ndarray
    y: np.ndarray
    lo: np.ndarray
    hi: np.ndarray


def figure1_series(match_rows: list[MatchRow], noise: str, task_rows: list[TaskRow] | None = None,
                   strict: bool = False) -> list[Series]:
    """Series per (method, mode) of a table grouped by (noise, level, method, mode), for one noise type,
    with levels ascending; cells without judged members (n = 0) are left out. ``strict``: the strict
    recovery rate instead of the paper's match rate (cells without it left out)."""
    order = field_order(task_rows or [])
    by: dict[tuple, list[MatchRow]] = {}
    for m in match_rows:
        noise_v, level, method, mode = m.key
        if noise_v != noise or m.n <= 0 or (strict and not m.ns):
            continue
        by.setdefault((method, mode), []).append(m)
    out = []
    for (method, mode) in sorted(by, key=sort_key(("method", "mode"), order)):
        ms = sorted(by[(method, mode)], key=lambda m: m.key[1])
        out.append(
            Series(
                f"{method}/{mode}",
                np.array([m.key[1] for m in ms], dtype=float),
                np.array([m.rate_s if strict else m.rate for m in ms], dtype=float),
                np.array([m.lo_s if strict else m.lo for m in ms], dtype=float),
                np.array([m.hi_s if strict else m.hi for m in ms], dtype=float),
            )
        )
    return out


def sort_match_rows(rows: list[MatchRow], column: str, reverse: bool, fields: tuple[str, ...], order) -> list[MatchRow]:
    """Sort a match table by a group field or by k, n, rate, lo, hi, tasks (NaN last)."""
    if column in fields:
        i = fields.index(column)
        keyf = sort_key((column,), order)
        return sorted(rows, key=lambda m: keyf((m.key[i],)), reverse=reverse)

    def num(m: MatchRow):
        v = float(getattr(m, column))
        return (not np.isfinite(v), -v if reverse else v)

    return sorted(rows, key=num)


# --- loss curves ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Band:
    """Per-step quantiles of a batch's loss over members: ``steps`` [t], ``lo``/``mid``/``hi`` [t]
    (10th, 50th and 90th percentile by default), from ``n`` members with any finite value."""

    steps: np.ndarray
    lo: np.ndarray
    mid: np.ndarray
    hi: np.ndarray
    n: int


def forward_fill(loss: np.ndarray) -> np.ndarray:
    """Copy of ``loss`` [t,B] where NaN rows after a member's last finite value repeat that value
    (a member that stopped early keeps its final loss); leading NaNs and all-NaN members stay NaN."""
    a = np.array(loss, dtype=float, copy=True)
    if a.ndim != 2 or a.size == 0:
        return a
    ok = np.isfinite(a)
    idx = np.where(ok, np.arange(a.shape[0])[:, None], -1)
    np.maximum.accumulate(idx, axis=0, out=idx)
    filled = a[np.clip(idx, 0, None), np.arange(a.shape[1])[None, :]]
    filled[idx < 0] = np.nan
    return filled


def loss_band(loss: np.ndarray | None, q: tuple[float, float, float] = (10.0, 50.0, 90.0)) -> Band | None:
    """Quantile band of a loss history [t,B] after :func:`forward_fill`; None when nothing is finite."""
    if loss is None:
        return None
    a = np.asarray(loss, dtype=float)
    if a.ndim != 2 or a.size == 0:
        return None
    rows = np.isfinite(a).any(axis=1)  # trim before filling: rows after every member stopped go
    if not rows.any():
        return None
    last = int(np.nonzero(rows)[0][-1]) + 1
    a = forward_fill(a[:last])
    a = a[:, np.isfinite(a).any(axis=0)]  # members without any finite loss (failed at once) do not count
    if np.isfinite(a).all():  # the usual case after filling: vectorised, ~50x faster than nanpercentile
        lo, mid, hi = np.percentile(a, q, axis=1)
    else:  # leading NaNs (a member that started late)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            lo, mid, hi = np.nanpercentile(a, q, axis=1)
    return Band(np.arange(last, dtype=float), lo, mid, hi, int(a.shape[1]))


# --- landscapes ----------------------------------------------------------------------------------
def split_landscape_key(key: str) -> tuple[str, str, str]:
    """``structure/objective/p1-p2`` -> (structure, objective, "p1-p2")."""
    structure, objective, pair = key.split("/", 2)
    return structure, objective, pair


def cycle_landscape(keys: list[str], current: str, what: str, step: int = 1) -> str:
    """The next key changing only ``what`` ("structure", "objective" or "pair") of ``current``, keeping
    the others when such a landscape exists (else the first key with the new value)."""
    if not keys:
        return current
    if current not in keys:
        return keys[0]
    parts = [split_landscape_key(k) for k in keys]
    cur = split_landscape_key(current)
    i = ("structure", "objective", "pair").index(what)
    values = list(dict.fromkeys(p[i] for p in parts))
    nxt = values[(values.index(cur[i]) + step) % len(values)]
    wanted = list(cur)
    wanted[i] = nxt
    if tuple(wanted) in parts:
        return keys[parts.index(tuple(wanted))]
    # keep as much as possible: prefer the same structure, then the first with the new value
    for p, k in zip(parts, keys):
        if p[i] == nxt and (i == 0 or p[0] == cur[0]):
            return k
    return next(k for p, k in zip(parts, keys) if p[i] == nxt)


def grid_to_image(grid: np.ndarray, width: int, height: int) -> np.ndarray:
    """Nearest-neighbour resample of ``grid[i, j]`` (i along axis1, j along axis2) to an image
    [height, width] with axis1 to the right and axis2 upwards (row 0 = largest axis2)."""
    g = np.asarray(grid, dtype=float)
    n1, n2 = g.shape
    cols = np.minimum(((np.arange(width) + 0.5) * n1 / width).astype(int), n1 - 1)
    rows = np.minimum(((np.arange(height) + 0.5) * n2 / height).astype(int), n2 - 1)
    return g[cols][:, rows[::-1]].T


def point_to_pixel(record: LandscapeRecord, p1: float, p2: float, width: int, height: int) -> tuple[int, int] | None:
    """Image pixel (column, row) of slice coordinates (p1, p2) in :func:`grid_to_image`'s image,
    None when outside the slice."""
    a1 = np.asarray(record.axis1, dtype=float)
    a2 = np.asarray(record.axis2, dtype=float)
    n1, n2 = len(a1), len(a2)
    u = _fractional_index(a1, p1)
    v = _fractional_index(a2, p2)
    if u is None or v is None:
        return None
    col = min(width - 1, max(0, int(np.floor((u + 0.5) * width / n1))))
    row_up = min(height - 1, max(0, int(np.floor((v + 0.5) * height / n2))))
    return col, height - 1 - row_up


def _fractional_index(axis: np.ndarray, value: float) -> float | None:
    """Position of ``value`` on a monotonic axis in index units (0 .. n-1), None when outside."""
    if len(axis) < 2 or not np.isfinite(value):
        return 0.0 if len(axis) == 1 else None
    lo, hi = (axis[0], axis[-1]) if axis[-1] >= axis[0] else (axis[-1], axis[0])
    span = axis[-1] - axis[0]
    tol = 1e-9 * max(1.0, abs(span))
    if value < lo - tol or value > hi + tol:
        return None
    return float(np.interp(value, axis, np.arange(len(axis)))) if span > 0 else float(
        np.interp(value, axis[::-1], np.arange(len(axis))[::-1])
    )


def normalise(img: np.ndarray, lo_pct: float = 2.0, hi_pct: float = 98.0) -> tuple[np.ndarray, float, float]:
    """Scale finite values to [0, 1] between the ``lo_pct`` and ``hi_pct`` percentiles (clipped), so one
    outlier does not wash out the colours; returns (scaled, vmin, vmax); NaN stays NaN."""
    a = np.asarray(img, dtype=float)
    fin = a[np.isfinite(a)]
    if fin.size == 0:
        return np.full_like(a, np.nan), float("nan"), float("nan")
    vmin, vmax = np.percentile(fin, [lo_pct, hi_pct])
    if not vmax > vmin:
        vmin, vmax = float(fin.min()), float(fin.max())
    if not vmax > vmin:
        return np.where(np.isfinite(a), 0.5, np.nan), float(vmin), float(vmax)
    return np.clip((a - vmin) / (vmax - vmin), 0.0, 1.0), float(vmin), float(vmax)


# --- patterns ------------------------------------------------------------------------------------
def sample_pattern(two_theta: np.ndarray, pattern: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """A pattern resampled onto ``axis`` (degrees) by linear interpolation (equal to taking every k-th
    point when ``axis`` is a subset of ``two_theta``, as the stored previews are made)."""
    return np.interp(np.asarray(axis, float), np.asarray(two_theta, float), np.asarray(pattern, float))
