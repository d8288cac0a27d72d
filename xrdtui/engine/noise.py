"""Seeded, reproducible distortions of a structure: lattice strain noise and coordinate noise.

Lattice noise (paper section 2): a random deformation S = I + U, U_ij ~ Uniform(-sigma_l, sigma_l)
independently, i.e. s_ii ~ U(1 - sigma_l, 1 + sigma_l) and s_ij ~ U(-sigma_l, sigma_l) (i != j); sigma_l is
dimensionless. Fractional coordinates are unchanged. Two forms (``strain``):

* ``"cartesian"`` (default, the paper's): L~ = S L with the *columns* of L the lattice vectors, i.e. S
  deforms Cartesian space and every lattice vector v becomes S v; Cartesian positions x = L f become L~ f.
  L is taken in pymatgen's ``Lattice.from_parameters`` orientation (c along z, a in the xz-plane); with the
  rows of M the cell vectors, M~ = M S^T and the metric G~ = M S^T S M^T. The distribution of S is not
  rotation-invariant, so the frame is part of the definition.
* ``"basis"``: S mixes the cell vectors themselves, a~_i = sum_j s_ij a_j, i.e. M~ = S M and G~ = S G S^T
  (independent of the orientation). A long axis then leaks into a short one: strains of the short axes are
  much larger than sigma_l in cells with very unequal axes (Na3MnCoNiO6, CsTlO). The two forms agree in
  distribution for cubic cells only (there cartesian(S) = basis(S^T) exactly).

Coordinate noise: x <- (x + eps) mod 1 per atom, eps ~ N(0, sigma_c^2 I_3), sigma_c in fractional units;
the lattice is unchanged.

Random numbers: ``numpy.random.Generator(PCG64(SeedSequence([seed, crc32(name), crc32(noise), level bits])))``
so a batch depends only on (seed, structure name, noise type, level). Member i of a batch is the same
whatever the batch size n (draws are taken member by member from one stream).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from xrdtui.errors import ConfigError
from xrdtui.vocab import NOISE_TYPES, STRAIN_FORMS, Noise, StrainForm, check_choice

if TYPE_CHECKING:
    from pymatgen.core import Structure


@dataclass(frozen=True)
class Distortions:
    """A batch of distorted starting points: lattice [n, 6] (Å, degrees), frac [n, N, 3] in [0, 1)."""

    lattice: np.ndarray
    frac: np.ndarray

    def __len__(self) -> int:
        return int(self.lattice.shape[0])


def stable_int(text: str) -> int:
    """A process-independent 32-bit integer for a string (CRC-32 of its UTF-8 bytes; unlike hash())."""
    return zlib.crc32(text.encode("utf-8")) & 0xFFFFFFFF


def distortion_rng(seed: int, structure_name: str, noise: str, level: float) -> np.random.Generator:
    """Generator seeded from (seed, structure name, noise type, level) through SeedSequence.

    The level enters as the two 32-bit halves of its IEEE-754 float64 bits, so 0.1 and 0.1000001 differ.
    """
    seed = _check_seed(seed)
    bits = int(np.float64(check_level(level)).view(np.uint64))
    entropy = [seed, stable_int(structure_name), stable_int(noise), bits >> 32, bits & 0xFFFFFFFF]
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy)))


def sample_strain(sigma: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """S = I + U, U_ij ~ Uniform(-sigma, sigma): [n, 3, 3], dimensionless."""
    sigma = check_level(sigma)
    n = _check_n(n)
    return np.eye(3) + rng.uniform(-sigma, sigma, size=(n, 3, 3))


def strained_params(params6, strain: np.ndarray, form: str = StrainForm.CARTESIAN) -> np.ndarray:
    """Lattice parameters [n, 6] (Å, degrees) of the cells deformed by ``strain`` [n, 3, 3] in ``form``
    (see the module docstring): cartesian G~ = M S^T S M^T, basis G~ = S G S^T."""
    check_choice(form, STRAIN_FORMS, "strain form")
    p = np.asarray(params6, dtype=np.float64).reshape(6)
    if form == StrainForm.CARTESIAN:
        from xrdtui.engine.lattice import lattice_matrix_np

        m = lattice_matrix_np(p)  # rows: a, b, c in Lattice.from_parameters' orientation
        deformed = np.einsum("rk,njk->nrj", m, strain)  # each row vector v -> S v
        g = np.einsum("nik,njk->nij", deformed, deformed)
    else:
        a, b, c = p[:3]
        ca, cb, cg = np.cos(np.radians(p[3:]))
        metric = np.array([[a * a, a * b * cg, a * c * cb],
                           [a * b * cg, b * b, b * c * ca],
                           [a * c * cb, b * c * ca, c * c]])
        g = np.einsum("nij,jk,nlk->nil", strain, metric, strain)
    lengths = np.sqrt(np.stack([g[:, 0, 0], g[:, 1, 1], g[:, 2, 2]], axis=-1))

    def angle(j, k):  # angle between cell vectors j and k
        cos = g[:, j, k] / (lengths[:, j] * lengths[:, k])
        return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))

    return np.concatenate([lengths, np.stack([angle(1, 2), angle(0, 2), angle(0, 1)], -1)], -1)


def lattice_noise(params6, sigma: float, n: int, rng: np.random.Generator,
                  form: str = StrainForm.CARTESIAN) -> np.ndarray:
    """n lattice-parameter sets [n, 6] of L~ = S L with S = I + U(-sigma, sigma)^{3x3} (see module doc)."""
    return strained_params(params6, sample_strain(sigma, n, rng), form)


def coord_noise(frac, sigma: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """n copies [n, N, 3] of (frac + eps) mod 1, eps ~ N(0, sigma^2) per coordinate (fractional units)."""
    frac = np.asarray(frac, dtype=np.float64)
    if frac.ndim != 2 or frac.shape[1] != 3:
        raise ConfigError(f"fractional coordinates must have shape (N, 3), got {frac.shape}")
    sigma = check_level(sigma)
    n = _check_n(n)
    out = np.mod(frac[None] + rng.normal(0.0, sigma, size=(n, *frac.shape)), 1.0)
    return np.where(out >= 1.0, 0.0, out)  # float mod can round a tiny negative up to exactly 1.0


def distort(structure: Structure, name: str, noise: str, level: float, n: int, seed: int,
            strain: str = StrainForm.CARTESIAN) -> Distortions:
    """n distorted copies of ``structure`` (its lattice parameters and fractional coordinates).

    noise="lattice": lattice_noise at sigma_l = level in the strain form ``strain``, coordinates unchanged;
    noise="coords": coord_noise at sigma_c = level, lattice unchanged.
    ``name`` seeds the stream (see distortion_rng); swapping it with ``noise`` fails loudly (ConfigError).
    """
    from xrdtui.engine.structures import frac_coords, lattice_params

    if noise not in NOISE_TYPES:
        raise ConfigError(f"unknown noise type {noise!r}; expected one of {', '.join(NOISE_TYPES)}")
    n = _check_n(n)
    rng = distortion_rng(seed, name, noise, level)
    params, frac = lattice_params(structure), frac_coords(structure)
    if noise == Noise.LATTICE:
        lattice = lattice_noise(params, level, n, rng, strain)
        fracs = np.broadcast_to(frac, (n, *frac.shape)).copy()
    else:
        lattice = np.broadcast_to(params, (n, 6)).copy()
        fracs = coord_noise(frac, level, n, rng)
    return Distortions(lattice=lattice, frac=fracs)


def check_level(level: float) -> float:
    """A noise level as a float; ConfigError unless it is a finite number in [0, 1) (the one home of this
    rule: the experiment loader calls it too)."""
    try:
        value = float(level)
    except (TypeError, ValueError):
        raise ConfigError(f"noise level must be a number, got {level!r}") from None
    # sigma >= 1 lets S (or eps) fold the cell onto itself: no longer a distortion
    if not (math.isfinite(value) and 0.0 <= value < 1.0):
        raise ConfigError(f"noise level must be in [0, 1), got {level!r}")
    return value


def _check_n(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ConfigError(f"number of distortions must be a non-negative integer, got {n!r}")
    return int(n)


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)
