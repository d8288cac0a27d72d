"""Where a CHGNet lockstep relaxation spends its time, per member-step, each default beside what it replaced,
measured side by side in one run: graph construction (engine.chgnet_graph vs chgnet's converter, tensors
compared), the batched model call (first-order gradients, the default, vs CHGNet's own second-order graph,
``RelaxSettings.second_order``) and the ASE optimiser step (the cell filter's matrix functions from
engine.cell_math vs SciPy's, ``RelaxSettings.cell_math``); last, the model's matrix products against a large
float32 matmul on the same core (what is left to gain in the model call itself).

    python benchmarks/chgnet_profile.py --structure Na3MnCoNiO6 --members 16 --steps 15
    python benchmarks/chgnet_profile.py --structure Au2S --noise coords --cell primitive --steps 30
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
    ap.add_argument("--noise", default="lattice", choices=("lattice", "coords"))
    ap.add_argument("--cell", default="conventional", choices=("conventional", "primitive"))
    args = ap.parse_args()

    import dataclasses

    import numpy as np
    import torch

    torch.set_num_threads(1)
    from xrdtui.engine import chgnet_internals as ci
    from xrdtui.engine.chgnet_graph import crystal_graph, same_graph
    from xrdtui.engine.noise import distort
    from xrdtui.engine.relax import RelaxSettings, _graph_of, _Member, load_model
    from xrdtui.engine.structures import benchmark_structure, in_cell, with_params

    truth = in_cell(benchmark_structure(args.structure), args.cell)
    d = distort(truth, args.structure, args.noise, args.level, args.members, seed=0)
    starts = [with_params(truth, lat, fr) for lat, fr in zip(d.lattice, d.frac)]
    model = load_model()
    settings = RelaxSettings(steps=args.steps, supercells="keep")
    members = [_Member(s, model, settings) for s in starts]
    # the same starts with SciPy's matrix functions in the cell filter, stepped on their own predictions
    scipy_members = [_Member(s, model, dataclasses.replace(settings, cell_math="scipy")) for s in starts]
    clock = dict.fromkeys(("graph (chgnet converter)", "graph (engine.chgnet_graph)", "model (first-order)",
                           "model (second_order=True)", "ase step (cell_math=scipy)", "ase step (cell_math=fast)"), 0.0)
    max_diff, graphs_equal, path_diff = 0.0, True, 0.0

    def step(group, preds, label):
        t = time.perf_counter()
        for m, p in zip(group, preds):
            m.feed(p, model)
            m.record()
            m.opt.step()
            m.opt.nsteps += 1
        clock[label] += time.perf_counter() - t

    ci.predict_efs(model, [model.graph_converter(starts[0])])  # warm: the one-off check of the fast path
    for _ in range(args.steps):
        structures = [_graph_structure(m.atoms) for m in members]
        t = time.perf_counter()
        theirs = [model.graph_converter(s) for s in structures]
        clock["graph (chgnet converter)"] += time.perf_counter() - t
        t = time.perf_counter()
        graphs = [crystal_graph(model.graph_converter, s) for s in structures]
        clock["graph (engine.chgnet_graph)"] += time.perf_counter() - t
        graphs_equal &= all(same_graph(a, b) for a, b in zip(graphs, theirs))
        t = time.perf_counter()
        ref = ci._fast_efs(model, graphs, second_order=True)
        clock["model (second_order=True)"] += time.perf_counter() - t
        t = time.perf_counter()
        new = ci.predict_efs(model, graphs)
        clock["model (first-order)"] += time.perf_counter() - t
        max_diff = max(max_diff, max(float(np.max(np.abs(r["f"] - n["f"]))) for r, n in zip(ref, new)))
        step(members, new, "ase step (cell_math=fast)")
        step(scipy_members, ci.predict_efs(model, [_graph_of(model, m.atoms) for m in scipy_members]),
             "ase step (cell_math=scipy)")
        path_diff = max(path_diff, max(float(np.abs(a.atoms.positions - b.atoms.positions).max())
                                       for a, b in zip(members, scipy_members)))
    n = args.members * args.steps
    default = ("graph (engine.chgnet_graph)", "model (first-order)", "ase step (cell_math=fast)")
    total = sum(clock[k] for k in default)
    print(f"{args.structure} {args.cell} ({len(truth)} sites), {args.noise} {args.level}, "
          f"{args.members} members x {args.steps} steps")
    for k, v in clock.items():
        mark = "*" if k in default else " "
        print(f" {mark}{k:30s} {1e3 * v / n:7.2f} ms per member-step  ({v / total:5.1%} of the default path *)")
    graph_ratio = clock["graph (engine.chgnet_graph)"] / clock["graph (chgnet converter)"]
    print(f"  graph: vectorised / chgnet {graph_ratio:.2f}x, tensors equal: {graphs_equal}")
    model_ratio = clock["model (first-order)"] / clock["model (second_order=True)"]
    print(f"  model: first-order / second-order {model_ratio:.2f}x; max |ΔF| {max_diff:.2e} eV/Å")
    print(f"  ase step: fast / scipy cell math "
          f"{clock['ase step (cell_math=fast)'] / clock['ase step (cell_math=scipy)']:.2f}x; "
          f"positions apart by at most {path_diff:.1e} Å after {args.steps} steps")
    old = clock["graph (chgnet converter)"] + clock["model (first-order)"] + clock["ase step (cell_math=scipy)"]
    print(f"  a member-step, default path / before engine.cell_math and engine.chgnet_graph: {total / old:.2f}x")
    share, rate, peak = _matmul_throughput(model, graphs)
    print(f"  model's matrix products: {share:.0%} of its time at {rate:.0f} GFLOP/s; this core's float32 "
          f"matmul at 2048^3: {peak:.0f} GFLOP/s ({rate / peak:.2f}x of it)")
    print(f"  peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


def _matmul_throughput(model, graphs) -> tuple[float, float, float]:
    """(share of the batched model call spent in matrix products, their GFLOP/s, a large float32 matmul's
    GFLOP/s on this core): how far the model's dense work is from what this CPU can do at all."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from xrdtui.engine import chgnet_internals as ci

    with profile(activities=[ProfilerActivity.CPU], with_flops=True) as prof:
        ci.predict_efs(model, graphs)
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    mm = [e for e in events if e.key in ("aten::mm", "aten::addmm", "aten::bmm")]
    mm_us = sum(e.self_cpu_time_total for e in mm)
    rate = sum(e.flops for e in mm) / max(mm_us, 1e-9) / 1e3  # flops per µs -> GFLOP/s
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a @ b
    t = time.perf_counter()
    for _ in range(5):
        a @ b
    peak = 5 * 2 * 2048**3 / (time.perf_counter() - t) / 1e9
    return mm_us / total, rate, peak


def _graph_structure(atoms):
    from pymatgen.core import Lattice, Structure

    return Structure(Lattice(atoms.get_cell()[:]), atoms.get_atomic_numbers(), atoms.get_positions(),
                     coords_are_cartesian=True)


if __name__ == "__main__":
    main()
