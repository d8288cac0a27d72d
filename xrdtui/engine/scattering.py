"""X-ray atomic scattering factors, with pymatgen's parameters (no anomalous dispersion).

    f(s) = Z − 41.78214 · s² · Σ_i a_i exp(−b_i s²),    s = sinθ / λ  in Å⁻¹

with (a_i, b_i) from ``pymatgen.analysis.diffraction.xrd.ATOMIC_SCATTERING_PARAMS`` (the form used by
pymatgen's XRDCalculator; f in electrons). The coefficient 41.78214 is pymatgen's constant.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from xrdtui.errors import InputError

PYMATGEN_CONSTANT = 41.78214


@lru_cache(maxsize=1)
def _table() -> dict:
    from pymatgen.analysis.diffraction.xrd import ATOMIC_SCATTERING_PARAMS

    return ATOMIC_SCATTERING_PARAMS


def scattering_params(symbol: str) -> tuple[int, np.ndarray]:
    """(Z, coefficients[n, 2] = (a_i, b_i)) of an element; ``InputError`` for an unknown one."""
    from pymatgen.core.periodic_table import Element

    table = _table()
    if symbol not in table:
        raise InputError(f"no X-ray scattering factors for element {symbol!r}")
    return int(Element(symbol).Z), np.asarray(table[symbol], dtype=np.float64)


def form_factor(s2: torch.Tensor, z: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Atomic scattering factors f [..., E] (electrons) at s² [...] (Å⁻²) for E elements.

    z: [E] atomic numbers; a, b: [E, n] coefficients. f = Z − 41.78214 s² Σ_i a_i exp(−b_i s²).
    """
    e, n = a.shape
    s2e = s2[..., None]
    # one exp over the flattened (element, term) axis keeps this to a few kernels
    terms = torch.exp(-s2e * b.reshape(-1)) * a.reshape(-1)
    return z - PYMATGEN_CONSTANT * s2e * terms.reshape(*s2.shape, e, n).sum(-1)


class FormFactorTable:
    """The formula above for a fixed list of elements, evaluated element-first for speed, with its
    derivative: ``table(s2[K]) -> (f[E, K], df/ds²[E, K])``,
    df/ds² = −41.78214 · Σ_i a_i exp(−b_i s²)(1 − b_i s²).

    One exp over [E·n, K] and two small matmuls with block-diagonal coefficient matrices, so every kernel
    runs along the long K axis (K = batch × reflections).
    """

    def __init__(self, symbols, dtype=torch.float64, device="cpu"):
        params = [scattering_params(s) for s in symbols]  # InputError for unknown elements
        self.symbols = tuple(symbols)
        a = torch.tensor(np.stack([p[1][:, 0] for p in params]), dtype=torch.float64)
        b = torch.tensor(np.stack([p[1][:, 1] for p in params]), dtype=torch.float64)
        blk = torch.block_diag(*a.unbind(0))  # [E, E·n]: Σ_i a_ei (·) per element
        as_ = {"dtype": dtype, "device": device}
        self.z = torch.tensor([float(p[0]) for p in params], **as_)[:, None]
        self.neg_b = -b.reshape(-1, 1).to(**as_)
        self.a_blk = blk.to(**as_)
        self.ab_blk = (blk * b.reshape(1, -1)).to(**as_)

    def __call__(self, s2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s2 = s2.reshape(1, -1)
        ex = torch.exp(self.neg_b * s2)  # [E·n, K]
        sa, sab = self.a_blk @ ex, self.ab_blk @ ex  # Σ a exp(−b s²), Σ a b exp(−b s²): [E, K]
        return self.z - PYMATGEN_CONSTANT * s2 * sa, PYMATGEN_CONSTANT * (s2 * sab - sa)
