"""Crystal-family projectors on lattice parameters (paper A.3): differentiable, idempotent, linear.

Input and output: a tensor [..., 6] = (a, b, c, alpha, beta, gamma), lengths in Å, angles in degrees.
- cubic:        a = b = c = (a + b + c) / 3,  alpha = beta = gamma = 90
- hexagonal:    a = b = (a + b) / 2,  alpha = beta = 90,  gamma = 120  (trigonal in its hexagonal setting)
- tetragonal:   a = b = (a + b) / 2,  alpha = beta = gamma = 90
- orthorhombic: alpha = beta = gamma = 90
- monoclinic:   alpha = gamma = 90, beta free (pymatgen's conventional standard setting, unique axis b)
- triclinic:    identity
The family of a structure comes from ``structures.crystal_family`` (trigonal -> hexagonal).
"""

from __future__ import annotations

import torch

from xrdtui.errors import ConfigError
from xrdtui.vocab import FAMILIES, Family


def project(params: torch.Tensor, family: str) -> torch.Tensor:
    """Project lattice parameters [..., 6] onto the constraints of ``family`` (new tensor, same dtype)."""
    if family not in FAMILIES:
        raise ConfigError(f"unknown crystal family {family!r}; expected one of {', '.join(FAMILIES)}")
    params = torch.as_tensor(params)
    if params.shape[-1:] != (6,):
        raise ValueError(f"lattice parameters must have shape [..., 6], got {tuple(params.shape)}")
    if family == Family.TRICLINIC:
        return params.clone()
    a, b, c, alpha, beta, gamma = params.unbind(-1)
    right = torch.full_like(alpha, 90.0)
    if family == Family.CUBIC:
        mean = (a + b + c) / 3.0
        a = b = c = mean
        alpha = beta = gamma = right
    elif family in (Family.HEXAGONAL, Family.TETRAGONAL):
        a = b = (a + b) / 2.0
        alpha = beta = right
        gamma = torch.full_like(gamma, 120.0) if family == Family.HEXAGONAL else right
    elif family == Family.ORTHORHOMBIC:
        alpha = beta = gamma = right
    else:  # monoclinic, unique axis b
        alpha = gamma = right
    return torch.stack([a, b, c, alpha, beta, gamma], dim=-1)
