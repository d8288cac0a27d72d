"""Crystal-family projectors: idempotent, land in their family (checked with pymatgen), differentiable."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xrdtui.engine.noise import lattice_noise
from xrdtui.engine.projectors import FAMILIES, project
from xrdtui.engine.structures import BENCHMARKS, benchmark_structure, lattice_params
from xrdtui.errors import ConfigError

pytestmark = pytest.mark.filterwarnings("ignore:Set OLD_ERROR_HANDLING:DeprecationWarning")  # spglib chatter

# one benchmark per family; no benchmark is orthorhombic or triclinic: synthetic lattices stand in
_SOURCES = {
    "cubic": "PbF2",
    "hexagonal": "Ti2Sn",
    "tetragonal": "BPO4",
    "monoclinic": "CsTlO",
    "orthorhombic": np.array([4.0, 5.0, 6.5, 90.0, 90.0, 90.0]),
    "triclinic": np.array([4.0, 5.0, 6.5, 80.0, 95.0, 105.0]),
}


def _source_params(family):
    src = _SOURCES[family]
    if isinstance(src, str):
        assert BENCHMARKS[src].family == family
        return lattice_params(benchmark_structure(src))
    return src


def _distorted(family, n=6, sigma=0.05):
    return torch.tensor(lattice_noise(_source_params(family), sigma, n, np.random.default_rng(4)))


def _lattice_family(params) -> str:
    """Crystal family of the bare lattice (one atom at the origin: its holohedry), by pymatgen.

    Tight tolerances: SpacegroupAnalyzer's default angle_tolerance (5 degrees) would call small
    distortions symmetric.
    """
    from pymatgen.core import Lattice, Structure
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    lattice = Lattice.from_parameters(*[float(v) for v in params])
    sga = SpacegroupAnalyzer(Structure(lattice, ["Cu"], [[0.0, 0.0, 0.0]]), symprec=1e-3, angle_tolerance=0.01)
    system = sga.get_crystal_system()
    return "hexagonal" if system == "trigonal" else system


@pytest.mark.parametrize("family", FAMILIES)
def test_projection_is_idempotent(family):
    x = _distorted(family)
    once = project(x, family)
    np.testing.assert_allclose(project(once, family).numpy(), once.numpy(), rtol=0, atol=1e-12)


@pytest.mark.parametrize("family", FAMILIES)
def test_projection_lands_in_family(family):
    x = _distorted(family)
    # the distortion really left the family (pymatgen sees a triclinic lattice)
    assert all(_lattice_family(p) == "triclinic" for p in x)
    y = project(x, family).numpy()
    a, b, c, al, be, ga = y.T
    if family == "cubic":
        np.testing.assert_allclose([a - b, b - c], 0, atol=1e-12)
        np.testing.assert_allclose(a, x[:, :3].mean(-1).numpy(), rtol=1e-12)
    if family in ("hexagonal", "tetragonal"):
        np.testing.assert_allclose(a, b, rtol=1e-12)
        np.testing.assert_allclose(c, x[:, 2].numpy(), rtol=1e-12)
    if family in ("cubic", "tetragonal", "orthorhombic"):
        np.testing.assert_array_equal(y[:, 3:], 90.0)
    if family == "hexagonal":
        np.testing.assert_array_equal(y[:, 3:], [[90.0, 90.0, 120.0]] * len(y))
    if family == "monoclinic":
        np.testing.assert_array_equal(y[:, [3, 5]], 90.0)
        np.testing.assert_array_equal(be, x[:, 4].numpy())
    if family == "triclinic":
        np.testing.assert_array_equal(y, x.numpy())
    assert all(_lattice_family(p) == family for p in y)


def test_projection_leaves_family_members_unchanged():
    # projecting an undistorted lattice of the family changes nothing
    for family in ("cubic", "hexagonal", "tetragonal", "monoclinic"):
        p = torch.tensor(_source_params(family))
        np.testing.assert_allclose(project(p, family).numpy(), p.numpy(), atol=1e-9)


def test_projection_is_differentiable_and_keeps_shape():
    x = _distorted("hexagonal", n=3).reshape(3, 1, 6).requires_grad_()
    assert project(x, "hexagonal").shape == (3, 1, 6)
    for family in FAMILIES:
        assert torch.autograd.gradcheck(lambda t, f=family: project(t, f), (x,))
    y = project(x.float(), "cubic")
    assert y.dtype == torch.float32


def test_unknown_family_raises():
    with pytest.raises(ConfigError):
        project(torch.zeros(6), "rhombohedral")
    with pytest.raises(ValueError):
        project(torch.zeros(5), "cubic")
