"""engine.cell_math against SciPy's general matrix functions (the reference the cell filter used), and a whole
FrechetCellFilter relaxation with them against ASE's stock filter (ASE's EMT potential: no CHGNet needed)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from xrdtui.engine.cell_math import FrechetDerivative, expm_frechet_basis, logm3

# deformation gradients of strained cells: I + U, |U_ij| <= 0.25 (the paper's strains reach 0.1)
near_identity = arrays(np.float64, (3, 3), elements=st.floats(-0.25, 0.25)).map(lambda u: np.eye(3) + u)


@settings(max_examples=300, deadline=None)
@given(f=near_identity, n=st.integers(1, 48))
def test_logm3_equals_scipy_logm_on_deformation_gradients_and_their_site_count_multiples(f, n):
    for m in (f, n * f):  # the cell filter takes log F (forces) and log N F (positions)
        ref = np.real(scipy.linalg.logm(m))
        new = logm3(m)
        assert np.abs(new - ref).max() <= 1e-13 * max(1.0, np.abs(ref).max())
        assert np.abs(scipy.linalg.expm(new) - m).max() <= 1e-12 * np.abs(m).max()  # expm's own round-off


def test_logm3_analytic_cases():
    np.testing.assert_array_equal(logm3(np.eye(3)), np.zeros((3, 3)))
    np.testing.assert_allclose(logm3(np.diag([2.0, 3.0, 0.5])), np.diag(np.log([2.0, 3.0, 0.5])), atol=1e-15)
    t = 0.3  # a rotation by t about z: its log is t times the generator
    rot = np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]])
    np.testing.assert_allclose(logm3(rot), [[0, -t, 0], [t, 0, 0], [0, 0, 0]], atol=1e-15)


def test_logm3_hands_far_and_singular_matrices_to_scipy():
    far = np.array([[1.0, 5.0, 0.0], [0.0, 1.0, 5.0], [0.0, 0.0, 1.0]])  # ||Z|| > 0.5: SciPy's algorithm
    np.testing.assert_allclose(logm3(far), scipy.linalg.logm(far), atol=1e-12)
    flipped = np.diag([-1.0, -1.0, 1.0])  # det > 0 but eigenvalues on the negative axis
    np.testing.assert_allclose(scipy.linalg.expm(logm3(flipped)).real, flipped, atol=1e-12)
    with pytest.raises(ValueError):
        logm3(np.eye(2))


@settings(max_examples=150, deadline=None)
@given(f=near_identity, e=arrays(np.float64, (3, 3), elements=st.floats(-3, 3)))
def test_frechet_derivative_equals_scipy_expm_frechet(f, e):
    a = np.real(scipy.linalg.logm(f))
    d = FrechetDerivative()
    ref = scipy.linalg.expm_frechet(a, e, compute_expm=False)
    np.testing.assert_allclose(d(a, e), ref, rtol=1e-12, atol=1e-13 * max(1.0, np.abs(e).max()))
    expm, frechet = d(a, e, compute_expm=True)
    np.testing.assert_allclose(expm, scipy.linalg.expm(a), rtol=1e-14)
    np.testing.assert_allclose(frechet, ref, rtol=1e-12, atol=1e-13 * max(1.0, np.abs(e).max()))


def test_frechet_basis_of_zero_is_the_identity_map_and_of_a_diagonal_matches_divided_differences():
    basis = expm_frechet_basis(np.zeros((3, 3)))
    for m in range(3):
        for n in range(3):
            unit = np.zeros((3, 3))
            unit[m, n] = 1.0
            np.testing.assert_allclose(basis[m, n], unit, atol=1e-15)  # L_exp(0, E) = E
    lam = np.array([0.1, -0.2, 0.05])  # L_exp(diag lam, E)_ij = E_ij (e^li - e^lj) / (li - lj)
    basis = expm_frechet_basis(np.diag(lam))
    for i in range(3):
        for j in range(3):
            expected = np.exp(lam[i]) if i == j else (np.exp(lam[i]) - np.exp(lam[j])) / (lam[i] - lam[j])
            assert basis[i, j][i, j] == pytest.approx(expected, rel=1e-13)


def _emt_relaxation(fast: bool, start_cell, steps: int = 60):
    from ase.build import bulk
    from ase.calculators.emt import EMT
    from ase.filters import FrechetCellFilter
    from ase.optimize import FIRE

    from xrdtui.engine.chgnet_internals import use_fast_cell_math

    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    atoms.set_cell(start_cell, scale_atoms=True)
    atoms.positions += np.random.default_rng(7).normal(0, 0.05, atoms.positions.shape)
    atoms.calc = EMT()
    filt = FrechetCellFilter(atoms)
    if fast:
        assert use_fast_cell_math(filt)
    opt = FIRE(filt, logfile=None)
    cells, positions = [], []
    for _ in opt.irun(fmax=1e-4, steps=steps):
        cells.append(atoms.cell.array.copy())
        positions.append(atoms.positions.copy())
    return np.array(cells), np.array(positions), filt.get_forces()


def test_frechet_cell_filter_relaxation_follows_asers_own_path_to_round_off():
    """Forces of the filter and a whole FIRE relaxation (a strained, rattled Cu cell under ASE's EMT) with the
    fast matrix functions against ASE's stock filter: the same path to ~1e-12 Å, not bit for bit."""
    strained = np.array([[3.75, 0.08, -0.05], [0.02, 3.5, 0.1], [-0.06, 0.04, 3.68]])
    ref_cells, ref_pos, ref_forces = _emt_relaxation(False, strained)
    new_cells, new_pos, new_forces = _emt_relaxation(True, strained)
    assert len(ref_cells) == len(new_cells) > 20
    assert np.abs(new_cells - ref_cells).max() < 1e-9
    assert np.abs(new_pos - ref_pos).max() < 1e-9
    np.testing.assert_allclose(new_forces, ref_forces, atol=1e-9)
    assert np.abs(ref_cells[-1] - ref_cells[0]).max() > 0.05  # the cell did move: the test can fail
