"""Peak shape, Caglioti width and the fast warped-axis broadener against analytic and dense references."""

import math

import numpy as np
import pytest
import torch

from xrdtui.engine.profile import WarpedBroadener, caglioti_fwhm, dense_profile, pseudo_voigt
from xrdtui.errors import ConfigError

U, V, W, ETA = 0.1, 0.01, 0.1, 0.1
X = np.arange(9000) * 0.01


def rel_l2(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


@pytest.fixture(scope="module")
def broadener():
    return WarpedBroadener(X, U, V, W, ETA, max_peak_two_theta=94.0)


def test_caglioti_width_analytic_values():
    # 2θ = 90°: tanθ = 1, H² = U + V + W; 2θ = 0: H² = W
    assert caglioti_fwhm(90.0, U, V, W) == pytest.approx(math.sqrt(0.21), rel=1e-12)
    assert caglioti_fwhm(0.0, U, V, W) == pytest.approx(math.sqrt(0.1), rel=1e-12)
    t = math.tan(math.radians(30.0))
    h = caglioti_fwhm(torch.tensor([60.0], dtype=torch.float64), 0.3, -0.2, 0.05)
    assert float(h) == pytest.approx(math.sqrt(0.3 * t * t - 0.2 * t + 0.05), rel=1e-12)


def test_pseudo_voigt_half_maximum_and_area():
    h = 0.37
    peak = pseudo_voigt(0.0, h, ETA)
    assert pseudo_voigt(h / 2, h, ETA) == pytest.approx(peak / 2, rel=1e-12)  # both parts halve at H/2
    # area over ±A: Gaussian part ~1, Lorentzian part (2/π) atan(2A/H) analytically
    a = 200.0
    x = np.linspace(-a, a, 2_000_001)
    area = np.trapezoid(pseudo_voigt(x, h, ETA), x)
    assert area == pytest.approx(ETA + (1 - ETA) * 2 / math.pi * math.atan(2 * a / h), rel=1e-6)
    assert peak == pytest.approx(ETA * 2 / h * math.sqrt(math.log(2) / math.pi) + (1 - ETA) * 2 / (math.pi * h))


def test_dense_profile_is_the_plain_sum():
    pos = torch.tensor([[20.0, 55.5]], dtype=torch.float64)
    inten = torch.tensor([[2.0, 3.0]], dtype=torch.float64)
    ref = sum(float(i) * pseudo_voigt(X - float(p), caglioti_fwhm(float(p), U, V, W), ETA)
              for p, i in zip(pos[0], inten[0]))
    np.testing.assert_allclose(dense_profile(X, pos, inten, U, V, W, ETA, chunk=1)[0].numpy(), ref, rtol=1e-12)


@pytest.mark.parametrize("pos", [3.0, 17.123, 45.0, 60.004, 89.995, 91.5, 93.0])
def test_single_peak_matches_dense_sum(broadener, pos):
    positions = torch.tensor([[pos]], dtype=torch.float64)
    inten = torch.ones(1, 1)
    fast = broadener(positions, inten)[0].numpy()
    ref = dense_profile(X, positions, inten, U, V, W, ETA)[0].numpy()
    height = pseudo_voigt(0.0, caglioti_fwhm(pos, U, V, W), ETA)  # the peak's own maximum
    assert np.abs(fast - ref).max() < 2e-3 * height
    if pos < 90:
        assert rel_l2(fast, ref) < 1e-3
    else:  # only the tail is in range; it wraps around at ≥ 40 FWHM: ≤ 1.3e-4 of the height
        assert np.abs(fast - ref).max() < 2e-4 * height


def test_many_peaks_match_dense_sum_and_normalise(broadener):
    rng = np.random.default_rng(1)
    positions = torch.tensor(rng.uniform(5, 93, size=(3, 40)))
    inten = torch.tensor(rng.exponential(size=(3, 40)), dtype=torch.float32)
    fast = broadener(positions, inten, normalise=True)
    ref = dense_profile(X, positions, inten, U, V, W, ETA)
    ref = ref / ref.amax(1, keepdim=True)
    assert fast.shape == (3, 9000) and fast.dtype == torch.float32
    np.testing.assert_allclose(fast.amax(1).numpy(), 1.0, rtol=1e-6)
    for i in range(3):
        assert rel_l2(fast[i], ref[i]) < 1e-3


def test_gradients_match_finite_differences():
    xs = np.arange(0, 40, 0.05)
    br = WarpedBroadener(xs, U, V, W, ETA, max_peak_two_theta=42.0, dtype=torch.float64)
    pos = torch.tensor([[12.3, 20.01, 38.7], [5.5, 30.0, 39.9]], dtype=torch.float64, requires_grad=True)
    inten = torch.tensor([[1.0, 2.0, 0.5], [0.3, 1.0, 2.0]], dtype=torch.float64, requires_grad=True)
    weights = torch.randn(2, len(xs), dtype=torch.float64)
    for normalise in (False, True):
        assert torch.autograd.gradcheck(lambda p, i: (br(p, i, normalise) * weights).sum(), (pos, inten),
                                        eps=1e-6, atol=1e-6, rtol=1e-4)


def test_moving_peak_changes_profile_continuously(broadener):
    # sub-grid shifts change the pattern smoothly, in proportion to the shift
    base = torch.tensor([[40.0]], dtype=torch.float64)
    one = torch.ones(1, 1)
    p0 = broadener(base, one)[0]
    d1 = (broadener(base + 1e-3, one)[0] - p0).norm()
    d2 = (broadener(base + 2e-3, one)[0] - p0).norm()
    assert float(d2 / d1) == pytest.approx(2.0, rel=0.05)


def test_bad_settings_raise_config_error():
    with pytest.raises(ConfigError):
        WarpedBroadener(X, 0.0, 0.0, 0.0, ETA, 94.0)  # zero width at 2θ = 0
    with pytest.raises(ConfigError):
        WarpedBroadener(X, U, V, W, 1.5, 94.0)
