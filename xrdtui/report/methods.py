"""Every recovery method of a store against one reference series (by default projected cosine descent,
the paper's method) on the very same members: pooled rates of both metrics, the paired differences
method − reference with 95 % intervals, and the cost per member.

Pairing: a member is one seeded distortion (structure, noise, level, member index); every method of a
campaign starts from the same ones, so a difference is taken member by member (``paired_members``) and
its interval is the percentile bootstrap over members of ``report.stats.paired_difference``. A method
that judged fewer members (a ``members`` cap) is paired on the first ones it judged.

Cost: worker seconds per member of the method's tasks at that (noise, level) over the reference's
(``TaskRow.wall_s`` summed over tasks, divided by the members they judged).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from xrdtui.methods import method_rank
from xrdtui.report.data import ReportData, paired_members
from xrdtui.report.stats import Estimate, paired_difference
from xrdtui.vocab import Mode

REFERENCE = ("cosine", Mode.PROJECTED)


@dataclass(frozen=True)
class MethodGain:
    """One series at one (noise, level) against the reference on ``n`` paired members: ``k``/``ks`` its
    members matched (paper metric) / recovered (strict), ``k_ref``/``ks_ref`` the reference's on the same
    members, ``gain``/``gain_strict`` the paired differences (fractions), ``cost`` the ratio of worker
    seconds per member (NaN when either took no measurable time)."""

    noise: str
    level: float
    method: str
    mode: str
    n: int
    k: int
    ks: int
    k_ref: int
    ks_ref: int
    gain: Estimate
    gain_strict: Estimate
    cost: float

    def as_dict(self) -> dict:
        def est(e: Estimate) -> dict:
            return {"value": e.value, "lo": e.lo, "hi": e.hi}

        return {"noise": self.noise, "level": self.level, "method": self.method, "mode": str(self.mode),
                "members": self.n, "matched": self.k, "recovered": self.ks, "reference_matched": self.k_ref,
                "reference_recovered": self.ks_ref, "gain": est(self.gain), "gain_strict": est(self.gain_strict),
                "cost": self.cost}


def _seconds_per_member(data: ReportData, noise: str, level: float, method: str, mode: str) -> float:
    rows = [r for r in data.rows if r.status == "done" and r.noise == noise and float(r.level) == level
            and r.method == method and r.mode == mode]
    members = sum(r.n for r in rows)
    return sum(r.wall_s for r in rows) / members if members else math.nan


def reference_for(data: ReportData, noise: str, reference: tuple[str, str] = REFERENCE) -> tuple[str, str] | None:
    """The reference series under ``noise``: ``reference`` itself, or the reference method in the one mode
    it runs under that noise (descent is free only under coordinate noise, as in the paper); None if absent."""
    modes = {k[4] for k in data.members if k[1] == noise and k[3] == reference[0]}
    if reference[1] in modes:
        return tuple(reference)
    return (reference[0], next(iter(modes))) if len(modes) == 1 else None


def method_gains(data: ReportData, reference: tuple[str, str] = REFERENCE) -> list[MethodGain]:
    """Every other stored series against ``reference`` (method, mode; see ``reference_for``), per noise
    type and level, in the registry's order; [] when the store has no reference series."""
    out = []
    for noise in dict.fromkeys(k[1] for k in data.members):
        ref = reference_for(data, noise, reference)
        if ref is None:
            continue
        series = sorted({(k[3], k[4]) for k in data.members if k[1] == noise},
                        key=lambda s: (method_rank(s[0]), str(s[1])))
        for level in data.levels(noise):
            ref_cost = _seconds_per_member(data, noise, level, *ref)
            for method, mode in series:
                if (method, mode) == ref:
                    continue
                a, b = paired_members(data, noise, level, [(method, mode)], [ref])
                if a.size == 0:
                    continue
                sa, sb = paired_members(data, noise, level, [(method, mode)], [ref], "recovered")
                cost = _seconds_per_member(data, noise, level, method, mode) / ref_cost if ref_cost > 0 else math.nan
                out.append(MethodGain(noise, level, method, mode, int(a.size), int(a.sum()), int(sa.sum()),
                                      int(b.sum()), int(sb.sum()), paired_difference(a, b),
                                      paired_difference(sa, sb), float(cost)))
    return out


def gains_table(gains: list[MethodGain]) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the gains as text: rates in %, differences in percentage points."""
    header = ["noise", "level", "method", "mode", "members", "paper metric", "Δ vs reference [95 %]",
              "strict metric", "Δ strict [95 %]", "cost"]
    rows = []
    for g in gains:
        rows.append([g.noise, f"{g.level:g}", g.method, str(g.mode), str(g.n), f"{g.k}/{g.n} = {g.k / g.n:.1%}",
                     g.gain.text(percent=True), f"{g.ks}/{g.n} = {g.ks / g.n:.1%}", g.gain_strict.text(percent=True),
                     "–" if not np.isfinite(g.cost) else f"{g.cost:.1f}x"])
    return header, rows
