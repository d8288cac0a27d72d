"""The paper's conventions end to end: per-method optimiser tables, the no-optimisation baseline, the strict
metric stored beside the paper's, conventions recorded in the store, the primitive cell of coordinate-noise
tasks, plain GD's convergence rule and step-size calibration, and reading a schema-1 store."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest
import torch

from xrdtui.errors import ConfigError
from xrdtui.jobs.config import parse_config

CAMPAIGN = """
name = "conv"
seed = 5
structures = ["PbF2"]
distortions = 4
methods = ["none", "cosine", "mse"]
modes = ["free", "projected"]
[noise]
lattice = [0.06]
coords = [0.04]
[optimizer]
method = "gd"
schedule = "constant"
convergence = "window"
tol = 1e-4
patience = 10
max_steps = 40
[optimizer.cosine]
lr_length = 0.0056
lr_angle = 1.78
lr_coords = 0.0316
[optimizer.mse]
lr_length = 3.2e-5
lr_angle = 0.01
lr_coords = 1.8e-4
max_steps = 25
"""


@pytest.fixture(scope="module")
def conv_store(tmp_path_factory):
    from xrdtui.jobs.campaign import run_campaign

    torch.set_num_threads(1)
    return run_campaign(parse_config(CAMPAIGN), store_path=tmp_path_factory.mktemp("conv") / "c.h5",
                        scheduler="inline")


def test_per_method_optimizer_tables():
    cfg = parse_config(CAMPAIGN)
    assert cfg.settings("mse")["optimizer"].lr_length == pytest.approx(3.2e-5)
    assert cfg.settings("mse")["optimizer"].max_steps == 25
    assert cfg.settings("cosine")["optimizer"].lr_length == pytest.approx(0.0056)
    assert cfg.settings("cosine")["optimizer"].max_steps == 40  # the shared table's value
    conventions = cfg.conventions()
    assert conventions["optimizer.mse"]["lr_angle"] == pytest.approx(0.01)
    assert conventions["noise"]["strain"] == "cartesian" and conventions["noise"]["cell"] == "primitive"
    with pytest.raises(ConfigError, match="optimizer.entropy: not a method of this experiment"):
        parse_config(CAMPAIGN.replace("[optimizer.mse]", "[optimizer.entropy]"))
    with pytest.raises(ConfigError, match="optimizer.mse: unknown key 'lr_lenght'"):
        parse_config(CAMPAIGN.replace("lr_length = 3.2e-5", "lr_lenght = 3.2e-5"))


def test_tasks_follow_the_paper(conv_store):
    """Lattice noise in the conventional cell with both modes; coordinate noise free only, primitive cell;
    the baseline once per condition; per-method step budgets."""
    from xrdtui.store.reader import StoreReader

    with StoreReader.open(conv_store) as r:
        rows = {t.task_id: t for t in r.tasks()}
        assert set(rows) == {
            "PbF2/lattice/0.060/none/start", "PbF2/lattice/0.060/cosine/free", "PbF2/lattice/0.060/cosine/projected",
            "PbF2/lattice/0.060/mse/free", "PbF2/lattice/0.060/mse/projected", "PbF2/coords/0.040/none/start",
            "PbF2/coords/0.040/cosine/free", "PbF2/coords/0.040/mse/free"}
        assert {t.cell for t in rows.values() if t.noise == "coords"} == {"primitive"}
        assert {t.cell for t in rows.values() if t.noise == "lattice"} == {"conventional"}
        coords = r.task("PbF2/coords/0.040/cosine/free")
        assert coords.info.n_sites == 3  # Fm-3m primitive cell
        assert r.task("PbF2/lattice/0.060/mse/free").info.max_steps == 25
        truth = r.structures()["PbF2"]
        assert truth.n_sites == 12 and len(truth.in_cell("primitive").species) == 3
        assert r.info.conventions["pattern"]["profile"] == "height"
        assert r.info.conventions["matcher"]["ltol"] == 0.1 and r.info.conventions["strict"]["scale"] is False


def test_baseline_judges_the_starts_every_method_starts_from(conv_store):
    """`none` stores the distorted starts as they are, the very members descent starts from, with their
    cosine loss (computed here independently with numpy) and StructureMatcher's verdict on them."""
    from pymatgen.analysis.structure_matcher import StructureMatcher

    from xrdtui.engine.simulator import XRDSimulator
    from xrdtui.engine.structures import benchmark_structure, in_cell, with_params
    from xrdtui.store.reader import StoreReader

    with StoreReader.open(conv_store) as r:
        for noise, level, cell in (("lattice", "0.060", "conventional"), ("coords", "0.040", "primitive")):
            base = r.task(f"PbF2/{noise}/{level}/none/start").result
            descent = r.task(f"PbF2/{noise}/{level}/cosine/free").result
            np.testing.assert_array_equal(base.init_lattice, descent.init_lattice)
            np.testing.assert_array_equal(base.init_frac, descent.init_frac)
            np.testing.assert_array_equal(base.final_lattice, base.init_lattice)
            assert np.all(base.n_steps == 0)
            truth = in_cell(benchmark_structure("PbF2"), cell)
            sim = XRDSimulator(truth)
            with torch.no_grad():
                pats = sim.pattern(torch.as_tensor(base.init_lattice), torch.as_tensor(base.init_frac)).double().numpy()
            target = sim.reference_pattern().astype(np.float64)
            cos = pats @ target / (np.linalg.norm(pats, axis=1) * np.linalg.norm(target))
            np.testing.assert_allclose(base.final_loss, -cos, atol=2e-6)
            paper = StructureMatcher(ltol=0.1, stol=0.2, angle_tol=5)
            starts = [with_params(truth, lat, fr) for lat, fr in zip(base.init_lattice, base.init_frac)]
            assert base.matched.tolist() == [paper.fit(truth, s) for s in starts]


def test_strict_metric_and_errors_are_stored_and_consistent(conv_store):
    """Every strict recovery is a paper match; the stored continuous errors are those of the final cells."""
    from xrdtui.engine.structures import benchmark_structure, lattice_params
    from xrdtui.store.reader import StoreReader

    truth = lattice_params(benchmark_structure("PbF2"))
    with StoreReader.open(conv_store) as r:
        for t in r.tasks():
            res = r.task(t.task_id).result
            assert res.recovered is not None and not np.any(res.recovered & ~res.matched)
            assert t.ks == int(res.recovered.sum()) and np.isfinite(t.lo_s)
            if t.noise == "lattice":
                expected = np.abs(res.final_lattice[:, :3] / truth[:3] - 1).max(axis=1)
                np.testing.assert_allclose(res.length_error, expected, rtol=1e-9)
                np.testing.assert_allclose(res.site_error, 0.0, atol=1e-12)  # coordinates untouched
            else:
                np.testing.assert_allclose(res.length_error, 0.0, atol=1e-12)
        rows = {m.key: m for m in r.match_table(group_by=("noise", "method", "mode"))}
        projected = rows[("lattice", "cosine", "projected")]
        assert projected.ns == projected.n == 4 and 0 <= projected.ks <= projected.k


def test_a_schema_1_store_reads_with_defaults(conv_store, tmp_path):
    """A store written before schema 2 (no cell column, no strict metric) still reads: cell conventional,
    strict rates unknown (NaN intervals, shown as '–'), and it may not be resumed."""
    from xrdtui.errors import StoreError
    from xrdtui.store.reader import StoreReader
    from xrdtui.store.writer import StoreWriter

    old = tmp_path / "old.h5"
    shutil.copy(conv_store, old)
    with h5py.File(old, "r+") as f:
        f.attrs["schema"] = 1
        del f["tasks/cell"]
        for col in ("k_strict", "lo_strict", "hi_strict"):
            del f[f"progress/{col}"]

        def drop(name, obj):
            if isinstance(obj, h5py.Group) and "recovered" in obj:
                for key in ("recovered", "strict_rms", "length_error", "angle_error", "site_error"):
                    del obj[key]
        f.visititems(drop)
    with StoreReader.open(old) as r:
        rows = r.tasks()
        assert {t.cell for t in rows} == {"conventional"} and all(t.ks == 0 and np.isnan(t.lo_s) for t in rows)
        res = r.task(rows[0].task_id).result
        assert res.recovered is None and res.matched.shape == (4,)
        assert all(m.ns == 0 for m in r.match_table(group_by=("method",)))
    with pytest.raises(StoreError, match="older xrdtui"):
        StoreWriter.resume(old)


def test_window_convergence_stops_a_stalled_constant_step_descent():
    from xrdtui.engine.optimize import OptimizerSettings, recover

    class Sim:
        device = "cpu"

        def pattern(self, lattice, frac=None):
            return lattice.to(torch.float64)

    target = np.array([4.0, 4.0, 4.0, 90.0, 90.0, 90.0])
    init = np.tile(target, (2, 1))
    init[0, 0], init[1, 0] = 4.5, 4.01

    def loss(pred, t):  # |a - a0|: constant gradient magnitude, so a constant step overshoots and oscillates
        return (pred[:, 0] - torch.as_tensor(t)[..., 0]).abs()

    settings = OptimizerSettings(method="gd", schedule="constant", lr_length=0.03, lr_angle=0.0, max_steps=500,
                                 tol=1e-3, patience=10, convergence="window")
    traj = recover(Sim(), target, init, None, loss=loss, settings=settings)
    assert traj.converged.all() and np.all(traj.n_steps < 60)  # stopped by the rule, not the 500-step budget
    assert np.all(np.abs(traj.final_lattice[:, 0] - 4.0) <= 0.03 + 1e-9)
    delta = OptimizerSettings(method="gd", schedule="constant", lr_length=0.03, lr_angle=0.0, max_steps=500,
                              tol=1e-3, patience=10, convergence="delta")
    assert not recover(Sim(), target, init, None, loss=loss, settings=delta).converged.any()  # it oscillates
    with pytest.raises(ConfigError, match="convergence"):
        OptimizerSettings(convergence="sometimes")


def test_step_size_rule():
    """Step 1: each kind's rate lowers the loss in one step for >= 95 % of members and the next larger grid
    value does not; step 2: the joint lattice step with the final rates does too (counted here directly
    from one-step descents)."""
    from xrdtui.engine.noise import distort
    from xrdtui.engine.optimize import OptimizerSettings, recover
    from xrdtui.engine.simulator import XRDSimulator
    from xrdtui.engine.structures import benchmark_structure
    from xrdtui.jobs.calibrate import GRID, calibrate

    cal = calibrate(["U2Ti", "Au2S"], losses=("cosine",), n=10)
    lr = cal.single["cosine"]["lr_length"]
    bigger = GRID[GRID.index(lr) - 1]

    def fraction(step, angle=0.0):
        lowered = 0
        for name in ("U2Ti", "Au2S"):
            s = benchmark_structure(name)
            sim = XRDSimulator(s, profile_dtype=torch.float64)
            starts = distort(s, name, "lattice", 0.01, 10, 0)
            settings = OptimizerSettings(method="gd", schedule="constant", max_steps=1, tol=0, lr_length=step,
                                         lr_angle=angle)
            traj = recover(sim, sim.reference_pattern(), starts.lattice, starts.frac, loss="cosine", settings=settings)
            lowered += int((traj.loss[1] < traj.loss[0]).sum())
        return lowered / 20

    assert fraction(lr) >= 0.95 > fraction(bigger)
    final = cal.rates["cosine"]
    assert final["lr_length"] <= lr and fraction(final["lr_length"], final["lr_angle"]) >= 0.95


def test_step_size_rule_with_a_penalty_follows_its_stiffness():
    """The rule applied to loss + penalty (as for xrd-energy): a stiff quadratic penalty k·|x − x0|² on the
    coordinates (minimum image) is lowered by one plain step only while lr < 1/k (|1 − 2k·lr| < 1), so the
    chosen coordinate step must drop from the XRD loss's own below 1/k, to within one grid factor (searching
    down from the loss's own steps); the lattice-noise members sit at x0 (penalty 0), so their steps stay the
    loss's own."""
    from xrdtui.jobs.calibrate import calibrate

    k = 1.0e4

    def penalty_for(structure, starts):  # the structure in the batch's own cell: its coordinates are x0
        x0 = torch.as_tensor(structure.frac_coords)

        def penalty(lattice, frac):
            d = frac - x0.to(frac.dtype)
            d = d - torch.round(d.detach())
            return k * (d ** 2).sum(dim=(1, 2))

        return penalty

    plain = calibrate(["Au2S"], losses=("cosine",), n=6)
    stiff = calibrate(["Au2S"], losses=("cosine",), n=6, penalty_for=penalty_for, start=plain.rates)
    for kind, tried in stiff.fractions["cosine"].items():  # searched down from the loss's own steps
        assert max(lr for lr, _ in tried) == pytest.approx(plain.rates["cosine"][kind])
    coords = stiff.rates["cosine"]["lr_coords"]
    assert coords < 1.0 / k <= coords * 10 ** 0.5
    assert coords < plain.rates["cosine"]["lr_coords"] / 10
    for kind in ("lr_length", "lr_angle"):
        assert stiff.rates["cosine"][kind] == plain.rates["cosine"][kind]
