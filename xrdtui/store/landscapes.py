"""Landscape slices in a store: atomic append (copy to temp, write, fsync, rename) and reading back.

Stored under /landscapes/<structure>/<objective>/<p1>-<p2>/ (names in layout.py). The original file is
never opened for writing: a crash or an exception at any point leaves it exactly as it was.
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timezone
from pathlib import Path

import h5py
import numpy as np

from xrdtui.errors import StoreError
from xrdtui.store import layout as L
from xrdtui.store.lock import StoreLock, unique_temp
from xrdtui.store.access import fsync_dir, fsync_path, open_checked, read_superblock, writer_liveness
from xrdtui.store.records import LandscapeMinimum, LandscapePath, LandscapeRecord

LOCK_WAIT_S = 30.0  # another append takes seconds: wait for it (a campaign writer is refused at once)
APPENDING = "appending a landscape"


def append_landscape(path: str | Path, record: LandscapeRecord, *, replace: bool = False) -> str:
    """Add ``record`` to the store at ``path`` atomically and return its key.

    Creates a store of kind "landscapes" when ``path`` does not exist. StoreError when the store is
    invalid, is being written live, or already holds this key (unless ``replace``).
    """
    path = Path(path)
    key = L.landscape_key(record.structure, record.objective, record.p1, record.p2)
    _validate(record)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create directory {path.parent}: {exc.strerror or exc}") from None
    # The store's writer lock (the same one a campaign writer holds): a short wait lets two appenders
    # take turns; a live campaign keeps it for hours and is refused.
    with StoreLock(path, APPENDING).acquire(wait_s=LOCK_WAIT_S, wait_for=(APPENDING,)):
        tmp = unique_temp(path, "landscape")
        try:
            if path.exists():
                _copy_for_update(path, tmp, key, replace)
                f = h5py.File(str(tmp), "r+")
            else:
                f = h5py.File(str(tmp), "w", libver=L.LIBVER)
                _init_landscape_store(f)
            with f:
                if key in f.get(L.G_LANDSCAPES, {}):
                    del f[L.landscape_path(key)]
                write_landscape(f, key, record)
            fsync_path(tmp)
            os.replace(tmp, path)
            fsync_dir(path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    return key


def _copy_for_update(path: Path, tmp: Path, key: str, replace: bool) -> None:
    """Copy ``path`` to ``tmp`` after checking it is ours, not being written, and free of ``key``."""
    src = open_checked(path)
    try:
        p = src.get(L.G_PROGRESS)
        if p is not None and L.C_WRITER_STATE in p and writer_liveness(p)[0]:
            raise StoreError(f"{path} is being written by a sweep; add landscapes after it finishes")
        if not replace and L.landscape_path(key) in src:
            raise StoreError(f"{path} already holds landscape {key} (use replace to overwrite it)")
    finally:
        src.close()
    if not _writer_flag_set(path):
        shutil.copyfile(path, tmp)
        return
    # A crashed SWMR writer left consistency flags that forbid opening a byte copy for writing:
    # rebuild the file object by object instead (raw chunks are copied, not recompressed).
    src = open_checked(path)
    try:
        with h5py.File(str(tmp), "w", libver=L.LIBVER) as dst:
            for k, v in src.attrs.items():
                dst.attrs[k] = v
            for name in src:
                src.copy(src[name], dst, name=name)
    finally:
        src.close()


def _writer_flag_set(path: Path) -> bool:
    """True when the superblock says a writer has the file open (or crashed with it open)."""
    return bool((read_superblock(path) or {}).get("flags", 0) & 0x05)


def _init_landscape_store(f: h5py.File) -> None:
    from xrdtui import __version__
    from xrdtui.store.skeleton import root_attrs

    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    for k, v in root_attrs(kind=L.KIND_LANDSCAPES, name="landscapes", created=created, xrdtui_version=__version__).items():
        f.attrs[k] = v


def _validate(r: LandscapeRecord) -> None:
    n1, n2 = np.asarray(r.axis1).shape, np.asarray(r.axis2).shape
    grid = np.asarray(r.grid)
    if len(n1) != 1 or len(n2) != 1 or grid.shape != (n1[0], n2[0]):
        raise ValueError(f"landscape grid {grid.shape} does not match axes {n1} x {n2}")
    if np.asarray(r.truth).shape != (6,):
        raise ValueError("landscape truth must be 6 lattice parameters")
    pats = np.asarray(r.minima_patterns)
    if pats.ndim != 2 or pats.shape[0] != len(r.minima) or pats.shape[1] != np.asarray(r.two_theta).shape[0]:
        raise ValueError(f"minima_patterns {pats.shape} must be [{len(r.minima)}, len(two_theta)]")
    for p in r.paths:
        if np.asarray(p.points).ndim != 2 or np.asarray(p.points).shape[1] != 2 or np.asarray(p.start).shape != (2,):
            raise ValueError("landscape path points must be [S,2] and start [2]")


def write_landscape(f: h5py.File, key: str, r: LandscapeRecord) -> None:
    """Create the group of one landscape (file opened for writing, not SWMR)."""
    g = f.require_group(L.landscape_path(key))
    g.attrs[L.LA_STRUCTURE] = r.structure
    g.attrs[L.LA_OBJECTIVE] = r.objective
    g.attrs[L.LA_P1] = r.p1
    g.attrs[L.LA_P2] = r.p2
    for k, v in r.attrs.items():
        g.attrs[L.LA_SETTINGS_PREFIX + str(k)] = str(v) if isinstance(v, str) else v
    d = g.create_dataset(L.L_AXIS1, data=np.asarray(r.axis1, dtype="f8"), **L.CHECKSUM)
    d.attrs[L.A_UNIT] = r.unit1
    d = g.create_dataset(L.L_AXIS2, data=np.asarray(r.axis2, dtype="f8"), **L.CHECKSUM)
    d.attrs[L.A_UNIT] = r.unit2
    d = g.create_dataset(L.L_GRID, data=np.asarray(r.grid, dtype="f4"), **L.COMPRESSION)
    d.attrs[L.A_DOC] = f"objective {r.objective}; grid[i, j] at {L.L_AXIS1}[i], {L.L_AXIS2}[j]"
    d = g.create_dataset(L.L_TRUTH, data=np.asarray(r.truth, dtype="f8"), **L.CHECKSUM)
    d.attrs[L.A_UNIT] = L.UNITS_DOC["lattice"]
    table = np.array([(m.rank, m.i, m.j, m.p1, m.p2, m.value, m.depth) for m in r.minima], dtype=L.MINIMA_DTYPE)
    d = g.create_dataset(L.L_MINIMA, data=table, **L.CHECKSUM)
    d.attrs[L.A_DOC] = "ranked local minima: grid indices i, j; p1, p2 in axis units; objective value; depth"
    d = g.create_dataset(L.L_MINIMA_PATTERNS, data=np.asarray(r.minima_patterns, dtype="f4"), **L.COMPRESSION)
    d.attrs[L.A_DOC] = "pattern at each minimum (max 1), rows in minima order"
    d = g.create_dataset(L.L_TWO_THETA, data=np.asarray(r.two_theta, dtype="f4"), **L.CHECKSUM)
    d.attrs[L.A_UNIT] = L.UNITS_DOC["two_theta"]
    pg = g.create_group(L.L_PATHS)
    for n, p in enumerate(r.paths):
        sg = pg.create_group(f"{n:03d}")
        sg.attrs[L.LA_MODE] = str(p.mode)  # plain str: h5py cannot store a str subclass (an enum member)
        sg.attrs[L.LA_FINAL_LOSS] = float(p.final_loss)
        sg.create_dataset(L.L_POINTS, data=np.asarray(p.points, dtype="f8"), **L.CHECKSUM)
        sg.create_dataset(L.L_START, data=np.asarray(p.start, dtype="f8"), **L.CHECKSUM)


def list_landscapes(f: h5py.File) -> list[str]:
    """Keys ``structure/objective/p1-p2`` of all landscapes in an open store, sorted."""
    if L.G_LANDSCAPES not in f:
        return []
    keys = []
    root = f[L.G_LANDSCAPES]
    for s in root:
        for o in root[s]:
            for pair in root[s][o]:
                keys.append(f"{s}/{o}/{pair}")
    return sorted(keys)


def read_landscape(f: h5py.File, key: str) -> LandscapeRecord:
    """The record stored under ``key``; StoreError if absent."""
    path = L.landscape_path(key)
    if path not in f:
        raise StoreError(f"no landscape {key!r} in {f.filename}")
    g = f[path]
    a = g.attrs
    settings = {
        k[len(L.LA_SETTINGS_PREFIX) :]: _plain(v) for k, v in a.items() if k.startswith(L.LA_SETTINGS_PREFIX)
    }
    minima = [
        LandscapeMinimum(int(m["rank"]), int(m["i"]), int(m["j"]), float(m["p1"]), float(m["p2"]), float(m["value"]), float(m["depth"]))
        for m in g[L.L_MINIMA][...]
    ]
    paths = []
    for n in sorted(g[L.L_PATHS]):
        sg = g[L.L_PATHS][n]
        paths.append(
            LandscapePath(
                _plain(sg.attrs[L.LA_MODE]), sg[L.L_POINTS][...], sg[L.L_START][...], float(sg.attrs[L.LA_FINAL_LOSS])
            )
        )
    return LandscapeRecord(
        structure=_plain(a[L.LA_STRUCTURE]),
        objective=_plain(a[L.LA_OBJECTIVE]),
        p1=_plain(a[L.LA_P1]),
        p2=_plain(a[L.LA_P2]),
        axis1=g[L.L_AXIS1][...],
        axis2=g[L.L_AXIS2][...],
        unit1=_plain(g[L.L_AXIS1].attrs[L.A_UNIT]),
        unit2=_plain(g[L.L_AXIS2].attrs[L.A_UNIT]),
        grid=g[L.L_GRID][...],
        truth=g[L.L_TRUTH][...],
        minima=minima,
        minima_patterns=g[L.L_MINIMA_PATTERNS][...],
        two_theta=g[L.L_TWO_THETA][...],
        paths=paths,
        attrs=settings,
    )


def _plain(v):
    if isinstance(v, bytes):
        return v.decode("utf-8", errors="replace")
    if isinstance(v, np.generic):
        return v.item()
    return v


__all__ = ["append_landscape", "list_landscapes", "read_landscape", "write_landscape"]
