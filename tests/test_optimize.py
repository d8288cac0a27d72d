"""Projected gradient descent (xrdtui.engine.optimize).

The first tests use a stand-in "simulator" whose pattern is the parameter vector itself, so the
minimiser is known analytically; the rest run the real simulator on benchmark structures.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xrdtui.engine.optimize import OptimizerSettings, recover
from xrdtui.errors import ConfigError


class IdentitySim:
    """pattern(lattice) = lattice; cells with a non-positive length are 'invalid'."""

    device = "cpu"

    def pattern(self, lattice, frac=None):
        return lattice.to(torch.float64)

    def invalid_members(self, lattice, frac=None):
        return (lattice[:, :3] <= 0).any(dim=-1)


TRUTH = np.array([4.0, 4.0, 3.0, 90.0, 90.0, 120.0])
SCALE = torch.tensor([1.0, 1.0, 1.0, 100.0, 100.0, 100.0], dtype=torch.float64)


def quadratic(pred, target):
    """Weighted squared distance; minimum 0 at pred == target."""
    return ((pred - target) ** 2 / SCALE).sum(dim=-1)


def _init(n=4):
    init = np.tile(TRUTH, (n, 1))
    init[:, :3] *= np.array([1.05, 0.95, 1.02, 0.98])[:n, None]
    init[:, 5] += np.array([2.0, -1.0, 0.5, 0.0])[:n]
    return init


@pytest.mark.parametrize("method,lr", [("gd", 0.05), ("momentum", 0.01), ("adam", 0.02)])
def test_toy_methods_converge_and_shapes(method, lr):
    init = _init()
    settings = OptimizerSettings(method=method, lr_length=lr, lr_angle=lr * 50, max_steps=400, tol=1e-12,
                                 patience=5, schedule="constant")
    calls = []
    traj = recover(IdentitySim(), TRUTH, init, None, loss=quadratic, settings=settings,
                   callback=lambda k, loss: calls.append((k, loss.shape)))
    t1 = traj.loss.shape[0]
    assert traj.lattice.shape == (t1, 4, 6)
    assert traj.frac is None
    np.testing.assert_array_equal(traj.lattice[0], init)  # the first row is the initial guess
    assert traj.converged.all() and not traj.failed.any()
    np.testing.assert_allclose(traj.final_lattice, np.tile(TRUTH, (4, 1)), rtol=1e-5)
    # stopped members repeat their last row until the end
    for b in range(4):
        n = traj.n_steps[b]
        np.testing.assert_array_equal(traj.lattice[n:, b], np.broadcast_to(traj.lattice[n, b], traj.lattice[n:, b].shape))
    assert calls[0] == (0, (4,)) and all(k % 10 == 0 for k, _ in calls[:-1])


def test_nan_and_degenerate_members_fail_others_converge():
    init = _init()
    init[1, 0] = np.nan
    init[2, 1] = -1.0
    settings = OptimizerSettings(method="adam", lr_length=0.02, lr_angle=1.0, max_steps=400, tol=1e-12)
    traj = recover(IdentitySim(), TRUTH, init, None, loss=quadratic, settings=settings)
    assert traj.failed.tolist() == [False, True, True, False]
    assert "non-finite" in traj.reasons[1] and "step 0" in traj.reasons[1]
    assert traj.reasons[2] and traj.reasons[0] == "" == traj.reasons[3]
    assert np.isnan(traj.loss[:, 1]).all()
    np.testing.assert_allclose(traj.final_lattice[[0, 3]], np.tile(TRUTH, (2, 1)), rtol=1e-5)


def test_member_that_diverges_midway_is_frozen():
    """A loss that turns NaN for one member at some point fails only that member."""

    def poisoned(pred, target):
        out = quadratic(pred, target)
        return torch.where(pred[:, 0] < 3.9, torch.full_like(out, float("nan")), out)

    # gd with lr 0.6 on (a - 4)^2 maps a -> 4 - 0.2 (a - 4): member 2 (a = 4.6) lands on 3.88 at step 1.
    init = _init()
    init[2, 0] = 4.6
    init[1, 0] = 3.95
    settings = OptimizerSettings(method="gd", lr_length=0.6, lr_angle=10.0, max_steps=60, tol=0)
    traj = recover(IdentitySim(), TRUTH, init, None, loss=poisoned, settings=settings)
    assert traj.failed.tolist() == [False, False, True, False]
    assert traj.reasons[2] == "non-finite loss at step 1" and traj.n_steps[2] == 1
    assert np.isnan(traj.loss[1:, 2]).all() and np.isfinite(traj.loss[0, 2])
    np.testing.assert_allclose(traj.lattice[1:, 2, 0], 3.88)  # frozen where it failed
    assert np.isfinite(traj.loss[:, [0, 1, 3]]).all()
    np.testing.assert_allclose(traj.final_lattice[[0, 1, 3], :3], np.tile(TRUTH[:3], (3, 1)), rtol=1e-9)


def test_coordinates_are_optimised_and_wrapped():
    target_frac = np.array([[0.1, 0.2, 0.95], [0.5, 0.5, 0.5]])

    class CoordSim:
        device = "cpu"

        def pattern(self, lattice, frac):
            # periodic in x like a structure factor
            return torch.cat([torch.cos(2 * np.pi * frac).flatten(1), torch.sin(2 * np.pi * frac).flatten(1)], 1)

    target = CoordSim().pattern(None, torch.as_tensor(target_frac)[None])[0]
    init = target_frac[None] + np.array([0.03, -0.02, 0.04])  # 0.95 + 0.04 wraps past 1
    init = np.concatenate([init, init + 0.01])
    settings = OptimizerSettings(lr_coords=0.005, max_steps=300, tol=1e-14)
    traj = recover(CoordSim(), target, np.tile(TRUTH, (2, 1)), init,
                   loss=lambda p, t: ((p - t) ** 2).sum(-1), optimise=("coords",), settings=settings)
    assert traj.frac.shape == (traj.loss.shape[0], 2, 2, 3)
    np.testing.assert_allclose(traj.frac[0], init % 1.0)  # the guess, wrapped into [0, 1)
    np.testing.assert_allclose(traj.final_frac, np.broadcast_to(target_frac, (2, 2, 3)), atol=1e-4)
    assert (traj.frac >= 0).all() and (traj.frac < 1).all()
    np.testing.assert_array_equal(traj.lattice[-1], np.tile(TRUTH, (2, 1)))  # lattice not optimised


def test_bad_settings_raise_config_error():
    with pytest.raises(ConfigError):
        OptimizerSettings(method="lbfgs")
    with pytest.raises(ConfigError):
        OptimizerSettings(lr_length=-1)
    with pytest.raises(ConfigError):
        recover(IdentitySim(), TRUTH, _init(), None, loss=quadratic, mode="projected")  # no family
    with pytest.raises(ConfigError):
        recover(IdentitySim(), TRUTH, _init(), None, loss=quadratic, optimise=("angles",))


def test_cosine_schedule_ends_at_floor():
    s = OptimizerSettings(schedule="cosine", lr_floor=0.1, max_steps=100)
    assert s.lr_factor(0) == pytest.approx(1.0)
    assert s.lr_factor(50) == pytest.approx(0.55)
    assert s.lr_factor(100) == pytest.approx(0.1)
