"""Cell geometry helpers against pymatgen's Lattice (an independent implementation)."""

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice

from xrdtui.engine import lattice as lat

CELLS = [
    (4.7887, 4.7887, 2.8022, 90.0, 90.0, 120.0),  # hexagonal
    (15.665, 3.0293, 5.6371, 90.0, 107.847, 90.0),  # monoclinic
    (3.1, 4.2, 5.3, 75.0, 95.0, 112.0),  # triclinic
    (5.0, 5.0, 5.0, 60.0, 60.0, 60.0),  # rhombohedral setting of fcc
]


@pytest.mark.parametrize("params", CELLS)
def test_metric_volume_and_reciprocal_match_pymatgen(params):
    ref = Lattice.from_parameters(*params)
    p = torch.tensor(params, dtype=torch.float64)
    np.testing.assert_allclose(lat.metric_tensor(p).numpy(), ref.metric_tensor, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(float(lat.volume(p)), ref.volume, rtol=1e-12)
    rec = ref.reciprocal_lattice_crystallographic.metric_tensor
    np.testing.assert_allclose(lat.reciprocal_metric(p).numpy(), rec, rtol=1e-11, atol=1e-14)
    g6 = lat.reciprocal_metric6(p).numpy()
    np.testing.assert_allclose(g6, [rec[0, 0], rec[1, 1], rec[2, 2], rec[0, 1], rec[1, 2], rec[0, 2]],
                               rtol=1e-11, atol=1e-14)
    # 1/d² from the compact form equals pymatgen's d-spacing
    hkl = (1, -2, 3)
    h, k, l_ = hkl
    inv_d2 = g6[0] * h * h + g6[1] * k * k + g6[2] * l_ * l_ + 2 * (g6[3] * h * k + g6[4] * k * l_ + g6[5] * h * l_)
    assert inv_d2 == pytest.approx(1.0 / ref.d_hkl(hkl) ** 2, rel=1e-12)


@pytest.mark.parametrize("params", CELLS)
def test_lattice_matrix_orientation_and_round_trip(params):
    ref = Lattice.from_parameters(*params)
    m = lat.lattice_matrix(torch.tensor(params, dtype=torch.float64))
    np.testing.assert_allclose(m.numpy(), ref.matrix, atol=1e-12)
    back = lat.params_from_matrix(m).numpy()
    np.testing.assert_allclose(back, params, atol=1e-10)
    # an arbitrary rotated matrix still gives pymatgen's parameters
    rot = Lattice(ref.matrix @ np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))[0])
    np.testing.assert_allclose(lat.params_from_matrix_np(rot.matrix), rot.parameters, atol=1e-10)


def test_batched_shapes_and_numpy_twins():
    p = torch.tensor(CELLS, dtype=torch.float64).reshape(2, 2, 6)
    assert lat.metric_tensor(p).shape == (2, 2, 3, 3)
    assert lat.reciprocal_metric6(p).shape == (2, 2, 6)
    np.testing.assert_allclose(lat.reciprocal_metric6_fast(p).numpy(), lat.reciprocal_metric6(p).numpy(),
                               rtol=1e-13)
    assert lat.volume(p).shape == (2, 2)
    np.testing.assert_allclose(lat.volume_np(CELLS), [Lattice.from_parameters(*c).volume for c in CELLS])
    assert lat.lattice_matrix_np(CELLS[2]).shape == (3, 3)
    assert lat.metric_tensor_np(CELLS[0]).shape == (3, 3)


def test_degenerate_cell_has_non_positive_volume_factor():
    # alpha + beta = gamma: the three vectors are coplanar
    coplanar = torch.tensor([3.0, 3.0, 3.0, 40.0, 50.0, 90.0], dtype=torch.float64)
    impossible = torch.tensor([3.0, 3.0, 3.0, 20.0, 30.0, 100.0], dtype=torch.float64)
    assert float(lat.volume_factor(coplanar)) == pytest.approx(0, abs=1e-12)
    assert float(lat.volume_factor(impossible)) < 0


def test_gradients_are_exact():
    p = torch.tensor(CELLS[2], dtype=torch.float64, requires_grad=True)
    for fn in (lat.metric_tensor, lat.reciprocal_metric6, lat.volume, lat.lattice_matrix):
        assert torch.autograd.gradcheck(fn, (p,))
    assert torch.autograd.gradcheck(lat.reciprocal_metric6_fast, (torch.tensor(CELLS, dtype=torch.float64,
                                                                             requires_grad=True),))
    m = lat.lattice_matrix(p.detach()).requires_grad_(True)
    assert torch.autograd.gradcheck(lat.params_from_matrix, (m,))


def test_numpy_jacobian_equals_autograd_for_any_batch_shape():
    rng = np.random.default_rng(3)
    cells = np.c_[rng.uniform(2, 12, (12, 3)), rng.uniform(55, 125, (12, 3))]
    for shape in ((6,), (12, 6), (3, 4, 6)):
        p = cells.reshape(-1)[: int(np.prod(shape))].reshape(shape) if shape != (6,) else cells[0]
        g6, jac = lat.reciprocal_metric6_np(p)
        flat = torch.tensor(p.reshape(-1, 6), dtype=torch.float64)
        ref = torch.stack([torch.autograd.functional.jacobian(lat.reciprocal_metric6, row) for row in flat])
        np.testing.assert_allclose(jac.reshape(-1, 6, 6), ref.numpy(), rtol=1e-11, atol=1e-14)
        np.testing.assert_allclose(g6.reshape(-1, 6), lat.reciprocal_metric6(flat).numpy(), rtol=1e-13)
        assert jac.shape == shape[:-1] + (6, 6)
