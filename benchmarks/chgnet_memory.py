"""Peak resident memory and time of a lockstep CHGNet relaxation with and without the edge budget
(RelaxSettings.max_edges), each in a fresh process, side by side; and whether the trajectories agree.

    python benchmarks/chgnet_memory.py --structure Na3MnCoNiO6 --members 25 --steps 8
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # as sweep workers run
    os.environ.setdefault(_var, "1")


def child(structure: str, members: int, steps: int, max_edges: int, out: str) -> None:
    import numpy as np
    import torch

    torch.set_num_threads(1)
    from xrdtui.engine.noise import distort
    from xrdtui.engine.relax import RelaxSettings, load_model, relax_structures
    from xrdtui.engine.structures import benchmark_structure, with_params
    from xrdtui.jobs.executors import tune_allocator

    tune_allocator()  # as sweep workers
    truth = benchmark_structure(structure)
    d = distort(truth, structure, "lattice", 0.05, members, seed=0)
    starts = [with_params(truth, lat, fr) for lat, fr in zip(d.lattice, d.frac)]
    load_model()
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = time.perf_counter()
    results = relax_structures(starts, RelaxSettings(steps=steps, max_edges=max_edges))
    wall = time.perf_counter() - t
    np.save(out, np.stack([r.energy[-1] for r in results]))
    print(json.dumps({"wall_s": wall, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "model_mb": base, "steps": int(sum(r.n_steps for r in results))}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--structure", default="Na3MnCoNiO6")
    ap.add_argument("--members", type=int, default=25)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--child", nargs=2)
    args = ap.parse_args()
    if args.child:
        return child(args.structure, args.members, args.steps, int(args.child[0]), args.child[1])
    import numpy as np

    rows = {}
    for label, edges in (("one call for the batch", 10**9), ("max_edges 6000 (default)", 6000)):
        out = f"/tmp/chgnet_memory_{edges}.npy"
        run = subprocess.run([sys.executable, __file__, "--structure", args.structure, "--members", str(args.members),
                              "--steps", str(args.steps), "--child", str(edges), out], capture_output=True, text=True)
        if run.returncode:
            print(f"{label}: failed: {run.stderr.strip().splitlines()[-1]}")
            continue
        rows[label] = (json.loads(run.stdout.strip().splitlines()[-1]), np.load(out))
    print(f"{args.structure}, {args.members} members x up to {args.steps} FIRE steps, one process each")
    for label, (r, _) in rows.items():
        print(f"  {label:26s} peak RSS {r['peak_mb']:6.0f} MB (model loaded: {r['model_mb']:.0f} MB), "
              f"{r['wall_s']:6.1f} s, {1e3 * r['wall_s'] / max(r['steps'], 1):.0f} ms per member-step")
    if len(rows) == 2:
        (a, ea), (b, eb) = rows.values()
        print(f"  time ratio {b['wall_s'] / a['wall_s']:.2f}x, memory ratio {b['peak_mb'] / a['peak_mb']:.2f}x, "
              f"final energies identical: {bool(np.array_equal(ea, eb))} (max diff {np.max(np.abs(ea - eb)):.1e} eV/atom)")


if __name__ == "__main__":
    main()
