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


class CountingSim(IdentitySim):
    """IdentitySim that records how many rows each pattern call evaluates."""

    def __init__(self):
        self.rows = []

    def pattern(self, lattice, frac=None):
        self.rows.append(lattice.shape[0])
        return super().pattern(lattice, frac)


@pytest.mark.parametrize("method", ["gd", "adam"])
def test_stopped_members_leave_the_batch_and_each_member_runs_as_alone(method):
    """A batch costs the sum of its members' steps: members that stopped are not evaluated again, and every
    member's trajectory is the one it has when recovered on its own (bit for bit on a row-wise loss)."""
    init = _init()
    init[0] = TRUTH  # converges at once
    init[3, 0] = np.nan  # fails at step 0
    settings = OptimizerSettings(method=method, lr_length=0.02, lr_angle=1.0, max_steps=300, tol=1e-10,
                                 patience=5, schedule="constant")
    sim = CountingSim()
    traj = recover(sim, TRUTH, init, None, loss=quadratic, settings=settings)
    steps = traj.n_steps
    assert traj.failed.tolist() == [False, False, False, True]
    assert steps[0] < steps[1] and steps[0] < steps[2]  # a real spread of stopping steps
    assert sum(sim.rows) == int(sum(steps[b] + 1 for b in range(3)))
    assert sum(sim.rows) < 3 * (int(steps.max()) + 1)  # the old lockstep batch: every row every step
    assert sim.rows[0] == 3 and sim.rows[-1] < 3
    for b in range(3):
        alone = recover(IdentitySim(), TRUTH, init[b:b + 1], None, loss=quadratic, settings=settings)
        assert alone.n_steps[0] == steps[b]
        np.testing.assert_array_equal(alone.lattice[:, 0], traj.lattice[: alone.lattice.shape[0], b])
        np.testing.assert_array_equal(alone.loss[:, 0], traj.loss[: alone.loss.shape[0], b])


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


def test_modes_project_at_start_and_each_step_or_only_at_start():
    """Toy target outside the hexagonal family: projected stays in it, free-from-projected-init leaves it."""
    target = np.array([4.2, 3.9, 3.0, 92.0, 89.0, 118.0])
    settings = OptimizerSettings(method="adam", lr_length=0.02, lr_angle=0.5, max_steps=100, tol=0)
    init = _init()
    proj = recover(IdentitySim(), target, init, None, loss=quadratic, mode="projected", family="hexagonal",
                   settings=settings)
    lat = proj.lattice.reshape(-1, 6)
    np.testing.assert_allclose(lat[:, 0], lat[:, 1])
    np.testing.assert_allclose(lat[:, 3:], np.tile([90.0, 90.0, 120.0], (len(lat), 1)))
    # the projected optimum of a weighted quadratic: a = b = (4.2 + 3.9) / 2, c free
    np.testing.assert_allclose(proj.final_lattice[:, :3], np.tile([4.05, 4.05, 3.0], (4, 1)), atol=1e-3)
    ffpi = recover(IdentitySim(), target, init, None, loss=quadratic, mode="free-from-projected-init",
                   family="hexagonal", settings=settings)
    np.testing.assert_allclose(ffpi.lattice[0], proj.lattice[0])  # the same projected start
    np.testing.assert_allclose(ffpi.final_lattice, np.tile(target, (4, 1)), atol=2e-2)  # then free
    free = recover(IdentitySim(), target, init, None, loss=quadratic, mode="free", settings=settings)
    np.testing.assert_array_equal(free.lattice[0], init)


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


# ---------------------------------------------------------------------------- the real simulator


@pytest.fixture(scope="module")
def u2ti():
    from xrdtui.engine.simulator import XRDSimulator
    from xrdtui.engine.structures import benchmark_structure, lattice_params

    structure = benchmark_structure("U2Ti")
    sim = XRDSimulator(structure)
    truth = lattice_params(structure)
    with torch.no_grad():
        target = sim.pattern(torch.as_tensor(truth[None]))[0]
    return structure, sim, truth, target


def _strained(structure, sigma, n):
    from xrdtui.engine.noise import distort

    return distort(structure, "U2Ti", "lattice", sigma, n, 0)


@pytest.mark.parametrize("settings", [
    OptimizerSettings(method="adam", lr_length=0.03, lr_angle=0.3, max_steps=200),
    OptimizerSettings(method="gd", lr_length=0.003, lr_angle=3.0, max_steps=200),
], ids=["adam", "gd"])
def test_u2ti_small_strain_is_recovered_with_cosine(u2ti, settings):
    structure, sim, truth, target = u2ti
    init = _strained(structure, 0.01, 4).lattice
    assert (np.abs(init / truth - 1).max(axis=1) > 3e-3).all()  # a real distortion to undo
    traj = recover(sim, target, init, None, loss="cosine", mode="free", optimise=("lattice",), settings=settings)
    assert not traj.failed.any()
    rel = np.abs(traj.final_lattice / truth - 1).max(axis=1)
    assert (rel <= 1e-3).all(), rel
    assert (traj.final_loss < -0.9999).all()


def test_projected_mode_keeps_the_family_at_every_step(u2ti):
    from xrdtui.engine.projectors import project

    structure, sim, truth, target = u2ti
    init = _strained(structure, 0.05, 4).lattice
    settings = OptimizerSettings(max_steps=25)
    traj = recover(sim, target, init, None, mode="projected", family="hexagonal", settings=settings)
    lat = traj.lattice.reshape(-1, 6)
    np.testing.assert_allclose(lat[:, 0], lat[:, 1], rtol=1e-12)
    np.testing.assert_allclose(lat[:, 3:], np.tile([90.0, 90.0, 120.0], (len(lat), 1)), atol=1e-9)
    np.testing.assert_allclose(traj.lattice[0], project(torch.as_tensor(init), "hexagonal").numpy())
    assert (traj.loss[-1] <= traj.loss[0]).all()
    # free-from-projected-init starts at the same projected point. (For a target of the family the
    # gradient there is itself symmetric, so the free steps stay near the family: see the toy test.)
    traj = recover(sim, target, init, None, mode="free-from-projected-init", family="hexagonal", settings=settings)
    np.testing.assert_allclose(traj.lattice[0], project(torch.as_tensor(init), "hexagonal").numpy())


def test_real_batch_with_nan_and_out_of_margin_members(u2ti):
    structure, sim, truth, target = u2ti
    init = _strained(structure, 0.01, 5).lattice
    init[1, 2] = np.nan
    init[2, :3] *= 1.5  # d-spacings grow by 50 %: beyond the simulator's enumeration margin
    init[4, 5] = 185.0  # an angle outside (0, 180)
    settings = OptimizerSettings(method="adam", lr_length=0.03, lr_angle=0.3, max_steps=200)
    traj = recover(sim, target, init, None, settings=settings)
    assert traj.failed.tolist() == [False, True, True, False, True]
    assert traj.reasons[1].startswith("non-finite") and "margin" in traj.reasons[2]
    assert traj.reasons[4].startswith("degenerate cell")
    assert (traj.final_loss[[0, 3]] < -0.9999).all()
    assert np.isnan(traj.loss[:, [1, 2, 4]]).all() and np.isfinite(traj.loss[:, [0, 3]]).all()


def test_trajectory_shapes_with_coordinates(u2ti):
    from xrdtui.engine.structures import frac_coords

    structure, sim, truth, target = u2ti
    n = 3
    init_lat = np.tile(truth, (n, 1)) * np.array([1.01, 1.01, 0.99, 1, 1, 1])
    init_frac = frac_coords(structure)[None] + np.random.default_rng(1).normal(0, 0.01, (n, 3, 3))
    seen = []
    settings = OptimizerSettings(max_steps=6, callback_every=2)
    traj = recover(sim, target, init_lat, init_frac, optimise=("lattice", "coords"), settings=settings,
                   callback=lambda k, loss: seen.append(k))
    assert traj.loss.shape == (7, n) and traj.lattice.shape == (7, n, 6) and traj.frac.shape == (7, n, 3, 3)
    np.testing.assert_allclose(traj.lattice[0], init_lat)
    np.testing.assert_allclose(traj.frac[0], init_frac % 1.0)
    np.testing.assert_array_equal(traj.n_steps, [6, 6, 6])
    assert seen == [0, 2, 4, 6]
    assert traj.final_frac.shape == (n, 3, 3) and traj.final_lattice.shape == (n, 6)
