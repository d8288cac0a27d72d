"""Matcher wrapper (analytic rms, failure handling) and Jeffreys intervals against numerical integration."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from xrdtui.engine import matching
from xrdtui.engine.structures import benchmark_structure, lattice_params, with_params


def test_matcher_uses_the_study_tolerances():
    m = matching.make_matcher()
    assert (m.ltol, m.stol, m.angle_tol) == (0.1, 0.2, 5.0)


def test_rms_of_a_single_displaced_atom_is_analytic():
    # ErPt3 (4 sites, primitive = conventional, cubic a): move one atom by d along x. After pymatgen
    # removes the mean shift d/4, displacements are 3d/4 and three times d/4, so
    # rms = sqrt((9 + 3) / 16 / 4) d = (sqrt(3) / 4) d, normalised by (V / 4)^(1/3) = a / 4^(1/3).
    ref = benchmark_structure("ErPt3")
    a, d = ref.lattice.a, 0.05
    moved = ref.copy()
    moved.translate_sites([1], [d, 0.0, 0.0], frac_coords=False)
    (res,) = matching.match_structures(ref, [moved])
    assert res.matched and res.reason == ""
    assert res.rms == pytest.approx(math.sqrt(3) / 4 * d / (a**3 / 4) ** (1 / 3), rel=1e-9)


def test_identity_strain_and_failures():
    ref = benchmark_structure("CsTlO")
    stretched = with_params(ref, lattice_params(ref) * [1.3, 1, 1, 1, 1, 1])  # beyond ltol = 0.1
    other = benchmark_structure("UC2")
    bad = ref.copy()
    bad.lattice = bad.lattice.__class__(np.full((3, 3), np.nan))
    results = matching.match_structures(ref, [ref.copy(), stretched, other, None, bad])
    assert [r.matched for r in results] == [True, False, False, False, False]
    assert results[0].rms < 1e-8
    assert all(math.isnan(r.rms) for r in results[1:])
    assert results[3].reason == "no structure"
    assert "NaN" in results[4].reason


def test_pymatgen_exception_is_kept_as_reason():
    class Raising:
        def fit(self, s1, s2):
            raise RuntimeError("spglib\nexploded")

    ref = benchmark_structure("U2Ti")
    (res,) = matching.match_structures(ref, [ref.copy()], matcher=Raising())
    assert not res.matched and math.isnan(res.rms)
    assert res.reason == "RuntimeError: spglib exploded"


def _jeffreys_by_integration(k, n, confidence=0.95):
    """Independent reference: Beta(k+1/2, n-k+1/2) CDF by trapezoidal integration with numpy.

    Substituting x = sin^2(t) turns the density into 2 sin^(2a-1) t cos^(2b-1) t dt, which is
    bounded for a, b >= 1/2; the CDF is normalised numerically (no Beta function needed).
    """
    a, b = k + 0.5, n - k + 0.5
    t = np.linspace(0.0, np.pi / 2, 1_000_001)
    dens = np.sin(t) ** (2 * a - 1) * np.cos(t) ** (2 * b - 1)
    cdf = np.concatenate([[0.0], np.cumsum((dens[1:] + dens[:-1]) / 2 * np.diff(t))])
    cdf /= cdf[-1]
    x = np.sin(t) ** 2
    tail = (1 - confidence) / 2
    lo = 0.0 if k == 0 else float(np.interp(tail, cdf, x))
    hi = 1.0 if k == n else float(np.interp(1 - tail, cdf, x))
    return lo, hi


@pytest.mark.parametrize("k, n", [(0, 10), (5, 10), (50, 50), (1, 10), (3, 20), (17, 40), (0, 1)])
def test_jeffreys_interval_against_integration(k, n):
    got = matching.jeffreys_interval(k, n)
    np.testing.assert_allclose(got, _jeffreys_by_integration(k, n), atol=1e-7)


@hsettings(max_examples=300, deadline=None)
@given(st.integers(1, 5000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
       st.sampled_from([0.5, 0.8, 0.9, 0.95, 0.99]))
def test_jeffreys_interval_equals_scipy_stats_beta_quantiles(kn, confidence):
    from scipy.stats import beta

    k, n = kn
    tail = (1 - confidence) / 2
    lo, hi = matching.jeffreys_interval(k, n, confidence)
    assert lo == (0.0 if k == 0 else pytest.approx(beta.ppf(tail, k + 0.5, n - k + 0.5), rel=1e-12, abs=1e-300))
    assert hi == (1.0 if k == n else pytest.approx(beta.ppf(1 - tail, k + 0.5, n - k + 0.5), rel=1e-12))


def test_jeffreys_known_values():
    # Brown, Cai & DasGupta (2001): Jeffreys upper limit 0.217 for x = 0, n = 10; symmetric for x = n/2
    lo, hi = matching.jeffreys_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2172, abs=5e-5)
    lo, hi = matching.jeffreys_interval(5, 10)
    assert lo == pytest.approx(0.2235, abs=5e-5) and hi == pytest.approx(1 - lo, abs=1e-12)
    lo, hi = matching.jeffreys_interval(50, 50)
    assert hi == 1.0 and lo == pytest.approx(0.9512, abs=5e-5)


def test_match_rate():
    r = matching.match_rate(3, 12)
    assert (r.k, r.n, r.rate) == (3, 12, 0.25)
    assert (r.lo, r.hi) == matching.jeffreys_interval(3, 12)
    assert r.lo < r.rate < r.hi
    empty = matching.match_rate(0, 0)
    assert math.isnan(empty.rate) and (empty.lo, empty.hi) == (0.0, 1.0)
    results = [matching.MatchResult(True, 0.01), matching.MatchResult(False, math.nan)]
    assert matching.MatchRate.from_results(results) == matching.match_rate(1, 2)
    # wider confidence, wider interval
    lo90, hi90 = matching.jeffreys_interval(3, 12, confidence=0.90)
    assert r.lo < lo90 and hi90 < r.hi
    for k, n in ((3, 2), (-1, 5), (1.5, 3)):
        with pytest.raises(ValueError):
            matching.match_rate(k, n)


def test_strict_metric_refuses_what_the_paper_metric_accepts():
    """The paper's matcher rescales volumes (scale=True) and allows 10 % lengths; the strict one does not."""
    ref = benchmark_structure("ErPt3")
    paper, strict = matching.MatcherSettings().matcher(), matching.StrictMatcherSettings().matcher()
    cases = {
        "isotropic +8 %": with_params(ref, lattice_params(ref) * [1.08, 1.08, 1.08, 1, 1, 1]),
        "a +3 %, c -6 %": with_params(ref, lattice_params(ref) * [1.03, 1, 0.94, 1, 1, 1]),
        "a +0.5 %": with_params(ref, lattice_params(ref) * [1.005, 1, 1, 1, 1, 1]),
    }
    verdicts = {name: (paper.fit(ref, s), strict.fit(ref, s)) for name, s in cases.items()}
    assert verdicts == {"isotropic +8 %": (True, False), "a +3 %, c -6 %": (True, False), "a +0.5 %": (True, True)}
    assert (strict.ltol, strict.stol, strict.angle_tol) == (0.02, 0.1, 1.0)


def test_cell_errors_are_analytic():
    ref = benchmark_structure("ErPt3")  # cubic, 4 sites
    p0, f0 = lattice_params(ref), ref.frac_coords
    stretched = matching.cell_errors(p0, f0, p0 * [1.0, 1.02, 0.97, 1, 1, 1] + [0, 0, 0, 0, 1.5, -0.5], f0)
    assert stretched.length_error == pytest.approx(0.03) and stretched.angle_error == pytest.approx(1.5)
    assert stretched.site_error == pytest.approx(0.0, abs=1e-12)
    # a uniform shift of every atom is the same crystal: no site error
    assert matching.cell_errors(p0, f0, p0, f0 + [0.3, -0.1, 0.45]).site_error == pytest.approx(0.0, abs=1e-12)
    # one atom moved by d along x: after removing the mean shift d/4 the rms is (sqrt(3)/4) d, in (V/4)^(1/3)
    a, d = ref.lattice.a, 0.05
    moved = f0.copy()
    moved[1, 0] += d / a
    err = matching.cell_errors(p0, f0, p0, moved)
    assert err.site_error == pytest.approx(math.sqrt(3) / 4 * d / (a**3 / 4) ** (1 / 3), rel=1e-9)
    # nearest image: moving an atom by a whole cell is no displacement
    assert matching.cell_errors(p0, f0, p0, f0 + [[1, 0, 0], [0, 0, 0], [0, -1, 0], [0, 0, 0]]).site_error < 1e-12
    assert math.isnan(matching.cell_errors(p0, f0, [np.nan] * 6, f0).length_error)


def test_matcher_settings_are_checked():
    from xrdtui.errors import ConfigError

    with pytest.raises(ConfigError, match="stol"):
        matching.MatcherSettings(stol=0).check()
    m = matching.MatcherSettings(ltol=0.3, scale=False).matcher()
    assert (m.ltol, m.stol, m.angle_tol) == (0.3, 0.2, 5.0)



@pytest.mark.parametrize("name", ["CsTlO", "Na3MnCoNiO6"])
def test_judging_with_the_reference_reduced_once_gives_pymatgen_fit_and_rms(name, monkeypatch):
    """judge_members reduces the reference once and each candidate once (not through pymatgen's cache, which
    lattice-noise members all collide in); its verdicts and rms are those of StructureMatcher.fit and
    get_rms_dist called per candidate, for both matchers, matched and unmatched, and failures."""
    from pymatgen.analysis.structure_matcher import StructureMatcher

    from xrdtui.engine.noise import distort

    truth = benchmark_structure(name)
    finals = []
    for noise, level in (("lattice", 0.004), ("lattice", 0.05), ("lattice", 0.1), ("coords", 0.02)):
        d = distort(truth, name, noise, level, 8, seed=5)
        finals += [with_params(truth, lat, fr) for lat, fr in zip(d.lattice, d.frac)]
    bad = truth.copy()
    bad.lattice = bad.lattice.__class__(bad.lattice.matrix * [[1, 1, 1], [1, 1, 1], [0, 0, 1e-9]])
    finals += [None, bad]
    paper, strict = matching.MatcherSettings().matcher(), matching.StrictMatcherSettings().matcher()
    StructureMatcher._get_reduced_istructure.cache_clear()
    got = matching.judge_members(truth, finals, paper, strict)
    assert StructureMatcher._get_reduced_istructure.cache_info().currsize == 0  # pymatgen's cache unused
    for flag, rms, settings in (("matched", "rms", matching.MatcherSettings()),
                                ("recovered", "strict_rms", matching.StrictMatcherSettings())):
        want_flag, want_rms = [], []
        for s in finals[:-2]:
            StructureMatcher._get_reduced_istructure.cache_clear()
            m = settings.matcher()
            ok = m.fit(truth, s)
            want_flag.append(ok)
            want_rms.append(round(float(m.get_rms_dist(truth, s)[0]), matching.RMS_DIGITS) if ok else np.nan)
        assert got[flag][:-2].tolist() == want_flag
        np.testing.assert_array_equal(got[rms][:-2], want_rms)
        assert not got[flag][-2:].any() and np.isnan(got[rms][-2:]).all()
    assert 0 < got["matched"].sum() < len(finals) - 2 and 0 < got["recovered"].sum() < got["matched"].sum()
    # without the internals (another pymatgen) the public calls give the same verdicts
    monkeypatch.setattr(matching, "_has_internals", lambda matcher: False)
    public = matching.judge_members(truth, finals, paper, strict)
    for key in ("matched", "rms", "recovered", "strict_rms"):
        np.testing.assert_array_equal(public[key], got[key])
