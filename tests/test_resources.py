"""Resource bounds: the simulator's memory is estimated before it allocates; a huge cell or batch is one
line (InputError / ConfigError), never a MemoryError."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from xrdtui.engine import resources
from xrdtui.engine.simulator import XRDSimulator
from xrdtui.errors import InputError


def _rocksalt(a: float) -> Structure:
    return Structure(Lattice.cubic(a), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


@pytest.mark.parametrize("lattice", [Lattice.cubic(12.0), Lattice.from_parameters(7, 9, 15, 80, 95, 105)])
def test_reflection_estimate_matches_a_brute_force_count(lattice):
    g = resources.g_max(1.5406, 90.0, 0.5)
    est = resources.estimate(lattice.abc, lattice.volume, wavelength=1.5406, two_theta_cut=90.0, strain_margin=0.5,
                             n_sites=2, n_elements=2, batch=1)
    # independent count: every integer hkl with |g| <= g_max, one of each Friedel pair
    recip = lattice.reciprocal_lattice_crystallographic.matrix
    n = [int(math.ceil(g * a)) + 1 for a in lattice.abc]
    grid = np.stack(np.meshgrid(*[np.arange(-m, m + 1) for m in n], indexing="ij"), -1).reshape(-1, 3)
    lengths = np.linalg.norm(grid @ recip, axis=1)
    count = int(((lengths > 0) & (lengths <= g)).sum()) // 2
    assert abs(est.reflections - count) / count < 0.05


def test_a_huge_cell_is_refused_before_anything_is_allocated(monkeypatch):
    monkeypatch.setenv("XRDTUI_MEMORY_GB", "4")
    with pytest.raises(InputError, match=r"cell too large for the simulator: 1000 x 1000 x 1000 A"):
        XRDSimulator(_rocksalt(1000.0))


def test_a_batch_beyond_the_budget_is_one_line(monkeypatch):
    import torch

    monkeypatch.setenv("XRDTUI_MEMORY_GB", "0.05")
    sim = XRDSimulator(_rocksalt(12.0))
    assert sim.pattern(torch.tensor([[12.0, 12.0, 12.0, 90.0, 90.0, 90.0]] * 2, dtype=torch.float64)).shape[0] == 2
    with pytest.raises(InputError, match=r"a batch of 4000 cells x \d+ reflections needs"):
        sim.pattern(torch.tensor([[12.0, 12.0, 12.0, 90.0, 90.0, 90.0]] * 4000, dtype=torch.float64))


def test_a_sweep_that_would_not_fit_stops_before_the_store(tmp_path):
    cif = tmp_path / "big.cif"
    _rocksalt(400.0).to(filename=str(cif))
    config = tmp_path / "big.toml"
    config.write_text(f'structures = ["{cif}"]\ndistortions = 8\nmethods = ["cosine"]\nmodes = ["free"]\n'
                      "[noise]\nlattice = [0.05]\n")
    store = tmp_path / "big.h5"
    out = subprocess.run([sys.executable, "-m", "xrdtui", "run", str(config), "--store", str(store), "-q"],
                         capture_output=True, text=True, timeout=300, env={**__import__("os").environ,
                                                                           "XRDTUI_MEMORY_GB": "8"})
    assert out.returncode == 4, out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "reflections x 8 distortions need" in lines[0] and "8 GiB allowed" in lines[0]
    assert not store.exists()
