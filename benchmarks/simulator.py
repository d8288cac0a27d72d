"""Benchmark: the differentiable simulator against pymatgen + numpy broadening, side by side.

    python benchmarks/simulator.py [--batch 50] [--repeats 5] [--threads N] [--sigma 0.05]

For each structure (default Na3MnCoNiO6 and U2Ti) and a batch of variants (lattice strain
S = I + U(-sigma, sigma)^{3x3} and coordinate noise N(0, sigma^2), seeded) it prints, per pattern:

* sim lat:   forward + backward of the project's cosine loss through ``XRDSimulator.pattern(lattice)``
* sim +frac: the same with the fractional coordinates as well
* pmg var:   ``XRDCalculator.get_pattern`` + an exact numpy pseudo-Voigt sum onto the same 9000 bins
             (vectorised over peaks; Lorentzian dense, Gaussian within ±5 FWHM), forward only, on the
             same distorted variants (their symmetry is broken, so they have many more distinct peaks)
* pmg tmpl:  the same on the symmetric template (fewer peaks: the optimistic reference)
* the ratios pmg var / sim and pmg tmpl / sim (tmpl also in process CPU time, less sensitive to other
  load), the accuracy (relative L2 error of the simulator's patterns against the exact dense
  pseudo-Voigt sum of the same peaks, max over the batch) and the peak memory of one fwd+bwd step at
  the batch (peak-RSS growth, measured in a fresh child process).

Timings are medians over ``--repeats`` rounds; each round times the simulator and pymatgen back to
back, so machine load affects both alike.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
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


def memory_child(name: str, batch: int, sigma: float) -> None:
    """Print the ru_maxrss growth (MB) of one fwd+bwd step with coordinates (run in a fresh process)."""
    from xrdtui.engine.losses import get_loss
    from xrdtui.engine.noise import coord_noise, lattice_noise
    from xrdtui.engine.simulator import XRDSimulator
    from xrdtui.engine.structures import benchmark_structure

    sim = XRDSimulator(benchmark_structure(name))
    rng = np.random.default_rng(12345)
    lat = torch.tensor(lattice_noise(sim.template_lattice.numpy(), sigma, batch, rng), requires_grad=True)
    frac = torch.tensor(coord_noise(sim.template_frac.numpy(), sigma, batch, rng), requires_grad=True)
    target = sim.pattern(sim.template_lattice).detach()
    loss = get_loss("cosine")
    loss(sim.pattern(lat[:2], frac[:2]), target).sum().backward()  # warm-up: caches, lazy inits

    def status_kb(key: str) -> float:
        with open("/proc/self/status") as fh:
            return float(next(line.split()[1] for line in fh if line.startswith(key)))

    try:  # reset the peak-RSS mark (Linux), so the import-time peak does not hide the step's
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        rss0 = status_kb("VmRSS:")
        loss(sim.pattern(lat, frac), target).sum().backward()
        print((status_kb("VmHWM:") - rss0) / 1024.0)
    except OSError:  # elsewhere: ru_maxrss growth (may read 0 when imports peaked higher)
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        loss(sim.pattern(lat, frac), target).sum().backward()
        print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--structures", default="Na3MnCoNiO6,U2Ti")
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--steps", type=int, default=10, help="simulator steps timed per round")
    ap.add_argument("--pymatgen-patterns", type=int, default=5, help="pymatgen patterns timed per round")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--sigma", type=float, default=0.05)
    ap.add_argument("--no-allocator-tuning", action="store_true",
                    help="skip jobs.executors.tune_allocator() (glibc mallopt, process-wide; sweep workers call it too)")
    ap.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.memory_child:
        memory_child(args.memory_child, args.batch, args.sigma)
        return

    from pymatgen.analysis.diffraction.xrd import XRDCalculator

    from xrdtui.engine.losses import get_loss
    from xrdtui.engine.noise import coord_noise, lattice_noise
    from xrdtui.engine.profile import dense_profile
    from xrdtui.engine.simulator import PatternSettings, XRDSimulator
    from xrdtui.jobs.executors import tune_allocator
    from xrdtui.engine.structures import benchmark_structure, with_params

    tuned = False if args.no_allocator_tuning else tune_allocator()
    settings = PatternSettings()
    cosine = get_loss("cosine")
    x = settings.two_theta
    calc = XRDCalculator(wavelength=settings.wavelength)
    print(f"torch {torch.__version__}, {args.threads} thread(s), batch {args.batch}, sigma {args.sigma}, "
          f"{args.repeats} rounds (medians), allocator tuning {'on' if tuned else 'off'}, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    header = (f"{'structure':12s} {'R':>4s} {'sim lat':>8s} {'sim +frac':>9s} {'pmg var':>8s} {'pmg tmpl':>8s} "
              f"{'var/lat':>8s} {'var/+frac':>9s} {'tmpl/lat':>8s} {'cpu t/l':>8s} {'rel L2':>8s} {'mem MB':>7s}")
    print(header)
    print("-" * len(header))
    for name in args.structures.split(","):
        st = benchmark_structure(name)
        sim = XRDSimulator(st, settings)
        rng = np.random.default_rng(12345)
        lattices = lattice_noise(sim.template_lattice.numpy(), args.sigma, args.batch, rng)
        fracs = coord_noise(sim.template_frac.numpy(), args.sigma, args.batch, rng)
        target = sim.pattern(sim.template_lattice).detach()
        lat_t = torch.tensor(lattices, requires_grad=True)
        frac_t = torch.tensor(fracs, requires_grad=True)

        def step(with_frac: bool) -> None:
            cosine(sim.pattern(lat_t, frac_t if with_frac else None), target).sum().backward()

        variants = [with_params(st, lattices[i], fracs[i]) for i in range(args.pymatgen_patterns)]

        def pymatgen_patterns(structures) -> None:
            for s in structures:
                p = calc.get_pattern(s, two_theta_range=(0, 90))
                numpy_broaden(x, np.asarray(p.x), np.asarray(p.y), settings.U, settings.V, settings.W,
                              settings.eta)

        def timed(fn, n):  # (wall, process CPU) seconds per call; one untimed call first (warm caches)
            fn()
            w0, c0 = time.perf_counter(), time.process_time()
            for _ in range(n):
                fn()
            return (time.perf_counter() - w0) / n, (time.process_time() - c0) / n

        t_lat, t_frac, t_var, t_tmpl = [], [], [], []
        for _ in range(args.repeats):
            for with_frac, acc in ((False, t_lat), (True, t_frac)):
                acc.append([v / args.batch for v in timed(lambda: step(with_frac), args.steps)])
            for structures, acc in ((variants, t_var), ([st] * args.pymatgen_patterns, t_tmpl)):
                acc.append([v / len(structures) for v in timed(lambda: pymatgen_patterns(structures), 1)])

        with torch.no_grad():  # accuracy against the exact dense sum of the same peaks
            tt, inten = sim.peaks(lat_t, frac_t)
            ref = dense_profile(x, tt, inten, settings.U, settings.V, settings.W, settings.eta)
            ref = ref / ref.amax(1, keepdim=True)
            pred = sim.pattern(lat_t, frac_t).double()
            err = float(((pred - ref).norm(dim=1) / ref.norm(dim=1)).max())
        child = subprocess.run([sys.executable, __file__, "--memory-child", name, "--batch", str(args.batch),
                                "--sigma", str(args.sigma), "--threads", str(args.threads)],
                               capture_output=True, text=True, check=True)
        mem_mb = float(child.stdout.strip().splitlines()[-1])
        ml, mf, mv, mt = (statistics.median(v[0] for v in t) * 1e3 for t in (t_lat, t_frac, t_var, t_tmpl))
        cl, ct = (statistics.median(v[1] for v in t) for t in (t_lat, t_tmpl))
        print(f"{name:12s} {tt.shape[1]:4d} {ml:7.3f}m {mf:8.3f}m {mv:7.2f}m {mt:7.2f}m "
              f"{mv / ml:7.0f}x {mv / mf:8.0f}x {mt / ml:7.0f}x {ct / cl:7.0f}x {err:8.1e} {mem_mb:7.1f}")
    print("ms per pattern (wall clock); sim = forward + backward at the batch, pymatgen = forward only;\n"
          "ratios are pymatgen / sim per pattern (var: distorted variants, tmpl: symmetric template);\n"
          "cpu t/l: tmpl/lat with process CPU time instead of wall clock (less sensitive to machine load)")


if __name__ == "__main__":
    main()
