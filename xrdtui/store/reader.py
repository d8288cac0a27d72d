"""Read a store (live, while the writer runs): progress, task table, results, landscapes.

Only numpy and h5py are imported here (the CLI's ``status`` and the TUI's first screen use this).
``progress()`` and ``tasks()`` read the small /tasks and /progress columns only, never a trajectory.
"""

from __future__ import annotations

import functools
import os
import time
from pathlib import Path

import h5py
import numpy as np

from xrdtui.errors import ConfigError, StoreError
from xrdtui.store import layout as L
from xrdtui.store.integrity import is_corruption
from xrdtui.store.access import is_live, json_attr, open_checked, versions_of
from xrdtui.store.landscapes import list_landscapes, read_landscape
from xrdtui.store.skeleton import read_task_table
from xrdtui.vocab import HIERARCHY
from xrdtui.store.records import (
    DONE,
    FAILED,
    CellInfo,
    RUNNING,
    STATUS_NAMES,
    Failure,
    LandscapeRecord,
    MatchRow,
    Progress,
    StoreInfo,
    StructureInfo,
    TaskInfo,
    TaskRecord,
    TaskResult,
    TaskRow,
    pooled,
    pooled_strict,
)

GROUP_FIELDS = HIERARCHY


def _guard(method):
    """h5py failures while reading (a corrupt or truncated file) become one-line StoreErrors."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except (OSError, KeyError, RuntimeError, TypeError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise StoreError(f"cannot read {self._path}: {first}") from None

    return wrapper


class StoreReader:
    """Read-only view of a store, opened with ``swmr=True``; never modifies the file.

    ``progress()``, ``tasks()``, ``task()`` and ``failures()`` refresh the datasets they read, so each call
    sees the writer's latest flush. :meth:`refresh` also reopens the file when it was replaced on disk
    (a resume renames a fresh file over the old one). Raises ``StoreError`` (one line) for missing,
    non-HDF5, corrupt, foreign or newer-schema files and unknown tasks/landscapes.
    """

    def __init__(self, path: Path, f: h5py.File):
        # Use StoreReader.open().
        self._path = path
        self._f = f
        self._load_static()

    @classmethod
    def open(cls, path: str | Path) -> StoreReader:
        """Open a store for reading (use as a context manager)."""
        p = Path(path)
        f = open_checked(p)
        try:
            return cls(p, f)
        except StoreError:
            f.close()
            raise
        except (OSError, KeyError, RuntimeError, TypeError, ValueError) as exc:
            f.close()
            raise StoreError(f"cannot read {p}: corrupt store ({str(exc).splitlines()[0]})") from None

    def _load_static(self) -> None:
        f = self._f
        self._inode = _inode(self._path)
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
        seed = attrs.get(L.A_SEED)
        self._info = StoreInfo(
            path=str(self._path),
            kind=str(attrs.get(L.A_KIND, "")),
            schema=int(attrs[L.A_SCHEMA]),
            name=str(attrs.get(L.A_NAME, "")),
            created=str(attrs.get(L.A_CREATED, "")),
            config_text=str(attrs.get(L.A_CONFIG_TEXT, "")),
            config_hash=str(attrs.get(L.A_CONFIG_HASH, "")),
            xrdtui_version=str(attrs.get(L.A_XRDTUI_VERSION, "")),
            versions=versions_of(attrs),
            seed=None if seed is None else int(seed),
            conventions=json_attr(attrs, L.A_CONVENTIONS),
        )
        self._infos: list[TaskInfo] = read_task_table(f) if L.G_TASKS in f else []
        self._row = {t.task_id: i for i, t in enumerate(self._infos)}
        self._methods = np.array([t.method for t in self._infos])
        self._noises = np.array([t.noise for t in self._infos])
        self._n_members = np.array([t.n_members for t in self._infos], dtype=np.int64)
        self._progress = f[L.G_PROGRESS] if L.G_PROGRESS in f else None
        self._structures: dict[str, StructureInfo] | None = None

    # ---- refresh --------------------------------------------------------------------------------
    @_guard
    def refresh(self) -> None:
        """See the writer's latest data; reopen the file if it was replaced (resume)."""
        current = _inode(self._path)
        if current is not None and current != self._inode:
            new = open_checked(self._path)
            self._f.close()
            self._f = new
            self._load_static()
        else:
            self._f.attrs.get(L.A_FORMAT)  # raises if the file has become unreadable

    def _read(self, ds: h5py.Dataset, sel=Ellipsis) -> np.ndarray:
        if self._f.swmr_mode:
            ds.refresh()
        try:
            return ds[sel]
        except OSError as exc:
            if is_corruption(exc):
                raise StoreError(
                    f"{self._path}: {ds.name} is damaged (checksum/decompression failure); 'xrdtui verify "
                    f"{self._path}' lists the damage and 'xrdtui run CONFIG --store {self._path} --resume' "
                    "re-runs damaged tasks") from None
            raise

    def _col(self, name: str, sel=Ellipsis) -> np.ndarray:
        if name not in self._progress:  # a column newer than the store's schema: its fill value
            dtype, fill, _ = L.PROGRESS_COLUMNS[name]
            full = np.full(len(self._infos), fill, dtype=dtype)
            return full[sel]
        return self._read(self._progress[name], sel)

    # ---- campaign-level -------------------------------------------------------------------------
    @property
    def info(self) -> StoreInfo:
        return self._info

    @property
    def path(self) -> Path:
        return self._path

    @_guard
    def progress(self) -> Progress:
        """Counts by status, clock and rate; reads only the small /progress datasets."""
        n = len(self._infos)
        if self._progress is None or n == 0:
            nan = float("nan")
            return Progress(0, 0, 0, 0, 0, nan, nan, False, True, nan, nan)
        from xrdtui.store.progress import summarise

        clock = {c: self._col(c, 0) for c in L.CLOCK_COLUMNS if c in self._progress}
        now = time.time()
        live = is_live(int(clock[L.C_WRITER_STATE]), float(clock[L.C_HEARTBEAT]), clock.get(L.C_WRITER, b""), now)[0]
        columns = {c: self._col(c) for c in (L.P_STATUS, L.P_WALL_S, L.P_COST, L.P_MEMBERS_DONE, L.P_STARTED_AT)}
        return summarise(columns, clock, self._methods, self._n_members, now, live, self._noises)

    @_guard
    def tasks(self) -> list[TaskRow]:
        """One row per task (static table + live /progress columns; no trajectory is read)."""
        if not self._infos:
            return []
        c = {
            name: self._col(name)
            for name in (L.P_STATUS, L.P_N, L.P_K, L.P_RATE, L.P_LO, L.P_HI, L.P_WALL_S, L.P_FINISHED_AT,
                         L.P_K_STRICT, L.P_LO_STRICT, L.P_HI_STRICT, L.P_MEMBERS_DONE, L.P_STARTED_AT)
        }
        rows = []
        for i, t in enumerate(self._infos):
            rows.append(
                TaskRow(
                    task_id=t.task_id,
                    structure=t.structure,
                    noise=t.noise,
                    level=t.level,
                    method=t.method,
                    mode=t.mode,
                    status=STATUS_NAMES[int(c[L.P_STATUS][i])],
                    n=int(c[L.P_N][i]),
                    k=int(c[L.P_K][i]),
                    rate=float(c[L.P_RATE][i]),
                    lo=float(c[L.P_LO][i]),
                    hi=float(c[L.P_HI][i]),
                    wall_s=float(c[L.P_WALL_S][i]),
                    finished_at=float(c[L.P_FINISHED_AT][i]),
                    ks=int(c[L.P_K_STRICT][i]),
                    lo_s=float(c[L.P_LO_STRICT][i]),
                    hi_s=float(c[L.P_HI_STRICT][i]),
                    cell=t.cell,
                    members=t.n_members,
                    members_done=int(c[L.P_MEMBERS_DONE][i]),
                    started_at=float(c[L.P_STARTED_AT][i]),
                )
            )
        return rows

    # ---- one task -------------------------------------------------------------------------------
    @_guard
    def task(self, task_id: str) -> TaskRecord:
        """Info, status and, when done, the full arrays trimmed to ``max(n_steps) + 1`` rows;
        ``partial_loss`` [t,B] holds the rows streamed so far while the task runs."""
        i = self._index(task_id)
        info = self._infos[i]
        status = int(self._col(L.P_STATUS, i))
        reason = L.decode(self._col(L.P_REASON, i))
        g = self._f[L.run_path(task_id)]
        result = None
        partial = None
        if status == DONE:
            result = self._result(g, info, i)
        elif status == RUNNING:
            rows = int(self._col(L.P_LOSS_ROWS, i))
            if rows > 0:
                partial = self._read(g[L.R_LOSS], slice(0, rows))
        return TaskRecord(info=info, status=STATUS_NAMES[status], result=result, partial_loss=partial, reason=reason)

    def _result(self, g: h5py.Group, info: TaskInfo, i: int) -> TaskResult:
        member = {name: self._read(g[name]) if name in g else None for name in L.MEMBER_DATASETS}
        n_steps = member["n_steps"]
        rows = int(min(info.n_rows, (n_steps.max() if n_steps.size else 0) + 1))
        traj = {name: self._read(g[name], slice(0, rows)) for name in L.TRAJ_DATASETS if name in g}
        p = {c: self._col(c, i) for c in (L.P_WALL_S, L.P_WORKER, L.P_K, L.P_N, L.P_LO, L.P_HI, L.P_K_STRICT,
                                          L.P_LO_STRICT, L.P_HI_STRICT)}
        return TaskResult(
            loss=traj[L.R_LOSS],
            lattice=traj[L.R_LATTICE],
            frac=traj.get(L.R_FRAC),
            n_steps=n_steps,
            init_lattice=member["init_lattice"],
            init_frac=member["init_frac"],
            final_lattice=member["final_lattice"],
            final_frac=member["final_frac"],
            matched=member["matched"],
            rms=member["rms"],
            final_loss=member["final_loss"],
            final_similarity=member["final_similarity"],
            converged=member["converged"],
            failed=member["failed"],
            reasons=[L.decode(r) for r in member["reasons"]],
            init_pattern=member["init_pattern"],
            final_pattern=member["final_pattern"],
            wall_s=float(p[L.P_WALL_S]),
            worker=L.decode(p[L.P_WORKER]),
            k=int(p[L.P_K]),
            n=int(p[L.P_N]),
            lo=float(p[L.P_LO]),
            hi=float(p[L.P_HI]),
            recovered=member["recovered"],
            strict_rms=member["strict_rms"],
            length_error=member["length_error"],
            angle_error=member["angle_error"],
            site_error=member["site_error"],
            ks=int(p[L.P_K_STRICT]),
            lo_s=float(p[L.P_LO_STRICT]),
            hi_s=float(p[L.P_HI_STRICT]),
        )

    @_guard
    def members(self, task_id: str, names=None) -> dict[str, np.ndarray] | None:
        """The per-member arrays of a finished task (no trajectory is read: fast on a paper-size store);
        ``names`` picks some of ``layout.MEMBER_DATASETS`` (default all present). None unless done."""
        i = self._index(task_id)
        if int(self._col(L.P_STATUS, i)) != DONE:
            return None
        g = self._f[L.run_path(task_id)]
        wanted = L.MEMBER_DATASETS if names is None else names
        return {name: self._read(g[name]) for name in wanted if name in g}

    def _index(self, task_id: str) -> int:
        try:
            return self._row[task_id]
        except KeyError:
            raise StoreError(f"no task {task_id!r} in {self._path}") from None

    # ---- ground truths, axes --------------------------------------------------------------------
    @_guard
    def structures(self) -> dict[str, StructureInfo]:
        """Name -> ground truth (read once, cached)."""
        if self._structures is None:
            out = {}
            for name, g in (self._f[L.G_STRUCTURES].items() if L.G_STRUCTURES in self._f else ()):
                a = g.attrs
                out[name] = StructureInfo(
                    name=name,
                    species=[L.decode(s) for s in g[L.S_SPECIES][...]],
                    lattice=g[L.S_LATTICE][...],
                    frac=g[L.S_FRAC][...],
                    spacegroup_symbol=L.decode(a[L.SA_SG_SYMBOL]),
                    spacegroup_number=int(a[L.SA_SG_NUMBER]),
                    family=L.decode(a[L.SA_FAMILY]),
                    source=L.decode(a.get(L.SA_SOURCE, "")),
                    pattern=g[L.S_PATTERN][...],
                    two_theta=g[L.S_TWO_THETA][...],
                    cells={cell: CellInfo([L.decode(s) for s in cg[L.S_SPECIES][...]], cg[L.S_LATTICE][...],
                                          cg[L.S_FRAC][...])
                           for cell, cg in (g[L.S_CELLS].items() if L.S_CELLS in g else ())},
                )
            self._structures = out
        return self._structures

    @_guard
    def preview_two_theta(self) -> np.ndarray:
        """2θ axis (degrees) of the pattern previews."""
        return self._f[L.G_AXES][L.AX_PREVIEW][...]

    # ---- aggregates -----------------------------------------------------------------------------
    def match_table(self, group_by=("structure", "noise", "level", "method", "mode")) -> list[MatchRow]:
        """Pooled k/n over done tasks grouped by ``group_by`` (fields of the task id), with the 95%
        Jeffreys interval of the pooled proportion (xrdtui.engine.matching, scipy imported lazily); the
        strict recovery rate ks/ns beside it (NaN interval when no task of the group has it)."""
        group_by = tuple(group_by)
        bad = [g for g in group_by if g not in GROUP_FIELDS]
        if bad:
            raise ConfigError(f"cannot group by {', '.join(bad)}: choose from {', '.join(GROUP_FIELDS)}")
        groups: dict[tuple, list[TaskRow]] = {}
        for row in self.tasks():
            if row.status == STATUS_NAMES[DONE]:
                groups.setdefault(tuple(getattr(row, g) for g in group_by), []).append(row)
        from xrdtui.engine.matching import jeffreys_interval

        out = []
        for key in sorted(groups):
            k, n = pooled(groups[key])
            lo, hi = jeffreys_interval(k, n)
            ks, ns = pooled_strict(groups[key])
            lo_s, hi_s = jeffreys_interval(ks, ns) if ns else (float("nan"), float("nan"))
            out.append(MatchRow(key=key, k=k, n=n, rate=k / n if n else float("nan"), lo=lo, hi=hi,
                                tasks=len(groups[key]), ks=ks, ns=ns, lo_s=lo_s, hi_s=hi_s))
        return out

    @_guard
    def failures(self) -> list[Failure]:
        """Failed tasks (member -1) and failed members of done tasks, in store order."""
        if not self._infos:
            return []
        status = self._col(L.P_STATUS)
        reasons = self._col(L.P_REASON)
        out = []
        for i, t in enumerate(self._infos):
            if status[i] == FAILED:
                out.append(Failure(t.task_id, -1, L.decode(reasons[i])))
            elif status[i] == DONE:
                g = self._f[L.run_path(t.task_id)]
                failed = self._read(g["failed"])
                if failed.any():
                    member_reasons = self._read(g["reasons"])
                    out.extend(Failure(t.task_id, int(b), L.decode(member_reasons[b])) for b in np.flatnonzero(failed))
        return out

    # ---- landscapes ------------------------------------------------------------------------------
    @_guard
    def landscapes(self) -> list[str]:
        """Keys ``structure/objective/p1-p2`` of the stored landscapes."""
        return list_landscapes(self._f)

    @_guard
    def landscape(self, key: str) -> LandscapeRecord:
        return read_landscape(self._f, key)

    # ---- browsing --------------------------------------------------------------------------------
    @_guard
    def tree(self) -> dict:
        """The /runs hierarchy as nested dicts structure -> noise -> level text -> method -> mode ->
        status name (from the task table; no group is walked)."""
        status = self._col(L.P_STATUS) if self._infos else []
        out: dict = {}
        for t, s in zip(self._infos, status, strict=True):
            s_, n_, lv, m_, mo = t.task_id.split("/")
            out.setdefault(s_, {}).setdefault(n_, {}).setdefault(lv, {}).setdefault(m_, {})[mo] = STATUS_NAMES[int(s)]
        return out

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> StoreReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _inode(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)
