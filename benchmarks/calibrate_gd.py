"""The step sizes of the paper preset's plain gradient descent, by the rule of ``xrdtui.jobs.calibrate``
(largest 10^(k/4) at which one step lowers the loss for >= 95 % of members at sigma = 0.01), printed with
the measured fractions and as the TOML the preset carries.

    python benchmarks/calibrate_gd.py [--structures all] [--n 16] [--losses cosine,mse,entropy]
    python benchmarks/calibrate_gd.py --objective xrd-energy --losses cosine   # the joint XRD + λ·energy steps

``--objective xrd-energy`` applies the rule to the cosine loss plus λ·CHGNet energy per atom (λ of
``engine.hybrid.HybridSettings``), searching down from the cosine loss's own steps: the steps of
``[optimizer.xrd-energy]``.
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
    ap.add_argument("--objective", choices=("xrd", "xrd-energy"), default="xrd")
    ap.add_argument("--weight", type=float, default=None, help="λ per eV/atom (default: HybridSettings')")
    args = ap.parse_args()
    import torch

    from xrdtui.engine.structures import BENCHMARK_NAMES
    from xrdtui.jobs.calibrate import calibrate
    from xrdtui.jobs.defaults import CALIBRATED_STEPS

    torch.set_num_threads(1)
    names = BENCHMARK_NAMES if args.structures == "all" else tuple(args.structures.split(","))
    t0 = time.perf_counter()
    losses = tuple(args.losses.split(","))
    joint = args.objective == "xrd-energy"
    cal = calibrate(names, losses=losses, n=args.n, penalty_for=_energy_penalty(args.weight) if joint else None,
                    start={loss: CALIBRATED_STEPS[loss] for loss in losses} if joint else None)
    print(f"{cal.members} members per kind ({len(names)} structures x {args.n}), sigma 0.01, "
          f"{time.perf_counter() - t0:.0f} s")
    for loss, kinds in cal.fractions.items():
        for kind, tried in kinds.items():
            last = ", ".join(f"{lr:.3g}: {f:.3f}" for lr, f in tried[-4:])
            print(f"  {loss:8s} {kind:10s} -> {cal.single[loss].get(kind, float('nan')):.5g}   (lr: fraction lowered) {last}")
        print(f"  {loss:8s} joint lattice step with the final rates lowers the loss for {cal.joint[loss]:.3f}")
    for loss, rates in cal.rates.items():
        print(f"\n[optimizer.{args.objective if args.objective != 'xrd' else loss}]")
        for kind, lr in rates.items():
            print(f"{kind} = {lr:.5g}")


def _energy_penalty(weight):
    """``penalty_for(structure, starts)``: λ·CHGNet energy per atom of the batch (coordinates fixed at the
    starts' where only the lattice moves), as ``xrd-energy`` builds it."""
    from xrdtui.engine.hybrid import HybridSettings, energy_penalty
    from xrdtui.engine.relax import MODEL_NAME, load_model

    model = load_model(MODEL_NAME, "cpu")
    lam = HybridSettings().weight if weight is None else weight
    print(f"objective: cosine + {lam:g} x CHGNet energy per atom")
    return lambda structure, starts: energy_penalty(model, [s.species_string for s in structure], lam,
                                                    fixed_frac=starts.frac)


if __name__ == "__main__":
    main()
