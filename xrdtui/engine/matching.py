"""Structure matching (pymatgen StructureMatcher) and match-rate statistics (Jeffreys intervals).

Matcher: ``StructureMatcher(ltol=0.1, stol=0.2, angle_tol=5)`` with pymatgen's other defaults
(primitive cell, scale=True, attempt_supercell=False). A candidate matches when ``fit(reference,
candidate)`` is True; its rms is ``get_rms_dist(reference, candidate)[0]``: the RMS site displacement
normalised by (V / n_sites)^(1/3) (dimensionless), NaN when unmatched.

Match rate: k matches out of n, rate k/n, and the 95% Jeffreys interval: the alpha/2 and 1 - alpha/2
quantiles of Beta(k + 1/2, n - k + 1/2), with the lower bound set to 0 when k = 0 and the upper bound
to 1 when k = n (Brown, Cai & DasGupta 2001, Statist. Sci. 16:101, section 4.1.2).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Sequence

if TYPE_CHECKING:
    from pymatgen.analysis.structure_matcher import StructureMatcher
    from pymatgen.core import Structure

LTOL = 0.1  # fractional length tolerance
STOL = 0.2  # site tolerance, in units of (V / n_sites)^(1/3)
ANGLE_TOL = 5.0  # degrees
CONFIDENCE = 0.95


@dataclass(frozen=True)
class MatchResult:
    """Outcome for one candidate: matched, normalised rms (NaN when unmatched), reason when unmatched."""

    matched: bool
    rms: float
    reason: str = ""


@dataclass(frozen=True)
class MatchRate:
    """k matches of n, rate = k / n (NaN for n = 0), Jeffreys interval [lo, hi]."""

    k: int
    n: int
    rate: float
    lo: float
    hi: float

    @classmethod
    def from_results(cls, results: Iterable[MatchResult], confidence: float = CONFIDENCE) -> MatchRate:
        flags = [r.matched for r in results]
        return match_rate(sum(flags), len(flags), confidence)


def make_matcher(ltol: float = LTOL, stol: float = STOL, angle_tol: float = ANGLE_TOL) -> StructureMatcher:
    """The study's StructureMatcher (defaults: ltol 0.1, stol 0.2, angle_tol 5 degrees)."""
    from pymatgen.analysis.structure_matcher import StructureMatcher

    return StructureMatcher(ltol=ltol, stol=stol, angle_tol=angle_tol)


def match_one(reference: Structure, candidate: Structure | None, matcher: StructureMatcher | None = None
              ) -> MatchResult:
    """Match one candidate against the reference; failures (None, degenerate cell, pymatgen errors)
    count as unmatched with the reason kept."""
    from xrdtui.engine.structures import validate_structure

    if candidate is None:
        return MatchResult(False, math.nan, "no structure")
    matcher = matcher or make_matcher()
    try:
        # a NaN or flattened cell can make pymatgen's reductions fail or crawl: reject it up front
        validate_structure(candidate)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if not matcher.fit(reference, candidate):
                return MatchResult(False, math.nan, "")
            rms = matcher.get_rms_dist(reference, candidate)
    except Exception as exc:
        return MatchResult(False, math.nan, " ".join(f"{type(exc).__name__}: {exc}".split())[:200])
    return MatchResult(True, float(rms[0]) if rms is not None else math.nan, "")


def match_structures(reference: Structure, candidates: Sequence[Structure | None],
                     matcher: StructureMatcher | None = None) -> list[MatchResult]:
    """MatchResult for each candidate against ``reference`` (order kept)."""
    matcher = matcher or make_matcher()
    return [match_one(reference, c, matcher) for c in candidates]


def jeffreys_interval(k: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Jeffreys interval for a binomial proportion: Beta(k + 1/2, n - k + 1/2) quantiles at
    (1 - confidence)/2 and (1 + confidence)/2; lo = 0 when k = 0, hi = 1 when k = n; (0, 1) when n = 0."""
    from scipy.stats import beta

    k, n = _check_counts(k, n)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    tail = (1.0 - confidence) / 2.0
    a, b = k + 0.5, n - k + 0.5
    lo = 0.0 if k == 0 else float(beta.ppf(tail, a, b))
    hi = 1.0 if k == n else float(beta.ppf(1.0 - tail, a, b))
    return lo, hi


def match_rate(k: int, n: int, confidence: float = CONFIDENCE) -> MatchRate:
    """MatchRate(k, n, k/n, Jeffreys interval)."""
    k, n = _check_counts(k, n)
    lo, hi = jeffreys_interval(k, n, confidence)
    return MatchRate(k, n, k / n if n else math.nan, lo, hi)


def _check_counts(k: int, n: int) -> tuple[int, int]:
    if int(k) != k or int(n) != n or not 0 <= k <= n:
        raise ValueError(f"need integers 0 <= k <= n, got k={k}, n={n}")
    return int(k), int(n)
