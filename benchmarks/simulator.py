"""Benchmark: the differentiable simulator against pymatgen + numpy broadening, side by side.

    python benchmarks/simulator.py [--batch 50] [--repeats 5] [--threads N] [--sigma 0.05]

For each structure (default Na3MnCoNiO6 and U2Ti) and a batch of lattice-strained variants
(S = I + U(-sigma, sigma)^{3x3}, seeded), it prints per pattern:

* sim lat:      forward + backward of a cosine loss through ``XRDSimulator.pattern(lattice)`` at the batch
* sim lat+frac: the same with fractional coordinates (coordinate noise of the same sigma) as well
* pymatgen:     ``XRDCalculator.get_pattern`` (forward only, no gradient) + a dense numpy pseudo-Voigt sum
                onto the same 9000 bins (vectorised over peaks, the way a reasonable user would write it)
* the ratio pymatgen / sim, the accuracy (relative L2 error of the simulator's pattern against the
  exact dense pseudo-Voigt sum of the same peaks, max over the batch) and the peak-memory growth
  (ru_maxrss delta of the simulator step, measured first, in this process).

Timings are medians over ``--repeats`` rounds, each round timing the simulator and pymatgen back to
back, so machine load affects both alike.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402


def numpy_broaden(x, pos, inten, U, V, W, eta, gauss_window=5.0):
    """Pseudo-Voigt sum (numpy) onto the bins x, vectorised over peaks: the Lorentzian part dense (its
    tails are long), the Gaussian part only within ±gauss_window FWHM (exp(−4 ln2·25) ≈ 1e-30 beyond).
    Exact to float precision; normalised to max 1."""
    step = x[1] - x[0]
    t = np.tan(np.radians(pos / 2.0))
    h = np.sqrt(U * t * t + V * t + W)
    z2 = ((x[None, :] - pos[:, None]) / h[:, None]) ** 2
    y = ((1.0 - eta) * 2.0 / np.pi) * ((inten / h) @ (1.0 / (1.0 + 4.0 * z2)))
    half = int(np.ceil(gauss_window * h.max() / step))
    idx = np.rint((pos - x[0]) / step).astype(int)[:, None] + np.arange(-half, half + 1)
    ok = (idx >= 0) & (idx < len(x))
    zg = (x[np.clip(idx, 0, len(x) - 1)] - pos[:, None]) / h[:, None]
    g = (eta * 2.0 * np.sqrt(np.log(2.0) / np.pi)) * (inten / h)[:, None] * np.exp(-4.0 * np.log(2.0) * zg * zg)
    y += np.bincount(idx[ok], weights=g[ok], minlength=len(x))
    return y / y.max()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--structures", default="Na3MnCoNiO6,U2Ti")
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--steps", type=int, default=10, help="simulator steps timed per round")
    ap.add_argument("--pymatgen-patterns", type=int, default=5, help="pymatgen patterns timed per round")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--sigma", type=float, default=0.05)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from pymatgen.analysis.diffraction.xrd import XRDCalculator

    from xrdtui.engine.losses import get_loss
    from xrdtui.engine.noise import coord_noise, lattice_noise
    from xrdtui.engine.profile import dense_profile
    from xrdtui.engine.simulator import PatternSettings, XRDSimulator
    from xrdtui.engine.structures import benchmark_structure, with_params

    settings = PatternSettings()
    cosine = get_loss("cosine")
    x = settings.two_theta
    calc = XRDCalculator(wavelength=settings.wavelength)
    print(f"torch {torch.__version__}, {args.threads} thread(s), batch {args.batch}, sigma {args.sigma}, "
          f"{args.repeats} rounds (medians)")
    header = (f"{'structure':12s} {'R':>5s} {'sim lat':>9s} {'sim +frac':>9s} {'pymatgen':>9s} "
              f"{'ratio':>7s} {'ratio+f':>7s} {'rel L2':>8s} {'mem MB':>7s}")
    print(header)
    print("-" * len(header))
    for name in args.structures.split(","):
        st = benchmark_structure(name)
        sim = XRDSimulator(st, settings)
        rng = np.random.default_rng(12345)
        lat0 = sim.template_lattice.cpu().numpy()
        lattices = lattice_noise(lat0, args.sigma, args.batch, rng)
        fracs = coord_noise(sim.template_frac.cpu().numpy(), args.sigma, args.batch, rng)
        target = sim.pattern(sim.template_lattice).detach()
        lat_t = torch.tensor(lattices, requires_grad=True)
        frac_t = torch.tensor(fracs, requires_grad=True)

        def step(with_frac: bool) -> None:
            pred = sim.pattern(lat_t, frac_t if with_frac else None)
            cosine(pred, target).sum().backward()

        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        step(True)
        step(False)
        mem_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024.0

        variants_lat = [with_params(st, lattices[i]) for i in range(args.pymatgen_patterns)]

        def pymatgen_patterns() -> None:
            for s in variants_lat:
                p = calc.get_pattern(s, two_theta_range=(0, 90))
                numpy_broaden(x, np.asarray(p.x), np.asarray(p.y), settings.U, settings.V, settings.W,
                              settings.eta)

        t_lat, t_frac, t_pmg = [], [], []
        for _ in range(args.repeats):
            for with_frac, acc in ((False, t_lat), (True, t_frac)):
                t0 = time.perf_counter()
                for _ in range(args.steps):
                    step(with_frac)
                acc.append((time.perf_counter() - t0) / args.steps / args.batch)
            t0 = time.perf_counter()
            pymatgen_patterns()
            t_pmg.append((time.perf_counter() - t0) / args.pymatgen_patterns)

        with torch.no_grad():  # accuracy against the exact dense sum of the same peaks
            tt, inten = sim.peaks(lat_t, frac_t)
            ref = dense_profile(x, tt, inten, settings.U, settings.V, settings.W, settings.eta)
            ref = ref / ref.amax(1, keepdim=True)
            pred = sim.pattern(lat_t, frac_t).double()
            err = float(((pred - ref).norm(dim=1) / ref.norm(dim=1)).max())
        ml, mf, mp = (statistics.median(v) * 1e3 for v in (t_lat, t_frac, t_pmg))
        print(f"{name:12s} {tt.shape[1]:5d} {ml:8.3f}m {mf:8.3f}m {mp:8.3f}m {mp / ml:6.1f}x {mp / mf:6.1f}x "
              f"{err:8.1e} {mem_mb:7.1f}")
    print("times are ms per pattern; sim = forward + backward at the batch, pymatgen = forward only")


if __name__ == "__main__":
    main()
