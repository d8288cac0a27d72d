"""Wall time of landscape slices (run by hand: ``python benchmarks/landscape.py``; not a test).

1. The cosine landscape of U2Ti over (a, c) within +-15 % at 201 x 201 (paper Figure 2), split into
   end to end (simulator build, forward-only float32 grid in chunks, minimum search, patterns of the
   top minima) and the minimum search alone; repeated, median reported. Target: <= 10 s on the 2-core development machine.
2. The CHGNet energy landscape of U2Ti over (a, c) at 51 x 51 through
   ``xrdtui.engine.relax.chgnet_energies`` (batched), unless ``--no-chgnet``.

Other engineers share the machine's cores: numbers are noisy, so the load average is printed too.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time


def _cosine(args) -> None:
    import numpy as np
    import torch

    from xrdtui.engine.landscape import find_minima, landscape_grid
    from xrdtui.engine.structures import benchmark_structure

    structure = benchmark_structure(args.structure)
    kw = dict(span=args.span, chunk=args.chunk)
    landscape_grid(structure, ("a", "c"), "cosine", resolution=5, **kw)  # warm caches and imports
    times, min_times = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        land = landscape_grid(structure, ("a", "c"), "cosine", resolution=args.resolution, **kw)
        t1 = time.perf_counter()
        find_minima(land.values)
        min_times.append(time.perf_counter() - t1)
        times.append(t1 - t0)
    n = args.resolution**2
    total = statistics.median(times)
    print(f"{args.structure} cosine (a, c) +-{args.span:.0%} {args.resolution}x{args.resolution} = {n} cells, "
          f"chunk {args.chunk}, torch threads {torch.get_num_threads()}")
    print(f"  landscape_grid total {total:7.3f} s = {total / n * 1e3:.3f} ms per cell (simulator build, grid, "
          f"minima, 3 patterns; runs: {', '.join(f'{t:.2f}' for t in times)}; target <= 10 s)")
    print(f"  of which find_minima {statistics.median(min_times):7.3f} s")
    top = "; ".join(f"({m.coords[0]:.3f}, {m.coords[1]:.3f}) {m.value:.4f} depth {m.depth:.4f}"
                    for m in land.minima[:4])
    print(f"  {len(land.minima)} separated minima; deepest: {top}")
    assert np.isfinite(land.values).all()


def _chgnet(args) -> None:
    import numpy as np

    from xrdtui.engine.landscape import landscape_grid
    from xrdtui.engine.relax import chgnet_energies
    from xrdtui.engine.structures import benchmark_structure

    structure = benchmark_structure(args.structure)
    chgnet_energies([structure])  # load the model once, outside the timing
    t0 = time.perf_counter()
    land = landscape_grid(structure, ("a", "c"), "energy", energy_fn=chgnet_energies, span=args.span,
                          resolution=args.chgnet_resolution, n_patterns=0, chunk=512)
    dt = time.perf_counter() - t0
    n = args.chgnet_resolution**2
    m = land.minima[0] if land.minima else None
    print(f"U2Ti CHGNet energy (a, c) {args.chgnet_resolution}x{args.chgnet_resolution} = {n} cells: "
          f"{dt:.2f} s = {dt / n * 1e3:.1f} ms per cell; NaN cells {int(np.isnan(land.values).sum())}; "
          f"{len(land.minima)} minima" + (f", deepest at ({m.coords[0]:.3f}, {m.coords[1]:.3f})" if m else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--structure", default="U2Ti")
    parser.add_argument("--resolution", type=int, default=201)
    parser.add_argument("--span", type=float, default=0.15)
    parser.add_argument("--chunk", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--chgnet-resolution", type=int, default=51)
    parser.add_argument("--no-chgnet", action="store_true")
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    _cosine(args)
    if not args.no_chgnet:
        _chgnet(args)


if __name__ == "__main__":
    main()
