"""Sweep benchmarks: wall time of the quick preset and of (a documented fraction of) the paper's XRD sweep,
store size per 1000 trajectories, and the time ``xrdtui status`` takes on a paper-size store.

    python benchmarks/sweep.py                 # quick preset + 1/10 of the paper XRD sweep, 2 workers
    python benchmarks/sweep.py --fraction 1    # the whole paper XRD sweep
    python benchmarks/sweep.py --skip-quick

The paper fraction is every k-th task of the XRD part of examples/paper.toml in its deterministic order, so
every structure, noise type, level, loss and mode is represented; the full-sweep time is extrapolated
linearly from it (said so in the output). Peak memory is the sweep process plus its largest worker times the
worker count (ru_maxrss of children is per process).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _rss_mb(who) -> float:
    return resource.getrusage(who).ru_maxrss / 1024.0


def run_quick(workers: int, out: Path) -> dict:
    from xrdtui.jobs.config import load_config
    from xrdtui.jobs.campaign import run_campaign

    cfg = load_config(ROOT / "examples" / "quick.toml")
    t0 = time.perf_counter()
    path = run_campaign(cfg, store_path=out / "quick.h5", workers=workers, overwrite=True)
    return {"wall_s": time.perf_counter() - t0, "path": path}


def run_paper_fraction(workers: int, fraction: float, out: Path, relax: bool = False) -> dict:
    """Every k-th XRD task (or, with ``relax``, every k-th CHGNet task) of examples/paper.toml."""
    from xrdtui.jobs.campaign import cell_structures, graph_sizes, run_campaign, site_counts, structure_infos
    from xrdtui.jobs.config import load_config
    from xrdtui.jobs.tasks import build_work
    from xrdtui.methods import is_kind
    from xrdtui.vocab import MethodKind

    cfg = load_config(ROOT / "examples" / "paper.toml")
    infos = structure_infos(cfg)
    cells = cell_structures(infos)
    items = [it for it in build_work(cfg, site_counts(infos, cells), "cpu", graph_sizes(cfg, cells))
             if is_kind(it.info.method, MethodKind.RELAXATION) == relax]
    stride = max(1, round(1 / fraction))
    chosen = {it.info.task_id for it in items[::stride]}
    t0 = time.perf_counter()
    path = run_campaign(cfg, store_path=out / ("paper_relax.h5" if relax else "paper.h5"), workers=workers,
                        overwrite=True,
                        only=lambda info: info.task_id in chosen)
    wall = time.perf_counter() - t0
    return {"wall_s": wall, "tasks": len(chosen), "all_tasks": len(items), "path": path,
            "members": len(chosen) * cfg.distortions, "extrapolated_s": wall * len(items) / len(chosen)}


def status_time(out: Path) -> tuple[float, float]:
    """Wall time of `xrdtui status` on a paper-size store (synthetic arrays, real layout) vs `python -c pass`."""
    from xrdtui.jobs.config import load_config
    from xrdtui.store.synthetic import run_fake

    cfg = load_config(ROOT / "examples" / "paper.toml")
    n_tasks = len(cfg.structures) * sum(len(v) for v in cfg.noise.values()) * (3 * 2 + 1)
    path = out / "paper_size.h5"
    with contextlib.redirect_stdout(io.StringIO()):
        run_fake(path, n_tasks=n_tasks)

    def timed(cmd) -> float:
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            best = min(best, time.perf_counter() - t0)
        return best

    return timed([sys.executable, "-m", "xrdtui", "status", str(path)]), timed([sys.executable, "-c", "pass"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--fraction", type=float, default=0.1)
    parser.add_argument("--skip-quick", action="store_true")
    parser.add_argument("--skip-paper", action="store_true")
    parser.add_argument("--relax-fraction", type=float, default=0.0,
                        help="also run this fraction of the paper's CHGNet tasks (e.g. 0.1)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        rows = []
        if not args.skip_quick:
            q = run_quick(args.workers, out)
            rows.append(("examples/quick.toml, wall time", f"{q['wall_s']:.1f} s (target <= 180 s)"))
        if not args.skip_paper:
            p = run_paper_fraction(args.workers, args.fraction, out)
            size = p["path"].stat().st_size
            rows.append((f"paper XRD sweep: {p['tasks']} of {p['all_tasks']} tasks measured", f"{p['wall_s']:.1f} s"))
            rows.append(("paper XRD sweep, extrapolated to all tasks" if p["tasks"] < p["all_tasks"]
                         else "paper XRD sweep, measured", f"{p['extrapolated_s'] / 60:.1f} min (target <= 60 min)"))
            rows.append(("store size per 1000 trajectories",
                         f"{size / p['members'] * 1000 / 2**20:.1f} MiB ({p['members']} trajectories, whole file)"))
        if args.relax_fraction > 0:
            c = run_paper_fraction(args.workers, args.relax_fraction, out, relax=True)
            rows.append((f"paper CHGNet part: {c['tasks']} of {c['all_tasks']} tasks ({c['members']} relaxations)",
                         f"{c['wall_s']:.1f} s = {c['members'] / c['wall_s'] * 60:.0f} relaxations/min"))
            rows.append(("paper CHGNet part, extrapolated to all tasks", f"{c['extrapolated_s'] / 60:.1f} min"))
        main_mb, child_mb = _rss_mb(resource.RUSAGE_SELF), _rss_mb(resource.RUSAGE_CHILDREN)
        rows.append(("peak memory (sweep + workers x largest worker)",
                     f"{main_mb + args.workers * child_mb:.0f} MiB (sweep {main_mb:.0f}, worker {child_mb:.0f}; target <= 4096)"))
        st, py = status_time(out)
        rows.append(("`xrdtui status` on a paper-size store", f"{st:.2f} s (python start-up alone {py:.2f} s; target < 1 s)"))

    width = max(len(r[0]) for r in rows)
    print(f"sweep benchmark, {args.workers} workers")
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")


if __name__ == "__main__":
    main()
