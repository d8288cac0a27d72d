"""CSV export of a store: tidy long tables a spreadsheet, pandas or R reads directly, and the campaign's
conventions (every setting it ran with) as JSON beside them."""

from __future__ import annotations

import csv
import math
import sys
from contextlib import contextmanager
from pathlib import Path

from xrdtui.vocab import PARAM_NAMES

LATTICE = PARAM_NAMES

STRICT_COLUMNS = ["recovered", "strict_rms", "length_error", "angle_error", "site_error"]
MEMBER_COLUMNS = (
    ["campaign", "task", "structure", "noise", "level", "method", "mode", "cell", "seed", "member", "matched", "rms",
     *STRICT_COLUMNS, "final_loss", "final_similarity", "steps", "converged", "failed", "reason"]
    + [f"init_{p}" for p in LATTICE]
    + [f"final_{p}" for p in LATTICE]
)
WIDE_COLUMNS = ["campaign", "task", "structure", "noise", "level", "method", "mode", "cell", "status", "k", "n", "rate",
                "lo", "hi", "k_strict", "rate_strict", "lo_strict", "hi_strict", "wall_s"]
TRAJECTORY_COLUMNS = ["task", "member", "step", "loss"]


def _num(x) -> str:
    x = float(x)
    return "" if not math.isfinite(x) else repr(x)


@contextmanager
def _sink(output: Path | str):
    if str(output) == "-":
        yield sys.stdout
        return
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".part")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        yield fh
    tmp.replace(output)  # never leave a half-written CSV under the requested name


def _strict_cell(res, key: str, b: int) -> str:
    values = getattr(res, key)
    if values is None:  # a store without the strict metric
        return ""
    return str(int(values[b])) if key == "recovered" else _num(values[b])


def conventions_path(output: Path | str) -> Path:
    """Where the conventions of an export to ``output`` go: ``results.csv`` -> ``results.conventions.json``."""
    output = Path(output)
    return output.with_name(output.stem + ".conventions.json")


def write_conventions(reader, output: Path | str) -> None:
    """The campaign's conventions (``StoreInfo.conventions``) with its name, seed and versions, as JSON
    (``-``: standard output)."""
    import json

    info = reader.info
    data = {"campaign": info.name, "store": str(reader.path), "seed": info.seed, "schema": info.schema,
            "xrdtui_version": info.xrdtui_version, "versions": info.versions, "conventions": info.conventions}
    with _sink(output) as fh:
        fh.write(json.dumps(data, indent=2, sort_keys=True) + "\n")


def write_csv(reader, output: Path | str, kind: str = "members") -> int:
    """Write ``kind`` ("members", "wide", "trajectories") rows of ``reader``'s store; returns the row count."""
    name = reader.info.name
    seed = reader.info.seed
    rows = 0
    with _sink(output) as fh:
        w = csv.writer(fh)
        if kind == "wide":
            w.writerow(WIDE_COLUMNS)
            for t in reader.tasks():
                w.writerow([name, t.task_id, t.structure, t.noise, t.level, t.method, t.mode, t.cell, t.status, t.k,
                            t.n, _num(t.rate), _num(t.lo), _num(t.hi), t.ks if t.lo_s == t.lo_s else "",
                            _num(t.rate_s), _num(t.lo_s), _num(t.hi_s), _num(t.wall_s)])
                rows += 1
            return rows
        w.writerow(TRAJECTORY_COLUMNS if kind == "trajectories" else MEMBER_COLUMNS)
        for t in reader.tasks():
            if t.status != "done":
                continue
            res = reader.task(t.task_id).result
            if res is None:
                continue
            for b in range(res.n):
                if kind == "trajectories":
                    steps = int(res.n_steps[b])
                    for step in range(min(steps + 1, res.loss.shape[0])):
                        w.writerow([t.task_id, b, step, _num(res.loss[step, b])])
                        rows += 1
                    continue
                strict = [_strict_cell(res, key, b) for key in STRICT_COLUMNS]
                w.writerow(
                    [name, t.task_id, t.structure, t.noise, t.level, t.method, t.mode, t.cell, seed, b,
                     int(res.matched[b]), _num(res.rms[b]), *strict, _num(res.final_loss[b]),
                     _num(res.final_similarity[b]), int(res.n_steps[b]),
                     int(res.converged[b]), int(res.failed[b]), res.reasons[b]]
                    + [_num(v) for v in res.init_lattice[b]]
                    + [_num(v) for v in res.final_lattice[b]]
                )
                rows += 1
    return rows
