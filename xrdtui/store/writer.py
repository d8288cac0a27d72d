"""The single writer of a campaign store (HDF5 SWMR) and the atomic landscape appender.

One writer at a time: :class:`~xrdtui.store.lock.StoreLock` (flock on ``<name>.h5.lock``) is taken before
any file of the store is touched and held until the writer closes; a second writer is refused (exit 5).

Crash safety: the skeleton is built in a uniquely named temporary beside the store, switched to SWMR mode
and only then renamed over ``path`` (readers never see a half-built file, and none can hold a lock on it before the writer
is in SWMR mode). Every result is written and flushed *before* its status flips to done (second
flush), so after a ``kill -9`` every task marked done has all its arrays.
"""

from __future__ import annotations

import errno
import functools
import os
import shutil
import socket
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path

import h5py
import numpy as np

from xrdtui.errors import ConfigError, StoreError, StoreWriteFailed
from xrdtui.store import layout as L
from xrdtui.store.access import check_root, fsync_dir, fsync_path, open_checked, writer_liveness
from xrdtui.store.integrity import is_corruption
from xrdtui.store.landscapes import append_landscape
from xrdtui.store.lock import StoreLock, unique_temp
from xrdtui.store.records import DONE, FAILED, PENDING, RUNNING, STATUS_NAMES, StructureInfo, TaskInfo, TaskResult
from xrdtui.store.skeleton import (
    build_skeleton,
    create_task_group,
    read_task_table,
    root_attrs,
    validate_inputs,
    write_progress,
)

__all__ = ["StoreWriter", "append_landscape", "default_worker_name"]


def default_worker_name() -> str:
    """``host:pid`` of this process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _now() -> float:
    return time.time()


def _default_preview_axis() -> np.ndarray:
    return (np.arange(L.PREVIEW_POINTS) * L.PREVIEW_STEP).astype("f4")


def _check_replaceable(path: Path) -> None:
    """Only an xrdtui store that no sweep is writing may be overwritten; foreign, corrupt or newer
    files are left alone (StoreError)."""
    f = open_checked(path)
    try:
        if L.G_PROGRESS in f and L.C_WRITER_STATE in f[L.G_PROGRESS]:
            _refuse_if_live(f, path)
    finally:
        f.close()


RESERVE_BYTES = 16 * 1024 * 1024  # free space kept beside a store so closing it cleanly always fits


def _disk_full(exc: BaseException) -> bool:
    text = str(exc)
    return getattr(exc, "errno", None) == errno.ENOSPC or "errno = 28" in text or "No space left" in text


def _writes(method):
    """A failed HDF5 write leaves HDF5 unable to touch the file again: mark the writer broken (close() then
    only releases the lock) and raise one line (StoreWriteFailed)."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except (OSError, RuntimeError) as exc:
            if isinstance(exc, StoreError):
                raise
            self._broken = True
            what = "the disk is full" if _disk_full(exc) else f"write failed ({str(exc).splitlines()[0][:120]})"
            raise StoreWriteFailed(f"{what} while writing {self._path}; the store keeps its last flushed state")\
                from None

    return wrapper


class StoreWriter:
    """Writes one campaign store; only one writer per file.

    :meth:`create` pre-creates every task's groups and datasets and all attributes, then switches the
    file to SWMR mode; afterwards only existing datasets are written (and flushed), so readers opening
    with ``swmr=True`` see progress live and a ``kill -9`` leaves a readable file holding every task that
    finished. The runner must call :meth:`heartbeat` at least every ~2 s while the campaign runs (every
    write also bumps it); readers call a campaign live while the heartbeat is < 5 s old.
    """

    def __init__(self, path: Path, f: h5py.File, tasks: list[TaskInfo], lock: StoreLock | None = None):
        # Use create() / resume(); this takes an open file already in SWMR mode (and the store's lock).
        self._path = path
        self._lock = lock
        self._f = f
        self._tasks = tasks
        self._row = {t.task_id: i for i, t in enumerate(tasks)}
        self._p = {c: f[L.progress_path(c)] for c in (*L.PROGRESS_COLUMNS, *L.CLOCK_COLUMNS)}
        self._status = self._p[L.P_STATUS][...].astype(np.int8)
        self._loss_rows = self._p[L.P_LOSS_ROWS][...].astype(np.int64)
        self._closed = False
        self._broken = False
        self.damaged: list[str] = []  # done tasks a resume found damaged and set up again as pending

    # ---- opening ---------------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        path: str | Path,
        *,
        name: str,
        tasks: Sequence[TaskInfo],
        structures: Sequence[StructureInfo],
        config_text: str = "",
        config_hash: str = "",
        versions: Mapping[str, str] | None = None,
        seed: int = 0,
        preview_two_theta=None,
        overwrite: bool = False,
        conventions: Mapping[str, object] | None = None,
        kind: str = L.KIND_CAMPAIGN,
    ) -> StoreWriter:
        """Create a new store at ``path`` and return its writer, already in SWMR mode.

        ``versions`` maps package -> version (python, numpy, torch, pymatgen, h5py, chgnet...);
        ``conventions`` every setting that determines results, by table (JSON-serialisable);
        ``preview_two_theta`` [P] is the 2θ axis (degrees) of the pattern previews (default 0.0..89.9
        in 0.1° steps); ``kind`` the root attribute (``layout.TASK_KINDS``: a sweep, or ``xrdtui refine``'s
        refinement). StoreError if ``path`` exists (unless ``overwrite`` and it is an xrdtui store).
        """
        path = Path(path)
        tasks = list(tasks)
        validate_inputs(tasks, structures)
        if path.exists() and not overwrite:
            raise StoreError(f"store {path} already exists (resume it, or choose another name)")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create directory {path.parent}: {exc.strerror or exc}") from None
        lock = StoreLock(path, "creating").acquire()
        try:
            return cls._create_locked(path, lock, name=name, tasks=tasks, structures=structures,
                                      config_text=config_text, config_hash=config_hash, versions=versions, seed=seed,
                                      preview_two_theta=preview_two_theta, overwrite=overwrite, conventions=conventions,
                                      kind=kind)
        except BaseException:
            lock.release()
            raise

    @classmethod
    def _create_locked(cls, path: Path, lock: StoreLock, *, name, tasks, structures, config_text, config_hash,
                       versions, seed, preview_two_theta, overwrite, conventions, kind) -> StoreWriter:
        from xrdtui import __version__

        if path.exists():
            if not overwrite:
                raise StoreError(f"store {path} already exists (resume it, or choose another name)")
            _check_replaceable(path)
        axis = _default_preview_axis() if preview_two_theta is None else np.asarray(preview_two_theta, "f4")
        attrs = root_attrs(
            kind=kind,
            name=name,
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            config_text=config_text,
            config_hash=config_hash,
            xrdtui_version=__version__,
            versions=versions,
            seed=seed,
            conventions=conventions,
        )
        _require_room(path, RESERVE_BYTES + 65536 + 8192 * len(tasks)
                      + sum(np.asarray(st.pattern).nbytes * 2 for st in structures), f"to create {path}")
        tmp = unique_temp(path, "new")
        f = _new_file(tmp)
        try:
            build_skeleton(f, attrs, tasks, structures, axis, clock={L.C_STARTED: _now()})
            return cls._publish(f, tmp, path, tasks, done0=0, lock=lock)
        except BaseException as exc:
            _discard(f, tmp, exc, f"cannot create {path} (nothing was written)")
            raise

    @classmethod
    def resume(
        cls,
        path: str | Path,
        *,
        tasks: Sequence[TaskInfo] | None = None,
        config_hash: str | None = None,
    ) -> tuple[StoreWriter, set[str]]:
        """Reopen an interrupted store: copy its done tasks into a fresh file with the same skeleton,
        fsync, atomically replace the old file (kept under a backup name until success) and continue in
        SWMR mode. Returns ``(writer, done_task_ids)``; failed, running and pending tasks start over as
        pending. ``tasks`` / ``config_hash``, when given, must match the stored ones (ConfigError)."""
        path = Path(path)
        if not path.exists():
            open_checked(path)  # the one-line "no such store" error, before a lock file is made
        lock = StoreLock(path, "resuming").acquire()
        try:
            return cls._resume_locked(path, lock, tasks, config_hash)
        except BaseException:
            lock.release()
            raise

    @classmethod
    def _resume_locked(cls, path: Path, lock: StoreLock, tasks, config_hash) -> tuple[StoreWriter, set[str]]:
        old = open_checked(path)
        try:
            attrs = check_root(old, path)
            if attrs.get(L.A_KIND) != L.KIND_CAMPAIGN:
                raise StoreError(f"{path} is a {attrs.get(L.A_KIND)!r} store, not a campaign; nothing to resume")
            if int(attrs.get(L.A_SCHEMA, 0)) < L.SCHEMA:
                raise StoreError(f"{path} has store schema {attrs.get(L.A_SCHEMA)}, written by an older xrdtui; "
                                 "it can be read but not resumed: start a new store")
            if config_hash is not None and attrs.get(L.A_CONFIG_HASH, "") != config_hash:
                raise ConfigError(
                    f"configuration changed since {path} was created (hash {attrs.get(L.A_CONFIG_HASH)!r} "
                    f"!= {config_hash!r}); start a new store instead of resuming"
                )
            _refuse_if_live(old, path)
            stored = read_task_table(old)
            if tasks is not None and list(tasks) != stored:
                raise ConfigError(f"task list differs from the one stored in {path}; cannot resume")
            status = old[L.progress_path(L.P_STATUS)][...]
            _require_room(path, RESERVE_BYTES + 2 * path.stat().st_size, f"to resume {path} (it is copied)")
            tmp = unique_temp(path, "resume")
            f = _new_file(tmp)
            try:
                damaged = _copy_campaign(old, f, stored, status)
            except BaseException as exc:
                _discard(f, tmp, exc, f"cannot resume {path} (the store is unchanged)")
                raise
            done = {t.task_id for row, (t, s) in enumerate(zip(stored, status, strict=True))
                    if s == DONE and row not in damaged}
        except (OSError, KeyError, RuntimeError) as exc:
            raise StoreError(f"cannot resume {path}: {str(exc).splitlines()[0]}") from None
        finally:
            old.close()
        bak = None
        try:
            # The old file stays reachable under a backup name (hard link; copy where links fail) until success.
            bak = unique_temp(path, "bak")
            bak.unlink()
            try:
                os.link(path, bak)
            except OSError:
                shutil.copy2(path, bak)
            writer = cls._publish(f, tmp, path, stored, done0=len(done), lock=lock)
        except OSError as exc:
            if bak is not None:
                bak.unlink(missing_ok=True)
            _discard(f, tmp, exc, f"cannot resume {path} (the store is unchanged)")
            raise StoreError(f"cannot resume {path}: {exc.strerror or exc}") from None
        except BaseException as exc:
            _discard(f, tmp, exc, f"cannot resume {path} (the store is unchanged)")
            raise
        bak.unlink(missing_ok=True)
        writer.damaged = [stored[row].task_id for row in sorted(damaged)]
        return writer, done

    @classmethod
    def _publish(cls, f: h5py.File, tmp: Path, path: Path, tasks: list[TaskInfo], done0: int,
                 lock: StoreLock | None = None) -> StoreWriter:
        """Switch the finished skeleton to SWMR, fsync, and rename it over ``path`` atomically."""
        now = _now()
        p = f[L.G_PROGRESS]
        p[L.C_SESSION_STARTED][0] = now
        p[L.C_SESSION_DONE0][0] = done0
        p[L.C_HEARTBEAT][0] = now
        p[L.C_WRITER_STATE][0] = L.WS_WRITING
        p[L.C_WRITER][0] = L.encode(default_worker_name(), L.WORKER_BYTES)
        f.flush()
        f.swmr_mode = True
        f.flush()
        fsync_path(tmp)
        os.replace(tmp, path)
        fsync_dir(path)
        return cls(path, f, tasks, lock)

    # ---- queries --------------------------------------------------------------------------------
    @property
    def path(self) -> Path:
        return self._path

    @property
    def tasks(self) -> dict[str, TaskInfo]:
        """Task id -> TaskInfo, in store order."""
        return {t.task_id: t for t in self._tasks}

    @property
    def done_ids(self) -> set[str]:
        """Ids of tasks whose result is written."""
        return {t.task_id for t, s in zip(self._tasks, self._status, strict=True) if s == DONE}

    def status(self, task_id: str) -> str:
        """"pending" | "running" | "done" | "failed"."""
        return STATUS_NAMES[int(self._status[self._index(task_id)])]

    # ---- writes ---------------------------------------------------------------------------------
    def progress(self):
        """The campaign's Progress as a reader would see it (the sweep's own batch log uses it)."""
        from xrdtui.store.progress import summarise

        columns = {c: self._p[c][...] for c in (L.P_STATUS, L.P_WALL_S, L.P_COST, L.P_MEMBERS_DONE, L.P_STARTED_AT)}
        clock = {c: self._p[c][0] for c in L.CLOCK_COLUMNS}
        return summarise(columns, clock, np.array([t.method for t in self._tasks]),
                         np.array([t.n_members for t in self._tasks]), _now(), live=not self._closed,
                         noises=np.array([t.noise for t in self._tasks]))

    @_writes
    def set_plan(self, costs: Mapping[str, float], workers: int) -> None:
        """The expected relative cost of each task (the ETA's weights) and this session's worker count."""
        column = self._p[L.P_COST][...]
        for task_id, cost in costs.items():
            column[self._index(task_id)] = float(cost)
        self._p[L.P_COST][...] = column
        self._p[L.C_WORKERS][0] = int(workers)
        self._flush()

    @_writes
    def set_members_done(self, task_id: str, members: int) -> None:
        """Members of a running task finished so far (its member slices that came back)."""
        self._set(self._index(task_id), L.P_MEMBERS_DONE, int(members))
        self._flush()

    @_writes
    def mark_running(self, task_id: str) -> None:
        i = self._index(task_id)
        self._set(i, L.P_STARTED_AT, _now())
        self._set_status(i, RUNNING)
        self._flush()

    @_writes
    def write_partial_loss(self, task_id: str, rows_from: int, loss_rows) -> None:
        """Stream loss rows ``[t, B]`` of a running task into trajectory rows ``rows_from:rows_from+t``."""
        i = self._index(task_id)
        t = self._tasks[i]
        rows = np.asarray(loss_rows, dtype="f4")
        if rows.ndim == 1:
            rows = rows[None, :]
        end = int(rows_from) + rows.shape[0]
        if rows_from < 0 or end > t.n_rows or rows.shape[1:] != (t.n_members,):
            raise ValueError(f"{task_id}: loss rows {rows.shape} at {rows_from} do not fit [{t.n_rows},{t.n_members}]")
        if self._status[i] == DONE:
            raise ValueError(f"{task_id}: already done")
        self._f[L.run_path(task_id)][L.R_LOSS][rows_from:end] = rows
        if end > self._loss_rows[i]:
            self._loss_rows[i] = end
            self._set(i, L.P_LOSS_ROWS, end)
        self._flush()

    @_writes
    def write_result(self, task_id: str, result: TaskResult) -> None:
        """Write a finished task's arrays, flush, then mark it done and flush again."""
        i = self._index(task_id)
        t = self._tasks[i]
        if self._status[i] == DONE:
            raise ValueError(f"{task_id}: result already written")
        self._check_room(result)
        g = self._f[L.run_path(task_id)]
        n_rows = self._write_trajectories(g, t, result)
        for name, (dtype, kind, fill, _doc) in L.MEMBER_DATASETS.items():
            value = getattr(result, name)
            if value is None:  # a result without the strict metric: the fill value (False / NaN)
                value = np.full(g[name].shape, fill)
            if kind == "S":
                data = np.array([L.encode(r, L.REASON_BYTES) for r in value], dtype=dtype)
            else:
                data = np.asarray(value).astype(dtype, copy=False)
            ds = g[name]
            if data.shape != ds.shape:
                raise ValueError(f"{task_id}: {name} has shape {data.shape}, expected {ds.shape}")
            ds[...] = data
        for col, value in (
            (L.P_WALL_S, result.wall_s),
            (L.P_WORKER, L.encode(result.worker, L.WORKER_BYTES)),
            (L.P_K, result.k),
            (L.P_N, result.n),
            (L.P_RATE, result.rate),
            (L.P_LO, result.lo),
            (L.P_HI, result.hi),
            (L.P_K_STRICT, result.ks),
            (L.P_LO_STRICT, result.lo_s),
            (L.P_HI_STRICT, result.hi_s),
            (L.P_LOSS_ROWS, n_rows),
            (L.P_MEMBERS_DONE, t.n_members),
            (L.P_REASON, b""),  # a retried task that failed before
            (L.P_FINISHED_AT, _now()),
        ):
            self._set(i, col, value)
        self._loss_rows[i] = n_rows
        self._f.flush()  # data first ...
        self._set_status(i, DONE)  # ... then the flag that says it is there
        self._flush()

    def _write_trajectories(self, g: h5py.Group, t: TaskInfo, r: TaskResult) -> int:
        loss = np.asarray(r.loss, dtype="f4")
        n = loss.shape[0]
        shapes = {L.R_LOSS: (n, t.n_members), L.R_LATTICE: (n, t.n_members, 6), L.R_FRAC: (n, t.n_members, t.n_sites, 3)}
        arrays = {L.R_LOSS: loss, L.R_LATTICE: np.asarray(r.lattice, dtype="f4")}
        if t.traj_frac:
            if r.frac is None:
                raise ValueError(f"{t.task_id}: traj_frac is set but the result has no frac trajectory")
            arrays[L.R_FRAC] = np.asarray(r.frac, dtype="f4")
        if not 1 <= n <= t.n_rows:
            raise ValueError(f"{t.task_id}: {n} trajectory rows, expected 1..{t.n_rows}")
        for name, data in arrays.items():
            if data.shape != shapes[name]:
                raise ValueError(f"{t.task_id}: {name} has shape {data.shape}, expected {shapes[name]}")
            ds = g[name]
            ds[:n] = data
            stale = int(self._loss_rows[self._row[t.task_id]]) if name == L.R_LOSS else 0
            if stale > n:  # streamed partial rows beyond the final length go back to the fill value
                ds[n:stale] = np.nan
        return n

    @_writes
    def mark_failed(self, task_id: str, reason: str) -> None:
        """Record a task-level failure (reason cut to 120 bytes); the task is re-run on resume."""
        i = self._index(task_id)
        if self._status[i] == DONE:
            raise ValueError(f"{task_id}: result already written")
        self._set(i, L.P_REASON, L.encode(reason, L.REASON_BYTES))
        self._set(i, L.P_FINISHED_AT, _now())
        self._f.flush()
        self._set_status(i, FAILED)
        self._flush()

    @_writes
    def heartbeat(self) -> None:
        """Tell readers the writer is alive (call at least every ~2 s)."""
        self._check_open()
        self._p[L.C_HEARTBEAT][0] = _now()
        self._f.flush()

    @_writes
    def finish(self) -> None:
        """Mark the campaign finished (readers stop calling it live) and close."""
        self._check_open()
        self._p[L.C_FINISHED_AT][0] = _now()
        self._p[L.C_WRITER_STATE][0] = L.WS_FINISHED
        self._flush()
        self._f.close()
        self._closed = True
        self._release()

    def close(self) -> None:
        """Close; a campaign not finished is recorded as closed-unfinished (resumable). Idempotent.
        A broken writer (a failed HDF5 write) only releases its lock: HDF5 cannot close that file."""
        if self._closed:
            return
        self._closed = True
        if self._broken:
            self._release()
            return
        try:
            self._p[L.C_WRITER_STATE][0] = L.WS_CLOSED
            self._p[L.C_HEARTBEAT][0] = _now()
            self._f.flush()
        finally:
            try:
                self._f.close()
            finally:
                self._release()

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- helpers --------------------------------------------------------------------------------
    def _index(self, task_id: str) -> int:
        self._check_open()
        try:
            return self._row[task_id]
        except KeyError:
            raise ValueError(f"unknown task {task_id!r}") from None

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"store writer for {self._path} is closed")

    def _set(self, i: int, col: str, value) -> None:
        self._p[col][i] = value

    def _set_status(self, i: int, code: int) -> None:
        self._status[i] = code
        self._p[L.P_STATUS][i] = code

    def _check_room(self, result: TaskResult) -> None:
        """Refuse (one line, nothing written) when the disk beside the store could not hold this result
        uncompressed plus RESERVE_BYTES: stopping here leaves a store that closes and resumes cleanly."""
        need = sum(np.asarray(v).nbytes for v in (result.loss, result.lattice, result.frac, result.init_pattern,
                                                  result.final_pattern) if v is not None) + RESERVE_BYTES
        _require_room(self._path, need, "to write a result; stopped before writing it")

    def _flush(self) -> None:
        self._p[L.C_HEARTBEAT][0] = _now()
        self._f.flush()


# ---- module helpers ------------------------------------------------------------------------------
def _new_file(tmp: Path) -> h5py.File:
    """An HDF5 file on ``tmp``, a temporary this process created (unique_temp)."""
    try:
        return h5py.File(str(tmp), "w", libver=L.LIBVER)
    except OSError as exc:
        raise StoreError(f"cannot create {tmp}: {str(exc).splitlines()[0]}") from None


def _require_room(path: Path, need: int, what: str) -> None:
    """StoreError unless the disk beside ``path`` has ``need`` bytes free: HDF5 must never meet a full disk
    (after a failed write it can neither flush nor close the file)."""
    free = shutil.disk_usage(path.parent if path.parent.exists() else Path.cwd()).free
    if free < need:
        raise StoreError(f"the disk is nearly full: {free / 1e6:.1f} MB free beside {path}, ~{need / 1e6:.1f} MB "
                         f"needed {what}")


def _discard(f: h5py.File, tmp: Path, exc: BaseException | None = None, what: str = "") -> None:
    """Remove a temporary this process created. After a failed write (a full disk) HDF5 cannot close
    the file without crashing, so it is only unlinked and StoreWriteFailed raised in place of ``exc``."""
    if exc is not None and isinstance(exc, (OSError, RuntimeError)) and (
            _disk_full(exc) or "write failed" in str(exc)):
        tmp.unlink(missing_ok=True)
        reason = "the disk is full" if _disk_full(exc) else "a write failed"
        raise StoreWriteFailed(f"{reason}: {what}") from None
    try:
        f.close()
    finally:
        tmp.unlink(missing_ok=True)


def _refuse_if_live(f: h5py.File, path: Path) -> None:
    live, age = writer_liveness(f[L.G_PROGRESS])
    if live:
        raise StoreError(f"{path} is being written by another process (heartbeat {age:.1f} s ago)")


def _copy_campaign(old: h5py.File, new: h5py.File, tasks: list[TaskInfo], status: np.ndarray) -> set[int]:
    """Same skeleton as ``old`` with its done tasks copied by value (so a store written by an older HDF5
    format or without checksums comes out in today's format, checksummed). A done task whose data no longer
    reads back (checksum or decompression failure) is not copied but set up again as pending; returns
    the rows of those damaged tasks."""
    for k, v in old.attrs.items():
        new.attrs[k] = v
    for grp in (L.G_TASKS, L.G_STRUCTURES, L.G_AXES, L.G_LANDSCAPES):
        if grp in old:
            _copy_node(old[grp], new, grp)
    n_preview = new[f"/{L.G_AXES}/{L.AX_PREVIEW}"].shape[0]
    new.require_group(L.G_RUNS)
    done = status == DONE
    damaged: set[int] = set()
    for row, t in enumerate(tasks):
        parent, _, leaf = L.run_path(t.task_id).rpartition("/")
        if done[row]:
            try:
                _copy_node(old[L.run_path(t.task_id)], new.require_group(parent), leaf)
                continue
            except (OSError, KeyError, RuntimeError) as exc:
                if not is_corruption(exc):
                    raise
                damaged.add(row)
                done[row] = False
                dst = new.require_group(parent)
                if leaf in dst:
                    del dst[leaf]
        create_task_group(new, t, row, n_preview)
    clock = {L.C_STARTED: float(old[L.progress_path(L.C_STARTED)][0])}
    write_progress(new, len(tasks), clock)
    for col in L.PROGRESS_COLUMNS:
        if L.progress_path(col) not in old:  # a column newer than the old store: its fill value
            continue
        src = old[L.progress_path(col)][...]
        dst = new[L.progress_path(col)]
        fresh = dst[...]
        fresh[done] = src[done]
        if col == L.P_STATUS:
            fresh[~done] = PENDING
        dst[...] = fresh
    return damaged


def _copy_node(src: h5py.Group | h5py.Dataset, parent: h5py.Group, name: str) -> None:
    """Copy a group or dataset by value with its attributes, chunking and compression, adding the checksum
    filter; raises OSError when a source chunk fails its own checksum."""
    if isinstance(src, h5py.Group):
        g = parent.create_group(name)
        for key in src:
            _copy_node(src[key], g, key)
        obj = g
    else:
        data = src[()]
        kw = {}
        if src.shape:  # scalars cannot be chunked or filtered
            kw = {"chunks": src.chunks or True, "maxshape": src.maxshape, "compression": src.compression,
                  "compression_opts": src.compression_opts, "shuffle": src.shuffle, **L.CHECKSUM}
        obj = parent.create_dataset(name, data=data, dtype=src.dtype, fillvalue=src.fillvalue, **kw)
    for k, v in src.attrs.items():
        obj.attrs[k] = v
