"""Landscapes on 2-D slices, prominence-ranked minima and descent paths (xrdtui.engine.landscape)."""

from __future__ import annotations

import numpy as np
import pytest

from xrdtui.engine.landscape import (
    ALL_PAIRS,
    find_minima,
    landscape_grid,
    param_index,
    slice_projection,
    tie_groups,
)
from xrdtui.engine.structures import benchmark_structure, lattice_params
from xrdtui.errors import ConfigError

# ---------------------------------------------------------------------------- minima (analytic grids)

X = np.linspace(-1, 1, 81)
GX, GY = np.meshgrid(X, X, indexing="ij")


def test_paraboloid_grid_has_one_minimum_with_full_depth():
    z = (GX - 0.25) ** 2 + 3 * (GY + 0.5) ** 2
    minima = find_minima(z)
    assert len(minima) == 1
    m = minima[0]
    assert (X[m.index[0]], X[m.index[1]]) == pytest.approx((0.25, -0.5))
    assert m.depth == pytest.approx(z.max() - z.min())


def test_two_wells_depth_is_height_to_saddle():
    # Two Gaussian wells of depth 1 and 0.5 at x = +-0.5; on the line y = 0 the pass lies between them.
    z = -np.exp(-((GX - 0.5) ** 2 + GY**2) / 0.05) - 0.5 * np.exp(-((GX + 0.5) ** 2 + GY**2) / 0.05)
    deep, shallow = find_minima(z)[:2]
    assert X[deep.index[0]] == pytest.approx(0.5) and X[shallow.index[0]] == pytest.approx(-0.5)
    line = z[:, 40]
    saddle = line[np.argmin(np.abs(X + 0.5)) : np.argmin(np.abs(X - 0.5))].max()
    assert shallow.saddle == pytest.approx(saddle)
    assert shallow.depth == pytest.approx(saddle - z.min(where=GX < 0, initial=0))
    assert deep.depth == pytest.approx(z.max() - z.min())
    assert len(find_minima(z)) == 2


def test_plateau_is_one_minimum_and_nan_cells_are_walls():
    z = np.ones((12, 12))
    z[3:7, 3:7] = 0.0  # a flat-bottomed basin: one minimum, not 16
    assert len(find_minima(z)) == 1
    z[:, 9] = np.nan  # a wall of invalid cells cuts off a second flat region
    z[10:, 10:] = -1.0
    minima = find_minima(z)
    assert sorted(m.value for m in minima) == [-1.0, 0.0]


def test_shallow_ripples_below_min_depth_are_ignored():
    # A flat-bottomed valley along y with float32-like noise: many spurious grid minima along the
    # valley floor, none deeper than 1e-4 < 1e-3 * range.
    z = GX**2 + 1e-4 * np.random.default_rng(0).random(GX.shape)
    assert len(find_minima(z)) == 1
    assert len(find_minima(z, min_depth=0.0)) > 1


def test_param_names():
    assert [param_index(p) for p in ("a", "b", "c", "alpha", "β", "gamma")] == [0, 1, 2, 3, 4, 5]
    assert len(ALL_PAIRS) == 15
    with pytest.raises(ConfigError):
        param_index("delta")


# ---------------------------------------------------------------------------- slices without the simulator


def test_paraboloid_objective_on_a_slice_has_exactly_one_minimum():
    u2ti = benchmark_structure("U2Ti")

    def paraboloid(lat):
        return (lat[:, 0] - 4.9) ** 2 + 2 * (lat[:, 2] - 2.7) ** 2

    land = landscape_grid(u2ti, ("a", "c"), paraboloid, resolution=(41, 51), span=0.1, n_patterns=0)
    assert land.values.shape == (41, 51)
    assert land.x[0] == pytest.approx(4.7887 * 0.9) and land.y[-1] == pytest.approx(2.8022 * 1.1)
    assert len(land.minima) == 1
    assert land.minima[0].coords == pytest.approx((4.9, 2.7), abs=0.02)
    # the other four parameters stay at the truth
    np.testing.assert_allclose(land.lattice_at(3, 7)[[1, 3, 4, 5]], [4.7887, 90, 90, 120])


def test_energy_fn_sees_structures_with_the_grid_cells():
    u2ti = benchmark_structure("U2Ti")
    calls = []

    def energy(structures):
        calls.append(len(structures))
        return [(s.lattice.a - 4.9) ** 2 + (s.lattice.c - 2.7) ** 2 + 0.01 * s.lattice.b for s in structures]

    land = landscape_grid(u2ti, ("a", "c"), "energy", energy_fn=energy, resolution=21, span=0.1, n_patterns=0)
    assert sum(calls) == 21 * 21 and land.objective == "energy"
    assert len(land.minima) == 1
    assert land.minima[0].coords == pytest.approx((4.9, 2.7), abs=0.03)
    assert land.values.min() == pytest.approx(0.01 * 4.7887, abs=1e-3)  # b held at the truth
    with pytest.raises(ConfigError):
        landscape_grid(u2ti, ("a", "c"), "energy", resolution=5, n_patterns=0)  # no energy_fn


def test_all_slices_cover_the_fifteen_pairs():
    from xrdtui.engine.landscape import all_slices

    u2ti = benchmark_structure("U2Ti")
    slices = all_slices(u2ti, lambda lat: lat.sum(axis=1), resolution=5, n_patterns=0)
    assert list(slices) == list(ALL_PAIRS)
    for (p, q), land in slices.items():
        assert land.pair == (p, q) and land.values.shape == (5, 5)
        assert len(land.minima) == 1 and land.minima[0].index == (0, 0)  # the sum is least at the low corner


def test_absolute_bounds_and_bad_ranges():
    u2ti = benchmark_structure("U2Ti")
    land = landscape_grid(u2ti, ("alpha", "gamma"), lambda lat: lat[:, 3], bounds=((80, 100), None),
                          resolution=5, n_patterns=0)
    np.testing.assert_allclose(land.x, [80, 85, 90, 95, 100])
    assert land.y[0] == pytest.approx(102.0)
    with pytest.raises(ConfigError):
        landscape_grid(u2ti, ("a", "a"), lambda lat: lat[:, 0], n_patterns=0)
    with pytest.raises(ConfigError):
        landscape_grid(u2ti, ("a", "c"), lambda lat: lat[:, 0], bounds=((5, 4), None), n_patterns=0)


def test_slice_projection_keeps_slice_coordinates_and_ties_partners():
    truth = lattice_params(benchmark_structure("U2Ti"))
    assert tie_groups("hexagonal", truth) == [(0, 1)]
    p = slice_projection([[5.0, 4.7887, 3.0, 91.0, 89.0, 118.0]], ("a", "c"), "hexagonal", truth)[0]
    np.testing.assert_allclose(p, [5.0, 5.0, 3.0, 90.0, 90.0, 120.0])
    cubic = lattice_params(benchmark_structure("Au2S"))
    assert tie_groups("cubic", cubic) == [(0, 1, 2)]
    p = slice_projection([[5.0, 6.0, 5.3471, 90, 90, 90]], ("a", "b"), "cubic", cubic)[0]
    np.testing.assert_allclose(p[:3], [5.5, 5.5, 5.5])


# ---------------------------------------------------------------------------- with the simulator

@pytest.fixture
def needs_simulator():
    pytest.importorskip("xrdtui.engine.simulator")


def test_u2ti_cosine_landscape_has_several_separated_minima(needs_simulator):
    """Paper Figure 2: the cosine loss over (a, c) within +-15 % has three prominent minima."""
    u2ti = benchmark_structure("U2Ti")
    land = landscape_grid(u2ti, ("a", "c"), "cosine", span=0.15, resolution=61)
    assert np.isfinite(land.values).all()
    assert len(land.minima) >= 3
    best = land.minima[0]
    assert best.coords == pytest.approx((4.7887, 2.8022), rel=0.01)  # the truth is the deepest minimum
    assert best.value == pytest.approx(-1.0, abs=1e-3)
    assert all(m.value > best.value + 1e-3 for m in land.minima[1:])
    assert land.minima_patterns.shape == (3, 9000) and land.two_theta.shape == (9000,)


def test_projected_path_on_cubic_au2s_stays_cubic(needs_simulator):
    from xrdtui.engine.landscape import descent_path
    from xrdtui.engine.optimize import OptimizerSettings

    au2s = benchmark_structure("Au2S")
    opt = OptimizerSettings(max_steps=60)
    path = descent_path(au2s, ("a", "b"), (5.5, 5.2), mode="projected", optimizer=opt)
    lat = path.lattice
    assert len(lat) > 1
    np.testing.assert_allclose(lat[:, 1], lat[:, 0], rtol=1e-12)
    np.testing.assert_allclose(lat[:, 2], lat[:, 0], rtol=1e-12)
    np.testing.assert_allclose(lat[:, 3:], 90.0)
    assert path.points.shape == (len(lat), 2)
    assert path.final_loss < path.loss[0]


def test_free_path_moves_only_the_slice_parameters(needs_simulator):
    from xrdtui.engine.landscape import descent_paths
    from xrdtui.engine.optimize import OptimizerSettings

    u2ti = benchmark_structure("U2Ti")
    starts = [(4.85, 2.78), (4.70, 2.83)]
    paths = descent_paths(u2ti, ("a", "c"), starts, mode="free", optimizer=OptimizerSettings(max_steps=150))
    for start, path in zip(starts, paths):
        np.testing.assert_allclose(path.points[0], start)
        np.testing.assert_allclose(path.lattice[:, [1, 3, 4, 5]], np.tile([4.7887, 90, 90, 120], (len(path.lattice), 1)))
        assert path.points.shape == (len(path.loss), 2) and path.final_loss == path.loss[-1]
        # near the truth the free path reaches it (a and c only)
        assert path.points[-1] == pytest.approx((4.7887, 2.8022), abs=2e-3)


def test_tied_cubic_slice_depends_on_a_plus_b_only_and_has_fewer_minima(needs_simulator):
    """On a cubic (a, b) slice the projection a = b = c = (a + b) / 2 leaves a 1-D landscape: each of
    its minima is a valley along an anti-diagonal (a plateau line, counted once), far fewer than the
    free slice's spurious minima (paper: projection removes spurious minima)."""
    au2s = benchmark_structure("Au2S")
    free = landscape_grid(au2s, ("a", "b"), "cosine", resolution=41, n_patterns=0)
    tied = landscape_grid(au2s, ("a", "b"), "cosine", resolution=41, n_patterns=0, tied=True)
    v = tied.values
    for k in (10, 20, 35):  # cells with i + j = k share a + b (equal axes)
        line = np.array([v[i, k - i] for i in range(max(0, k - 40), min(k, 40) + 1)])
        np.testing.assert_allclose(line, line[0], atol=1e-5)
    assert len(tied.minima) < len(free.minima) / 2
    assert tied.minima[0].value == pytest.approx(-1.0, abs=1e-4)
    a, b = tied.minima[0].coords
    assert (a + b) / 2 == pytest.approx(5.3471, abs=0.01)
