"""Space-group constrained coordinates: the coordinate analogue of the crystal-family projector.

For the operations g = (R_g, t_g) of a space group (fractional coordinates, the structure's own setting,
from spglib through pymatgen) and, for each g, the permutation of the sites it induces (site i maps onto
site π_g(i) up to a lattice vector), the projection of coordinates x [N, 3] is the group average

    P(x)_j = x_j + (1/|G|) Σ_g w(R_g x_{π_g⁻¹(j)} + t_g − x_j),    w(d) = d − round(d)

(the nearest-image difference, so wrapping coordinates into [0, 1) changes nothing). P keeps exactly the
coordinates that the space group leaves invariant: the free parameters of the occupied Wyckoff positions;
on a symmetric arrangement it is the identity and P(P(x)) = P(x). It is affine in x (round is piecewise
constant), hence differentiable, and is applied like the family projector in ``engine.optimize.recover``
(``coord_projector``). The permutations come from the arrangement the projector is built for (the
distorted start: each image is assigned to the nearest site of the same species), not from the truth:
what is assumed known is the space group in the structure's setting, as the family projector assumes the
crystal family.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from xrdtui.errors import InputError


def symmetry_operations(structure, symprec: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """(R [G, 3, 3], t [G, 3]) of the structure's space group in its own fractional coordinates."""
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ops = SpacegroupAnalyzer(structure, symprec=symprec).get_symmetry_operations(cartesian=False)
    rot = np.array([op.rotation_matrix for op in ops], dtype=np.float64)
    trans = np.array([op.translation_vector for op in ops], dtype=np.float64)
    return rot, trans


def site_permutations(rot: np.ndarray, trans: np.ndarray, frac: np.ndarray, species: list[str]) -> np.ndarray:
    """src [G, N]: for each operation, the site whose image lands on site j (nearest image, same species).
    InputError when an operation does not map the arrangement onto itself (ambiguous assignment)."""
    frac = np.asarray(frac, dtype=np.float64)
    n = len(frac)
    images = np.einsum("gab,nb->gna", rot, frac) + trans[:, None, :]  # [G, N, 3]: image of site n under g
    diff = images[:, :, None, :] - frac[None, None, :, :]  # [G, N(from), N(to), 3]
    diff -= np.round(diff)
    dist = np.linalg.norm(diff, axis=-1)
    same = np.array([[a == b for b in species] for a in species])
    dist = np.where(same[None], dist, np.inf)
    to = dist.argmin(axis=2)  # [G, N]: site n goes to site to[g, n]
    src = np.empty_like(to)
    for g in range(len(rot)):
        if len(set(to[g].tolist())) != n:
            raise InputError("a symmetry operation does not permute the sites (the start is too far from "
                             "its space group to assign the Wyckoff orbits)")
        src[g, to[g]] = np.arange(n)
    return src


class WyckoffProjector:
    """P(x) of the module docstring for a batch of arrangements [B, N, 3] (torch, differentiable)."""

    def __init__(self, rot: np.ndarray, trans: np.ndarray, src: np.ndarray, dtype=torch.float64):
        self.rot = torch.as_tensor(rot, dtype=dtype)  # [G, 3, 3]
        self.trans = torch.as_tensor(trans, dtype=dtype)  # [G, 3]
        self.src = torch.as_tensor(src, dtype=torch.long)  # [B, G, N]
        self.order = len(rot)

    @classmethod
    def for_starts(cls, structure, starts: np.ndarray, symprec: float = 0.01) -> WyckoffProjector:
        """Operations of ``structure``'s space group; permutations from each start [B, N, 3]."""
        rot, trans = symmetry_operations(structure, symprec)
        species = [site.species_string for site in structure]
        src = np.stack([site_permutations(rot, trans, s, species) for s in np.asarray(starts)])
        return cls(rot, trans, src)

    def __call__(self, frac: torch.Tensor) -> torch.Tensor:
        rot, trans = self.rot.to(frac.dtype), self.trans.to(frac.dtype)
        b = frac.shape[0]
        idx = self.src.to(frac.device)[:b]  # [B, G, N]
        moved = frac[torch.arange(b)[:, None, None], idx]  # [B, G, N, 3]: x_{src(g, j)}
        images = torch.einsum("gij,bgnj->bgni", rot, moved) + trans[None, :, None, :]
        d = images - frac[:, None]
        d = d - torch.round(d).detach()  # nearest image (the integer part carries no gradient)
        return frac + d.mean(dim=1)


def symmetrize(structure, starts: np.ndarray, symprec: float = 0.01) -> np.ndarray:
    """The starts [B, N, 3] projected onto the space group of ``structure`` (wrapped into [0, 1))."""
    proj = WyckoffProjector.for_starts(structure, starts, symprec)
    with torch.no_grad():
        out = proj(torch.as_tensor(np.asarray(starts, dtype=np.float64))).numpy()
    out = np.mod(out, 1.0)
    return np.where(out >= 1.0, 0.0, out)
