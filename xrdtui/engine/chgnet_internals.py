"""The few places where xrdtui relies on CHGNet's and ASE's internals, kept in one small module.

pyproject pins the versions these were written and tested against (``chgnet>=0.3.0,<0.5``,
``ase>=3.23,<3.30``); ``tests/test_relax.py`` checks on the installed versions that the fast path gives the
same numbers as CHGNet's own ``predict_graph`` and the same trajectories as its ``StructOptimizer`` (bit for
bit with ``second_order=True``, to float32 rounding with the default first-order gradients).

- :func:`predict_efs`: energy, forces and stress of a batch of graphs in one backward pass, through
  ``model._compute`` and ``BatchedGraph.from_graphs`` (CHGNet takes two), first-order by default. Falls back
  to the public ``predict_graph`` when this CHGNet's internals differ (checked once per model).
- :func:`feed_calculator`: a batched prediction written into a ``CHGNetCalculator``'s result state, so the
  ASE optimiser of each structure reads the forces it would have computed alone; :func:`fed_calculator`
  makes that calculator, with a check for an unchanged geometry that costs an array comparison, not ASE's
  ``compare_atoms`` over every property (7 % of a small cell's relaxation).
- :func:`memoise_gradient`: the cell filter's generalised forces computed once per geometry (ASE's
  optimisers ask twice: the convergence test and the step).
- :func:`use_fast_cell_math`: the cell filter's matrix log and Fréchet derivatives (its ``logm`` and
  ``expm_frechet`` attributes, on the filter and on ASE 3.29's ``_utility``) taken from engine.cell_math.
"""

from __future__ import annotations

import contextlib
import functools
import io
import warnings
import weakref

import numpy as np

def predict_efs(model, graphs, second_order: bool = False) -> list[dict]:
    """CHGNet energy (eV/atom), forces (eV/Å) and stress (GPa) of each graph, one batched call:
    F = -dE/dx and sigma = (1/V) dE/d(strain) * 160.21766 GPa/(eV/Å^3), both from one backward pass
    (chgnet's ``predict_graph`` takes two).

    ``second_order=True`` builds the backward graph as chgnet does (``create_graph=True``, which training
    needs): the same kernels, so the same numbers as ``model.predict_graph(graphs, task="efs")`` bit for
    bit. The default takes plain first-order gradients: the same derivatives through other backward
    kernels, so forces agree to float32 rounding (max |ΔF| 2.6e-5 eV/Å on Na3MnCoNiO6), 2.3x faster on
    CPU and without the second-order graph's memory (benchmarks/chgnet_profile.py).
    Falls back to ``predict_graph`` where this chgnet's internals differ (checked once per model).
    """
    fast = _FAST_AGREES.get(model)
    if fast is None:
        fast = _FAST_AGREES[model] = _fast_efs_agrees(model)
    if not fast:
        preds = model.predict_graph(list(graphs), task="efs", batch_size=max(1, len(graphs)))
        return [preds] if isinstance(preds, dict) else preds
    return _fast_efs(model, list(graphs), second_order=second_order)


# Per model (weakly held): does the fast path agree with predict_graph on this chgnet? Nothing is set on
# CHGNet's own objects.
_FAST_AGREES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_EV_PER_A3_IN_GPA = 160.21766208  # chgnet's own conversion constant, kept identical


def _fast_efs(model, graphs, second_order: bool = True) -> list[dict]:
    import torch
    from chgnet.model.model import BatchedGraph

    device = next(model.parameters()).device
    if device.type != "cpu":  # as predict_graph does: the graphs go where the model is
        graphs = [graph.to(device) for graph in graphs]
    comp = 0 if model.composition_model is None else model.composition_model(graphs)
    g = BatchedGraph.from_graphs(
        graphs,
        bond_basis_expansion=model.bond_basis_expansion,
        angle_basis_expansion=model.angle_basis_expansion,
        compute_stress=True,
    )
    pred = model._compute(g)  # energy only; it is eV/atom when the model is intensive
    energy = pred["e"]
    total = (energy * pred["atoms_per_graph"]).sum() if model.is_intensive else energy.sum()
    # create_graph=True as chgnet does: the backward kernels (and so the float32 rounding) then match
    grads = torch.autograd.grad(total, [*g.atom_positions, *g.strains], create_graph=second_order)
    k = len(graphs)
    scale = _EV_PER_A3_IN_GPA / g.volumes
    e = (energy + comp).detach().cpu().numpy()
    return [
        {
            "e": e[i],
            "f": (-grads[i]).detach().cpu().numpy(),
            "s": (grads[k + i] * scale[i]).detach().cpu().numpy(),
        }
        for i in range(k)
    ]


def probe_structures() -> list:
    """Two small structures (a strained cubic ErPt3 cell, a triclinic NaCl cell) on which each fast path
    checks once at run time that it reproduces chgnet's own code."""
    from pymatgen.core import Lattice, Structure

    return [
        Structure(Lattice.cubic(4.1), ["Er", "Pt", "Pt", "Pt"], [[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.52, 0.5, 0]]),
        Structure(Lattice.from_parameters(3.0, 3.1, 4.0, 88, 92, 118), ["Na", "Cl"], [[0, 0, 0], [0.45, 0.5, 0.55]]),
    ]


def _fast_efs_agrees(model) -> bool:
    """Whether _fast_efs reproduces predict_graph on a small two-structure batch of this chgnet."""
    try:
        with quiet():
            graphs = [model.graph_converter(p) for p in probe_structures()]
            ref = model.predict_graph(graphs, task="efs", batch_size=2)
            new = _fast_efs(model, graphs)
        return all(np.allclose(r[k], n[k], rtol=1e-5, atol=1e-5) for r, n in zip(ref, new) for k in "efs")
    except Exception:
        return False


def memoise_gradient(opt, atoms) -> None:
    """Compute the filter's generalised forces once per geometry (the convergence test and the step
    both ask; for FrechetCellFilter each evaluation costs a matrix log and 9 Fréchet derivatives)."""
    optimizable = getattr(opt, "optimizable", None)
    original = getattr(optimizable, "get_gradient", None)
    if original is None:
        return
    memo: dict = {}

    def get_gradient():
        key = (atoms.positions.tobytes(), atoms.cell.array.tobytes())
        if memo.get("key") != key:
            memo["key"], memo["value"] = key, original()
        return memo["value"].copy()

    optimizable.get_gradient = get_gradient


def use_fast_cell_math(optimizable) -> bool:
    """Give a cell filter the 3x3 matrix functions of engine.cell_math (same values to round-off, 9-25x
    faster) in place of SciPy's; True when the filter had them to replace (FrechetCellFilter does; ASE 3.29
    keeps them on its ``_utility`` helper, earlier releases on the filter itself)."""
    from xrdtui.engine.cell_math import FrechetDerivative, logm3

    replaced = False
    for holder in (optimizable, getattr(optimizable, "_utility", None)):
        if holder is not None and hasattr(holder, "logm") and hasattr(holder, "expm_frechet"):
            holder.logm, holder.expm_frechet = logm3, FrechetDerivative()
            replaced = True
    return replaced



@contextlib.contextmanager
def quiet():
    """Silence CHGNet's prints and pymatgen/torch warnings during model calls."""
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def fed_calculator(model, device: str = "cpu"):
    """A ``CHGNetCalculator`` for the lockstep engine. Its ``check_state`` says "unchanged" at once when the
    positions, cell, numbers and periodicity are those of the geometry it was fed (bitwise equal, so ASE's
    ``compare_atoms`` at its tolerance 1e-15 would say the same); otherwise it asks ASE. Nothing else in the
    lockstep engine changes an Atoms object (magnetic moments, charges), so the answers are ASE's."""
    return _fed_calculator_class()(model=model, use_device=device)


@functools.cache
def _fed_calculator_class():
    from chgnet.model.dynamics import CHGNetCalculator  # chgnet stays out of import time

    class FedCHGNetCalculator(CHGNetCalculator):
        def check_state(self, atoms, tol=1e-15):
            mine = self.atoms
            if (mine is not None and len(mine) == len(atoms)
                    and np.array_equal(mine.positions, atoms.positions)
                    and np.array_equal(mine.cell.array, atoms.cell.array)
                    and np.array_equal(mine.numbers, atoms.numbers) and np.array_equal(mine.pbc, atoms.pbc)):
                return []
            return super().check_state(atoms, tol)

    return FedCHGNetCalculator


def feed_calculator(atoms, prediction: dict, model, step: int) -> None:
    """Store one CHGNet prediction (energy eV/atom, forces eV/Å, stress GPa) as the result of ``atoms``'s
    ``CHGNetCalculator`` for its current geometry (what ``CHGNetCalculator.calculate`` would set)."""
    from ase import units

    n = len(atoms)
    e, f, s = prediction["e"], prediction["f"], prediction["s"]
    if not (np.all(np.isfinite(e)) and np.all(np.isfinite(f)) and np.all(np.isfinite(s))):
        raise FloatingPointError(f"CHGNet returned non-finite energy/forces/stress at step {step}")
    calc = atoms.calc
    # same conversion as CHGNetCalculator.calculate: eV/atom -> eV, GPa -> eV/Å^3
    energy = float(e) * (n if model.is_intensive else 1)
    calc.results = {"energy": energy, "free_energy": energy, "forces": f, "stress": s * units.GPa}
    calc.atoms = atoms.copy()
