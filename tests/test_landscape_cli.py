"""``xrdtui landscape``: slices stored with axes, units, minima, patterns and descent paths; one-line errors.

References are independent of the code under test: lattice constants from FACTS.md, peak positions
from pymatgen's XRDCalculator, the cosine of two patterns in numpy, CHGNet's own predict_structure.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from xrdtui.cli.main import main
from xrdtui.store.reader import StoreReader

SHARED = Path(__file__).resolve().parents[2] / "shared"
U2TI = np.array([4.7887, 4.7887, 2.8022, 90.0, 90.0, 120.0])  # FACTS.md


def cli(*args) -> int:
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    return exc.value.code


@pytest.fixture(scope="module")
def ac_store(tmp_path_factory):
    """U2Ti a-c slice, 11 x 9 points, ±10 %, paths from (0.95 a, 1.04 c) in the three modes."""
    import torch

    torch.set_num_threads(1)
    path = tmp_path_factory.mktemp("land") / "land.h5"
    # "c,a" on purpose: slices are stored in canonical (a, b, c, alpha, beta, gamma) order, and the
    # start follows the order given (c factor 1.04, a factor 0.95).
    code = cli("landscape", "U2Ti", "--params", "c,a", "--points", "11,9", "--span", "0.1", "--start", "1.04,0.95",
               "--steps", "80", "--minima", "3", "-o", path, "-q")
    assert code == 0
    with StoreReader.open(path) as r:
        assert r.landscapes() == ["U2Ti/cosine/a-c"]
        rec = r.landscape("U2Ti/cosine/a-c")
    return path, rec


def _sim_patterns(lattices):
    import torch

    from xrdtui.engine.simulator import XRDSimulator
    from xrdtui.engine.structures import benchmark_structure

    sim = XRDSimulator(benchmark_structure("U2Ti"), strain_margin=0.3)
    with torch.no_grad():
        return sim.two_theta, sim.pattern(torch.as_tensor(np.asarray(lattices, dtype=np.float64))).double().numpy()


def test_axes_units_and_grid_shape(ac_store):
    _, rec = ac_store
    assert (rec.p1, rec.p2, rec.unit1, rec.unit2) == ("a", "c", "Å", "Å")
    np.testing.assert_allclose(rec.axis1, np.linspace(0.9 * U2TI[0], 1.1 * U2TI[0], 11))
    np.testing.assert_allclose(rec.axis2, np.linspace(0.9 * U2TI[2], 1.1 * U2TI[2], 9))
    np.testing.assert_allclose(rec.truth, U2TI, atol=1e-4)
    assert rec.grid.shape == (11, 9)
    assert rec.attrs["family"] == "hexagonal" and rec.attrs["points1"] == 11 and rec.attrs["points2"] == 9


def test_grid_values_are_minus_cosine_against_the_truth(ac_store):
    _, rec = ac_store
    # Identical patterns at the truth: cos = 1, loss -1, and that is the deepest minimum.
    assert rec.grid[5, 4] == pytest.approx(-1.0, abs=1e-5)
    best = rec.minima[0]
    assert (best.rank, best.i, best.j) == (0, 5, 4)
    assert (best.p1, best.p2) == pytest.approx((U2TI[0], U2TI[2]), abs=1e-4)
    assert best.depth == pytest.approx(float(np.nanmax(rec.grid) - np.nanmin(rec.grid)), rel=1e-5)
    # An off-truth cell against a numpy cosine of two simulated patterns.
    lat = U2TI.copy()
    lat[0], lat[2] = rec.axis1[2], rec.axis2[7]
    _, (p, t) = _sim_patterns([lat, U2TI])
    expected = -float(p @ t / np.linalg.norm(p) / np.linalg.norm(t))
    assert rec.grid[2, 7] == pytest.approx(expected, abs=2e-4)
    assert expected > -0.99  # a real off-minimum value, not the truth again


def test_minima_ranked_with_patterns_peaking_where_pymatgen_puts_them(ac_store):
    from pymatgen.analysis.diffraction.xrd import XRDCalculator

    from xrdtui.engine.structures import benchmark_structure

    _, rec = ac_store
    depths = [m.depth for m in rec.minima]
    assert [m.rank for m in rec.minima] == list(range(len(rec.minima))) and depths == sorted(depths, reverse=True)
    assert 1 <= len(rec.minima) <= 3 and rec.minima_patterns.shape == (len(rec.minima), 9000)
    assert rec.two_theta[0] == pytest.approx(0.0) and rec.two_theta[1] == pytest.approx(0.01)
    ref = XRDCalculator(wavelength=1.5406).get_pattern(benchmark_structure("U2Ti"), two_theta_range=(0, 90))
    pattern = rec.minima_patterns[0]
    for x in np.asarray(ref.x)[np.argsort(ref.y)[::-1][:4]]:  # the four strongest reflections
        window = (rec.two_theta > x - 0.3) & (rec.two_theta < x + 0.3)
        peak = rec.two_theta[window][np.argmax(pattern[window])]
        assert peak == pytest.approx(x, abs=0.03)


def test_paths_in_three_modes_descend_from_the_given_start(ac_store):
    _, rec = ac_store
    assert [p.mode for p in rec.paths] == ["free", "free-from-projected-init", "projected"]
    start = np.array([0.95 * U2TI[0], 1.04 * U2TI[2]])
    for p in rec.paths:
        np.testing.assert_allclose(p.start, start, rtol=1e-9)
        assert p.points.ndim == 2 and p.points.shape[1] == 2 and len(p.points) > 5
    free = rec.paths[0]
    np.testing.assert_allclose(free.points[0], start, rtol=1e-9)
    # The stored final loss is the cosine loss of the path's end cell (b and angles at the truth).
    end = U2TI.copy()
    end[0], end[2] = free.points[-1]
    begin = U2TI.copy()
    begin[0], begin[2] = start
    _, (pe, pb, t) = _sim_patterns([end, begin, U2TI])
    cos = lambda p: float(p @ t / np.linalg.norm(p) / np.linalg.norm(t))  # noqa: E731
    assert free.final_loss == pytest.approx(-cos(pe), abs=2e-4)
    assert free.final_loss < -cos(pb) - 1e-3  # it went downhill


def test_structure_travels_with_the_slice(ac_store):
    from pymatgen.core import Structure

    _, rec = ac_store
    s = Structure.from_dict(json.loads(rec.attrs["structure_json"]))
    assert s.composition.reduced_formula == "U2Ti"
    np.testing.assert_allclose([*s.lattice.abc, *s.lattice.angles], U2TI, atol=1e-4)
    assert rec.attrs["source"] == "U2Ti"


def test_existing_slice_needs_replace_and_default_start(ac_store, tmp_path, capsys):
    path, _ = ac_store
    assert cli("landscape", "U2Ti", "--params", "a,c", "--points", "3", "--no-paths", "-o", path, "-q") == 4
    err = capsys.readouterr().err.strip()
    assert err == f"error: {path} already holds U2Ti/cosine/a-c; use --replace"
    copy = tmp_path / "copy.h5"
    copy.write_bytes(Path(path).read_bytes())
    # --replace overwrites; with no --start the path starts 20 % along the first axis, 80 % along the second.
    assert cli("landscape", "U2Ti", "--params", "a,c", "--points", "3", "--range1", "4.5,5.0", "--range2", "2.7,2.9",
               "--steps", "5", "-o", copy, "--replace", "-q") == 0
    with StoreReader.open(copy) as r:
        rec = r.landscape("U2Ti/cosine/a-c")
    np.testing.assert_allclose(rec.axis1, [4.5, 4.75, 5.0])
    np.testing.assert_allclose(rec.paths[0].start, [4.5 + 0.2 * 0.5, 2.7 + 0.8 * 0.2])
    assert rec.attrs["relative_range"] is False


def test_angle_slice_with_absolute_start(tmp_path):
    path = tmp_path / "ang.h5"
    assert cli("landscape", "Au2S", "--params", "beta,gamma", "--points", "5", "--span", "0.05", "--objective", "mse",
               "--start-at", "88,93", "--steps", "5", "-o", path, "-q") == 0
    with StoreReader.open(path) as r:
        rec = r.landscape("Au2S/mse/beta-gamma")
    assert (rec.unit1, rec.unit2) == ("°", "°")
    np.testing.assert_allclose(rec.axis1, np.linspace(85.5, 94.5, 5))
    np.testing.assert_allclose(rec.paths[0].start, [88.0, 93.0])
    # Cubic: the projected modes pin both angles at 90°.
    proj = [p for p in rec.paths if p.mode == "projected"][0]
    np.testing.assert_allclose(proj.points[-1], [90.0, 90.0], atol=1e-9)
    # the squared error of the truth's own pattern: float32 rounding summed over the 9000 bins
    assert rec.grid[2, 2] == pytest.approx(0.0, abs=9000 * 1e-9)


def test_all_slices_and_a_cif_file(tmp_path):
    cif = SHARED / "data" / "mp20_selected" / "mp-1709_U2Ti_191.cif"
    if not cif.exists():
        pytest.skip("../shared reference CIFs not present")
    path = tmp_path / "all.h5"
    assert cli("landscape", cif, "--params", "all", "--points", "3", "--no-paths", "--minima", "1", "-o", path, "-q") == 0
    with StoreReader.open(path) as r:
        keys = r.landscapes()
        rec = r.landscape("mp-1709_U2Ti_191/cosine/alpha-gamma")
    assert len(keys) == 15 and all(k.startswith("mp-1709_U2Ti_191/cosine/") for k in keys)
    assert rec.grid[1, 1] == pytest.approx(-1.0, abs=1e-5) and rec.paths == []
    np.testing.assert_allclose(rec.axis2, [102.0, 120.0, 138.0])


def test_chgnet_objective_matches_chgnet_itself(tmp_path):
    from chgnet.model import CHGNet

    from xrdtui.engine.structures import benchmark_structure

    path = tmp_path / "e.h5"
    assert cli("landscape", "U2Ti", "--params", "a,c", "--objective", "chgnet", "--points", "3", "-o", path, "-q") == 0
    with StoreReader.open(path) as r:
        rec = r.landscape("U2Ti/chgnet/a-c")
    assert rec.paths == [] and rec.attrs["objective_unit"] == "eV/atom"
    model = CHGNet.load(verbose=False)
    e_truth = float(model.predict_structure(benchmark_structure("U2Ti"), task="e")["e"])
    assert rec.grid[1, 1] == pytest.approx(e_truth, abs=2e-4)
    assert rec.grid[0, 0] > rec.grid[1, 1]  # squeezing the cell by 15 % costs energy


@pytest.mark.parametrize(
    "args, code, fragment",
    [
        (("Nope",), 3, "Nope"),
        (("U2Ti", "--params", "a,x"), 4, "unknown lattice parameter 'x'"),
        (("U2Ti", "--params", "a,a"), 4, "two different lattice parameters"),
        (("U2Ti", "--range1", "5,4"), 4, "bad range for a"),
        (("U2Ti", "--params", "alpha,c", "--range1", "-5,100"), 4, "angles must lie inside"),
        (("U2Ti", "--range2", "0,3"), 4, "lengths must be positive"),
        (("U2Ti", "--range1", "4,x"), 4, "the range of a must be 2 comma-separated numbers"),
        (("U2Ti", "--params", "c,a", "--range1", "2.5,3.0", "--range2", "4,5", "--start-at", "2.6,6"), 4,
         "start (6, 2.6) lies outside the a-c slice [4, 5] x [2.5, 3]"),
        (("U2Ti", "--points", "1"), 4, "--points"),
        (("U2Ti", "--span", "1.5"), 4, "--span"),
        (("U2Ti", "--objective", "nope"), 4, "nope"),
        (("U2Ti", "--objective", "chgnet", "--paths"), 4, "--no-paths"),
        (("U2Ti", "--start", "2,1"), 4, "lies outside the a-c slice"),
        (("U2Ti", "--params", "all", "--range1", "4,5"), 4, "--range1/--range2 need one pair"),
    ],
)
def test_bad_input_is_one_line(tmp_path, capsys, args, code, fragment):
    out = tmp_path / "x.h5"
    assert cli("landscape", *args, "-o", out, "-q") == code
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and fragment in err and len(err.splitlines()) == 1
    assert not out.exists()
