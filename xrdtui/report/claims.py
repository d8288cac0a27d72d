"""The paper's claims against a store's numbers, each with a verdict computed by a rule stated beside it.

A verdict is "supported", "not supported" or "inconclusive"; every rule is written out in ``Claim.rule``
and printed in the report, and the code below is that rule, nothing more. Rates pool members over the
structures (k and n summed). Paired comparisons pair the *same* distorted members (same structure, level
and member index): every method of a campaign starts from the same seeded distortions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from xrdtui.report.data import ReportData, paired_members
from xrdtui.report.stats import Estimate, newcombe, paired_difference
from xrdtui.vocab import Mode, MethodKind, Noise

SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE = "supported", "not supported", "inconclusive"
PAPER_LOSSES = ("cosine", "mse", "entropy")  # the three objectives the paper's claims are about
SMALL_DIFFERENCE = 0.10  # C3: "only small differences": within ±10 percentage points
DEEP = 0.05  # C5: a minimum is deep when its depth is >= 5 % of the slice's range


@dataclass
class Claim:
    """One row of the claims table."""

    id: str
    words: str          # the paper's words (or, for additions, what the data show)
    numbers: str        # our numbers with intervals, one line
    verdict: str
    rule: str
    details: list[str] = field(default_factory=list)  # further lines (per level, examples)
    values: dict = field(default_factory=dict)        # machine-readable numbers (JSON)


def _losses(data: ReportData) -> list[str]:
    present = data.methods(MethodKind.DESCENT)
    return [m for m in PAPER_LOSSES if m in present]


def _pooled(data: ReportData, noise: str, level: float, series) -> tuple[int, int]:
    k = n = 0
    for structure in data.structures_of(noise):
        for method, mode in series:
            r = data.get(structure, noise, level, method, mode)
            if r is not None:
                k += int(np.sum(r["matched"]))
                n += len(r["matched"])
    return k, n


def c1_largest_drop(data: ReportData) -> Claim:
    rule = ("For each descent mode, pool the paper's three losses over the structures and find the pair of "
            "consecutive lattice levels with the largest fall in match rate. Supported if in every mode that "
            "pair lies within [0.05, 0.1] and its 95 % Newcombe interval excludes 0; not supported if in some "
            "mode the largest fall lies elsewhere with an interval excluding 0; inconclusive otherwise.")
    words = "For lattice distortions, the largest drop occurs between noise levels of 0.05 and 0.1."
    levels, losses = data.levels(Noise.LATTICE), _losses(data)
    if len(levels) < 2 or not losses:
        return Claim("C1", words, "no lattice-noise descent at two levels or more", INCONCLUSIVE, rule)
    parts, details, verdicts, values = [], [], [], {}
    for mode in (Mode.FREE, Mode.PROJECTED):
        series = [(m, mode) for m in losses]
        counts = [_pooled(data, Noise.LATTICE, lv, series) for lv in levels]
        if not all(n for _, n in counts):
            continue
        drops = [newcombe(k1, n1, k2, n2) for (k1, n1), (k2, n2) in zip(counts, counts[1:])]
        i = int(np.argmax([d.value for d in drops]))
        lo_level, hi_level, drop = levels[i], levels[i + 1], drops[i]
        inside = lo_level >= 0.05 - 1e-12 and hi_level <= 0.1 + 1e-12
        verdicts.append(SUPPORTED if inside and drop.excludes_zero() else
                        NOT_SUPPORTED if drop.excludes_zero() else INCONCLUSIVE)
        parts.append(f"{mode}: largest fall {lo_level:g}→{hi_level:g}, {drop.text(percent=True)}")
        details.append(f"{mode}: rates " + ", ".join(f"{lv:g}: {k / n:.1%}" for lv, (k, n) in zip(levels, counts)))
        values[str(mode)] = {"from": lo_level, "to": hi_level, "drop": drop.value, "lo": drop.lo, "hi": drop.hi}
    if not verdicts:
        return Claim("C1", words, "no mode with every lattice level finished", INCONCLUSIVE, rule)
    verdict = (SUPPORTED if all(v == SUPPORTED for v in verdicts) else
               NOT_SUPPORTED if NOT_SUPPORTED in verdicts else INCONCLUSIVE)
    return Claim("C1", words, "; ".join(parts), verdict, rule, details, values)


def c2_constraints_help(data: ReportData) -> Claim:
    rule = ("Paired difference projected − free of the paper match rate on the same lattice-noise members "
            "(structures, levels and losses pooled), with a 95 % percentile bootstrap interval over members. "
            "Supported if the interval lies above 0; not supported if it lies below 0; inconclusive otherwise.")
    words = ("Incorporating symmetry-based constraints during XRD-based optimization notably improves "
             "robustness to lattice noise (higher match rates when constraints are applied).")
    losses = _losses(data)
    a, b = paired_members(data, Noise.LATTICE, None, [(m, Mode.PROJECTED) for m in losses], [(m, Mode.FREE) for m in losses])
    if a.size == 0:
        return Claim("C2", words, "no lattice-noise members with both modes", INCONCLUSIVE, rule)
    total = paired_difference(a, b)
    details = []
    for level in data.levels(Noise.LATTICE):
        pa, pb = paired_members(data, Noise.LATTICE, level, [(m, Mode.PROJECTED) for m in losses],
                         [(m, Mode.FREE) for m in losses])
        if pa.size:
            d = paired_difference(pa, pb)
            details.append(f"σ = {level:g}: projected {pa.mean():.1%} vs free {pb.mean():.1%}, {d.text(percent=True)} "
                           f"({d.n} member pairs)")
    verdict = SUPPORTED if total.lo > 0 else NOT_SUPPORTED if total.hi < 0 else INCONCLUSIVE
    return Claim("C2", words, f"projected − free: {total.text(percent=True)} over {total.n} member pairs", verdict,
                 rule, details, {"difference": total.value, "lo": total.lo, "hi": total.hi, "pairs": total.n})


def c3_losses_alike(data: ReportData) -> Claim:
    rule = (f"Paired differences of the paper match rate between each pair of losses on the same members "
            f"(every noise, level, mode and structure pooled), 95 % bootstrap intervals. Supported if every "
            f"interval lies within ±{SMALL_DIFFERENCE:.0%}; not supported if one lies entirely outside it; "
            f"inconclusive otherwise.")
    words = ("Using either cosine similarity, MSE loss or entropy similarity as the objective makes only small "
             "differences in performance.")
    losses = _losses(data)
    if len(losses) < 2:
        return Claim("C3", words, "fewer than two of the paper's losses in the store", INCONCLUSIVE, rule)
    estimates, values = [], {}
    modes = [Mode.FREE, Mode.PROJECTED]
    for i, first in enumerate(losses):
        for second in losses[i + 1:]:
            xs, ys = [], []
            for noise in (Noise.LATTICE, Noise.COORDS):
                for mode in modes:
                    x, y = paired_members(data, noise, None, [(first, mode)], [(second, mode)])
                    xs.append(x)
                    ys.append(y)
            x, y = np.concatenate(xs), np.concatenate(ys)
            if x.size:
                d = paired_difference(x, y)
                estimates.append((f"{first} − {second}", d))
                values[f"{first}-{second}"] = {"difference": d.value, "lo": d.lo, "hi": d.hi, "pairs": d.n}
    if not estimates:
        return Claim("C3", words, "no paired members", INCONCLUSIVE, rule)
    inside = all(-SMALL_DIFFERENCE <= d.lo and d.hi <= SMALL_DIFFERENCE for _, d in estimates)
    outside = any(d.lo > SMALL_DIFFERENCE or d.hi < -SMALL_DIFFERENCE for _, d in estimates)
    name, largest = max(estimates, key=lambda e: abs(e[1].value))
    verdict = SUPPORTED if inside else NOT_SUPPORTED if outside else INCONCLUSIVE
    return Claim("C3", words, f"largest: {name} {largest.text(percent=True)}", verdict, rule,
                 [f"{n}: {d.text(percent=True)} ({d.n} pairs)" for n, d in estimates], values)


def c4_chgnet(data: ReportData) -> Claim:
    rule = ("CHGNet's pooled match rate per condition with 95 % Jeffreys intervals. Supported if every "
            "condition but coordinate noise 0.1 has a lower bound >= 0.8 and coordinate noise 0.1 has an upper "
            "bound below all of those lower bounds; not supported if another condition's upper bound is below "
            "0.8, or coordinate noise 0.1's lower bound exceeds another condition's upper bound; inconclusive "
            "otherwise.")
    words = ("CHGNet accurately recovers structures matching the ground truth from the distorted state alone, "
             "except for a high level (0.1) of coordinate noise.")
    from xrdtui.engine.matching import match_rate

    relax = data.methods(MethodKind.RELAXATION)
    if not relax:
        return Claim("C4", words, "no relaxation method in the store", INCONCLUSIVE, rule)
    method = relax[0]
    rates = {}
    for noise in (Noise.LATTICE, Noise.COORDS):
        for level in data.levels(noise):
            k, n = _pooled(data, noise, level, [(method, Mode.RELAX)])
            if n:
                rates[(noise, level)] = match_rate(k, n)
    hard = rates.get((Noise.COORDS, 0.1))
    others = {c: r for c, r in rates.items() if c != (Noise.COORDS, 0.1)}
    if not others:
        return Claim("C4", words, "no CHGNet conditions finished", INCONCLUSIVE, rule)
    details = [f"{noise} {level:g}: {r.k}/{r.n} = {r.rate:.1%} [{r.lo:.2f}, {r.hi:.2f}]" for (noise, level), r in rates.items()]
    low = min(r.lo for r in others.values())
    if any(r.hi < 0.8 for r in others.values()) or (hard is not None and hard.lo > min(r.hi for r in others.values())):
        verdict = NOT_SUPPORTED
    elif low >= 0.8 and hard is not None and hard.hi < low:
        verdict = SUPPORTED
    else:
        verdict = INCONCLUSIVE
    numbers = (f"lowest elsewhere {min(r.rate for r in others.values()):.1%} (lower bound {low:.2f}); "
               + (f"coordinate noise 0.1: {hard.rate:.1%} [{hard.lo:.2f}, {hard.hi:.2f}]" if hard else "no coordinate 0.1"))
    return Claim("C4", words, numbers, verdict, rule, details,
                 {f"{c[0]}:{c[1]:g}": {"rate": r.rate, "lo": r.lo, "hi": r.hi} for c, r in rates.items()})


def c5_deep_minima(data: ReportData) -> Claim:
    rule = (f"In the U2Ti (a, c) cosine slice of a landscapes store, count the separated minima whose depth "
            f"(barrier to a deeper basin) is >= {DEEP:.0%} of the slice's range. Supported if >= 3; not supported "
            f"if fewer; inconclusive without that slice (pass --landscapes).")
    words = "The U2Ti (a, c) cosine landscape shows multiple deep local minima (three highlighted)."
    rec = data.landscapes.get("U2Ti/cosine/a-c")
    if rec is None:
        return Claim("C5", words, "no U2Ti/cosine/a-c landscape given", INCONCLUSIVE, rule)
    grid = np.asarray(rec.grid, dtype=np.float64)
    span = float(np.nanmax(grid) - np.nanmin(grid))
    deep = [m for m in rec.minima if m.depth >= DEEP * span]
    stored = len(rec.minima)
    verdict = SUPPORTED if len(deep) >= 3 else NOT_SUPPORTED
    found = rec.attrs.get("minima_found", stored)
    return Claim("C5", words, f"{len(deep)} of the {stored} stored minima are deep ({found} found in all)", verdict,
                 rule, [f"#{m.rank + 1}: a = {m.p1:.3f} Å, c = {m.p2:.3f} Å, loss {m.value:.4f}, depth {m.depth:.4f}"
                        for m in rec.minima], {"deep": len(deep), "stored": stored})


def c6_high_similarity_wrong(data: ReportData) -> Claim:
    rule = ("Members (same distortion) where free cosine descent ends unmatched at a higher final cosine than "
            "projected descent, which matches: supported if there is at least one such member; not supported "
            "otherwise (inconclusive when either mode is missing).")
    words = ("Unconstrained GD can converge to a high-cosine wrong structure while constrained GD matches at a "
             "lower cosine (the paper's Figure 6: 0.71 vs 0.05).")
    cases, compared = [], 0
    for structure in data.structures_of(Noise.LATTICE):
        for level in data.levels(Noise.LATTICE):
            free = data.get(structure, Noise.LATTICE, level, "cosine", Mode.FREE)
            proj = data.get(structure, Noise.LATTICE, level, "cosine", Mode.PROJECTED)
            if free is None or proj is None:
                continue
            compared += len(free["matched"])
            for b in range(len(free["matched"])):
                sf, sp = float(free["final_similarity"][b]), float(proj["final_similarity"][b])
                if not free["matched"][b] and proj["matched"][b] and sf > sp:
                    cases.append((sf - sp, structure, level, b, sf, sp))
    if not compared:
        return Claim("C6", words, "no cosine runs in both modes", INCONCLUSIVE, rule)
    cases.sort(reverse=True)
    numbers = f"{len(cases)} of {compared} members ({len(cases) / compared:.1%})"
    details = []
    if cases:
        _, s, lv, b, sf, sp = cases[0]
        numbers += f"; largest gap: {s} σ = {lv:g} member {b}, free cosine {sf:.2f} unmatched, projected {sp:.2f} matched"
        details = [f"{s} σ = {lv:g} member {b}: free {sf:.3f} (unmatched), projected {sp:.3f} (matched)"
                   for _, s, lv, b, sf, sp in cases[:5]]
    return Claim("C6", words, numbers, SUPPORTED if cases else NOT_SUPPORTED, rule, details,
                 {"cases": len(cases), "compared": compared,
                  "best": None if not cases else {"structure": cases[0][1], "level": cases[0][2], "member": cases[0][3],
                                                  "free": cases[0][4], "projected": cases[0][5]}})


def structural_similarity(length_error, angle_error):
    """The continuous structural similarity of C7: −(max relative length error + max angle error in
    radians), both dimensionless strains; 0 for the truth, defined for every member."""
    return -(np.asarray(length_error, dtype=np.float64) + np.radians(np.asarray(angle_error, dtype=np.float64)))


def c7_points(data: ReportData, loss: str, mode: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(XRD similarity, structural similarity, member id) of every lattice-noise member's start and final
    point under ``loss`` in ``mode``; member ids pair the same distortion across modes."""
    xs, ys, ids = [], [], []
    for si, structure in enumerate(data.structures_of(Noise.LATTICE)):
        for li, level in enumerate(data.levels(Noise.LATTICE)):
            r = data.get(structure, Noise.LATTICE, level, loss, mode)
            start = data.start_similarity.get((structure, Noise.LATTICE, level, loss))
            errors = data.start_errors.get((structure, Noise.LATTICE, level))
            if r is None or start is None or errors is None:
                continue
            n = len(r["matched"])
            member = (si * 1000 + li) * 100_000 + np.arange(n)  # the same id for the same distortion
            xs += [start, np.asarray(r["final_similarity"], dtype=float)]
            ys += [structural_similarity(*errors), structural_similarity(r["length_error"], r["angle_error"])]
            ids += [member, member]
    if not xs:
        return np.zeros(0), np.zeros(0), np.zeros(0, dtype=int)
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(ids)


def c7_association(data: ReportData, resamples: int = 200) -> Claim:
    rule = ("Over every lattice-noise member's start and final point: XRD similarity (the loss's own: cosine, "
            "entropy) against the structural similarity −(max relative length error + max angle error in "
            "radians). Spearman's rho and the mutual information (scikit-learn's k-nearest-neighbour estimator, "
            "k = 3, nats), projected minus free, with 95 % intervals from a paired bootstrap over members "
            f"({resamples} resamples; for the mutual information each drawn member enters once, since "
            "repeated points bias the k-NN estimator). Supported if both differences are positive with "
            "intervals above 0 for every similarity; not supported if both lie below 0 for some similarity; "
            "inconclusive otherwise.")
    words = ("Constraining the optimisation to the crystal family raises the correlation and the mutual "
             "information between XRD similarity and structural similarity (journal version).")
    from scipy.stats import spearmanr
    from sklearn.feature_selection import mutual_info_regression

    def rho(x, y):
        return float(spearmanr(x, y).statistic)

    def mi(x, y):
        rng = np.random.default_rng(1)
        i = rng.choice(x.size, size=min(x.size, 2000), replace=False)
        return float(mutual_info_regression(x[i, None], y[i], n_neighbors=3, random_state=0)[0])

    parts, details, verdicts, values = [], [], [], {}
    for loss in [m for m in ("cosine", "entropy") if m in data.methods(MethodKind.DESCENT)]:
        free, proj = c7_points(data, loss, Mode.FREE), c7_points(data, loss, Mode.PROJECTED)
        if free[0].size < 10 or proj[0].size < 10:
            continue
        ok_f, ok_p = np.isfinite(free[0]) & np.isfinite(free[1]), np.isfinite(proj[0]) & np.isfinite(proj[1])
        f, p = [a[ok_f] for a in free], [a[ok_p] for a in proj]
        members = np.unique(np.concatenate([f[2], p[2]]))
        rng = np.random.default_rng(0)
        boots = {"rho": [], "mi": []}
        index_f = {m: np.flatnonzero(f[2] == m) for m in members}
        index_p = {m: np.flatnonzero(p[2] == m) for m in members}
        for _ in range(resamples):
            pick = rng.choice(members, size=members.size)
            i_f = np.concatenate([index_f[m] for m in pick])
            i_p = np.concatenate([index_p[m] for m in pick])
            boots["rho"].append(rho(p[0][i_p], p[1][i_p]) - rho(f[0][i_f], f[1][i_f]))
            # the k-NN estimator is biased by repeated points (zero distances): each drawn member enters once,
            # so the MI interval is that of a ~63 % subsample of the members (conservative)
            once = np.unique(pick)
            u_f = np.concatenate([index_f[m] for m in once])
            u_p = np.concatenate([index_p[m] for m in once])
            boots["mi"].append(mi(p[0][u_p], p[1][u_p]) - mi(f[0][u_f], f[1][u_f]))
        stats = {}
        for name, fn in (("rho", rho), ("mi", mi)):
            lo, hi = np.percentile(boots[name], [2.5, 97.5])
            stats[name] = (fn(f[0], f[1]), fn(p[0], p[1]), Estimate(fn(p[0], p[1]) - fn(f[0], f[1]), float(lo),
                                                                     float(hi), members.size))
        up = all(s[2].lo > 0 for s in stats.values())
        down = all(s[2].hi < 0 for s in stats.values())
        verdicts.append(SUPPORTED if up else NOT_SUPPORTED if down else INCONCLUSIVE)
        parts.append(f"{loss}: Δrho {stats['rho'][2].text()}, ΔMI {stats['mi'][2].text()} nats")
        details.append(f"{loss}: rho free {stats['rho'][0]:.3f}, projected {stats['rho'][1]:.3f}; MI free "
                       f"{stats['mi'][0]:.3f}, projected {stats['mi'][1]:.3f} nats ({members.size} members, "
                       f"{f[0].size} + {p[0].size} points)")
        values[loss] = {k: {"free": v[0], "projected": v[1], "difference": v[2].value, "lo": v[2].lo, "hi": v[2].hi}
                        for k, v in stats.items()}
    if not verdicts:
        return Claim("C7", words, "no lattice-noise cosine/entropy runs in both modes", INCONCLUSIVE, rule)
    verdict = (SUPPORTED if all(v == SUPPORTED for v in verdicts) else
               NOT_SUPPORTED if NOT_SUPPORTED in verdicts else INCONCLUSIVE)
    return Claim("C7", words, "; ".join(parts), verdict, rule, details, values)


def e1_starts_already_match(data: ReportData) -> Claim:
    rule = "Share of distorted starts that already match (paper and strict metrics), from the no-optimisation baseline."
    words = "Added: how many distorted starts already match before any optimisation."
    baseline = data.methods(MethodKind.BASELINE)
    if not baseline:
        return Claim("E1", words, "no baseline method in the store", INCONCLUSIVE, rule)
    details, values = [], {}
    for noise in (Noise.LATTICE, Noise.COORDS):
        for level in data.levels(noise):
            k = ks = n = 0
            for structure in data.structures_of(noise):
                r = data.get(structure, noise, level, baseline[0], Mode.START)
                if r is not None:
                    k, ks, n = k + int(np.sum(r["matched"])), ks + int(np.sum(r["recovered"])), n + len(r["matched"])
            if n:
                details.append(f"{noise} {level:g}: {k}/{n} = {k / n:.1%} match, {ks / n:.1%} strictly recovered")
                values[f"{noise}:{level:g}"] = {"matched": k / n, "recovered": ks / n, "n": n}
    worst = max(values.items(), key=lambda kv: kv[1]["matched"]) if values else None
    numbers = "no baseline tasks finished" if worst is None else (
        f"up to {worst[1]['matched']:.1%} of the starts match unoptimised ({worst[0]})")
    return Claim("E1", words, numbers, "measured", rule, details, values)


def e2_descent_breaks_matches(data: ReportData) -> Claim:
    rule = ("For each descent series, the share of members whose distorted start matched (baseline) but whose "
            "final structure does not, on the same members, pooled over conditions.")
    words = "Added: how often descent turns a matching start into a non-matching one."
    baseline = data.methods(MethodKind.BASELINE)
    if not baseline:
        return Claim("E2", words, "no baseline method in the store", INCONCLUSIVE, rule)
    details, values = [], {}
    series = sorted({(k[3], k[4]) for k in data.members if k[3] in data.methods(MethodKind.DESCENT)})
    for method, mode in series:
        lost = start_ok = total = 0
        for noise in (Noise.LATTICE, Noise.COORDS):
            b, a = paired_members(data, noise, None, [(baseline[0], Mode.START)], [(method, mode)])
            lost += int(np.sum((b == 1) & (a == 0)))
            start_ok += int(np.sum(b == 1))
            total += b.size
        if total:
            details.append(f"{method} {mode}: {lost} of {start_ok} matching starts lost ({lost / max(start_ok, 1):.1%}), "
                           f"{total} members")
            values[f"{method}:{mode}"] = {"lost": lost, "matching_starts": start_ok, "members": total}
    worst = max(values.items(), key=lambda kv: kv[1]["lost"] / max(kv[1]["matching_starts"], 1)) if values else None
    numbers = "no paired members" if worst is None else (
        f"worst: {worst[0]} loses {worst[1]['lost']} of {worst[1]['matching_starts']} matching starts")
    return Claim("E2", words, numbers, "measured", rule, details, values)


def all_claims(data: ReportData) -> list[Claim]:
    return [c1_largest_drop(data), c2_constraints_help(data), c3_losses_alike(data), c4_chgnet(data),
            c5_deep_minima(data), c6_high_similarity_wrong(data), c7_association(data),
            e1_starts_already_match(data), e2_descent_breaks_matches(data)]


def finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)
