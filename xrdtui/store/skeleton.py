"""Create the whole skeleton of a campaign store before SWMR mode: every group, dataset and attribute.

SWMR cannot create objects or attributes later, so every task's datasets exist (chunked, NaN/zero
filled, nothing allocated until written) before the writer switches the file to SWMR mode.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import h5py
import numpy as np

from xrdtui.store import layout as L
from xrdtui.store.records import STATUS_NAMES, StructureInfo, TaskInfo


def root_attrs(
    *,
    kind: str,
    name: str,
    created: str,
    config_text: str = "",
    config_hash: str = "",
    xrdtui_version: str = "",
    versions: Mapping[str, str] | None = None,
    seed: int | None = None,
    conventions: Mapping[str, object] | None = None,
) -> dict:
    """The self-describing root attributes of a new store."""
    attrs = {
        L.A_FORMAT: L.FORMAT,
        L.A_SCHEMA: np.int64(L.SCHEMA),
        L.A_KIND: kind,
        L.A_NAME: name,
        L.A_CREATED: created,
        L.A_CONFIG_TEXT: config_text,
        L.A_CONFIG_HASH: config_hash,
        L.A_XRDTUI_VERSION: xrdtui_version,
        L.A_VERSIONS: json.dumps({str(k): str(v) for k, v in (versions or {}).items()}, sort_keys=True),
        L.A_UNITS: L.root_units_json(),
        L.A_STATUS_CODES: json.dumps({str(k): v for k, v in STATUS_NAMES.items()}),
        L.A_CONVENTIONS: json.dumps(dict(conventions or {}), sort_keys=True),
        L.A_DESCRIPTION: (
            "xrdtui store: recovery of crystal structures from powder XRD by gradient descent. "
            "/tasks = task table, /progress = live per-task state, /runs/<structure>/<noise>/<level>/"
            "<method>/<mode> = per-task arrays, /structures = ground truths, /landscapes = loss slices."
        ),
    }
    if seed is not None:
        attrs[L.A_SEED] = np.int64(seed)
    return attrs


def _bytes_column(values: Sequence[str]) -> np.ndarray:
    enc = [str(v).encode("utf-8") for v in values]
    width = max([1, *(len(b) for b in enc)])
    return np.array(enc, dtype=f"S{width}")


def write_task_table(f: h5py.File, tasks: Sequence[TaskInfo]) -> None:
    g = f.create_group(L.G_TASKS)
    for col in L.TASK_COLUMNS:
        values = [getattr(t, col) for t in tasks]
        if col in L.TASK_STR_COLUMNS:
            g.create_dataset(col, data=_bytes_column(values), **L.CHECKSUM)
        else:
            g.create_dataset(col, data=np.asarray(values, dtype=L.TASK_NUM_DTYPES[col]).reshape(len(tasks)),
                             **L.CHECKSUM)
    g.attrs[L.A_DOC] = "static task table; row i describes task i (task_id = path below /runs)"


def read_task_table(f: h5py.File) -> list[TaskInfo]:
    """The TaskInfos of ``write_task_table``, in store order."""
    g = f[L.G_TASKS]
    n = len(g["task_id"])
    cols = {c: g[c][...] if c in g else np.array([L.TASK_DEFAULTS[c]] * n) for c in L.TASK_COLUMNS}
    return [
        TaskInfo(
            L.decode(cols["task_id"][i]),
            L.decode(cols["structure"][i]),
            L.decode(cols["noise"][i]),
            float(cols["level"][i]),
            L.decode(cols["method"][i]),
            L.decode(cols["mode"][i]),
            int(cols["n_members"][i]),
            int(cols["n_sites"][i]),
            int(cols["max_steps"][i]),
            bool(cols["traj_frac"][i]),
            int(cols["seed"][i]),
            L.decode(cols["cell"][i]),
        )
        for i in range(len(cols["task_id"]))
    ]


def write_progress(f: h5py.File, n_tasks: int, clock: Mapping[str, object] | None = None) -> None:
    g = f.create_group(L.G_PROGRESS)
    for col, (dtype, fill, doc) in L.PROGRESS_COLUMNS.items():
        ds = g.create_dataset(col, shape=(n_tasks,), dtype=dtype, chunks=(max(n_tasks, 1),), fillvalue=fill,
                               **L.CHECKSUM)
        ds.attrs[L.A_DOC] = doc
    for col, (dtype, fill, doc) in L.CLOCK_COLUMNS.items():
        value = (clock or {}).get(col, fill)
        ds = g.create_dataset(col, data=np.array([value], dtype=dtype), chunks=(1,), maxshape=(1,), **L.CHECKSUM)
        ds.attrs[L.A_DOC] = doc


def write_structures(f: h5py.File, structures: Sequence[StructureInfo]) -> None:
    g = f.create_group(L.G_STRUCTURES)
    for s in structures:
        L.check_name("structure", s.name)
        sg = g.create_group(s.name)
        sg.create_dataset(L.S_SPECIES, data=_bytes_column(list(s.species)), **L.CHECKSUM)
        d = sg.create_dataset(L.S_LATTICE, data=np.asarray(s.lattice, dtype="f8").reshape(6), **L.CHECKSUM)
        d.attrs[L.A_UNIT] = L.UNITS_DOC["lattice"]
        d = sg.create_dataset(L.S_FRAC, data=np.asarray(s.frac, dtype="f8").reshape(-1, 3), **L.CHECKSUM)
        d.attrs[L.A_UNIT] = L.UNITS_DOC["frac"]
        d = sg.create_dataset(L.S_PATTERN, data=np.asarray(s.pattern, dtype="f4"), **L.COMPRESSION)
        d.attrs[L.A_UNIT] = "intensity normalised to max 1"
        d = sg.create_dataset(L.S_TWO_THETA, data=np.asarray(s.two_theta, dtype="f4"), **L.COMPRESSION)
        d.attrs[L.A_UNIT] = L.UNITS_DOC["two_theta"]
        sg.attrs[L.SA_SG_SYMBOL] = str(s.spacegroup_symbol)
        sg.attrs[L.SA_SG_NUMBER] = np.int64(s.spacegroup_number)
        sg.attrs[L.SA_FAMILY] = str(s.family)
        sg.attrs[L.SA_SOURCE] = str(s.source)
        for cell, info in s.cells.items():
            cg = sg.create_group(f"{L.S_CELLS}/{L.check_name('cell', cell)}")
            cg.create_dataset(L.S_SPECIES, data=_bytes_column(list(info.species)), **L.CHECKSUM)
            d = cg.create_dataset(L.S_LATTICE, data=np.asarray(info.lattice, dtype="f8").reshape(6), **L.CHECKSUM)
            d.attrs[L.A_UNIT] = L.UNITS_DOC["lattice"]
            d = cg.create_dataset(L.S_FRAC, data=np.asarray(info.frac, dtype="f8").reshape(-1, 3), **L.CHECKSUM)
            d.attrs[L.A_UNIT] = L.UNITS_DOC["frac"]


def write_axes(f: h5py.File, preview_two_theta: np.ndarray) -> None:
    g = f.create_group(L.G_AXES)
    d = g.create_dataset(L.AX_PREVIEW, data=np.asarray(preview_two_theta, dtype="f4"), **L.CHECKSUM)
    d.attrs[L.A_UNIT] = L.UNITS_DOC["two_theta"]


def member_shape(kind: str, t: TaskInfo, n_preview: int) -> tuple[int, ...]:
    b = t.n_members
    return {"": (b,), "S": (b,), "6": (b, 6), "N3": (b, t.n_sites, 3), "P": (b, n_preview)}[kind]


def traj_shape(name: str, t: TaskInfo) -> tuple[int, ...]:
    return {
        L.R_LOSS: (t.n_rows, t.n_members),
        L.R_LATTICE: (t.n_rows, t.n_members, 6),
        L.R_FRAC: (t.n_rows, t.n_members, t.n_sites, 3),
    }[name]


def create_task_group(f: h5py.File, t: TaskInfo, row: int, n_preview: int) -> h5py.Group:
    """The group of one task with all its (empty) datasets."""
    g = f.create_group(L.run_path(t.task_id))
    g.attrs[L.RA_TASK_ID] = t.task_id
    g.attrs[L.RA_ROW] = np.int64(row)
    for name in L.TRAJ_DATASETS:
        if name == L.R_FRAC and not t.traj_frac:
            continue
        shape = traj_shape(name, t)
        ds = g.create_dataset(
            name, shape=shape, dtype="f4", chunks=L.traj_chunks(shape), fillvalue=np.nan, **L.COMPRESSION
        )
        ds.attrs[L.A_UNIT] = L.TRAJ_UNITS[name]
    for name, (dtype, kind, fill, doc) in L.MEMBER_DATASETS.items():
        shape = member_shape(kind, t, n_preview)
        extra = L.COMPRESSION if kind in ("N3", "P") else L.CHECKSUM
        ds = g.create_dataset(name, shape=shape, dtype=dtype, chunks=shape, fillvalue=fill, **extra)
        ds.attrs[L.A_UNIT] = doc
    return g


def validate_inputs(tasks: Sequence[TaskInfo], structures: Sequence[StructureInfo]) -> None:
    """Programming errors in the caller's task list (the runner builds it) raise ValueError."""
    from xrdtui.store.layout import task_id

    if not tasks:
        raise ValueError("a campaign store needs at least one task")
    seen: set[str] = set()
    n_sites = {s.name: np.asarray(s.frac).reshape(-1, 3).shape[0] for s in structures}
    cell_sites = {(s.name, c): len(info.species) for s in structures for c, info in s.cells.items()}
    for t in tasks:
        canonical = task_id(t.structure, t.noise, t.level, t.method, t.mode)
        if t.task_id != canonical:
            raise ValueError(f"task_id {t.task_id!r} is not the hierarchy path {canonical!r}")
        if t.task_id in seen:
            raise ValueError(f"duplicate task {t.task_id!r}")
        seen.add(t.task_id)
        if t.structure not in n_sites:
            raise ValueError(f"task {t.task_id!r}: structure {t.structure!r} missing from structures")
        want = cell_sites.get((t.structure, t.cell), n_sites[t.structure])
        if t.n_sites != want:
            raise ValueError(f"task {t.task_id!r}: n_sites {t.n_sites} != {want} of structure ({t.cell} cell)")
        if t.n_members < 1 or t.max_steps < 0:
            raise ValueError(f"task {t.task_id!r}: need n_members >= 1 and max_steps >= 0")


def build_skeleton(
    f: h5py.File,
    attrs: Mapping[str, object],
    tasks: Sequence[TaskInfo],
    structures: Sequence[StructureInfo],
    preview_two_theta: np.ndarray,
    clock: Mapping[str, object] | None = None,
    skip_groups: set[str] = frozenset(),
) -> None:
    """Write root attributes, tables, structures, axes and every task group except ``skip_groups``."""
    for k, v in attrs.items():
        f.attrs[k] = v
    write_task_table(f, tasks)
    write_progress(f, len(tasks), clock)
    write_structures(f, structures)
    write_axes(f, preview_two_theta)
    f.require_group(L.G_RUNS)
    for row, t in enumerate(tasks):
        if t.task_id not in skip_groups:
            create_task_group(f, t, row, len(preview_two_theta))
