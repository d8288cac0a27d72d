"""XRD descent with an energy: the paper's advocated pipeline and a joint objective.

* Pipeline: constrained XRD descent, then CHGNet relaxation of its result (``engine.relax``).
* Joint objective: L(θ, x) = L_XRD(θ, x) + λ·E(θ, x), E the CHGNet energy per atom (eV/atom) of the cell
  θ = (a, b, c, α, β, γ) with fractional coordinates x. Its gradient comes from CHGNet's forces F_i (eV/Å)
  and stress σ (eV/Å³, ASE's sign: σ = (1/V) ∂E/∂ε): with the rows of M the cell vectors (Cartesian
  r_i = x_i M) and the deformation M' = M (I + ε),
      ∂E/∂x_i = −F_i Mᵀ,     ∂E/∂M = M⁻ᵀ V σ,
  chained to θ through ``engine.lattice.lattice_matrix`` (pymatgen's ``Lattice.from_parameters``
  orientation, the one the structures are built in), all divided by N for the energy per atom.

  λ is fixed by a rule stated before any measurement: an energy difference of 0.1 eV/atom (the scale of
  the CHGNet energy changes the studied distortions cause) should weigh as much as the whole range of the
  cosine loss (1), so λ = 1 / (0.1 eV/atom) = 10 per eV/atom.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from xrdtui.errors import ConfigError

GPA_PER_EV_A3 = 160.21766208  # CHGNet's conversion constant (stress in GPa)
# Below this volume per atom (Å³) CHGNet is not asked: no crystal at ambient pressure is that dense (diamond
# 5.7 Å³/atom), and a crushed cell's graph explodes (its bond graph grows as 1/V²: Au2S has 32 bond pairs at
# 24 Å³/atom, 59,804 at 1.2), as a too large step can make one. Such a member gets NaN and fails like a
# degenerate cell.
MIN_VOLUME_PER_ATOM = 2.0


@dataclass(frozen=True)
class HybridSettings:
    """weight: λ of the joint objective (per eV/atom, >= 0); loss: the XRD loss of both hybrids."""

    weight: float = 10.0
    loss: str = "cosine"

    def check(self) -> None:
        if not (math.isfinite(self.weight) and self.weight >= 0):
            raise ConfigError(f"weight (lambda) must be a non-negative number per eV/atom, got {self.weight!r}")


def energies_and_gradients(model, lattice: np.ndarray, frac: np.ndarray, species: list) -> tuple:
    """CHGNet energy per atom [B] (eV/atom; NaN where CHGNet fails or the cell is denser than
    ``MIN_VOLUME_PER_ATOM``) and its gradients with respect to the
    row cell matrices [B, 3, 3] (eV/atom per Å) and the fractional coordinates [B, N, 3] (eV/atom), from
    CHGNet's forces and stress (first-order gradients, ``chgnet_internals.predict_efs``)."""
    from pymatgen.core import Lattice, Structure

    from xrdtui.engine.chgnet_internals import predict_efs, quiet
    from xrdtui.engine.chgnet_graph import graph_of
    from xrdtui.engine.relax import RelaxSettings, edge_chunks

    b, n = frac.shape[:2]
    energy = np.full(b, np.nan)
    grad_m = np.zeros((b, 3, 3))
    grad_f = np.zeros((b, n, 3))
    matrices, volumes, graphs, index = [], [], [], []
    with quiet(), torch.enable_grad():  # CHGNet's forces are autograd gradients (autograd.Function turns it off)
        for i in range(b):
            try:
                m = Lattice.from_parameters(*lattice[i]).matrix
                volume = abs(np.linalg.det(m))
                if not volume >= MIN_VOLUME_PER_ATOM * n:
                    continue
                graphs.append(graph_of(model.graph_converter, Structure(Lattice(m), species, frac[i])))
                matrices.append(m)
                volumes.append(volume)
                index.append(i)
            except Exception:  # a degenerate cell or atoms on top of each other: NaN, the member fails
                continue
        # in chunks under the relaxation's edge budget: one call for 16 Na3MnCoNiO6 cells held 4 GB
        preds = [p for lo, hi in edge_chunks([len(g.atom_graph) for g in graphs], RelaxSettings.max_edges)
                 for p in predict_efs(model, graphs[lo:hi])]
    for i, m, volume, p in zip(index, matrices, volumes, preds):
        sigma = np.asarray(p["s"], dtype=np.float64) / GPA_PER_EV_A3  # eV/Å^3
        energy[i] = float(p["e"])
        grad_m[i] = np.linalg.inv(m).T @ (volume * sigma) / n
        grad_f[i] = -(np.asarray(p["f"], dtype=np.float64) @ m.T) / n
    return energy, grad_m, grad_f


class _Energy(torch.autograd.Function):
    """E(θ, x) per atom with the analytic gradients of the module docstring."""

    @staticmethod
    def forward(ctx, lattice, frac, model, species):
        energy, grad_m, grad_f = energies_and_gradients(model, lattice.detach().cpu().numpy(),
                                                        frac.detach().cpu().numpy(), species)
        dev = lattice.device  # CHGNet's numbers come back as numpy: return them where the descent runs
        ctx.save_for_backward(lattice.detach(), torch.as_tensor(grad_m, device=dev),
                              torch.as_tensor(grad_f, device=dev))
        return torch.as_tensor(energy, dtype=lattice.dtype, device=dev)

    @staticmethod
    def backward(ctx, grad):
        from xrdtui.engine.lattice import lattice_matrix

        lattice, grad_m, grad_f = ctx.saved_tensors
        g = torch.nan_to_num(grad.to(torch.float64), nan=0.0)
        with torch.enable_grad():
            theta = lattice.to(torch.float64).clone().requires_grad_(True)
            lattice_matrix(theta).backward(grad_m * g[:, None, None])
        return theta.grad.to(lattice.dtype), (grad_f * g[:, None, None]).to(lattice.dtype), None, None


def energy_penalty(model, species: list, weight: float, fixed_frac: np.ndarray | None = None):
    """``penalty(lattice[B, 6], frac[B, N, 3] or None) -> λ·E [B]`` for ``engine.optimize.recover``;
    ``fixed_frac`` stands in for the coordinates when only the lattice moves."""

    def penalty(lattice: torch.Tensor, frac: torch.Tensor | None) -> torch.Tensor:
        coords = frac if frac is not None else torch.as_tensor(fixed_frac, dtype=lattice.dtype, device=lattice.device)
        return weight * _Energy.apply(lattice, coords, model, species)

    return penalty
