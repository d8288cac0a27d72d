"""engine.supercell: a lattice-strained conventional cell as k copies of its primitive cell, and back."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Lattice, Structure

from xrdtui.engine.noise import distort
from xrdtui.engine.structures import benchmark_structure, with_params
from xrdtui.engine.supercell import primitive_map

# conventional / primitive site counts of the centred benchmark cells (spacegroup facts: I, C, F lattices)
CENTRED = {"BPO4": (12, 6), "Na3MnCoNiO6": (24, 12), "UC2": (6, 3), "PbF2": (12, 3), "CsTlO": (12, 6)}


def _member(name: str, noise: str, level: float, b: int = 0) -> Structure:
    truth = benchmark_structure(name)
    d = distort(truth, name, noise, level, b + 1, seed=3)
    return with_params(truth, d.lattice[b], d.frac[b])


@pytest.mark.parametrize("name", sorted(CENTRED))
def test_strained_conventional_cell_is_rebuilt_exactly_from_its_primitive_cell(name):
    big = _member(name, "lattice", 0.1)
    pmap = primitive_map(big)
    assert pmap is not None
    n, n_p = CENTRED[name]
    assert (len(big), len(pmap.primitive), pmap.factor) == (n, n_p, n // n_p)
    assert abs(round(np.linalg.det(pmap.cell_map))) == n // n_p and np.linalg.det(pmap.primitive.lattice.matrix) > 0
    assert pmap.primitive.volume == pytest.approx(big.volume * n_p / n, rel=1e-12)
    cell, pos = pmap.expand(pmap.primitive.lattice.matrix, pmap.primitive.cart_coords)
    np.testing.assert_allclose(cell, big.lattice.matrix, atol=1e-10)
    np.testing.assert_allclose(pos, big.cart_coords, atol=1e-10)  # site by site, in the big cell's order
    assert [str(s) for s in pmap.species] == [str(s.species) for s in big]
    assert StructureMatcher(primitive_cell=False, scale=False).fit(pmap.primitive, big.get_primitive_structure())


def test_moves_of_the_small_cell_map_to_the_same_moves_of_every_copy():
    """A rigid shift d of one primitive site shifts its k copies by d; a strain F of the small cell
    (P -> P F^T, positions r -> r F^T) is the same strain of the big cell and all its sites."""
    big = _member("PbF2", "lattice", 0.05)
    pmap = primitive_map(big)
    small, pos = np.array(pmap.primitive.lattice.matrix), np.array(pmap.primitive.cart_coords)
    moved = pos.copy()
    moved[1] += [0.03, -0.02, 0.05]
    _, big_pos = pmap.expand(small, moved)
    delta = big_pos - big.cart_coords
    copies = pmap.site == 1
    assert copies.sum() == 4
    np.testing.assert_allclose(delta[copies], np.tile([0.03, -0.02, 0.05], (4, 1)), atol=1e-12)
    np.testing.assert_allclose(delta[~copies], 0.0, atol=1e-12)
    F = np.array([[1.02, 0.01, 0.0], [0.0, 0.97, 0.015], [0.005, 0.0, 1.04]])
    cell, strained = pmap.expand(small @ F.T, pos @ F.T)
    np.testing.assert_allclose(cell, big.lattice.matrix @ F.T, atol=1e-12)
    np.testing.assert_allclose(strained, big.cart_coords @ F.T, atol=1e-12)


@pytest.mark.parametrize("name", ["U2Ti", "Au2S", "Ti2Sn", "ErPt3", "Fe2SbTe3"])
def test_primitive_cells_have_no_smaller_cell(name):
    assert primitive_map(_member(name, "lattice", 0.05)) is None


@pytest.mark.parametrize("level", [0.001, 0.01])
def test_coordinate_noise_breaks_the_translations_so_nothing_is_reduced(level):
    assert primitive_map(_member("Na3MnCoNiO6", "coords", level)) is None


def test_a_doubled_cell_with_two_species_is_only_reduced_where_species_repeat():
    rocksalt = Structure(Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    doubled = rocksalt * (2, 1, 1)
    pmap = primitive_map(doubled)
    assert pmap is not None and pmap.factor == 2 and sorted(map(str, pmap.primitive.species)) == ["Cl", "Na"]
    cell, pos = pmap.expand(pmap.primitive.lattice.matrix, pmap.primitive.cart_coords)
    np.testing.assert_allclose(cell, doubled.lattice.matrix, atol=1e-10)
    np.testing.assert_allclose(pos, doubled.cart_coords, atol=1e-10)
    swapped = doubled.copy()
    swapped.replace(2, "K")  # one Na of two replaced: the translation is gone
    assert primitive_map(swapped) is None
