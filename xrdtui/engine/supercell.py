"""A structure that is an exact supercell of a smaller cell, and the exact way back from the small cell.

A lattice-strained conventional cell keeps every translation of the crystal (the strain moves lattice and
sites together), so it is k copies of a primitive cell. With lattice vectors as rows (Å):

    C = K P                      K an integer 3x3 matrix, det K = k = N / N_p
    r_j = r_i(j) + t_j P         site j of the big cell is site i(j) of the small one shifted by the
                                 primitive lattice vector t_j P (t_j integer, r Cartesian Å)

Both relations are linear in (P, r), so whatever moves the small cell (a relaxation) maps back to the big
cell exactly, step by step, with the big cell's site order. A structure whose translations are broken
(coordinate noise) is not a supercell: :func:`primitive_map` returns None for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from pymatgen.core import Structure

# Å: how far a site may sit from its image under a translation for the translation to count. Lattice noise
# keeps translations to float rounding (~1e-14 Å); coordinate noise at sigma 0.01 breaks them by ~0.05 Å.
TRANSLATION_TOL = 1e-4


@dataclass(frozen=True)
class PrimitiveMap:
    """How a supercell is built from its primitive cell.

    primitive: the small cell (right-handed lattice, one site per translation orbit).
    cell_map: K [3, 3] int, big lattice = K @ small lattice (rows = lattice vectors).
    site: [N] int, i(j): the small-cell site each big-cell site copies.
    shift: [N, 3] int, t_j: the small-cell lattice vector (in its basis) that site is shifted by.
    species: the big cell's species, in its site order.
    """

    primitive: Structure
    cell_map: np.ndarray
    site: np.ndarray
    shift: np.ndarray
    species: tuple

    @property
    def factor(self) -> int:
        """k = N / N_p, the number of small cells in the big one."""
        return len(self.site) // len(self.primitive)

    def expand(self, cell: np.ndarray, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Big cell [3, 3] (Å) and its Cartesian positions [N, 3] (Å) from a small cell and its positions
        [N_p, 3] (positions as an optimiser leaves them: not wrapped, so each site keeps its image)."""
        cell = np.asarray(cell, dtype=np.float64)
        positions = np.asarray(positions, dtype=np.float64)
        return self.cell_map @ cell, positions[self.site] + self.shift @ cell


def primitive_map(structure: Structure, tol: float = TRANSLATION_TOL) -> PrimitiveMap | None:
    """The map from ``structure``'s primitive cell back to it, or None when ``structure`` is already
    primitive or not exactly (within ``tol`` Å) a supercell of a smaller cell."""
    from pymatgen.core import Lattice, Structure

    big = np.array(structure.lattice.matrix)
    prim = structure.get_primitive_structure(tolerance=tol, use_site_props=False)
    n, n_p = len(structure), len(prim)
    if n_p >= n or n % n_p:
        return None
    small = np.array(prim.lattice.matrix)
    if np.linalg.det(small) < 0:  # CHGNet's stress takes the volume as a signed triple product
        small = -small
    prim = Structure(Lattice(small), prim.species, prim.cart_coords, coords_are_cartesian=True)
    k_real = big @ np.linalg.inv(small)
    cell_map = np.rint(k_real).astype(np.int64)
    if not np.allclose(k_real, cell_map, atol=1e-6) or round(abs(np.linalg.det(cell_map))) != n // n_p:
        return None
    # each big-cell site: the small-cell site it sits on modulo a small-cell translation
    inv = np.linalg.inv(small)
    f_big = np.asarray(structure.cart_coords) @ inv  # [N, 3] in the small cell's basis
    f_small = np.asarray(prim.cart_coords) @ inv  # [N_p, 3]
    diff = f_big[:, None, :] - f_small[None, :, :]  # [N, N_p, 3]
    shift = np.rint(diff)
    miss = np.linalg.norm((diff - shift) @ small, axis=-1)  # Å
    same = np.array([[a == b for b in prim.species] for a in structure.species])
    miss = np.where(same, miss, np.inf)
    site = np.argmin(miss, axis=1)
    if not np.all(miss[np.arange(n), site] <= tol) or np.any(np.bincount(site, minlength=n_p) != n // n_p):
        return None
    return PrimitiveMap(
        primitive=prim,
        cell_map=cell_map,
        site=site,
        shift=shift[np.arange(n), site].astype(np.int64),
        species=tuple(s.species for s in structure),
    )
