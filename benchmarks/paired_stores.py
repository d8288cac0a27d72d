"""Two campaign stores of the same distortions (same seed, structures, levels, distortions), side by side:
per (noise, level, method, mode) each store's pooled paper match rate and strict recovery rate, and the
paired difference B − A member by member with a 95 % percentile bootstrap interval over members.

    python benchmarks/paired_stores.py store/paper.h5 store/paper-adam.h5            # the table
    python benchmarks/paired_stores.py store/paper.h5 store/paper-adam.h5 --markdown # README rows of B

Members pair by (structure, noise, level, method, mode, member index): a campaign's distortions depend only
on (seed, structure, noise, level), never on the optimiser, so the same index is the same distorted start.
The script refuses stores whose seeds or distortion counts differ.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from xrdtui.methods import method_rank
from xrdtui.report.data import load
from xrdtui.report.stats import paired_difference
from xrdtui.store.reader import StoreReader
from xrdtui.vocab import MODE_ORDER


def _data(path):
    with StoreReader.open(path) as reader:
        return load(reader, starts=False)


def rows(a, b):
    out = []
    series = sorted({k[1:] for k in set(a.members) & set(b.members)},
                    key=lambda k: (k[0], method_rank(k[2]), MODE_ORDER.index(k[3]) if k[3] in MODE_ORDER else 9, k[1]))
    for noise, level, method, mode in series:
        pairs = {"matched": ([], []), "recovered": ([], [])}
        for structure in a.structures_of(noise):
            ra, rb = a.get(structure, noise, level, method, mode), b.get(structure, noise, level, method, mode)
            if ra is None or rb is None:
                continue
            n = min(len(ra["matched"]), len(rb["matched"]))
            for name, (xa, xb) in pairs.items():
                xa.append(np.asarray(ra[name][:n], dtype=float))
                xb.append(np.asarray(rb[name][:n], dtype=float))
        xa, xb = (np.concatenate(v) for v in pairs["matched"])
        sa, sb = (np.concatenate(v) for v in pairs["recovered"])
        out.append(dict(noise=noise, level=level, method=method, mode=str(mode), n=xa.size,
                        a=xa.mean(), b=xb.mean(), a_s=sa.mean(), b_s=sb.mean(),
                        d=paired_difference(xb, xa), d_s=paired_difference(sb, sa)))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--markdown", action="store_true", help="B's rates as the README's tables (paper (strict) n=)")
    args = ap.parse_args(argv)
    a, b = _data(args.a), _data(args.b)
    def origin(d):
        return d.seed, d.conventions.get("noise", {}).get("distortions")

    if origin(a) != origin(b):
        print("the stores were not made from the same distortions (seed or distortions differ)", file=sys.stderr)
        return 2
    table = rows(a, b)
    if args.markdown:
        for noise in dict.fromkeys(r["noise"] for r in table):
            cols = list(dict.fromkeys((r["method"], r["mode"]) for r in table if r["noise"] == noise))
            print(f"| {noise} σ | " + " | ".join(m if md == "start" else f"{m} {md}" for m, md in cols) + " |")
            print("|---" * (len(cols) + 1) + "|")
            for level in sorted({r["level"] for r in table if r["noise"] == noise}):
                cells = {(r["method"], r["mode"]): r for r in table if r["noise"] == noise and r["level"] == level}
                print(f"| {level:g} | " + " | ".join(
                    f"{cells[c]['b']:.2f} ({cells[c]['b_s']:.2f}) n={cells[c]['n']}" if c in cells else "–"
                    for c in cols) + " |")
            print()
        return 0
    print(f"A = {args.a}, B = {args.b}; Δ = B − A on the same members, percentage points [95 % bootstrap]")
    print(f"{'noise':8s} {'level':>6s} {'method':>10s} {'mode':>10s} {'n':>5s} {'A paper':>8s} {'B paper':>8s} "
          f"{'Δ paper':>26s} {'A strict':>8s} {'B strict':>8s} {'Δ strict':>26s}")
    for r in table:
        print(f"{r['noise']:8s} {r['level']:6g} {r['method']:>10s} {r['mode']:>10s} {r['n']:5d} {r['a']:8.1%} "
              f"{r['b']:8.1%} {r['d'].text(percent=True):>26s} {r['a_s']:8.1%} {r['b_s']:8.1%} "
              f"{r['d_s'].text(percent=True):>26s}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
