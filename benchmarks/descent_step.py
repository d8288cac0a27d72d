"""What one plain-descent step costs at a given number of running members, and its parts, side by side in one
run: the whole step (engine.optimize.recover), the simulator's pattern with its gradient, the per-step validity
checks and the reciprocal metric with its Jacobian. The step at one member is the fixed part a lone straggler
pays for every step it runs on alone.

    python benchmarks/descent_step.py                        # CsTlO and ErPt3, 1, 5 and 50 members
    python benchmarks/descent_step.py --structures BPO4 --members 1,50
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # as sweep workers run
    os.environ.setdefault(_var, "1")


def best_ms(fn, calls: int = 100, rounds: int = 7) -> float:
    """Best mean over ``rounds`` of ``calls`` calls, in ms (the least disturbed by other load)."""
    fn()
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - t) / calls)
    return best * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--structures", default="CsTlO,ErPt3")
    ap.add_argument("--members", default="1,5,50")
    ap.add_argument("--steps", type=int, default=200)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    from xrdtui.engine.lattice import reciprocal_metric6_fast
    from xrdtui.engine.noise import distort
    from xrdtui.engine.optimize import OptimizerSettings, _invalid, recover, resolve_loss
    from xrdtui.engine.simulator import XRDSimulator
    from xrdtui.engine.structures import benchmark_structure, in_cell, lattice_params

    settings = OptimizerSettings(method="gd", schedule="constant", convergence="window", tol=0.0,
                                 patience=10**6, max_steps=args.steps, lr_coords=0.0316)
    cosine = resolve_loss("cosine")
    print(f"{'structure':12s} {'members':>7s} {'step ms':>8s} {'per member':>10s}  "
          f"{'pattern+grad':>12s} {'checks':>7s} {'metric':>7s}   (ms, best of several rounds)")
    for name in args.structures.split(","):
        truth = in_cell(benchmark_structure(name), "primitive")
        sim = XRDSimulator(truth)
        with torch.no_grad():
            target = sim.pattern(torch.as_tensor(lattice_params(truth)[None]))[0]
        d = distort(truth, name, "coords", 0.1, max(int(b) for b in args.members.split(",")), seed=0)
        for b in map(int, args.members.split(",")):
            lat = torch.tensor(d.lattice[:b])
            frac = torch.tensor(d.frac[:b])

            def descend():
                recover(sim, target, lat, frac, cosine, "free", None, ("coords",), settings)

            def pattern_and_gradient():
                x = frac.clone().requires_grad_(True)
                cosine(sim.pattern(lat, x), target).sum().backward()

            step = best_ms(descend, calls=1, rounds=5) / (args.steps + 1)
            pattern = best_ms(pattern_and_gradient)
            checks = best_ms(lambda: _invalid(sim, lat, frac))
            metric = best_ms(lambda: reciprocal_metric6_fast(lat))
            print(f"{name:12s} {b:7d} {step:8.2f} {step / b:10.3f}  {pattern:12.2f} {checks:7.2f} {metric:7.2f}   "
                  f"(checks {checks / step:.0%} of the step)")
    print("The step at one member is the fixed cost; the metric is part of the pattern's; the step also holds the "
          "loss, the update and the loop's bookkeeping.")


if __name__ == "__main__":
    main()
