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
