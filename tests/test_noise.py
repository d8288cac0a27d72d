"""Noise models: statistics against their definitions, reproducibility, independence from batch size."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from xrdtui.engine import noise
from xrdtui.engine.structures import benchmark_structure, frac_coords, lattice_params
from xrdtui.errors import ConfigError


def test_strain_entries_follow_their_uniform_laws():
    sigma, n = 0.08, 40000
    s = noise.sample_strain(sigma, n, np.random.default_rng(1))
    diag = s[:, [0, 1, 2], [0, 1, 2]]
    off = s[:, ~np.eye(3, dtype=bool)]
    assert diag.min() >= 1 - sigma and diag.max() <= 1 + sigma
    assert off.min() >= -sigma and off.max() <= sigma
    # the samples fill the whole interval (not a narrower one)
    assert diag.min() < 1 - 0.99 * sigma and diag.max() > 1 + 0.99 * sigma
    se = sigma / np.sqrt(3) / np.sqrt(diag.size)  # standard error of the mean of U(-s, s)
    assert abs(diag.mean() - 1) < 5 * se and abs(off.mean()) < 5 * se * np.sqrt(diag.size / off.size)
    # Var U(-s, s) = s^2 / 3
    np.testing.assert_allclose(off.var(), sigma**2 / 3, rtol=0.03)
    np.testing.assert_allclose(diag.var(), sigma**2 / 3, rtol=0.03)


def test_cartesian_strain_applies_S_to_each_lattice_vector_with_pymatgen():
    """The paper's L~ = S L (columns of L the lattice vectors): every vector v becomes S v, in pymatgen's
    Lattice.from_parameters frame."""
    from pymatgen.core import Lattice

    params = lattice_params(benchmark_structure("CsTlO"))  # monoclinic: non-trivial metric
    strain = noise.sample_strain(0.1, 20, np.random.default_rng(7))
    got = noise.strained_params(params, strain)  # the default form
    matrix = Lattice.from_parameters(*params).matrix  # rows a, b, c
    for S, p in zip(strain, got):
        deformed = np.array([S @ v for v in matrix])
        np.testing.assert_allclose(Lattice(deformed).parameters, p, rtol=1e-10, atol=1e-9)
        # the distorted cell's metric is that of S applied to each vector
        np.testing.assert_allclose(Lattice.from_parameters(*p).metric_tensor, deformed @ deformed.T, rtol=1e-9)
    np.testing.assert_array_equal(noise.lattice_noise(params, 0.1, 20, np.random.default_rng(7)), got)


def test_basis_strain_mixes_the_cell_vectors_with_pymatgen():
    from pymatgen.core import Lattice

    params = lattice_params(benchmark_structure("CsTlO"))
    strain = noise.sample_strain(0.1, 20, np.random.default_rng(7))
    got = noise.strained_params(params, strain, "basis")
    lattice = Lattice.from_parameters(*params)
    expected = np.array([Lattice(S @ lattice.matrix).parameters for S in strain])
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-9)
    np.testing.assert_array_equal(
        noise.lattice_noise(params, 0.1, 20, np.random.default_rng(7), form="basis"), got
    )


def test_both_strain_forms_agree_for_cubic_cells_only():
    from scipy.stats import ks_2samp

    strain = noise.sample_strain(0.08, 4000, np.random.default_rng(5))
    cubic = lattice_params(benchmark_structure("PbF2"))
    # for a cubic cell M = aI: cartesian(S) = basis(S^T) member by member ...
    np.testing.assert_allclose(noise.strained_params(cubic, strain),
                               noise.strained_params(cubic, strain.transpose(0, 2, 1), "basis"), atol=1e-9)
    # ... and since S^T has the law of S, the two distributions agree
    cart, basis = noise.strained_params(cubic, strain), noise.strained_params(cubic, strain, "basis")
    assert ks_2samp(cart[:, 3], basis[:, 3]).pvalue > 1e-3
    # not for a monoclinic cell with a long a axis: the basis form shears gamma far more
    mono = lattice_params(benchmark_structure("Na3MnCoNiO6"))
    cart, basis = noise.strained_params(mono, strain), noise.strained_params(mono, strain, "basis")
    assert ks_2samp(cart[:, 5], basis[:, 5]).pvalue < 1e-10
    assert np.abs(basis[:, 5] - 90).mean() > 3 * np.abs(cart[:, 5] - 90).mean()


def test_unknown_strain_form_is_a_config_error():
    with pytest.raises(ConfigError, match="strain form"):
        noise.strained_params(lattice_params(benchmark_structure("U2Ti")), np.eye(3)[None], "sideways")


def test_zero_level_is_identity():
    params = lattice_params(benchmark_structure("U2Ti"))
    out = noise.lattice_noise(params, 0.0, 3, np.random.default_rng(0))
    np.testing.assert_allclose(out, np.tile(params, (3, 1)), atol=1e-10)


def test_coord_noise_std_and_wrapping():
    sigma, n = 0.03, 4000
    frac = frac_coords(benchmark_structure("PbF2"))  # includes coordinates at 0, where wrapping matters
    out = noise.coord_noise(frac, sigma, n, np.random.default_rng(3))
    assert out.shape == (n, 12, 3)
    assert np.all(out >= 0) and np.all(out < 1)
    eps = (out - frac[None] + 0.5) % 1.0 - 0.5  # undo the mod (|eps| << 0.5 here)
    np.testing.assert_allclose(eps.std(), sigma, rtol=0.02)
    assert abs(eps.mean()) < 5 * sigma / np.sqrt(eps.size)
    # independent per atom and per axis: correlation between two coordinates ~ 0
    r = np.corrcoef(eps[:, 0, 0], eps[:, 1, 2])[0, 1]
    assert abs(r) < 5 / np.sqrt(n)


def test_same_seed_is_bit_identical_and_inputs_change_the_draw():
    s = benchmark_structure("Na3MnCoNiO6")
    a = noise.distort(s, name="Na3MnCoNiO6", noise="lattice", level=0.05, n=8, seed=11)
    b = noise.distort(s, name="Na3MnCoNiO6", noise="lattice", level=0.05, n=8, seed=11)
    assert a.lattice.tobytes() == b.lattice.tobytes() and a.frac.tobytes() == b.frac.tobytes()
    for kwargs in ({"seed": 12}, {"name": "other"}, {"level": 0.0500001}):
        c = noise.distort(s, **{**dict(name="Na3MnCoNiO6", noise="lattice", level=0.05, n=8, seed=11), **kwargs})
        assert not np.allclose(a.lattice, c.lattice)
    # noise type enters the seed: the coordinate draw is not the lattice draw's stream reused
    rng_l = noise.distortion_rng(11, "Na3MnCoNiO6", "lattice", 0.05)
    rng_c = noise.distortion_rng(11, "Na3MnCoNiO6", "coords", 0.05)
    assert rng_l.random() != rng_c.random()


def test_known_seed_value_is_stable_across_processes():
    # crc32-based seeding: this number must not change between runs or Python processes
    rng = noise.distortion_rng(0, "U2Ti", "lattice", 0.1)
    expected = np.random.Generator(np.random.PCG64(np.random.SeedSequence(
        [0, zlib.crc32(b"U2Ti"), zlib.crc32(b"lattice"),
         0x3FB99999, 0x9999999A])))  # float64 bits of 0.1
    assert rng.random() == expected.random()


def test_batch_member_does_not_depend_on_batch_size():
    s = benchmark_structure("UC2")
    small = noise.distort(s, name="UC2", noise="coords", level=0.02, n=3, seed=5)
    large = noise.distort(s, name="UC2", noise="coords", level=0.02, n=10, seed=5)
    np.testing.assert_array_equal(small.frac, large.frac[:3])
    small = noise.distort(s, name="UC2", noise="lattice", level=0.02, n=3, seed=5)
    large = noise.distort(s, name="UC2", noise="lattice", level=0.02, n=10, seed=5)
    np.testing.assert_array_equal(small.lattice, large.lattice[:3])


def test_distort_changes_only_its_own_part():
    s = benchmark_structure("Ti2Sn")
    lat = noise.distort(s, name="Ti2Sn", noise="lattice", level=0.05, n=4, seed=0)
    np.testing.assert_array_equal(lat.frac, np.broadcast_to(frac_coords(s), (4, 6, 3)))
    assert lat.lattice.shape == (4, 6) and not np.allclose(lat.lattice, lattice_params(s))
    crd = noise.distort(s, name="Ti2Sn", noise="coords", level=0.05, n=4, seed=0)
    np.testing.assert_array_equal(crd.lattice, np.broadcast_to(lattice_params(s), (4, 6)))
    assert len(crd) == 4 and not np.allclose(crd.frac, frac_coords(s))


@pytest.mark.parametrize(
    "kwargs",
    [{"noise": "strain"}, {"level": -0.1}, {"level": float("nan")}, {"level": 1.5}, {"n": -1},
     {"n": 2.5}, {"seed": -3}, {"seed": 1.0}],
)
def test_bad_arguments_raise_config_error(kwargs):
    s = benchmark_structure("ErPt3")
    with pytest.raises(ConfigError):
        noise.distort(s, **{**dict(name="ErPt3", noise="lattice", level=0.05, n=2, seed=0), **kwargs})


def test_positional_order_and_swapped_strings():
    s = benchmark_structure("ErPt3")
    a = noise.distort(s, "ErPt3", "lattice", 0.05, 2, 0)
    b = noise.distort(s, name="ErPt3", noise="lattice", level=0.05, n=2, seed=0)
    np.testing.assert_array_equal(a.lattice, b.lattice)
    with pytest.raises(ConfigError, match="unknown noise type 'ErPt3'"):
        noise.distort(s, "lattice", "ErPt3", 0.05, 2, 0)
