"""Where a CHGNet lockstep relaxation spends its time: graph construction, the batched model call (first-order
gradients, the default, and CHGNet's own second-order graph, ``RelaxSettings.second_order``), the ASE optimiser
step, per member-step, measured side by side in one run.

    python benchmarks/chgnet_profile.py --structure Na3MnCoNiO6 --members 16 --steps 15
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # as sweep workers run
    os.environ.setdefault(_var, "1")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--structure", default="Na3MnCoNiO6")
    ap.add_argument("--members", type=int, default=16)
    ap.add_argument("--steps", type=int, default=15)
    ap.add_argument("--level", type=float, default=0.05)
    args = ap.parse_args()

    import numpy as np
    import torch

    torch.set_num_threads(1)
    from xrdtui.engine import chgnet_internals as ci
    from xrdtui.engine.noise import distort
    from xrdtui.engine.relax import RelaxSettings, _graph_of, _Member, load_model
    from xrdtui.engine.structures import benchmark_structure, with_params

    truth = benchmark_structure(args.structure)
    d = distort(truth, args.structure, "lattice", args.level, args.members, seed=0)
    starts = [with_params(truth, lat, fr) for lat, fr in zip(d.lattice, d.frac)]
    model = load_model()
    settings = RelaxSettings(steps=args.steps)
    members = [_Member(s, model, settings) for s in starts]
    clock = {"graph": 0.0, "model (first-order)": 0.0, "model (second_order=True)": 0.0, "ase step": 0.0}
    max_diff = 0.0
    for _ in range(args.steps):
        t = time.perf_counter()
        graphs = [_graph_of(model, m.atoms) for m in members]
        clock["graph"] += time.perf_counter() - t
        t = time.perf_counter()
        ref = ci._fast_efs(model, graphs, second_order=True)
        clock["model (second_order=True)"] += time.perf_counter() - t
        t = time.perf_counter()
        new = ci.predict_efs(model, graphs)
        clock["model (first-order)"] += time.perf_counter() - t
        max_diff = max(max_diff, max(float(np.max(np.abs(r["f"] - n["f"]))) for r, n in zip(ref, new)))
        t = time.perf_counter()
        for m, p in zip(members, new):
            m.feed(p, model)
            m.record()
            m.opt.step()
            m.opt.nsteps += 1
        clock["ase step"] += time.perf_counter() - t
    n = args.members * args.steps
    total = sum(v for k, v in clock.items() if k != "model (second_order=True)")
    print(f"{args.structure} ({len(truth)} sites), {args.members} members x {args.steps} steps")
    for k, v in clock.items():
        print(f"  {k:28s} {1e3 * v / n:7.2f} ms per member-step  ({v / total:5.1%} of the default path)")
    print(f"  first-order / second-order: {clock['model (first-order)'] / clock['model (second_order=True)']:.2f}x; "
          f"max |ΔF| {max_diff:.2e} eV/Å")
    print(f"  peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
