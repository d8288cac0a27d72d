"""Reading the store off the UI thread.

:class:`StorePool` keeps one open :class:`~xrdtui.store.reader.StoreReader` per file and serialises all
reads behind one lock (h5py serialises them anyway). The ``load_*`` functions run inside Textual thread
workers (``@work(thread=True)`` on the screens) and return plain snapshots; the UI thread never touches
h5py, so a big store or a busy writer never freezes the app.
"""

from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from xrdtui.errors import StoreError
from xrdtui.store.layout import TASK_KINDS
from xrdtui.store.records import (
    Failure,
    LandscapeRecord,
    MatchRow,
    Progress,
    StoreInfo,
    StructureInfo,
    TaskRecord,
    TaskRow,
    pooled,
)
from xrdtui.views.model import HIERARCHY, Band, loss_band, rate_index

STORE_SUFFIX = ".h5"


def describe(exc: BaseException) -> str:
    """One line for any error met while reading (StoreError messages are already one line)."""
    if isinstance(exc, StoreError):
        return str(exc)
    from xrdtui.errors import describe as type_and_message

    return type_and_message(exc)


def store_files(target: Path) -> list[Path]:
    """The stores a target names: the file itself, or the ``*.h5`` files of a folder (sorted by name)."""
    target = Path(target)
    if target.is_dir():
        return sorted(p for p in target.iterdir() if p.suffix == STORE_SUFFIX and p.is_file() and not p.name.startswith("."))
    if target.exists():
        return [target]
    return []


def _file_id(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


class StorePool:
    """Open readers keyed by path, reopened when the file is replaced (resume and landscape appends
    swap files by atomic rename); use :meth:`reader` from worker threads only."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._readers: dict[Path, tuple[object, tuple[int, int]]] = {}

    @contextmanager
    def reader(self, path: Path, refresh: bool = True):
        """The open reader of ``path`` (refreshed to see new data) under the pool lock."""
        from xrdtui.store.reader import StoreReader

        path = Path(path)
        with self._lock:
            try:
                fid = _file_id(path)
            except FileNotFoundError:
                self._drop(path)
                raise StoreError(f"no store at {path}") from None
            entry = self._readers.get(path)
            if entry is not None and entry[1] != fid:
                self._drop(path)
                entry = None
            if entry is None:
                reader = StoreReader.open(path)
                self._readers[path] = (reader, fid)
            else:
                reader = entry[0]
                if refresh:
                    reader.refresh()
            yield reader

    def _drop(self, path: Path) -> None:
        entry = self._readers.pop(Path(path), None)
        if entry is not None:
            try:
                entry[0].close()
            except Exception:  # closing a reader of a vanished file must not take the app down
                pass

    def close_all(self) -> None:
        with self._lock:
            for path in list(self._readers):
                self._drop(path)


# --- the catalogue of a folder (runs browser) ---------------------------------------------------
@dataclass(frozen=True)
class Campaign:
    """One store file as listed in the browser; ``error`` is a one-line message when unreadable."""

    path: Path
    name: str
    kind: str
    error: str = ""
    created: str = ""
    progress: Progress | None = None
    k: int = 0
    n: int = 0
    landscapes: int = 0

    @property
    def is_campaign(self) -> bool:
        return self.kind in TASK_KINDS  # a sweep or a refinement

    @property
    def state(self) -> str:
        """The campaign's state (``xrdtui.vocab.CampaignState``), or "error" / "landscapes" for a file
        that is unreadable / holds landscapes only."""
        if self.error:
            return "error"
        if not self.is_campaign:
            return "landscapes"
        return "?" if self.progress is None else str(self.progress.state)

    @property
    def rate(self) -> float:
        return self.k / self.n if self.n else float("nan")


@dataclass(frozen=True)
class Catalogue:
    target: Path
    campaigns: list[Campaign]
    message: str = ""  # shown when there is nothing to list


def summarise(pool: StorePool, path: Path) -> Campaign:
    """A catalogue entry for one file; never raises for store problems."""
    try:
        with pool.reader(path) as r:
            info = r.info
            if not info.is_campaign:
                return Campaign(path, path.name, info.kind, created=info.created, landscapes=len(r.landscapes()))
            progress = r.progress()
            rows = r.tasks()
            k, n = pooled(rows)
            return Campaign(path, path.name, info.kind, "", info.created, progress, k, n, len(r.landscapes()))
    except StoreError as exc:  # missing/foreign/newer files are listed with their message
        return Campaign(path, path.name, "?", str(exc))
    except Exception as exc:  # a corrupt file may surface as a raw h5py error: still one line, no crash
        return Campaign(path, path.name, "?", f"cannot read {path}: {describe(exc)}")


def scan(pool: StorePool, target: Path) -> Catalogue:
    """Summaries of every store under ``target`` (a file or a folder)."""
    target = Path(target)
    files = store_files(target)
    if not files:
        if not target.exists():
            msg = f"No store at {target}. Press ctrl+n to start a sweep, or run: xrdtui run"
        else:
            msg = f"No {STORE_SUFFIX} stores in {target}. Press ctrl+n to start a sweep, or run: xrdtui run"
        return Catalogue(target, [], msg)
    return Catalogue(target, [summarise(pool, p) for p in files])


def pick_store(catalogue: Catalogue, prefer_live: bool = True) -> Path | None:
    """The store to show first: a live one (latest heartbeat) if asked, else the newest readable."""
    ok = [c for c in catalogue.campaigns if not c.error]
    if not ok:
        return catalogue.campaigns[0].path if catalogue.campaigns else None
    if prefer_live:
        live = [c for c in ok if c.progress is not None and c.progress.live]
        if live:
            return max(live, key=lambda c: c.progress.last_update).path
    campaigns = [c for c in ok if c.is_campaign] or ok
    return max(campaigns, key=lambda c: (c.created, c.name)).path


# --- one campaign (browser hierarchy, match table) ----------------------------------------------
@dataclass
class CampaignData:
    path: Path
    info: StoreInfo
    progress: Progress | None
    rows: list[TaskRow]
    rates: dict[tuple, MatchRow]
    landscapes: list[str]


def load_campaign(pool: StorePool, path: Path) -> CampaignData:
    """Task table and progress of one store (fast: no trajectories, no match tables)."""
    with pool.reader(path) as r:
        info = r.info
        if not info.is_campaign:
            return CampaignData(path, info, None, [], {}, r.landscapes())
        return CampaignData(path, info, r.progress(), r.tasks(), {}, r.landscapes())


def load_rates(pool: StorePool, path: Path) -> tuple[Path, dict[tuple, MatchRow]]:
    """Match rates with Jeffreys intervals at every hierarchy depth (a second stage: the intervals'
    first call imports scipy.special, ~0.5 s, done here before the pool lock is taken so other reads
    and quitting do not wait for it)."""
    from xrdtui.engine.matching import jeffreys_interval

    jeffreys_interval(1, 2)
    with pool.reader(path, refresh=False) as r:
        if not r.info.is_campaign:
            return path, {}
        tables = [r.match_table(group_by=HIERARCHY[:d]) for d in range(1, len(HIERARCHY) + 1)]
        return path, rate_index(tables)


FIGURE_GROUPING = ("noise", "level", "method", "mode")


@dataclass
class MatchData:
    path: Path
    group_by: tuple[str, ...]
    rows: list[MatchRow]
    figure_rows: list[MatchRow]
    task_rows: list[TaskRow]
    conventions: dict = field(default_factory=dict)


def load_matches(pool: StorePool, path: Path, group_by: tuple[str, ...]) -> MatchData:
    """The match table in the asked grouping and the (noise, level, method, mode) table of Figure 1."""
    with pool.reader(path) as r:
        if not r.info.is_campaign:
            raise StoreError(f"{path.name} holds landscapes only, no match rates")
        rows = r.match_table(group_by=group_by)
        fig = rows if tuple(group_by) == FIGURE_GROUPING else r.match_table(group_by=FIGURE_GROUPING)
        return MatchData(path, tuple(group_by), rows, fig, r.tasks(), r.info.conventions)


# --- live monitor ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunningTask:
    """A running task: ``rows`` trajectory rows streamed so far of ``max_rows`` (= max_steps + 1)."""

    task_id: str
    rows: int
    max_rows: int
    n_members: int
    members_done: int = 0  # members finished (a task split into member slices reports slice by slice)


@dataclass
class MonitorCache:
    """State a monitor keeps between refreshes (touched by one worker at a time). Task statuses only
    move forward (pending -> running -> done/failed) or back to pending on resume, so unchanged status
    counts mean an unchanged task table: it is re-read only when they change. The latest finished
    task is read once, the failures only when a task ended."""

    counts: tuple | None = None
    tick: int = 0
    running: dict = field(default_factory=dict)  # task id -> RunningTask of the last refresh
    rows: list[TaskRow] = field(default_factory=list)
    version: int = 0  # bumped whenever ``rows`` changed
    latest_id: str | None = None
    latest: TaskRecord | None = None
    latest_band: Band | None = None
    ended_seen: int = -1
    failures_at: float = float("-inf")
    failures: list[Failure] = field(default_factory=list)


FAILURES_EVERY_S = 5.0  # StoreReader.failures() reads every task's reasons: throttled while live


@dataclass
class MonitorData:
    path: Path
    info: StoreInfo
    progress: Progress
    rows: list[TaskRow]
    rows_version: int
    running: list[RunningTask]
    focus: TaskRecord | None
    focus_band: Band | None
    latest: TaskRecord | None
    latest_band: Band | None
    failures: list[Failure]


def load_monitor(pool: StorePool, path: Path, focus_id: str | None, cache: MonitorCache) -> MonitorData:
    """One refresh of the live monitor: progress, running tasks with their streamed loss rows, the
    focused running task's partial loss and the latest finished task (both as quantile bands, computed
    here off the UI thread), and the failures. (Pooled rates come from the task rows; ``match_table``
    is not called here because its intervals import scipy.)"""
    with pool.reader(path) as r:
        info = r.info
        if not info.is_campaign:
            raise StoreError(f"{path.name} holds landscapes only, nothing to monitor")
        progress = r.progress()
        counts = (progress.total, progress.done, progress.failed, progress.running, progress.pending,
                  progress.running_members)
        if counts != cache.counts:
            cache.rows, cache.counts = r.tasks(), counts
            cache.version += 1
        rows = cache.rows
        running: list[RunningTask] = []
        focus: TaskRecord | None = None
        run_rows = [t for t in rows if t.status == "running"]
        if focus_id not in {t.task_id for t in run_rows}:
            focus_id = run_rows[0].task_id if run_rows else None
        cache.tick += 1
        for t in run_rows:
            known = cache.running.get(t.task_id)
            # the focused task every refresh; the others' step counters every other one (half the reads)
            if t.task_id == focus_id or known is None or cache.tick % 2 == 0:
                rec = r.task(t.task_id)
                loss = rec.partial_loss
                streamed = 0 if loss is None else int(np.asarray(loss).shape[0])
                known = RunningTask(t.task_id, streamed, rec.info.n_rows, rec.info.n_members, t.members_done)
                if t.task_id == focus_id:
                    focus = rec
            elif known.members_done != t.members_done:
                known = RunningTask(known.task_id, known.rows, known.max_rows, known.n_members, t.members_done)
            running.append(known)
        cache.running = {t.task_id: t for t in running}
        finished = [t for t in rows if t.status == "done" and np.isfinite(t.finished_at)]
        if finished:
            last = max(finished, key=lambda t: t.finished_at)
            if last.task_id != cache.latest_id:
                cache.latest_id, cache.latest = last.task_id, r.task(last.task_id)
                cache.latest_band = loss_band(cache.latest.result.loss) if cache.latest.result is not None else None
        ended = progress.done + progress.failed
        now = time.monotonic()
        if ended != cache.ended_seen and (not progress.live or now - cache.failures_at >= FAILURES_EVERY_S):
            cache.failures = r.failures()
            cache.ended_seen, cache.failures_at = ended, now
    focus_band = loss_band(focus.partial_loss) if focus is not None else None
    return MonitorData(path, info, progress, rows, cache.version, running, focus, focus_band, cache.latest,
                       cache.latest_band, cache.failures)


# --- run detail ------------------------------------------------------------------------------------
@dataclass
class DetailData:
    path: Path
    record: TaskRecord
    truth: StructureInfo | None
    preview_axis: np.ndarray | None  # degrees, the 2θ axis of init/final_pattern previews


def load_detail(pool: StorePool, path: Path, task_id: str) -> DetailData:
    """One task's record with its structure's ground truth and the 2θ axis of the previews."""
    with pool.reader(path) as r:
        rec = r.task(task_id)
        truth = r.structures().get(rec.info.structure)
        truth = None if truth is None else truth.in_cell(rec.info.cell)  # the cell the task optimised
        axis = np.asarray(r.preview_two_theta(), dtype=float) if rec.result is not None else None
        return DetailData(path, rec, truth, axis)


# --- landscapes --------------------------------------------------------------------------------------
def landscape_index(pool: StorePool, paths: list[Path]) -> dict[str, Path]:
    """Landscape key -> store file, over several stores (earlier paths win on duplicates)."""
    out: dict[str, Path] = {}
    for p in paths:
        try:
            with pool.reader(p) as r:
                for key in r.landscapes():
                    out.setdefault(key, p)
        except Exception:  # unreadable files are reported by the browser, not here
            continue
    return out


def load_landscape(pool: StorePool, path: Path, key: str) -> LandscapeRecord:
    with pool.reader(path) as r:
        return r.landscape(key)
