"""Benchmark: how plain projected gradient descent (the paper preset's optimiser) stops, to choose its step
budget and convergence rule, side by side with the tuned Adam preset on the same distortions.

    python benchmarks/plain_gd.py [--structures U2Ti,Au2S,CsTlO,Na3MnCoNiO6] [--n 16] [--levels 0.05,0.1]
                                  [--max-steps 3000] [--tol 1e-4] [--patience 20]

For each loss it runs plain GD (constant step; the learning rates of examples/paper.toml, from
``xrdtui.jobs.calibrate``; the "window" convergence rule) for up to ``--max-steps`` steps in the projected
and free modes, and prints the quantiles of the steps at which members stopped, the fraction stopped by
the rule (not by the budget), the paper match rate, and wall time per member; then the Adam preset on the
same members. The budget of the paper preset is chosen so that the rule, not the budget, stops >= 95 % of
members (see the README).
"""

from __future__ import annotations

import argparse
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--structures", default="U2Ti,Au2S,CsTlO,Na3MnCoNiO6")
    ap.add_argument("--losses", default="cosine,mse,entropy")
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--levels", default="0.05,0.1")
    ap.add_argument("--max-steps", type=int, default=3000)
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--patience", type=int, default=20)
    args = ap.parse_args()
    torch.set_num_threads(1)

    from xrdtui.engine.matching import MatcherSettings, match_structures
    from xrdtui.engine.noise import distort
    from xrdtui.engine.optimize import OptimizerSettings, recover
    from xrdtui.engine.simulator import XRDSimulator
    from xrdtui.engine.structures import crystal_family, resolve_structure, with_params

    preset = tomllib.loads((ROOT / "examples" / "paper.toml").read_text())
    adam = tomllib.loads((ROOT / "examples" / "paper-adam.toml").read_text())["optimizer"]
    matcher = MatcherSettings().matcher()
    levels = [float(x) for x in args.levels.split(",")]
    print(f"plain GD: window rule tol {args.tol:g} over {args.patience} steps, at most {args.max_steps} steps; "
          f"{args.n} lattice distortions per structure and level ({args.structures})")
    for loss in args.losses.split(","):
        table = {**preset["optimizer"], **preset["optimizer"].get(loss, {})}
        rates = {k: v for k, v in table.items() if k.startswith("lr_")}
        gd = OptimizerSettings(method="gd", schedule="constant", max_steps=args.max_steps, tol=args.tol,
                               patience=args.patience, convergence="window", **rates)
        tuned = OptimizerSettings(**{k: tuple(v) if isinstance(v, list) else v for k, v in adam.items()})
        for mode in ("projected", "free"):
            for name, settings in (("plain GD", gd), ("adam", tuned)):
                steps, stopped, matched, n_all, wall = [], 0, 0, 0, 0.0
                for source in args.structures.split(","):
                    label, s = resolve_structure(source)
                    sim = XRDSimulator(s)
                    target = sim.reference_pattern()
                    for level in levels:
                        batch = distort(s, label, "lattice", level, args.n, 2024)
                        t0 = time.perf_counter()
                        traj = recover(sim, target, batch.lattice, None, loss=loss, mode=mode,
                                       family=crystal_family(s), settings=settings)
                        wall += time.perf_counter() - t0
                        steps += traj.n_steps.tolist()
                        stopped += int(traj.converged.sum())
                        finals = [None if f else with_params(s, lat) for f, lat in zip(traj.failed, traj.final_lattice)]
                        matched += sum(r.matched for r in match_structures(s, finals, matcher))
                        n_all += args.n
                q = np.percentile(steps, [50, 90, 95, 100]).astype(int)
                print(f"  {loss:8s} {mode:10s} {name:9s} steps p50 {q[0]:5d} p90 {q[1]:5d} p95 {q[2]:5d} "
                      f"max {q[3]:5d}  stopped by the rule {stopped / n_all:5.1%}  matched {matched}/{n_all}"
                      f"  {1000 * wall / n_all:6.1f} ms per member")


if __name__ == "__main__":
    main()
