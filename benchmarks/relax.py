"""CHGNet relaxations per minute: StructOptimizer loop vs worker processes vs the lockstep engine.

    python benchmarks/relax.py [--n 20] [--level 0.05] [--seed 0] [--repeats 3] [--structure Au2S]

The same n lattice-noise distortions of one benchmark structure (noise.distort, fixed seed) are relaxed
(FIRE, FrechetCellFilter, fmax 0.1 eV/Å, at most 500 steps) by

  seq-1p       one process, chgnet's StructOptimizer.relax in a loop (the baseline), 1 torch thread
  seq-1p-2t    the same with 2 torch threads (torch's default on this machine), for reference
  seq-2p       2 worker processes (1 torch thread each), StructOptimizer.relax, one structure per task
  lock-1p      one process, xrdtui.engine.relax.relax_structures (lockstep engine, batched CHGNet calls)
  lock-2p      2 worker processes, lockstep engine, half of the structures each

Model loading and process start-up are excluded (pools are warmed first). Each method runs
``--repeats`` times; the table shows the median (and min-max) relaxations per minute and the ratio of
medians to the baseline. Every relaxed structure is matched against the undistorted structure
(StructureMatcher ltol 0.1, stol 0.2, angle_tol 5) and the match vectors are compared across methods.
The machine's 2 cores are shared with other work: the load average is printed before and after,
and CPU seconds per relaxation are shown next to the wall-clock rates.

BLAS threads: OpenBLAS (numpy/scipy) threads busy-wait during FrechetCellFilter's 3x3 matrix
functions. Unless OPENBLAS_NUM_THREADS=1 is set before numpy loads, one process burns 2 CPU seconds per
second of work and 2 worker processes slow each other down ~9x. This script sets it (--blas-threads 1).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(_HERE))

FMAX, STEPS = 0.1, 500


def _init_worker(threads: int = 1) -> None:
    import torch

    torch.set_num_threads(threads)
    warnings.filterwarnings("ignore")
    from xrdtui.engine.relax import load_model

    load_model()


def _seq_relax(structures) -> tuple[list, float]:
    """The baseline: chgnet's StructOptimizer.relax per structure -> (final structures, CPU seconds)."""
    import contextlib
    import io

    from chgnet.model import StructOptimizer

    from xrdtui.engine.relax import load_model

    cpu = time.process_time()
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opt = StructOptimizer(model=load_model(), optimizer_class="FIRE", use_device="cpu")
        finals = [opt.relax(s, fmax=FMAX, steps=STEPS, verbose=False)["final_structure"] for s in structures]
    return finals, time.process_time() - cpu


def _lock_relax(structures) -> tuple[list, float]:
    """The lockstep engine -> (final structures, CPU seconds)."""
    from xrdtui.engine.relax import RelaxSettings, relax_structures

    cpu = time.process_time()
    results = relax_structures(structures, RelaxSettings(fmax=FMAX, steps=STEPS, engine="lockstep"))
    return [r.final_structure for r in results], time.process_time() - cpu


def _gather(parts) -> tuple[list, float]:
    """Concatenate worker outputs and add up their CPU seconds."""
    parts = list(parts)
    return [f for finals, _ in parts for f in finals], sum(cpu for _, cpu in parts)


def _warm(_):
    return os.getpid()


def _pool(n_workers: int) -> ProcessPoolExecutor:
    import multiprocessing as mp

    pool = ProcessPoolExecutor(n_workers, mp_context=mp.get_context("spawn"), initializer=_init_worker)
    list(pool.map(_warm, range(n_workers * 2)))  # start and load the model in every worker
    return pool


def _match(reference, finals) -> list[bool]:
    try:
        from xrdtui.engine.matching import match_structures

        return [m.matched for m in match_structures(reference, finals)]
    except ImportError:  # matching.py not there yet: same tolerances, pymatgen directly
        from pymatgen.analysis.structure_matcher import StructureMatcher

        sm = StructureMatcher(ltol=0.1, stol=0.2, angle_tol=5)
        return [f is not None and sm.fit(reference, f) for f in finals]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--structure", default="Au2S")
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--level", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--blas-threads", type=int, default=1,
                    help="OPENBLAS/OMP/MKL_NUM_THREADS for this process and its workers (set before numpy "
                         "loads). With more than 1, OpenBLAS threads busy-wait during FrechetCellFilter's small "
                         "matrix work: 2 CPU seconds per 1 of work, and 2 worker processes slow down ~9x")
    ap.add_argument("--methods", default="seq-1p,seq-1p-2t,seq-2p,lock-1p,lock-2p,sweep-2w,sweep-2w-warm",
                    help="comma-separated subset; seq-1p (the baseline) always runs")
    args = ap.parse_args()
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.blas_threads)  # inherited by the spawned workers

    import torch

    warnings.filterwarnings("ignore")
    from xrdtui.engine.noise import distort
    from xrdtui.engine.structures import benchmark_structure, with_params

    reference = benchmark_structure(args.structure)
    d = distort(reference, name=args.structure, noise="lattice", level=args.level, n=args.n, seed=args.seed)
    structures = [with_params(reference, d.lattice[i], d.frac[i]) for i in range(args.n)]
    half = [structures[: args.n // 2], structures[args.n // 2 :]]

    _init_worker(1)
    pool2 = _pool(2)

    def seq_1p():
        return _seq_relax(structures)

    def seq_1p_2t():
        torch.set_num_threads(2)
        try:
            return _seq_relax(structures)
        finally:
            torch.set_num_threads(1)

    def seq_2p():
        return _gather(pool2.map(_seq_relax, [[s] for s in structures]))

    def lock_1p():
        return _lock_relax(structures)

    def lock_2p():
        return _gather(pool2.map(_lock_relax, half))

    warm_pool = None

    def sweep_2w(warm: bool = False):
        """The real thing: `xrdtui run` machinery (run_campaign, 2 worker processes, HDF5 store, matching) on
        the same distortions; the task's members are split across the workers. Cold: a fresh run, process
        start-up and CHGNet loading included. Warm: workers already started, like the baseline's process."""
        nonlocal warm_pool
        import tempfile

        from xrdtui.jobs.executors import LocalExecutor
        from xrdtui.jobs.tasks import warm_worker

        if warm and warm_pool is None:
            warm_pool = LocalExecutor(2)
            for f in [warm_pool.submit(warm_worker, ("chgnet",)) for _ in range(2)]:
                f.result()

        from xrdtui.engine.structures import with_params as rebuild
        from xrdtui.store.reader import StoreReader
        from xrdtui.jobs.config import parse_config
        from xrdtui.jobs.campaign import run_campaign

        cfg = parse_config(
            f'name = "bench"\nseed = {args.seed}\nstructures = ["{args.structure}"]\ndistortions = {args.n}\n'
            f'methods = ["chgnet"]\n[noise]\nlattice = [{args.level}]\n[chgnet]\nfmax = {FMAX}\nsteps = {STEPS}\n')
        with tempfile.TemporaryDirectory() as tmp:
            path = run_campaign(cfg, store_path=f"{tmp}/bench.h5", workers=2, executor=warm_pool if warm else None)
            with StoreReader.open(path) as r:
                res = r.task(r.tasks()[0].task_id).result
        finals = [rebuild(reference, res.final_lattice[i], res.final_frac[i]) for i in range(args.n)]
        return finals, float("nan")  # worker CPU time is not visible from here

    methods = {"seq-1p": seq_1p, "seq-1p-2t": seq_1p_2t, "seq-2p": seq_2p, "lock-1p": lock_1p, "lock-2p": lock_2p,
               "sweep-2w": sweep_2w, "sweep-2w-warm": lambda: sweep_2w(warm=True)}
    wanted = {"seq-1p", *args.methods.split(",")}
    methods = {k: v for k, v in methods.items() if k in wanted}
    print(f"{args.n} distortions of {args.structure}, lattice noise {args.level}, seed {args.seed}; "
          f"torch {torch.__version__}, {os.cpu_count()} CPUs, BLAS/OpenMP threads {args.blas_threads}; "
          f"load average before: {os.getloadavg()}")
    _lock_relax(structures[:2])  # warm the lockstep path (its one-off fast-path check) outside the timing
    times: dict[str, list[float]] = {k: [] for k in methods}
    cpus: dict[str, list[float]] = {k: [] for k in methods}
    matches: dict[str, list[bool]] = {}
    for rep in range(args.repeats):
        for name, fn in methods.items():  # interleaved so that load changes hit every method alike
            t0 = time.perf_counter()
            finals, cpu = fn()
            times[name].append(time.perf_counter() - t0)
            cpus[name].append(cpu)
            m = _match(reference, finals)
            if name in matches and matches[name] != m:
                print(f"warning: {name} match results changed between repeats")
            matches[name] = m
    pool2.shutdown()

    base = statistics.median(times["seq-1p"])
    base_cpu = statistics.median(cpus["seq-1p"])
    print("\nwall: relaxations per wall-clock minute (what a user waits for; hit by other work on the cores)")
    print("cpu:  CPU seconds per relaxation, all processes (less sensitive to load; 2 workers can at best")
    print("      halve the wall time of the same CPU work)")
    print(f"\n{'method':<11} {'wall relax/min':>15} {'(min-max)':>15} {'x base':>7} "
          f"{'cpu s/relax':>12} {'x base':>7} {'matched':>8}")
    for name, ts in times.items():
        rates = [60 * args.n / t for t in ts]
        cpu = statistics.median(cpus[name])
        print(f"{name:<11} {60 * args.n / statistics.median(ts):>15.1f} "
              f"{min(rates):>7.1f}-{max(rates):<7.1f} {base / statistics.median(ts):>7.2f} "
              f"{cpu / args.n:>12.3f} {base_cpu / cpu:>7.2f} {sum(matches[name]):>4}/{args.n}")
    ref = matches["seq-1p"]
    same = all(m == ref for m in matches.values())
    print(f"\nmatch results identical across methods: {same}")
    if not same:
        for name, m in matches.items():
            print(f"  {name}: {''.join('1' if x else '0' for x in m)}")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
