"""Losses: analytic values, independent references (numpy/scipy), finite gradients, plug-in registry."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.spatial.distance import jensenshannon

from xrdtui.engine import losses
from xrdtui.errors import ConfigError


def _peaks(centres, m=200, width=3.0):
    grid = np.arange(m, dtype=np.float64)
    return sum(np.exp(-0.5 * ((grid - c) / width) ** 2) for c in centres)


def test_identical_patterns():
    x = torch.tensor(_peaks([40, 120]))[None]
    assert losses.get_loss("cosine")(x, x[0]).item() == pytest.approx(-1.0, abs=1e-12)
    assert losses.similarity("entropy", x, x).item() == pytest.approx(1.0, abs=1e-12)
    assert losses.get_loss("entropy")(x, x).item() == pytest.approx(-1.0, abs=1e-12)
    assert losses.get_loss("mse")(x, x).item() == 0.0
    # scale invariance of cosine and entropy (the patterns are normalised to max 1 anyway)
    assert losses.similarity("cosine", 3 * x, x).item() == pytest.approx(1.0, abs=1e-12)
    assert losses.similarity("entropy", 3 * x, x).item() == pytest.approx(1.0, abs=1e-12)


def test_disjoint_patterns():
    a = torch.zeros(1, 100, dtype=torch.float64)
    b = torch.zeros(100, dtype=torch.float64)
    a[0, :30] = torch.rand(30, dtype=torch.float64) + 0.1
    b[60:] = torch.rand(40, dtype=torch.float64) + 0.1
    assert losses.get_loss("cosine")(a, b).item() == 0.0
    assert losses.similarity("entropy", a, b).item() == pytest.approx(0.0, abs=1e-12)
    assert losses.get_loss("mse")(a, b).item() == pytest.approx(((a[0] - b) ** 2).sum().item())


def test_against_independent_references():
    rng = np.random.default_rng(0)
    pred = rng.random((4, 300)) ** 4  # peaky, non-negative
    target = rng.random(300) ** 4
    cos = pred @ target / (np.linalg.norm(pred, axis=1) * np.linalg.norm(target))
    got = losses.similarity("cosine", torch.tensor(pred), torch.tensor(target)).numpy()
    np.testing.assert_allclose(got, cos, rtol=1e-12)
    np.testing.assert_allclose(losses.get_loss("mse")(torch.tensor(pred), torch.tensor(target)).numpy(),
                               ((pred - target) ** 2).sum(axis=1), rtol=1e-12)  # paper: ||x - x^||^2
    # 2 S(m) - S(p) - S(q) = 2 JSD(p, q) (nats): similarity = 1 - JSD / ln 2
    jsd = np.array([jensenshannon(row, target, base=math.e) ** 2 for row in pred])
    got = losses.similarity("entropy", torch.tensor(pred), torch.tensor(target)).numpy()
    np.testing.assert_allclose(got, 1 - jsd / math.log(2), rtol=1e-9)
    # similarity is symmetric in pred and target, and a per-member target [B, M] works
    swapped = losses.similarity("entropy", torch.tensor(target)[None].expand(4, -1), torch.tensor(pred)).numpy()
    np.testing.assert_allclose(swapped, got, rtol=1e-12)


def test_partial_overlap_between_bounds():
    x = torch.tensor(_peaks([50, 150]))
    shifted = torch.tensor(_peaks([52, 150]))[None]
    s = losses.similarity("entropy", shifted, x).item()
    assert 0.3 < s < 0.99
    assert -1 < losses.get_loss("cosine")(shifted, x).item() < -0.3


@pytest.mark.parametrize("name", ["cosine", "mse", "entropy"])
def test_gradcheck_float64(name):
    torch.manual_seed(0)
    pred = (torch.rand(3, 12, dtype=torch.float64) + 0.05).requires_grad_()
    target = torch.rand(12, dtype=torch.float64) + 0.05
    assert torch.autograd.gradcheck(lambda p: losses.get_loss(name)(p, target), (pred,))


@pytest.mark.parametrize("name", ["cosine", "mse", "entropy"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gradients_finite_at_zeros(name, dtype):
    target = torch.zeros(20, dtype=dtype)
    target[5] = 1.0
    pred = torch.zeros(3, 20, dtype=dtype)
    pred[0, 5] = 1.0  # identical to target, zeros elsewhere
    pred[1, 12] = 0.5  # disjoint
    # pred[2] is all zeros
    pred.requires_grad_()
    loss = losses.get_loss(name)(pred, target)
    assert torch.isfinite(loss).all()
    loss.sum().backward()
    assert torch.isfinite(pred.grad).all()


def test_registry_plugin_and_errors():
    def l1(pred, target):
        """mean absolute error"""
        pred, target = losses._pair(pred, target)
        return (pred - target).abs().mean(-1)

    try:
        spec = losses.register_loss("l1_test", l1)
        assert "l1_test" in losses.LOSSES and spec.description == "mean absolute error"
        pred = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
        target = torch.tensor([1.0, 0.0])
        assert losses.get_loss("l1_test")(pred, target).tolist() == [1.0, 0.5]
        assert losses.similarity("l1_test", pred, target).tolist() == [-1.0, -0.5]
        with pytest.raises(ConfigError, match="already registered"):
            losses.register_loss("l1_test", l1)
    finally:
        losses.LOSSES.pop("l1_test", None)
    with pytest.raises(ConfigError, match="unknown loss"):
        losses.get_loss("nope")
    with pytest.raises(ValueError):
        losses.get_loss("cosine")(torch.zeros(2, 5), torch.zeros(6))


def test_float32_with_underflowing_tails_agrees_with_float64():
    # narrow Gaussians: float32 tails hit subnormals and zeros, which the entropy floors at 1e-20 of max
    grid = np.arange(2000) * 0.01
    def pattern(shift):
        return sum(np.exp(-0.5 * ((grid - c - shift) / 0.05) ** 2) for c in (3.0, 7.5, 12.0, 16.0))
    target = pattern(0.0)
    pred = np.stack([pattern(s) for s in (0.0, 0.002, 0.02)])
    p32 = torch.tensor(pred, dtype=torch.float32, requires_grad=True)
    t32 = torch.tensor(target, dtype=torch.float32)
    assert ((t32 > 0) & (t32 < torch.finfo(torch.float32).tiny)).any()  # the case under test
    s32 = losses.similarity("entropy", p32, t32)
    jsd = np.array([jensenshannon(row, target, base=math.e) ** 2 for row in pred])
    np.testing.assert_allclose(s32.detach().numpy(), 1 - jsd / math.log(2), atol=1e-5)
    s32.sum().backward()
    assert torch.isfinite(p32.grad).all()
