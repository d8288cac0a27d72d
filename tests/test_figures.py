"""``xrdtui figure``: every kind renders from a tiny real store, with the expected panels, labels,
error bars and lines; bad requests are one-line errors.

Campaign figures use the ``tiny_store`` sweep; landscape figures a small store made here with the
CLI (21 x 21 cosine slice with paths, 5 x 5 CHGNet slice, all 15 mse slices at 5 x 5).
References: match rates and Jeffreys intervals from the task rows and scipy's beta quantiles,
deviations from the stored cells, peak positions from pymatgen's XRDCalculator.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from xrdtui.cli.main import main
from xrdtui.figures import build, render
from xrdtui.store.reader import StoreReader

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def cli(*args) -> int:
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    return exc.value.code


@pytest.fixture(scope="module")
def land_store(tmp_path_factory) -> Path:
    import torch

    torch.set_num_threads(1)
    path = tmp_path_factory.mktemp("figs") / "land.h5"
    common = ("-o", path, "-q")
    assert cli("landscape", "U2Ti", "--params", "a,c", "--points", "21", "--start", "0.93,1.07", "--steps", "60",
               *common) == 0
    assert cli("landscape", "U2Ti", "--params", "a,c", "--objective", "chgnet", "--points", "5", *common) == 0
    assert cli("landscape", "U2Ti", "--params", "all", "--objective", "mse", "--points", "5", "--no-paths",
               "--minima", "1", *common) == 0
    return path


def _open(path):
    return StoreReader.open(path)


def _check_png(path: Path, min_kib: float = 10) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > min_kib * 1024
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert 600 < width < 4000 and 400 < height < 4000


def _panels(fig):
    """Visible axes that are not colour bars."""
    return [ax for ax in fig.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]


def _colorbar_labels(fig) -> list[str]:
    return [ax.get_ylabel() for ax in fig.axes if ax.get_label() == "<colorbar>"]


# ------------------------------------------------------------------------------------ match rate


def test_match_rate_error_bars_are_pooled_jeffreys_intervals(tiny_store, tmp_path):
    from scipy.stats import beta

    with _open(tiny_store) as r:
        fig = build("match-rate", r)
        rows = r.tasks()
    lattice, coords = _panels(fig)
    assert (lattice.get_title(), coords.get_title()) == ("lattice noise", "coordinate noise")
    assert "σ" in lattice.get_xlabel() and "match rate" in lattice.get_ylabel()
    assert "CHGNet" in fig._suptitle.get_text()  # Figure 7a: the store has CHGNet rows
    # 2 losses x 2 modes + CHGNet relax = 5 series in each panel.
    # lattice: cosine and mse free and projected, CHGNet; coordinates: free descent only, CHGNet
    assert len(lattice.containers) == 5 and len(coords.containers) == 3
    series = {c.get_label(): c for c in lattice.containers}
    assert set(series) == {"cosine · free", "cosine · projected", "mse · free", "mse · projected", "chgnet · relax"}
    # cosine/free at sigma 0.1, pooled over both structures, from the task rows and scipy directly.
    pick = [t for t in rows if (t.noise, t.method, t.mode) == ("lattice", "cosine", "free") and abs(t.level - 0.1) < 1e-9]
    k, n = sum(t.k for t in pick), sum(t.n for t in pick)
    assert n == 8 and k < n  # a real mix of matches and misses (the tiny store has 3/8)
    line, _, (bars,) = series["cosine · free"].lines
    x, y = line.get_data()
    i = int(np.argmax(x))  # the 0.1 point
    assert y[i] == pytest.approx(k / n)
    (x0, lo), (x1, hi) = bars.get_segments()[i]
    assert lo == pytest.approx(beta.ppf(0.025, k + 0.5, n - k + 0.5), abs=1e-9)
    assert hi == pytest.approx(beta.ppf(0.975, k + 0.5, n - k + 0.5), abs=1e-9)
    out = render("match-rate", tiny_store, tmp_path / "mr.png")
    _check_png(out)


def test_match_rate_for_one_structure(tiny_store):
    with _open(tiny_store) as r:
        fig = build("match-rate", r, structure="U2Ti")
        pick = [t for t in r.tasks() if (t.structure, t.noise, t.method, t.mode) == ("U2Ti", "lattice", "mse", "free")]
    series = {c.get_label(): c for c in _panels(fig)[0].containers}
    _, y = series["mse · free"].lines[0].get_data()
    expected = [t.k / t.n for t in sorted(pick, key=lambda t: t.level)]
    np.testing.assert_allclose(y, expected)
    assert "U2Ti" in fig._suptitle.get_text()


# ------------------------------------------------------------------------------------ member


def test_member_bars_are_relative_deviations_and_patterns_are_drawn(tiny_store, tmp_path):
    with _open(tiny_store) as r:
        fig = build("member", r, task="U2Ti/lattice/0.1/cosine", member=2)
        truth = r.structures()["U2Ti"].lattice
        free = r.task("U2Ti/lattice/0.100/cosine/free").result
        proj = r.task("U2Ti/lattice/0.100/cosine/projected").result
    bars_ax, patterns_ax = _panels(fig)
    assert "%" in bars_ax.get_ylabel() and patterns_ax.get_xlabel() == "2θ (°)"
    assert [t.get_text() for t in bars_ax.get_xticklabels()] == ["a", "b", "c", "α", "β", "γ"]
    assert len(bars_ax.containers) == 3  # distorted, free GD, projected GD
    for container, lattice in zip(bars_ax.containers, (free.init_lattice[2], free.final_lattice[2], proj.final_lattice[2])):
        heights = [b.get_height() for b in container]
        np.testing.assert_allclose(heights, 100 * (lattice - truth) / truth, rtol=1e-9, atol=1e-9)
    # The projected result is hexagonal again: a = b and alpha = beta = 90, gamma = 120.
    p = proj.final_lattice[2]
    assert p[0] == pytest.approx(p[1]) and p[3:] == pytest.approx([90, 90, 120])
    lines = patterns_ax.get_lines()
    labels = [ln.get_label() for ln in lines]
    assert labels[:2] == ["ground truth", "distorted start"]
    verdict = lambda res: "(matched" if res.matched[2] else "(not matched"  # noqa: E731
    assert labels[2].startswith(f"free GD {verdict(free)}") and labels[3].startswith(f"projected GD {verdict(proj)}")
    tt, _ = lines[0].get_data()
    assert len(tt) == 9000 and tt[1] - tt[0] == pytest.approx(0.01)
    # Full recomputed patterns, each normalised to max 1 and stacked at equal offsets.
    tops = np.diff([np.nanmax(ln.get_data()[1]) for ln in lines])
    np.testing.assert_allclose(tops, tops[0], atol=1e-5)
    _check_png(render("member", tiny_store, tmp_path / "member.png", task="U2Ti/lattice/0.1/cosine", member=2))


def test_member_with_coordinate_noise_shows_site_displacements(tiny_store):
    from pymatgen.core import Lattice

    with _open(tiny_store) as r:
        fig = build("member", r, task="Au2S/coords/0.05/mse", member=1)
        free_task = r.task("Au2S/coords/0.050/mse/free")
        truth = r.structures()["Au2S"].in_cell(free_task.info.cell)  # the task's (primitive) cell
        free = free_task.result
    lattice_ax, sites_ax, _ = _panels(fig)
    assert "Å" in sites_ax.get_ylabel() and len(sites_ax.containers) == 2  # distorted, free GD
    assert [t.get_text() for t in sites_ax.get_xticklabels()] == ["Au1", "Au2", "Au3", "Au4", "S5", "S6"]
    # Nearest-image distances from pymatgen, in the truth's cell.
    lat = Lattice.from_parameters(*truth.lattice)
    for container, frac in zip(sites_ax.containers[:2], (free.init_frac[1], free.final_frac[1])):
        expected = np.diag(lat.get_all_distances(frac, truth.frac))
        np.testing.assert_allclose([b.get_height() for b in container], expected, atol=1e-9)
    assert np.max(expected) > 0.01  # the free result did not put every atom back exactly


def test_member_of_a_chgnet_cell(tiny_store):
    with _open(tiny_store) as r:
        fig = build("member", r, task="Au2S/lattice/0.03/chgnet")
    bars_ax, patterns_ax = _panels(fig)
    assert len(bars_ax.containers) == 2  # distorted, CHGNet
    assert [ln.get_label() for ln in patterns_ax.get_lines()][-1].startswith("CHGNet relaxation (")


# ------------------------------------------------------------------------------------ landscapes


def test_landscape_figure_marks_minima_and_stacks_their_patterns(land_store, tmp_path):
    from pymatgen.analysis.diffraction.xrd import XRDCalculator

    from xrdtui.engine.structures import benchmark_structure

    with _open(land_store) as r:
        fig = build("landscape", r, key="U2Ti/cosine/a-c", n_minima=3)
        rec = r.landscape("U2Ti/cosine/a-c")
    contour_ax, patterns_ax = _panels(fig)
    assert (contour_ax.get_xlabel(), contour_ax.get_ylabel()) == ("a (Å)", "c (Å)")
    assert contour_ax.collections  # the filled contours
    assert any("cosine" in lab for lab in _colorbar_labels(fig))
    numbers = sorted(t.get_text() for t in contour_ax.texts)
    assert numbers == [str(i + 1) for i in range(min(3, len(rec.minima)))]
    lines = patterns_ax.get_lines()
    assert len(lines) == 1 + min(3, len(rec.minima)) and lines[0].get_label() == "ground truth"
    assert patterns_ax.get_xlabel() == "2θ (°)"
    # The recomputed truth pattern peaks where pymatgen puts the strongest reflection.
    tt, y = lines[0].get_data()
    ref = XRDCalculator(wavelength=1.5406).get_pattern(benchmark_structure("U2Ti"), two_theta_range=(0, 90))
    assert tt[np.argmax(y)] == pytest.approx(ref.x[np.argmax(ref.y)], abs=0.03)
    # The deepest minimum is at the truth, so its pattern is the truth's (offset below it).
    _, y1 = lines[1].get_data()
    np.testing.assert_allclose(y1 - y1.min(), y - y.min(), atol=2e-3)
    for suffix, magic in ((".png", PNG_MAGIC), (".svg", b"<?xml"), (".pdf", b"%PDF")):
        out = render("landscape", land_store, tmp_path / f"land{suffix}")
        assert out.read_bytes()[: len(magic)] == magic and out.stat().st_size > 10_000


def test_paths_figure_draws_each_mode_from_the_stored_points(land_store, tmp_path):
    with _open(land_store) as r:
        fig = build("paths", r)
        rec = r.landscape("U2Ti/cosine/a-c")
    panels = _panels(fig)
    assert [ax.get_title().split("\n")[0].split(" ")[0] for ax in panels] == ["free", "free-from-projected-init",
                                                                              "projected"]
    for ax, stored in zip(panels, rec.paths, strict=True):
        path_lines = [ln for ln in ax.get_lines() if ln.get_label() == "path"]
        assert len(path_lines) == 1
        np.testing.assert_allclose(np.column_stack(path_lines[0].get_data()), stored.points)
        starts = [ln for ln in ax.get_lines() if ln.get_label() == "start"]
        np.testing.assert_allclose(np.column_stack(starts[0].get_data())[0], [0.93 * 4.7887, 1.07 * 2.8022], rtol=1e-6)
    _check_png(render("paths", land_store, tmp_path / "paths.png"))


def test_slices_figure_fills_the_triangle(land_store, tmp_path):
    with _open(land_store) as r:
        fig = build("slices", r, key="U2Ti/mse")
    filled = [ax for ax in fig.axes if ax.get_label() != "<colorbar>" and ax.collections]
    assert len(filled) == 15
    xlabels = sorted(ax.get_xlabel() for ax in filled if ax.get_xlabel())
    ylabels = sorted(ax.get_ylabel() for ax in filled if ax.get_ylabel())
    assert xlabels == sorted(["a (Å)", "b (Å)", "c (Å)", "α (°)", "β (°)"])
    assert ylabels == sorted(["b (Å)", "c (Å)", "α (°)", "β (°)", "γ (°)"])
    assert _colorbar_labels(fig) == ["MSE loss"]
    _check_png(render("slices", land_store, tmp_path / "slices.png"), min_kib=50)


def test_energy_figure_pairs_chgnet_with_the_loss_slice(land_store, tmp_path):
    with _open(land_store) as r:
        fig = build("energy", r)
    panels = _panels(fig)
    assert len(panels) == 2 and "CHGNet energy" in panels[0].get_title() and "cosine" in panels[1].get_title()
    assert "CHGNet energy (eV/atom)" in _colorbar_labels(fig)
    _check_png(render("energy", land_store, tmp_path / "energy.png"))


# ------------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    "args, code, fragment",
    [
        (("nope", "{land}"), 4, "unknown figure kind 'nope'"),
        (("landscape", "{land}", "--key", "U2Ti/cosine/b-c"), 5, "no landscape 'U2Ti/cosine/b-c'"),
        (("landscape", "{tiny}"), 5, "holds no landscapes"),
        (("energy", "{tiny}"), 5, "holds no landscapes"),
        (("match-rate", "{land}"), 5, "no finished sweep tasks"),
        (("match-rate", "{tiny}", "--structure", "ErPt3"), 5, "no finished tasks of structure 'ErPt3'"),
        (("member", "{tiny}"), 2, "needs the task"),
        (("member", "{tiny}", "--task", "U2Ti/lattice/0.1/cosine", "--member", "9"), 4, "--member must be in 0..3"),
        (("member", "{tiny}", "--task", "U2Ti/lattice/0.5/cosine"), 5, "no tasks"),
        (("landscape", "{land}", "--task", "U2Ti/lattice/0.1/cosine"), 4, "--task does not apply"),
        (("slices", "{missing}"), 5, "missing.h5"),
    ],
)
def test_bad_requests_are_one_line(tiny_store, land_store, tmp_path, capsys, args, code, fragment):
    names = {"land": land_store, "tiny": tiny_store, "missing": tmp_path / "missing.h5"}
    args = [a.format(**{k: str(v) for k, v in names.items()}) for a in args]
    out = tmp_path / "f.png"
    assert cli("figure", *args, "-o", out) == code
    err = capsys.readouterr().err.strip()
    if code == 2:  # a usage error: Click's usage line and its one "Error:" line
        assert "Error: " in err and fragment in err and "Traceback" not in err
    else:
        assert err.startswith("error: ") and fragment in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_bad_output_suffix(land_store, tmp_path, capsys):
    assert cli("figure", "landscape", land_store, "-o", tmp_path / "f.jpg") == 4
    assert "must end in .png, .svg, .pdf" in capsys.readouterr().err


def test_command_registration_imports_nothing_heavy():
    import subprocess
    import sys

    code = ("import sys, xrdtui.cli.main as m, xrdtui.figures; m._register_commands(); "
            "print(sorted(k for k in ('torch', 'matplotlib', 'pymatgen', 'h5py') if k in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
