"""How the optimiser defaults were chosen: recovery per update rule and step size, side by side in one run.

    python benchmarks/optimizer.py                       # U2Ti, Au2S, CsTlO, UC2 at lattice sigma 0.03, 0.05
    python benchmarks/optimizer.py --structures UC2 --n 8 --sigmas 0.05

For each structure and noise level the same seeded distortions are recovered with each setting (cosine
loss). Columns: StructureMatcher matches (the paper's criterion; note its 10% length tolerance already
matches many *unrecovered* starts, shown as "start"), "reached" = final loss < -0.999 (the true minimum
was found), median steps, and seconds. The defaults in OptimizerSettings are the best "reached" here.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SETTINGS = [
    ("adam 0.03 A / 0.3 deg (default)", dict(method="adam")),
    ("adam 0.01 A / 0.1 deg", dict(method="adam", lr_length=0.01, lr_angle=0.1)),
    ("adam 0.05 A / 0.5 deg", dict(method="adam", lr_length=0.05, lr_angle=0.5)),
    ("gd 0.003 / 3 (paper's plain GD)", dict(method="gd", lr_length=0.003, lr_angle=3.0)),
    ("momentum 0.001 / 1", dict(method="momentum", lr_length=0.001, lr_angle=1.0)),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--structures", default="U2Ti,Au2S,CsTlO,UC2")
    parser.add_argument("--sigmas", default="0.03,0.05")
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--mode", default="free")
    args = parser.parse_args()

    import numpy as np
    import torch

    from xrdtui.engine.matching import match_structures
    from xrdtui.engine.noise import distort
    from xrdtui.engine.optimize import OptimizerSettings, recover
    from xrdtui.engine.simulator import XRDSimulator
    from xrdtui.engine.structures import benchmark_structure, crystal_family, lattice_params, with_params

    torch.set_num_threads(1)
    totals = {label: [0, 0] for label, _ in SETTINGS}
    print(f"{'structure':10s} {'sigma':>5s}  {'setting':34s} {'match':>7s} {'start':>6s} {'reached':>8s} {'steps':>6s} {'s':>6s}")
    for name in args.structures.split(","):
        s = benchmark_structure(name)
        sim = XRDSimulator(s)
        with torch.no_grad():
            target = sim.pattern(torch.as_tensor(lattice_params(s)[None]))[0]
        for sigma in map(float, args.sigmas.split(",")):
            d = distort(s, name, "lattice", sigma, args.n, 0)
            start = sum(r.matched for r in match_structures(s, [with_params(s, l) for l in d.lattice]))
            for label, kwargs in SETTINGS:
                t0 = time.perf_counter()
                traj = recover(sim, target, d.lattice, None, "cosine", args.mode, crystal_family(s), ("lattice",),
                               OptimizerSettings(**kwargs))
                dt = time.perf_counter() - t0
                ok = ~traj.failed
                k = sum(r.matched for r in match_structures(s, [with_params(s, l) for l in traj.final_lattice[ok]]))
                reached = int((traj.final_loss < -0.999).sum())
                totals[label][0] += k
                totals[label][1] += reached
                print(f"{name:10s} {sigma:5.2f}  {label:34s} {k:3d}/{args.n:<3d} {start:6d} {reached:8d} "
                      f"{np.median(traj.n_steps):6.0f} {dt:6.1f}", flush=True)
    print("\ntotals (matched, reached):")
    for label, (k, reached) in totals.items():
        print(f"  {label:34s} {k:5d} {reached:5d}")


if __name__ == "__main__":
    main()
