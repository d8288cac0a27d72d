"""Replay finished campaign stores to judge the ETA's cost model: what it would have predicted once 10 %
(or --at) of the tasks were done, against the time the rest actually took, for the cost models side by side
in one run.

    python benchmarks/eta_replay.py store/*.h5
    python benchmarks/eta_replay.py store/paper.h5 --at 0.05,0.1,0.2,0.3

Each variant gives every task a cost, orders the tasks as the campaign would hand them out, takes the first
``at`` x N as finished (their measured worker seconds known, the rest unknown, as a live sweep sees them) and
asks ``store.progress.cost_eta`` for the time left. "Actual" is the worker seconds of the other tasks over the
worker count: on the stores here the two workers were busy to the end (sum of worker seconds / 2 equals the
wall clock within 2 %), so this is the measured end without the noise of when each task happened to start.

Variants:

- ``sites`` (the model until 2026-12-04): cost = weight x members x (sites + 4) x (1 + max_steps) for every
  method (CHGNet weight 8, the baseline 0.05), the largest task of each method first, rates per method;
- ``now`` (what ``xrdtui run`` does): the campaign's own costs, rebuilt from the store's experiment and
  structures (methods.registry.Method.task_cost: descent steps carry a fixed overhead, CHGNet is sized by its
  graph), the largest task of each method and noise type first, rates per method and noise type.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from xrdtui.jobs.campaign import _cost, cell_structures, dispatch_order, graph_sizes, site_counts  # noqa: E402
from xrdtui.jobs.config import build_settings, parse_config  # noqa: E402
from xrdtui.jobs.tasks import build_work  # noqa: E402
from xrdtui.methods import get_method  # noqa: E402
from xrdtui.store.progress import cost_eta  # noqa: E402
from xrdtui.store.reader import StoreReader  # noqa: E402

OLD_WEIGHTS = {"chgnet": 8.0, "none": 0.05}  # the registry's weights before 2026-12-04


def read(path: str) -> dict:
    with StoreReader.open(path) as reader:
        rows = reader.tasks()
        if any(r.status != "done" for r in rows):
            raise SystemExit(f"{path}: not every task is done; replay needs a finished store")
        cfg = parse_config(reader.info.config_text)
        structures = list(reader.structures().values())
    with h5py.File(path, "r") as f:
        workers = int(f["progress"]["workers"][0])
    cells = cell_structures(structures)
    counts = site_counts(structures, cells)
    items = {it.info.task_id: it for it in build_work(cfg, counts, "cpu", graph_sizes(cfg, cells))}
    by_id = [items[r.task_id] for r in rows]
    old = []
    for it in by_id:
        info = it.info
        method = get_method(info.method)
        sites = info.n_sites
        if info.noise == "lattice" and method.reduces_supercells(build_settings(cfg.tables, info.method)):
            sites = counts.get((info.structure, "primitive"), sites)
        old.append(OLD_WEIGHTS.get(info.method, method.cost) * info.n_members * (sites + 4) * (1 + info.max_steps))
    return {"wall": np.array([r.wall_s for r in rows], dtype=float), "workers": workers,
            "method": np.array([r.method for r in rows]), "noise": np.array([r.noise for r in rows]),
            "members": np.array([it.info.n_members for it in by_id]), "now": np.array([_cost(it) for it in by_id]),
            "sites": np.array(old)}


def order(d: dict, cost: np.ndarray, by_noise: bool) -> list[int]:
    """The campaign's own dispatch order on stand-ins carrying what it reads (method, noise) and ``cost``."""
    items = [SimpleNamespace(i=i, info=SimpleNamespace(method=d["method"][i],
                                                       noise=d["noise"][i] if by_noise else ""))
             for i in range(len(cost))]
    return [it.i for it in dispatch_order(items, cost=lambda it: cost[it.i])]


def replay(d: dict, at: float, variant: str) -> tuple[float, float]:
    now = variant == "now"
    cost = d[variant]
    n = len(cost)
    done = np.zeros(n, bool)
    done[order(d, cost, by_noise=now)[: int(np.ceil(at * n))]] = True
    status = np.where(done, 2, 0)
    wall = np.where(done, d["wall"], np.nan)
    predicted = cost_eta(status, cost, wall, d["method"], np.zeros(n), d["members"], d["workers"],
                         noise=d["noise"] if now else None)
    actual = d["wall"][~done].sum() / d["workers"]
    return predicted, actual


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("stores", nargs="+")
    ap.add_argument("--at", default="0.1", help="fractions of tasks done when the ETA is read, comma-separated")
    args = ap.parse_args(argv)
    fractions = [float(x) for x in args.at.split(",")]
    variants = ("sites", "now")
    print("ETA predicted / actual minutes left (error), per fraction of tasks done")
    print(f"{'store':34s} {'at':>4s} " + " ".join(f"{v:>24s}" for v in variants))
    worst = dict.fromkeys(variants, 0.0)
    for path in args.stores:
        d = read(path)
        for at in fractions:
            cells = []
            for name in variants:
                p, a = replay(d, at, name)
                err = p / a - 1
                worst[name] = max(worst[name], abs(err))
                cells.append(f"{p / 60:6.1f} / {a / 60:6.1f} ({100 * err:+4.0f}%)")
            print(f"{path[-34:]:34s} {at:4.0%} " + " ".join(f"{c:>24s}" for c in cells))
    print(f"{'largest |error|':39s} " + " ".join(f"{100 * worst[v]:23.0f}%" for v in variants))
    return 0


if __name__ == "__main__":
    sys.exit(main())
