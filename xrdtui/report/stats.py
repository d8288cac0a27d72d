"""Interval estimates the report states its verdicts with.

* :func:`wilson` — the Wilson score interval of a binomial proportion k/n.
* :func:`newcombe` — Newcombe's hybrid score interval for the difference of two *independent*
  proportions p1 − p2 (Newcombe 1998, Statist. Med. 17:873, method 10): with Wilson limits (l_i, u_i),
  L = δ − sqrt((p1 − l1)² + (u2 − p2)²),  U = δ + sqrt((u1 − p1)² + (p2 − l2)²).
* :func:`paired_difference` — the difference of two proportions on the *same* members (mean of
  x_i − y_i for 0/1 outcomes) with a percentile bootstrap interval over members (``B`` resamples, seeded).
* :func:`spearman` — Spearman's rank correlation (scipy) with a percentile bootstrap interval.
* :func:`mutual_information` — mutual information (nats) by scikit-learn's k-nearest-neighbour estimator
  (``mutual_info_regression``, Kraskov et al. 2004, k = 3), with a percentile bootstrap interval; each
  bootstrap resample is capped at ``max_points`` points so that a paper-size store reports in seconds.

Every bootstrap uses ``numpy.random.default_rng(seed)``: a report is reproducible bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

Z95 = 1.959963984540054  # the 97.5 % quantile of the standard normal


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its 95 % interval [lo, hi] and the sample size behind it."""

    value: float
    lo: float
    hi: float
    n: int

    def excludes_zero(self) -> bool:
        return self.lo > 0 or self.hi < 0

    def text(self, digits: int = 3, percent: bool = False) -> str:
        if not math.isfinite(self.value):
            return "–"
        scale, unit = (100.0, " pp") if percent else (1.0, "")
        d = max(digits - 2, 0) if percent else digits
        return f"{self.value * scale:+.{d}f}{unit} [{self.lo * scale:+.{d}f}, {self.hi * scale:+.{d}f}]"


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of k/n ((0, 1) when n = 0)."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe(k1: int, n1: int, k2: int, n2: int) -> Estimate:
    """p1 − p2 of independent samples with Newcombe's hybrid score interval (method 10)."""
    if n1 == 0 or n2 == 0:
        return Estimate(math.nan, math.nan, math.nan, n1 + n2)
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson(k1, n1)
    l2, u2 = wilson(k2, n2)
    d = p1 - p2
    return Estimate(d, d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2),
                    d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2), n1 + n2)


def _percentile(samples: np.ndarray) -> tuple[float, float]:
    samples = samples[np.isfinite(samples)]
    if samples.size == 0:
        return math.nan, math.nan
    lo, hi = np.percentile(samples, [2.5, 97.5])
    return float(lo), float(hi)


def paired_difference(x, y, resamples: int = 10_000, seed: int = 0) -> Estimate:
    """mean(x − y) over the same members (0/1 or real outcomes) with a percentile bootstrap interval."""
    d = np.asarray(x, dtype=np.float64) - np.asarray(y, dtype=np.float64)
    n = d.size
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    rng = np.random.default_rng(seed)
    values, counts = np.unique(d, return_counts=True)
    if values.size <= 16:
        # resampling members = drawing the counts of each distinct difference (−1, 0, 1 for 0/1 outcomes)
        # from a multinomial: the same distribution, without materialising resamples x n draws
        draws = rng.multinomial(n, counts / n, size=resamples)
        means = draws @ values / n
    else:
        means = np.concatenate([d[rng.integers(0, n, size=(min(500, resamples - i), n))].mean(axis=1)
                                for i in range(0, resamples, 500)])
    return Estimate(float(d.mean()), *_percentile(means), n)


def spearman(x, y, resamples: int = 1000, seed: int = 0) -> Estimate:
    """Spearman's rho of (x, y) with a percentile bootstrap interval over pairs."""
    from scipy.stats import spearmanr

    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    n = x.size
    if n < 3:
        return Estimate(math.nan, math.nan, math.nan, n)
    rng = np.random.default_rng(seed)
    boots = np.empty(resamples)
    for b in range(resamples):
        i = rng.integers(0, n, n)
        boots[b] = spearmanr(x[i], y[i]).statistic
    return Estimate(float(spearmanr(x, y).statistic), *_percentile(boots), n)


def mutual_information(x, y, resamples: int = 100, seed: int = 0, max_points: int = 3000, k: int = 3) -> Estimate:
    """I(x; y) in nats by the k-nearest-neighbour estimator, with a percentile bootstrap interval (each
    resample, and the point estimate when the sample is larger, drawn as ``max_points`` points)."""
    from sklearn.feature_selection import mutual_info_regression

    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    n = x.size
    if n < 2 * k + 2:
        return Estimate(math.nan, math.nan, math.nan, n)
    rng = np.random.default_rng(seed)

    def mi(i):
        return float(mutual_info_regression(x[i, None], y[i], n_neighbors=k, random_state=0)[0])

    point = mi(rng.choice(n, size=min(n, max_points), replace=False))
    boots = np.array([mi(rng.integers(0, n, size=min(n, max_points))) for _ in range(resamples)])
    return Estimate(point, *_percentile(boots), n)


def bootstrap_difference(x1, y1, x2, y2, statistic, resamples: int = 200, seed: int = 0) -> Estimate:
    """statistic(x1, y1) − statistic(x2, y2) for two independent samples of pairs, with a percentile
    bootstrap interval (each sample resampled on its own)."""
    x1, y1, x2, y2 = (np.asarray(a, dtype=np.float64) for a in (x1, y1, x2, y2))
    rng = np.random.default_rng(seed)
    point = statistic(x1, y1) - statistic(x2, y2)
    boots = np.empty(resamples)
    for b in range(resamples):
        i, j = rng.integers(0, x1.size, x1.size), rng.integers(0, x2.size, x2.size)
        boots[b] = statistic(x1[i], y1[i]) - statistic(x2[j], y2[j])
    return Estimate(float(point), *_percentile(boots), x1.size + x2.size)
