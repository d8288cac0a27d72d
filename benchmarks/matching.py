"""Judging members with the paper's and the strict StructureMatcher: pymatgen's public calls (``fit`` then
``get_rms_dist`` per candidate and matcher, through pymatgen's reduced-structure cache as it fills in a
worker) against ``engine.matching.judge_members`` (the reference reduced once, each candidate once),
measured side by side in one run, with the verdicts compared member by member.

    python benchmarks/matching.py                          # 4 structures x lattice / coords noise, 50 members
    python benchmarks/matching.py --structures CsTlO --batches 6
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--structures", default="CsTlO,Na3MnCoNiO6,Au2S,BPO4")
    ap.add_argument("--members", type=int, default=50)
    ap.add_argument("--batches", type=int, default=3, help="batches per structure and noise, as a worker's tasks")
    args = ap.parse_args()
    warnings.simplefilter("ignore")

    import numpy as np
    from pymatgen.analysis.structure_matcher import StructureMatcher

    from xrdtui.engine import matching
    from xrdtui.engine.noise import distort
    from xrdtui.engine.structures import benchmark_structure, with_params

    paper_s, strict_s = matching.MatcherSettings(), matching.StrictMatcherSettings()
    paper, strict = paper_s.matcher(), strict_s.matcher()
    StructureMatcher._get_reduced_istructure.cache_clear()
    print(f"{args.members} members per batch, {args.batches} batches per structure and noise, both matchers")
    total_old = total_new = 0.0
    flips = 0
    for name in args.structures.split(","):
        truth = benchmark_structure(name)
        for noise, level in (("lattice", 0.05), ("coords", 0.05)):
            old_s = new_s = 0.0
            for k in range(args.batches):
                d = distort(truth, name, noise, level, args.members, seed=k)
                cands = [with_params(truth, lat, fr) for lat, fr in zip(d.lattice, d.frac)]
                t = time.perf_counter()
                old = {}
                for flag, rms, m in (("matched", "rms", paper), ("recovered", "strict_rms", strict)):
                    res = [matching.match_one(truth, c, m) for c in cands]  # fit + get_rms_dist, pymatgen's cache
                    old[flag] = np.array([r.matched for r in res])
                    old[rms] = np.array([r.rms if r.matched else np.nan for r in res])
                old_s += time.perf_counter() - t
                t = time.perf_counter()
                new = matching.judge_members(truth, cands, paper, strict)
                new_s += time.perf_counter() - t
                for key in ("matched", "rms", "recovered", "strict_rms"):
                    flips += int((~np.isclose(old[key], new[key], rtol=0, atol=0, equal_nan=True)).sum())
            total_old += old_s
            total_new += new_s
            print(f"  {name:12s} {noise:7s} public {old_s:6.2f} s   reduced once {new_s:6.2f} s   "
                  f"ratio {new_s / old_s:.2f}")
    print(f"all: public {total_old:.1f} s, reduced once {total_new:.1f} s, ratio {total_new / total_old:.2f}; "
          f"differing verdicts or rms: {flips}")


if __name__ == "__main__":
    main()
