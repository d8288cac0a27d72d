"""Replay finished campaign stores to judge the ETA's cost model: what it would have predicted once 10 %
(or --at) of the tasks were done, against the time the rest actually took, for the dispatch orders and
cost formulas side by side in one run.

    python benchmarks/eta_replay.py store/*.h5
    python benchmarks/eta_replay.py store/paper.h5 --at 0.2

Each variant re-derives every task's cost from the task table (members, sites, max_steps, method weight),
orders the tasks as the campaign would hand them out, takes the first ``at`` x N as finished (their measured
worker seconds known, the rest unknown, as a live sweep sees them) and asks ``store.progress.cost_eta`` for
the time left. "Actual" is the worker seconds of the other tasks over the worker count: on the finished
stores here the two workers were busy to the end (sum of worker seconds / 2 equals the wall clock within
2 %), so this is the measured end without the noise of when each task happened to start.

Variants: ``longest`` (longest first, sites + 1: the model until 2026-12-02), ``probes`` (the largest task of
each method first, then longest first; sites + 1) and ``probes+4`` (probes first, sites + 4: what
``xrdtui run`` does now, methods.registry.SITE_OFFSET and jobs.campaign.dispatch_order).
"""

from __future__ import annotations

import argparse
import sys
from types import SimpleNamespace

import h5py
import numpy as np

from xrdtui.jobs.campaign import dispatch_order
from xrdtui.methods import get_method
from xrdtui.store.progress import cost_eta


def _text(a) -> np.ndarray:
    return np.array([x.decode() if isinstance(x, bytes) else str(x) for x in a])


def read(path: str) -> dict:
    with h5py.File(path, "r") as f:
        p, t = f["progress"], f["tasks"]
        if not (p["status"][...] == 2).all():
            raise SystemExit(f"{path}: not every task is done; replay needs a finished store")
        return {"wall": p["wall_s"][...].astype(float), "workers": int(p["workers"][0]),
                "method": _text(t["method"][...]), "sites": t["n_sites"][...].astype(int),
                "members": t["n_members"][...].astype(int), "steps": t["max_steps"][...].astype(int)}


def costs(d: dict, offset: int) -> np.ndarray:
    return np.array([get_method(m).task_cost(n, s, k, site_offset=offset)
                     for m, n, s, k in zip(d["method"], d["members"], d["sites"], d["steps"])])


def order(d: dict, cost: np.ndarray, probes: bool) -> list[int]:
    if not probes:
        return list(np.argsort(-cost, kind="stable"))
    # the campaign's own dispatch order, on stand-ins carrying what it reads (the method) and this cost
    items = [SimpleNamespace(i=i, info=SimpleNamespace(method=d["method"][i])) for i in range(len(cost))]
    return [it.i for it in dispatch_order(items, cost=lambda it: cost[it.i])]


def replay(d: dict, at: float, offset: int, probes: bool) -> tuple[float, float]:
    cost = costs(d, offset)
    n = len(cost)
    done = np.zeros(n, bool)
    done[order(d, cost, probes)[: int(np.ceil(at * n))]] = True
    status = np.where(done, 2, 0)
    wall = np.where(done, d["wall"], np.nan)
    predicted = cost_eta(status, cost, wall, d["method"], np.zeros(n), d["members"], d["workers"])
    actual = d["wall"][~done].sum() / d["workers"]
    return predicted, actual


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("stores", nargs="+")
    ap.add_argument("--at", type=float, default=0.1, help="fraction of tasks done when the ETA is read")
    args = ap.parse_args(argv)
    variants = (("longest", 1, False), ("probes", 1, True), ("probes+4", 4, True))
    print(f"ETA at {args.at:.0%} done, predicted / actual minutes left (error)")
    print(f"{'store':28s} {'tasks':>5s} " + " ".join(f"{v[0]:>24s}" for v in variants))
    worst = {v[0]: 0.0 for v in variants}
    for path in args.stores:
        d = read(path)
        cells = []
        for name, offset, probes in variants:
            p, a = replay(d, args.at, offset, probes)
            err = p / a - 1
            worst[name] = max(worst[name], abs(err))
            cells.append(f"{p / 60:6.1f} / {a / 60:6.1f} ({100 * err:+4.0f}%)")
        print(f"{path:28s} {len(d['wall']):5d} " + " ".join(f"{c:>24s}" for c in cells))
    print(f"{'largest |error|':34s} " + " ".join(f"{100 * worst[v[0]]:23.0f}%" for v in variants))
    return 0


if __name__ == "__main__":
    sys.exit(main())
