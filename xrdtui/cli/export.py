"""Getting results out of a store: tidy CSV tables (per member, per task, per step, per step and site) with
a data dictionary of every column (unit and meaning), the campaign's conventions as JSON, and structures
as CIF or POSCAR files.

The dictionary below (:data:`TABLES`) is the single home of the column names: the writers emit exactly
these columns in this order, ``xrdtui export --describe`` prints them and ``docs/DATA.md`` repeats them.
"""

from __future__ import annotations

import csv
import fnmatch
import math
import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from xrdtui.errors import OutputError, StoreError
from xrdtui.vocab import PARAM_NAMES

ENERGY_UNIT = "eV/atom"


@dataclass(frozen=True)
class Column:
    """One CSV column: its name, unit ("" for labels and counts) and meaning."""

    name: str
    unit: str
    meaning: str


_LENGTH, _ANGLE = "Å", "degrees"


def _lattice_columns(prefix: str, what: str) -> list[Column]:
    return [Column(f"{prefix}{p}", _LENGTH if i < 3 else _ANGLE, f"{what}: lattice parameter {p}")
            for i, p in enumerate(PARAM_NAMES)]


_TASK_KEY = [
    Column("campaign", "", "campaign name (the experiment's `name`)"),
    Column("task", "", "task id structure/noise/level/method/mode (the level with at least 3 decimals)"),
    Column("structure", "", "ground-truth structure name"),
    Column("noise", "", "distortion type: lattice (strain L~ = S·L) or coords (Gaussian noise on fractional "
           "coordinates)"),
    Column("level", "dimensionless", "noise level σ (strain amplitude, or fractional-coordinate standard deviation)"),
    Column("method", "", "recovery method (xrdtui methods lists them)"),
    Column("mode", "", "descent mode (free, projected, free-from-projected-init), relax, or start (baseline)"),
    Column("cell", "", "the cell the task distorted and optimised: conventional, primitive or niggli"),
]

MEMBER_TABLE = [
    *_TASK_KEY,
    Column("seed", "", "the campaign's distortion seed (member i's start depends on seed, structure, noise, level)"),
    Column("member", "", "index of the distorted start within the task (0-based)"),
    Column("matched", "0/1", "1 when StructureMatcher (the paper's ltol 0.1, stol 0.2, angle_tol 5°) matches the "
           "ground truth"),
    Column("rms", "dimensionless", "StructureMatcher's normalised RMS displacement of a match (empty when unmatched)"),
    Column("recovered", "0/1", "1 when the strict matcher ([strict]: ltol 0.02, stol 0.1, 1°, no scaling) matches "
           "(empty in stores without it)"),
    Column("strict_rms", "dimensionless", "the strict matcher's normalised RMS displacement (empty when not "
           "recovered)"),
    Column("length_error", "dimensionless", "max relative lattice-length error |l/l_true − 1| after the matcher's "
           "mapping"),
    Column("angle_error", _ANGLE, "max lattice-angle error after the matcher's mapping"),
    Column("site_error", _LENGTH, "max site displacement after the matcher's mapping"),
    Column("final_loss", "dimensionless", "final value of an XRD objective (empty for energy objectives: see "
           "final_energy)"),
    Column("final_energy", ENERGY_UNIT, "final CHGNet energy per atom of an energy objective (empty for XRD "
           "objectives)"),
    Column("similarity_measure", "", "which similarity final_similarity is (cosine: cos; mse: −MSE; entropy: 1 − "
           "JS/ln 4)"),
    Column("final_similarity", "dimensionless", "similarity of the final pattern to the ground truth's (higher is "
           "closer)"),
    Column("steps", "", "optimisation or relaxation steps taken"),
    Column("converged", "0/1", "1 when the stopping rule was met before the step limit"),
    Column("failed", "0/1", "1 when the member failed (degenerate cell, NaN, outside the simulator's margin, "
           "relaxation error)"),
    Column("reason", "", "why the member stopped: the failure reason, converged, step limit, or no optimisation "
           "(baseline); never empty"),
    *_lattice_columns("init_", "distorted start"),
    *_lattice_columns("final_", "final structure"),
]

WIDE_TABLE = [
    *_TASK_KEY,
    Column("status", "", "task status: pending, running, done or failed"),
    Column("k", "", "members matched (paper metric)"),
    Column("n", "", "members judged"),
    Column("rate", "dimensionless", "match rate k/n"),
    Column("lo", "dimensionless", "lower end of the 95% Jeffreys interval of the match rate"),
    Column("hi", "dimensionless", "upper end of the 95% Jeffreys interval of the match rate"),
    Column("k_strict", "", "members recovered under the strict metric (empty in stores without it)"),
    Column("rate_strict", "dimensionless", "strict recovery rate k_strict/n"),
    Column("lo_strict", "dimensionless", "lower end of its 95% Jeffreys interval"),
    Column("hi_strict", "dimensionless", "upper end of its 95% Jeffreys interval"),
    Column("wall_s", "s", "wall-clock time of the task"),
]

TRAJECTORY_TABLE = [
    Column("task", "", "task id (as in the member table)"),
    Column("method", "", "recovery method"),
    Column("member", "", "member index"),
    Column("step", "", "step (0 = the distorted start); rows stop at the member's last step"),
    Column("loss", "dimensionless", "XRD objective at this step (empty for energy objectives)"),
    Column("energy", ENERGY_UNIT, "CHGNet energy per atom at this step (energy objectives only)"),
    *_lattice_columns("", "at this step"),
]

COORDINATE_TABLE = [
    Column("task", "", "task id (tasks that store coordinates per step: coordinate noise, relaxations)"),
    Column("member", "", "member index"),
    Column("step", "", "step (0 = the distorted start)"),
    Column("site", "", "site index in the task's cell (the order of the ground truth's sites)"),
    Column("species", "", "the site's species (a formula such as Na0.5K0.5 for a disordered site)"),
    Column("x", "fractional", "fractional coordinate along a"),
    Column("y", "fractional", "fractional coordinate along b"),
    Column("z", "fractional", "fractional coordinate along c"),
]

TABLES = {
    "members": ("per member (default): one row per distorted start of every finished task", MEMBER_TABLE),
    "wide": ("--wide: one row per task with its match rates", WIDE_TABLE),
    "trajectories": ("--trajectories: one row per member and step", TRAJECTORY_TABLE),
    "coordinates": ("--trajectories --coords (FILE.coords.csv): one row per member, step and site",
                    COORDINATE_TABLE),
}

MEMBER_COLUMNS = [c.name for c in MEMBER_TABLE]
WIDE_COLUMNS = [c.name for c in WIDE_TABLE]
TRAJECTORY_COLUMNS = [c.name for c in TRAJECTORY_TABLE]
COORDINATE_COLUMNS = [c.name for c in COORDINATE_TABLE]
STRICT_COLUMNS = ["recovered", "strict_rms", "length_error", "angle_error", "site_error"]


def describe_markdown(kinds=tuple(TABLES)) -> str:
    """The data dictionary of the ``kinds`` tables as Markdown (``xrdtui export --describe``, docs/DATA.md)."""
    out = []
    for kind in kinds:
        title, columns = TABLES[kind]
        out += [f"### {kind}: {title}", "", "| column | unit | meaning |", "|---|---|---|"]
        out += [f"| `{c.name}` | {c.unit or '–'} | {c.meaning} |" for c in columns]
        out.append("")
    return "\n".join(out)


# ---- helpers ------------------------------------------------------------------------------------------
def _num(x) -> str:
    x = float(x)
    return "" if not math.isfinite(x) else repr(x)


def _is_energy(method: str) -> bool:
    from xrdtui.methods import method_info

    return method_info(method).unit == ENERGY_UNIT


def _objective_cells(method: str, value) -> list[str]:
    """[loss, energy]: the objective's value in the column of its unit, the other one empty."""
    return ["", _num(value)] if _is_energy(method) else [_num(value), ""]


def stop_reason(method: str, reason: str, converged: bool, failed: bool) -> str:
    """Why a member stopped, never empty (an empty text column would read back as all-NaN floats)."""
    if reason:
        return reason
    if failed:
        return "failed (no reason stored)"
    from xrdtui.methods import method_info
    from xrdtui.vocab import MethodKind

    if method_info(method).kind == MethodKind.BASELINE:
        return "no optimisation (baseline)"
    return "converged" if converged else "step limit"


@contextmanager
def _sink(output: Path | str):
    if str(output) == "-":
        yield sys.stdout
        return
    output = Path(output)
    if output.is_dir():
        raise OutputError(f"{output} is a directory: give a file name, e.g. {output / 'results.csv'}")
    tmp = output.with_name(output.name + ".part")
    created = False
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        with tmp.open("x", newline="", encoding="utf-8") as fh:  # "x": never clobber another export's .part
            created = True
            yield fh
            fh.flush()
            os.fsync(fh.fileno())  # a full disk shows here, before the rename
        tmp.replace(output)  # never leave a half-written CSV under the requested name
    except FileExistsError:
        raise OutputError(f"{tmp} exists: another export is writing {output.name} (or one was killed: "
                          "remove it)") from None
    except OSError as exc:
        raise OutputError(f"cannot write {output}: {exc.strerror or exc}") from None
    finally:
        if created and tmp.exists():
            try:
                tmp.unlink()
            except OSError:
                pass


def _strict_cell(res, key: str, b: int) -> str:
    values = getattr(res, key)
    if values is None:  # a store without the strict metric
        return ""
    return str(int(values[b])) if key == "recovered" else _num(values[b])


def conventions_path(output: Path | str) -> Path:
    """Where the conventions of an export to ``output`` go: ``results.csv`` -> ``results.conventions.json``."""
    output = Path(output)
    return output.with_name(output.stem + ".conventions.json")


def coordinates_path(output: Path | str) -> Path:
    """Where ``--coords`` writes the per-site trajectories: ``traj.csv`` -> ``traj.coords.csv``."""
    output = Path(output)
    return output.with_name(output.stem + ".coords.csv")


def write_conventions(reader, output: Path | str) -> None:
    """The campaign's conventions (``StoreInfo.conventions``) with its name, seed and versions, as JSON
    (``-``: standard output)."""
    import json

    info = reader.info
    data = {"campaign": info.name, "store": str(reader.path), "seed": info.seed, "schema": info.schema,
            "xrdtui_version": info.xrdtui_version, "versions": info.versions, "conventions": info.conventions}
    with _sink(output) as fh:
        fh.write(json.dumps(data, indent=2, sort_keys=True) + "\n")


def _done_results(reader, pattern: str | None = None):
    """(TaskRow, TaskRecord) of every finished task (whose id matches the glob ``pattern``), in store order."""
    for t in reader.tasks():
        if t.status != "done" or (pattern and not fnmatch.fnmatchcase(t.task_id, pattern)):
            continue
        rec = reader.task(t.task_id)
        if rec.result is not None:
            yield t, rec


def write_csv(reader, output: Path | str, kind: str = "members", pattern: str | None = None) -> int:
    """Write ``kind`` ("members", "wide", "trajectories", "coordinates") rows of ``reader``'s store (tasks
    whose id matches the glob ``pattern``); returns the row count."""
    writers = {"members": _member_rows, "wide": _wide_rows, "trajectories": _trajectory_rows,
               "coordinates": _coordinate_rows}
    header = {"members": MEMBER_COLUMNS, "wide": WIDE_COLUMNS, "trajectories": TRAJECTORY_COLUMNS,
              "coordinates": COORDINATE_COLUMNS}[kind]
    rows = 0
    with _sink(output) as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for row in writers[kind](reader, pattern):
            w.writerow(row)
            rows += 1
    return rows


def _wide_rows(reader, pattern):
    name = reader.info.name
    for t in reader.tasks():
        if pattern and not fnmatch.fnmatchcase(t.task_id, pattern):
            continue
        yield [name, t.task_id, t.structure, t.noise, t.level, t.method, t.mode, t.cell, t.status, t.k, t.n,
               _num(t.rate), _num(t.lo), _num(t.hi), t.ks if t.lo_s == t.lo_s else "", _num(t.rate_s),
               _num(t.lo_s), _num(t.hi_s), _num(t.wall_s)]


def _member_rows(reader, pattern):
    from xrdtui.methods import method_info

    name, seed = reader.info.name, reader.info.seed
    for t, rec in _done_results(reader, pattern):
        res = rec.result
        measure = method_info(t.method).similarity
        for b in range(res.n):
            strict = [_strict_cell(res, key, b) for key in STRICT_COLUMNS]
            reason = stop_reason(t.method, res.reasons[b], bool(res.converged[b]), bool(res.failed[b]))
            yield ([name, t.task_id, t.structure, t.noise, t.level, t.method, t.mode, t.cell, seed, b,
                    int(res.matched[b]), _num(res.rms[b]), *strict, *_objective_cells(t.method, res.final_loss[b]),
                    measure, _num(res.final_similarity[b]), int(res.n_steps[b]), int(res.converged[b]),
                    int(res.failed[b]), reason]
                   + [_num(v) for v in res.init_lattice[b]]
                   + [_num(v) for v in res.final_lattice[b]])


def _trajectory_rows(reader, pattern):
    for t, rec in _done_results(reader, pattern):
        res = rec.result
        for b in range(res.n):
            for step in range(min(int(res.n_steps[b]) + 1, res.loss.shape[0])):
                yield ([t.task_id, t.method, b, step, *_objective_cells(t.method, res.loss[step, b])]
                       + [_num(v) for v in res.lattice[step, b]])


def _coordinate_rows(reader, pattern):
    structures = reader.structures()
    for t, rec in _done_results(reader, pattern):
        res = rec.result
        if res.frac is None:
            continue
        truth = structures.get(t.structure)
        species = truth.in_cell(t.cell).species if truth is not None else []
        for b in range(res.n):
            for step in range(min(int(res.n_steps[b]) + 1, res.frac.shape[0])):
                for site, xyz in enumerate(res.frac[step, b]):
                    yield [t.task_id, b, step, site, species[site] if site < len(species) else "",
                           *(_num(v) for v in xyz)]


# ---- structures ---------------------------------------------------------------------------------------
STAGES = ("final", "initial", "truth")


@dataclass(frozen=True)
class StructureExport:
    """What ``write_structures`` wrote: files, members skipped (failed, no finite cell) and the tolerance."""

    files: list[Path]
    skipped: list[str]
    symprec: float | None


def _pmg_structure(species: list[str], lattice, frac):
    from pymatgen.core import Composition, Lattice, Structure

    return Structure(Lattice.from_parameters(*(float(v) for v in lattice)),
                     [Composition(s) for s in species], [[float(x) for x in row] for row in frac])


def _write_one(structure, path: Path, comment: str, symprec: float | None, poscar: bool) -> str:
    """Write ``structure`` as CIF (symmetry found at ``symprec``; P1 when None) or POSCAR; returns the
    space group written (CIF) or ""; OutputError (no partial file left) when the folder cannot take it."""
    try:
        return _write_structure_file(structure, path, comment, symprec, poscar)
    except OSError as exc:
        path.unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None


def _write_structure_file(structure, path: Path, comment: str, symprec: float | None, poscar: bool) -> str:
    if poscar:
        from pymatgen.io.vasp import Poscar

        Poscar(structure, comment=comment).write_file(str(path))
        return ""
    from pymatgen.io.cif import CifWriter

    writer = CifWriter(structure, symprec=symprec)
    block = next(iter(writer.cif_file.data.values()))
    group = str(block.data.get("_symmetry_space_group_name_H-M", "P 1"))
    number = block.data.get("_symmetry_Int_Tables_number", "1")
    tolerance = "none (P1 as stored)" if symprec is None else f"symprec {symprec:g} Å"
    header = f"# {comment}\n# symmetry: spglib via pymatgen CifWriter, {tolerance}: {group} ({number})\n"
    path.write_text(header + str(writer), encoding="utf-8")
    return f"{group} ({number})"


def write_structures(reader, folder: Path, *, pattern: str | None = None, member: int | None = None,
                     stage: str = "final", symprec: float | None = 0.01, poscar: bool = False) -> StructureExport:
    """One CIF (or POSCAR) per structure of the finished tasks matching ``pattern``: each member's
    ``final`` or ``initial`` (distorted) cell, or the ground ``truth`` once per structure and cell."""
    if stage not in STAGES:
        raise StoreError(f"unknown stage {stage!r}: choose one of {', '.join(STAGES)}")
    import numpy as np

    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{folder} is a file: --cif/--poscar take a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {folder}: {exc.strerror or exc}") from None
    structures = reader.structures()
    suffix = ".vasp" if poscar else ".cif"
    files: list[Path] = []
    skipped: list[str] = []
    truths_done: set[tuple[str, str]] = set()
    matched_any = False
    for t, rec in _done_results(reader, pattern):
        matched_any = True
        res = rec.result
        truth = structures.get(t.structure)
        if truth is None:
            skipped.append(f"{t.task_id}: no ground truth stored")
            continue
        cell = truth.in_cell(t.cell)
        if stage == "truth":
            if (t.structure, t.cell) in truths_done:
                continue
            truths_done.add((t.structure, t.cell))
            path = folder / f"{t.structure}_{t.cell}_truth{suffix}"
            comment = f"xrdtui export: {reader.path.name}, ground truth {t.structure} ({t.cell} cell)"
            _write_one(_pmg_structure(cell.species, cell.lattice, cell.frac), path, comment, symprec, poscar)
            files.append(path)
            continue
        members = range(res.n) if member is None else [member]
        for b in members:
            if not 0 <= b < res.n:
                raise StoreError(f"--member {b} out of range 0..{res.n - 1} for {t.task_id}")
            lattice = res.final_lattice[b] if stage == "final" else res.init_lattice[b]
            frac = res.final_frac[b] if stage == "final" else res.init_frac[b]
            if not (np.isfinite(lattice).all() and np.isfinite(frac).all()):
                skipped.append(f"{t.task_id} member {b}: no finite {stage} cell ({res.reasons[b] or 'failed'})")
                continue
            path = folder / f"{t.task_id.replace('/', '_')}_m{b:02d}_{stage}{suffix}"
            comment = (f"xrdtui export: {reader.path.name}, task {t.task_id}, member {b}, {stage} structure "
                       f"({t.cell} cell), matched {int(res.matched[b])}")
            _write_one(_pmg_structure(cell.species, lattice, frac), path, comment, symprec, poscar)
            files.append(path)
    if not matched_any:
        raise StoreError(f"no finished task matches {pattern!r} in {reader.path.name} (see: xrdtui ls {reader.path})"
                         if pattern else f"no finished task in {reader.path.name}")
    return StructureExport(files, skipped, symprec)
