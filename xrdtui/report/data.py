"""What the report reads from a campaign store: the task table, every finished task's per-member verdicts
and errors (no trajectories), and the quantities the claims need that the store does not hold (the start
points' XRD similarities and structural errors, recomputed with the engine from the stored starts)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from xrdtui.errors import StoreError
from xrdtui.methods import method_info
from xrdtui.vocab import MethodKind, Noise

MEMBER_FIELDS = ("matched", "recovered", "failed", "final_similarity", "length_error", "angle_error",
                 "site_error", "init_lattice", "init_frac", "final_lattice")

# The condition of a task: (structure, noise, level); a series: (method, mode).
Key = tuple


@dataclass
class ReportData:
    """Everything the claims are computed from."""

    path: Path
    name: str
    conventions: dict
    versions: dict
    seed: int | None
    schema: int
    rows: list                    # TaskRow of every task
    members: dict[Key, dict]      # (structure, noise, level, method, mode) -> per-member arrays (done tasks)
    structures: dict              # name -> StructureInfo
    failures: list
    landscapes: dict = field(default_factory=dict)  # key -> LandscapeRecord (from --landscapes stores)
    start_similarity: dict = field(default_factory=dict)  # (structure, noise, level, loss) -> [B] at the starts
    start_errors: dict = field(default_factory=dict)  # (structure, noise, level) -> (length [B], angle [B])

    def methods(self, kind: MethodKind | None = None) -> list[str]:
        names = list(dict.fromkeys(k[3] for k in self.members))
        return [m for m in names if kind is None or method_info(m).kind == kind]

    def levels(self, noise: str) -> list[float]:
        return sorted({k[2] for k in self.members if k[1] == noise})

    def structures_of(self, noise: str) -> list[str]:
        return list(dict.fromkeys(k[0] for k in self.members if k[1] == noise))

    def get(self, structure, noise, level, method, mode) -> dict | None:
        return self.members.get((structure, noise, level, method, mode))


def load(reader, landscape_paths=(), starts: bool = True) -> ReportData:
    """Read a campaign store (and optional landscape stores) into :class:`ReportData`; StoreError for a
    store that is not a campaign. ``starts=False`` skips recomputing the start points (C7's inputs)."""
    from xrdtui.store.reader import StoreReader

    info = reader.info
    if not info.is_campaign:
        raise StoreError(f"{reader.path} holds landscapes only; the report needs a campaign store "
                         "(pass landscape stores with --landscapes)")
    rows = reader.tasks()
    members = {}
    for t in rows:
        if t.status != "done":
            continue
        arrays = reader.members(t.task_id, MEMBER_FIELDS)
        if arrays is not None:
            members[(t.structure, t.noise, float(t.level), t.method, t.mode)] = arrays
    data = ReportData(path=Path(reader.path), name=info.name, conventions=info.conventions, versions=info.versions,
                      seed=info.seed, schema=info.schema, rows=rows, members=members,
                      structures=reader.structures(), failures=reader.failures())
    for path in landscape_paths:
        with StoreReader.open(path) as lr:
            for key in lr.landscapes():
                data.landscapes.setdefault(key, lr.landscape(key))
    if starts:
        _starts(data)
    return data


def paired_members(data: ReportData, noise: str, level: float | None, series_a, series_b, field_name="matched"):
    """(a, b) 0/1 arrays of the members both series ran, over structures (and losses when a series
    names several), for one level (None: all levels)."""
    a_all, b_all = [], []
    levels = data.levels(noise) if level is None else [level]
    for structure in data.structures_of(noise):
        for lv in levels:
            for (ma, mo_a), (mb, mo_b) in zip(series_a, series_b):
                ra, rb = data.get(structure, noise, lv, ma, mo_a), data.get(structure, noise, lv, mb, mo_b)
                if ra is None or rb is None:
                    continue
                n = min(len(ra[field_name]), len(rb[field_name]))  # a capped method judged the first n
                a_all.append(np.asarray(ra[field_name][:n], dtype=float))
                b_all.append(np.asarray(rb[field_name][:n], dtype=float))
    if not a_all:
        return np.zeros(0), np.zeros(0)
    return np.concatenate(a_all), np.concatenate(b_all)


def _starts(data: ReportData) -> None:
    """Start-point similarities (each descent loss's own similarity) and lattice errors, recomputed from
    the stored starts: every descent task of a condition starts from the same members."""
    from xrdtui.engine.simulator import PatternSettings

    pattern = PatternSettings(**data.conventions.get("pattern", {}))
    losses = [m for m in data.methods(MethodKind.DESCENT) if method_info(m).similarity == m]
    from xrdtui.engine.threads import one_torch_thread

    with one_torch_thread():  # small batches: 13.6 s on one thread vs 48.9 s on two, paper store under load
        _start_points(data, pattern, losses)


def _start_points(data: ReportData, pattern, losses) -> None:
    import torch

    from xrdtui.engine.losses import similarity
    from xrdtui.engine.matching import cell_errors

    conditions = {k[:3] for k in data.members if k[1] == Noise.LATTICE}
    simulators: dict = {}  # one per structure: the tables are the costly part
    for structure, noise, level in sorted(conditions):
        source = next((data.members[k] for k in data.members if k[:3] == (structure, noise, level)), None)
        truth = data.structures.get(structure)
        if source is None or truth is None:
            continue
        init_lattice = np.asarray(source["init_lattice"], dtype=np.float64)
        init_frac = np.asarray(source["init_frac"], dtype=np.float64)
        errs = [cell_errors(truth.lattice, truth.frac, lat, fr) for lat, fr in zip(init_lattice, init_frac)]
        data.start_errors[(structure, noise, level)] = (np.array([e.length_error for e in errs]),
                                                       np.array([e.angle_error for e in errs]))
        if not losses:
            continue
        if structure not in simulators:
            simulators[structure] = _simulator(truth, pattern)
        sim = simulators[structure]
        target = torch.as_tensor(sim.reference_pattern())
        lat_t, frac_t = torch.as_tensor(init_lattice), torch.as_tensor(init_frac)
        ok = ~(sim.invalid_members(lat_t, frac_t) | sim.outside_margin(lat_t)).numpy()
        with torch.no_grad():
            patterns = sim.pattern(lat_t[ok], frac_t[ok])
        for loss in losses:
            values = np.full(len(init_lattice), np.nan)
            values[ok] = similarity(loss, patterns, target).double().numpy()
            data.start_similarity[(structure, noise, level, loss)] = values


def _simulator(truth, pattern):
    from pymatgen.core import Lattice, Structure

    from xrdtui.engine.simulator import XRDSimulator

    structure = Structure(Lattice.from_parameters(*truth.lattice), truth.species, truth.frac)
    return XRDSimulator(structure, pattern)
