"""Matrix functions of 3x3 cell matrices, for the cell filter of a CHGNet relaxation.

ASE's ``FrechetCellFilter`` moves the cell through X = log F, the matrix logarithm of the deformation gradient
F (dimensionless, 3x3) from the start cell: per optimiser step it calls ``scipy.linalg.logm`` twice (once on
F for the cell forces, once on N F for the positions, N the site count) and ``scipy.linalg.expm_frechet``
nine times (the derivative of exp at log F along each unit direction E_mn). SciPy's routines are written for
matrices of any size: on a 3x3 they cost ~1.7-3.8 ms (logm) and ~0.12 ms (each Fréchet derivative) of
Python-level overhead, 30-45 % of a relaxation of a 3-6-site cell (benchmarks/chgnet_profile.py). The two
functions here compute the same quantities for 3x3 matrices ~25x and ~9x faster, agreeing with SciPy to
round-off (tests/test_cell_math.py): a relaxation then follows the same path to ~1e-12 Å, not bit for bit.
"""

from __future__ import annotations

import numpy as np

# Gregory's series converges like ||Z||^2 per term; past this norm of Z, SciPy's algorithm is used instead
_SERIES_MAX_NORM = 0.5
_MAX_TERMS = 60
_TINY = np.finfo(np.float64).eps / 8


def logm3(m) -> np.ndarray:
    """Principal logarithm of a real 3x3 matrix M with det M > 0 and eigenvalues near the positive real axis.

        log M = ln(s) I + 2 * sum_{k>=0} Z^(2k+1) / (2k+1),   s = det(M)^(1/3),  A = M / s,
        Z = (A - I)(A + I)^-1

    (log A = 2 artanh Z, Gregory's series; ln(s) I commutes with A, so the principal branches add). The
    series is summed until a term falls below float64 round-off; when ||Z||_2 > 0.5 (slow convergence),
    det M <= 0, -1 is an eigenvalue of A or M is not finite, ``scipy.linalg.logm`` gives the answer instead
    (what the filter called before, complex where the principal logarithm is).
    """
    m = np.asarray(m, dtype=np.float64)
    if m.shape != (3, 3):
        raise ValueError(f"logm3 takes a 3x3 matrix, got shape {m.shape}")
    det = np.linalg.det(m) if np.all(np.isfinite(m)) else np.nan
    if not det > 0:
        return _scipy_logm(m)
    s = np.cbrt(det)
    a = m / s
    eye = np.eye(3)
    try:
        z = np.linalg.solve((a + eye).T, (a - eye).T).T  # (A - I)(A + I)^-1
    except np.linalg.LinAlgError:  # -1 is an eigenvalue of A
        return _scipy_logm(m)
    if np.linalg.norm(z, 2) > _SERIES_MAX_NORM:
        return _scipy_logm(m)
    z2 = z @ z
    term, total = z, z.copy()
    for k in range(3, 2 * _MAX_TERMS + 3, 2):
        term = term @ z2
        total += term / k
        if np.abs(term).max() / k <= _TINY * max(1.0, np.abs(total).max()):
            break
    return 2.0 * total + np.log(s) * eye


def _scipy_logm(m: np.ndarray) -> np.ndarray:
    import scipy.linalg

    return scipy.linalg.logm(m)


def expm_frechet_basis(a) -> np.ndarray:
    """D[m, n] = L_exp(A, E_mn) for the nine unit matrices E_mn: the Fréchet derivative of the matrix
    exponential at the 3x3 matrix A along each unit direction, [3, 3, 3, 3].

    Uses exp([[A, E], [0, A]]) = [[exp A, L_exp(A, E)], [0, exp A]] (Higham, *Functions of Matrices*, 2008,
    eq. 3.16): the nine 6x6 block matrices go through one batched ``scipy.linalg.expm`` call.
    """
    import scipy.linalg

    a = np.asarray(a, dtype=np.float64)
    blocks = np.zeros((9, 6, 6))
    blocks[:, :3, :3] = a
    blocks[:, 3:, 3:] = a
    for k in range(9):
        blocks[k, k // 3, 3 + k % 3] = 1.0
    return scipy.linalg.expm(blocks)[:, :3, 3:].reshape(3, 3, 3, 3)


class FrechetDerivative:
    """``scipy.linalg.expm_frechet(A, E, compute_expm=False)`` for 3x3 A, linear in E:
    L_exp(A, E) = sum_mn E_mn D[m, n] with D from :func:`expm_frechet_basis`, computed once per A (the
    cell filter asks nine times at the same A). One instance per filter: its one-entry memo is not shared.
    """

    def __init__(self) -> None:
        self._key: bytes | None = None
        self._basis: np.ndarray | None = None

    def __call__(self, a, e, compute_expm: bool = False, **kwargs):
        a = np.asarray(a, dtype=np.float64)
        if a.shape != (3, 3) or kwargs:
            import scipy.linalg

            return scipy.linalg.expm_frechet(a, e, compute_expm=compute_expm, **kwargs)
        key = a.tobytes()
        if key != self._key:
            self._basis, self._key = expm_frechet_basis(a), key
        frechet = np.tensordot(np.asarray(e, dtype=np.float64), self._basis, axes=([0, 1], [0, 1]))
        if compute_expm:
            import scipy.linalg

            return scipy.linalg.expm(a), frechet
        return frechet
