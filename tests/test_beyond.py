"""Recovery methods beyond the paper (xrdtui.methods.beyond): each on a small real case, and the limits where
they must equal plain projected descent."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from xrdtui.errors import ConfigError
from xrdtui.jobs.config import build_settings, parse_config
from xrdtui.methods import get_method
from xrdtui.methods.batch import Batch

OPTIMIZER = """
[optimizer]
method = "gd"
schedule = "constant"
convergence = "window"
tol = 1e-4
patience = 10
max_steps = 40
lr_length = 0.0056
lr_angle = 1.78
lr_coords = 0.0316
"""


def batch_for(name: str, noise: str, level: float, tables: str = "", n: int = 3, method: str = "cosine",
              cell: str = "conventional"):
    """A Batch of the seeded distortions of a benchmark, as the sweep would build it."""
    import tomllib

    from xrdtui.engine.noise import distort
    from xrdtui.engine.simulator import XRDSimulator
    from xrdtui.engine.structures import benchmark_structure, crystal_family, in_cell

    truth = in_cell(benchmark_structure(name), cell)
    settings = build_settings(tomllib.loads(OPTIMIZER + tables), method)
    sim = XRDSimulator(truth, settings["pattern"])
    d = distort(truth, name, noise, level, n, 7)
    return Batch(structure=truth, init_lattice=d.lattice, init_frac=d.frac, noise=noise, level=level,
                 mode="projected", family=crystal_family(benchmark_structure(name)), settings=settings,
                 simulator=lambda: sim, target=sim.reference_pattern, n_rows=1000)


def test_multistart_with_one_start_is_projected_descent():
    single = batch_for("CsTlO", "lattice", 0.08, "[multistart]\nstarts = 1\n", method="multistart")
    ours = get_method("multistart").run(single)
    plain = get_method("cosine").run(single)
    np.testing.assert_array_equal(ours.final_lattice, plain.final_lattice)
    np.testing.assert_array_equal(ours.loss, plain.loss)


def test_multistart_keeps_the_lowest_final_loss_of_its_starts():
    from xrdtui.engine.multistart import MultiStartSettings, spread_starts

    batch = batch_for("U2Ti", "lattice", 0.1, "[multistart]\nstarts = 6\n", method="multistart")
    out = get_method("multistart").run(batch)
    plain = get_method("cosine").run(batch)
    assert np.all(out.final_loss <= plain.final_loss + 1e-9)  # start 0 is the plain run's start
    # the starts: row 0 of each member is its distorted start, the others inside the noise-sized box
    lat, _ = spread_starts(batch.init_lattice, batch.init_frac, "lattice", 0.1, MultiStartSettings(starts=6))
    lat = lat.reshape(3, 6, 6)
    np.testing.assert_array_equal(lat[:, 0], batch.init_lattice)
    assert np.all(np.abs(lat[:, 1:, :3] / batch.init_lattice[:, None, :3] - 1) <= 0.1 + 1e-12)
    assert np.all(np.abs(lat[:, 1:, 3:] - batch.init_lattice[:, None, 3:]) <= np.degrees(0.1) + 1e-9)


def test_continuation_at_one_width_is_projected_descent():
    single = batch_for("Au2S", "lattice", 0.06, "[continuation]\nwidths = [0.1]\n", method="continuation")
    ours = get_method("continuation").run(single)
    plain = get_method("cosine").run(single)
    np.testing.assert_array_equal(ours.final_lattice, plain.final_lattice)
    np.testing.assert_allclose(ours.loss[-1], plain.final_loss)


def test_continuation_runs_every_stage_and_ends_at_the_campaigns_width():
    batch = batch_for("U2Ti", "lattice", 0.1, "[continuation]\nwidths = [5.0, 1.0]\nstage_steps = 15\n",
                      method="continuation")
    out = get_method("continuation").run(batch)
    assert out.loss.shape[0] == 3 * 15 + 1  # stages at W = 5, 1 and the campaign's 0.1
    assert np.isfinite(out.final_lattice).all() and not out.failed.any()
    from xrdtui.methods.beyond import continuation_steps

    assert continuation_steps(batch.settings) == 45


def test_wyckoff_descent_keeps_the_space_group_at_every_step():
    """Coordinate noise in CsTlO (C2/m): the symmetrised start and every stored step have the space group
    (spglib at 1e-4 Å), while the distorted start has none."""
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    from xrdtui.engine.structures import lattice_params, with_params

    batch = batch_for("CsTlO", "coords", 0.03, cell="primitive", method="wyckoff")
    out = get_method("wyckoff").run(batch)
    truth = batch.structure
    ref = SpacegroupAnalyzer(truth, symprec=1e-4).get_space_group_number()

    def group(frac):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return SpacegroupAnalyzer(with_params(truth, lattice_params(truth), frac), symprec=1e-4).get_space_group_number()

    assert group(batch.init_frac[0]) != ref
    for b in range(batch.n_members):
        steps = int(out.n_steps[b])
        for k in sorted({0, 1, steps // 2, steps}):
            assert group(out.frac[k, b]) == ref
    assert not out.failed.any()


def test_wyckoff_under_lattice_noise_moves_cell_and_free_parameters_together():
    batch = batch_for("CsTlO", "lattice", 0.05, method="wyckoff")
    out = get_method("wyckoff").run(batch)
    assert out.frac is not None and not out.failed.any()
    # the cell stays in its family (monoclinic: alpha = gamma = 90)
    np.testing.assert_allclose(out.final_lattice[:, [3, 5]], 90.0, atol=1e-9)


def test_xcorr_is_one_for_identical_patterns_and_falls_smoothly_with_a_shift():
    from xrdtui.engine.losses import cosine_similarity, xcorr_similarity

    x = torch.arange(9000, dtype=torch.float64) * 0.01

    def pattern(shift):
        return (torch.exp(-((x - 30 - shift) / 0.1) ** 2) + 0.6 * torch.exp(-((x - 52 - shift) / 0.12) ** 2))[None]

    target = pattern(0.0)[0]
    shifts = np.linspace(0.0, 2.5, 26)
    s = np.array([float(xcorr_similarity(pattern(d), target)) for d in shifts])
    assert s[0] == pytest.approx(1.0, abs=1e-12)
    assert np.all(np.diff(s) < 0) and s[-1] < 0.05  # strictly falling until the 2° window is passed
    assert np.max(np.abs(np.diff(s, 2))) < 0.05  # no jumps
    # the cosine is already ~0 once the peaks no longer overlap, the cross-correlation is not
    assert float(cosine_similarity(pattern(0.5), target)) < 1e-3 and float(xcorr_similarity(pattern(0.5), target)) > 0.5


def test_hybrid_energy_term_is_chgnet_energy_per_atom_with_its_gradient():
    from chgnet.model import CHGNet  # noqa: F401  (skip cleanly when chgnet is missing)

    from xrdtui.engine.hybrid import energies_and_gradients, energy_penalty
    from xrdtui.engine.relax import chgnet_energies, load_model
    from xrdtui.engine.structures import benchmark_structure, frac_coords, lattice_params, with_params

    s = benchmark_structure("ErPt3")
    species = [site.species_string for site in s]
    lattice = lattice_params(s)[None] * [1.02, 0.99, 1.01, 1, 1, 1] + [0, 0, 0, 0.8, 0, 0]
    frac = frac_coords(s)[None] + [[0.0, 0.0, 0.0], [0.01, 0.0, 0.0], [0.0, -0.01, 0.0], [0, 0, 0.005]]
    model = load_model()
    lat_t = torch.tensor(lattice, requires_grad=True)
    frac_t = torch.tensor(frac, requires_grad=True)
    value = energy_penalty(model, species, 2.5)(lat_t, frac_t)
    reference = chgnet_energies([with_params(s, lattice[0], frac[0])])[0]  # CHGNet's own energy, eV/atom
    assert float(value[0]) == pytest.approx(2.5 * reference, rel=1e-5)
    value.sum().backward()
    for i, h in ((0, 1e-3), (2, 1e-3), (3, 0.05)):  # lengths (Å) and an angle (degrees)
        up, down = lattice.copy(), lattice.copy()
        up[0, i] += h
        down[0, i] -= h
        fd = (energies_and_gradients(model, up, frac, species)[0] - energies_and_gradients(model, down, frac, species)[0]) / (2 * h)
        assert float(lat_t.grad[0, i]) == pytest.approx(2.5 * fd[0], rel=0.05, abs=2e-3)
    up, down = frac.copy(), frac.copy()
    up[0, 1, 0] += 1e-3
    down[0, 1, 0] -= 1e-3
    fd = (energies_and_gradients(model, lattice, up, species)[0] - energies_and_gradients(model, lattice, down, species)[0]) / 2e-3
    assert float(frac_t.grad[0, 1, 0]) == pytest.approx(2.5 * fd[0], rel=0.05, abs=2e-3)


def test_energy_calls_in_edge_chunks_give_the_numbers_of_one_call(monkeypatch):
    """The joint objective's CHGNet calls are split under the relaxation's edge budget (memory); each graph's
    energy, forces and stress do not depend on its batch partners, so chunks give one call's numbers exactly."""
    from chgnet.model import CHGNet  # noqa: F401

    from xrdtui.engine.hybrid import energies_and_gradients
    from xrdtui.engine.relax import RelaxSettings, load_model
    from xrdtui.engine.structures import benchmark_structure, frac_coords, lattice_params

    s = benchmark_structure("ErPt3")
    species = [site.species_string for site in s]
    lattice = lattice_params(s)[None] * np.array([[1.0] * 6, [1.03, 1.03, 1.03, 1, 1, 1], [0.98] * 3 + [1] * 3])
    frac = np.repeat(frac_coords(s)[None], 3, axis=0)
    import xrdtui.engine.chgnet_internals as internals

    calls = []
    predict = internals.predict_efs
    monkeypatch.setattr(internals, "predict_efs",
                        lambda model, graphs: calls.append(len(graphs)) or predict(model, graphs))
    monkeypatch.setattr(RelaxSettings, "max_edges", 10**9)
    whole = energies_and_gradients(load_model(), lattice, frac, species)
    monkeypatch.setattr(RelaxSettings, "max_edges", 1)  # every graph a chunk of its own
    chunked = energies_and_gradients(load_model(), lattice, frac, species)
    assert calls == [3, 1, 1, 1]
    for a, b in zip(whole, chunked):
        assert np.array_equal(a, b)
    assert np.isfinite(whole[0]).all()


def test_energy_of_a_crushed_cell_is_nan_not_a_huge_graph():
    """A member whose cell is denser than MIN_VOLUME_PER_ATOM gets NaN (it fails, as a degenerate cell
    does) instead of a CHGNet graph that grows as 1/V²; its neighbour in the batch keeps CHGNet's energy."""
    from chgnet.model import CHGNet  # noqa: F401

    from xrdtui.engine.hybrid import MIN_VOLUME_PER_ATOM, energies_and_gradients
    from xrdtui.engine.relax import chgnet_energies, load_model
    from xrdtui.engine.structures import benchmark_structure, frac_coords, lattice_params

    s = benchmark_structure("Au2S")  # cubic, 6 atoms
    species = [site.species_string for site in s]
    side = (0.5 * MIN_VOLUME_PER_ATOM * len(s)) ** (1 / 3)  # half the floor's volume
    lattice = np.array([lattice_params(s), [side, side, side, 90.0, 90.0, 90.0]])
    frac = np.repeat(frac_coords(s)[None], 2, axis=0)
    energy, grad_m, grad_f = energies_and_gradients(load_model(), lattice, frac, species)
    assert energy[0] == pytest.approx(chgnet_energies([s])[0], rel=1e-5)
    assert np.isnan(energy[1]) and not grad_m[1].any() and not grad_f[1].any()


@pytest.mark.parametrize("table, fragment", [
    ("[multistart]\nstarts = 0\n", "multistart: starts must be a positive integer"),
    ("[continuation]\nwidths = [1.0, 3.0]\n", "continuation: widths must narrow"),
    ("[hybrid]\nweight = -1.0\n", "hybrid: weight (lambda) must be a non-negative"),
])
def test_bad_beyond_settings_are_one_line_config_errors(table, fragment):
    text = 'structures = ["U2Ti"]\nmethods = ["multistart", "continuation", "xrd-energy"]\n[noise]\nlattice = [0.05]\n'
    with pytest.raises(ConfigError) as info:
        parse_config(text + table)
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_each_method_runs_in_a_sweep_into_the_store(tmp_path):
    """Every beyond method through the whole pipeline: tasks, the store, valid final cells, trajectories."""
    from xrdtui.jobs.campaign import run_campaign
    from xrdtui.store.reader import StoreReader

    names = ["xcorr", "multistart", "continuation", "wyckoff", "xrd-then-chgnet", "xrd-energy"]
    cfg = parse_config('name = "beyond"\nseed = 3\nstructures = ["ErPt3"]\ndistortions = 2\n'
                       f'methods = {names!r}\nmodes = ["projected"]\n'.replace("'", '"')
                       + "[noise]\nlattice = [0.05]\ncoords = [0.03]\n"
                       + OPTIMIZER.replace("max_steps = 40", "max_steps = 12")
                       + "[multistart]\nstarts = 2\n[continuation]\nwidths = [1.0]\nstage_steps = 6\n"
                       + "[chgnet]\nsteps = 5\n")
    path = run_campaign(cfg, store_path=tmp_path / "b.h5", scheduler="inline")
    with StoreReader.open(path) as r:
        rows = {t.task_id: t for t in r.tasks()}
        assert all(t.status == "done" for t in rows.values()), [t.task_id for t in rows.values() if t.status != "done"]
        for t in rows.values():
            res = r.task(t.task_id).result
            assert np.isfinite(res.final_lattice).all() and res.loss.shape[1] == 2
            assert np.isfinite(res.loss[0]).all()  # the trajectory starts at the distorted start
        assert "ErPt3/coords/0.030/wyckoff/projected" in rows  # a coordinate constraint, so "projected"
        assert "ErPt3/coords/0.030/multistart/free" in rows
