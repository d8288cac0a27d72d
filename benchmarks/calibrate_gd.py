"""The step sizes of the paper preset's plain gradient descent, by the rule of ``xrdtui.jobs.calibrate``
(largest 10^(k/4) at which one step lowers the loss for >= 95 % of members at sigma = 0.01), printed with
the measured fractions and as the TOML the preset carries.

    python benchmarks/calibrate_gd.py [--structures all] [--n 16] [--losses cosine,mse,entropy]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--structures", default="all")
    ap.add_argument("--losses", default="cosine,mse,entropy")
    ap.add_argument("--n", type=int, default=16)
    args = ap.parse_args()
    import torch

    from xrdtui.engine.structures import BENCHMARK_NAMES
    from xrdtui.jobs.calibrate import calibrate

    torch.set_num_threads(1)
    names = BENCHMARK_NAMES if args.structures == "all" else tuple(args.structures.split(","))
    t0 = time.perf_counter()
    cal = calibrate(names, losses=tuple(args.losses.split(",")), n=args.n)
    print(f"{cal.members} members per kind ({len(names)} structures x {args.n}), sigma 0.01, "
          f"{time.perf_counter() - t0:.0f} s")
    for loss, kinds in cal.fractions.items():
        for kind, tried in kinds.items():
            last = ", ".join(f"{lr:.3g}: {f:.3f}" for lr, f in tried[-4:])
            print(f"  {loss:8s} {kind:10s} -> {cal.single[loss].get(kind, float('nan')):.5g}   (lr: fraction lowered) {last}")
        print(f"  {loss:8s} joint lattice step with the final rates lowers the loss for {cal.joint[loss]:.3f}")
    for loss, rates in cal.rates.items():
        print(f"\n[optimizer.{loss}]")
        for kind, lr in rates.items():
            print(f"{kind} = {lr:.5g}")


if __name__ == "__main__":
    main()
