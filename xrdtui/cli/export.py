"""CSV export of a store: tidy long tables a spreadsheet, pandas or R reads directly."""

from __future__ import annotations

import csv
import math
import sys
from contextlib import contextmanager
from pathlib import Path

from xrdtui.vocab import PARAM_NAMES

LATTICE = PARAM_NAMES

MEMBER_COLUMNS = (
    ["campaign", "task", "structure", "noise", "level", "method", "mode", "seed", "member", "matched", "rms",
     "final_loss", "final_similarity", "steps", "converged", "failed", "reason"]
    + [f"init_{p}" for p in LATTICE]
    + [f"final_{p}" for p in LATTICE]
)
WIDE_COLUMNS = ["campaign", "task", "structure", "noise", "level", "method", "mode", "status", "k", "n", "rate", "lo",
                "hi", "wall_s"]
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
                w.writerow([name, t.task_id, t.structure, t.noise, t.level, t.method, t.mode, t.status, t.k, t.n,
                            _num(t.rate), _num(t.lo), _num(t.hi), _num(t.wall_s)])
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
                w.writerow(
                    [name, t.task_id, t.structure, t.noise, t.level, t.method, t.mode, seed, b, int(res.matched[b]),
                     _num(res.rms[b]), _num(res.final_loss[b]), _num(res.final_similarity[b]), int(res.n_steps[b]),
                     int(res.converged[b]), int(res.failed[b]), res.reasons[b]]
                    + [_num(v) for v in res.init_lattice[b]]
                    + [_num(v) for v in res.final_lattice[b]]
                )
                rows += 1
    return rows
