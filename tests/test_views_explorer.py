"""The landscape explorer driven with Textual's Pilot: slices checked against the engine's own landscape
function on the same grid (``engine.landscape.landscape_grid``), the pattern at the cursor against a
pattern simulated independently from a pymatgen Structure built at the cursor's lattice, descent paths,
cancellation of a superseded slice, one-line errors, saving in the layout ``xrdtui landscape`` writes,
and a snapshot at 80x24. Grids are small (21-41 points) so the whole module stays quick; the timing
measurements of the issue (first picture of 101x101, frame gaps while computing) are ``slow``."""

from __future__ import annotations

import statistics
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from textual.widgets import Static

from tests.test_views_app import plain, sync
from xrdtui.engine.landscape import landscape_grid
from xrdtui.engine.simulator import PatternSettings, reference_pattern
from xrdtui.engine.structures import benchmark_structure, lattice_params, with_params
from xrdtui.views import explore_worker as ew
from xrdtui.views.app import XrdtuiApp
from xrdtui.views.screens.base import Banner
from xrdtui.views.screens.explorer import ExplorerScreen
from xrdtui.views.widgets.charts import PatternChart
from xrdtui.views.widgets.cursor_heatmap import CursorHeatmap

SIZE = (100, 30)


async def until(pilot, condition, timeout: float = 120.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


def explorer_app(folder: Path, **request) -> XrdtuiApp:
    """The app opened straight on the explorer (as ``xrdtui explore``) with the given Choice fields."""
    app = XrdtuiApp(folder, refresh_s=3600.0, scan_s=3600.0, explore=request.get("structure", "U2Ti"))
    app.explore_request = request
    return app


async def complete(pilot) -> ExplorerScreen:
    await until(pilot, lambda: isinstance(pilot.app.screen, ExplorerScreen), what="the explorer")
    screen = pilot.app.screen
    await until(pilot, lambda: screen.update is not None and screen.update.complete and screen.probe is not None,
                what="a complete slice")
    return screen


@pytest.fixture(scope="module")
def u2ti():
    return benchmark_structure("U2Ti")


@sync
async def test_u2ti_slice_is_the_engine_landscape_with_its_deepest_point_at_the_truth(tmp_path, u2ti):
    app = explorer_app(tmp_path, structure="U2Ti", p1="a", p2="c", points=41)
    async with app.run_test(size=SIZE) as pilot:
        screen = await complete(pilot)
        values = screen.update.values
        land = landscape_grid(u2ti, ("a", "c"), "cosine", span=0.15, resolution=41, n_patterns=0)
        np.testing.assert_array_equal(values, land.values)  # same cells, same simulator, same loss
        np.testing.assert_array_equal(screen.slice.x, land.x)
        i, j = np.unravel_index(np.argmin(values), values.shape)
        truth = lattice_params(u2ti)
        assert screen.slice.x[i] == pytest.approx(truth[0], abs=1e-9)  # the deepest point is the truth
        assert screen.slice.y[j] == pytest.approx(truth[2], abs=1e-9)
        assert values[i, j] == pytest.approx(-1.0, abs=1e-6)  # -cos of the truth's pattern with itself
        assert [m.index for m in screen.update.minima] == [m.index for m in land.minima]
        assert screen.update.minima[0].index == (i, j)
        heat = screen.query_one(CursorHeatmap)
        heat.render_line(0)
        assert heat.truth_under == 1  # minimum 1 is drawn over the truth
        rows = plain(screen.query_one("#ex-minima", Static)).splitlines()
        assert rows[2].split()[0] == "1" and rows[2].split()[-1] == "0.0"  # minimum 1: 0.0 % from the truth
        assert "U2Ti" in plain(screen.query_one("#ex-head", Static))


@sync
async def test_moving_the_cursor_changes_the_overlay_to_the_pattern_there(tmp_path, u2ti):
    app = explorer_app(tmp_path, structure="U2Ti", points=21)
    async with app.run_test(size=SIZE) as pilot:
        screen = await complete(pilot)
        chart = screen.query_one(PatternChart)
        before, signature = screen.probe, chart._signature
        assert (before.i, before.j) == (10, 10)  # the cursor starts at the truth
        await pilot.press("shift+right", "shift+right", "shift+down")
        await until(pilot, lambda: screen.probe is not None and (screen.probe.i, screen.probe.j) == (12, 9),
                    what="the probe at the new cursor")
        after = screen.probe
        assert chart._signature != signature
        sl = screen.slice
        # an independent pattern: a pymatgen Structure at the cursor's lattice, simulated from scratch
        cell = lattice_params(u2ti)
        cell[0], cell[2] = sl.x[12], sl.y[9]  # an untied slice: b and the angles stay at the truth
        np.testing.assert_allclose(after.lattice, cell, rtol=0, atol=1e-12)
        independent = reference_pattern(with_params(u2ti, cell))
        np.testing.assert_allclose(after.pattern, independent, atol=2e-4)
        assert np.abs(after.pattern - before.pattern).max() > 0.1  # the peaks moved
        target = reference_pattern(u2ti)
        cosine = float(independent @ target / np.linalg.norm(independent) / np.linalg.norm(target))
        assert after.value == pytest.approx(-cosine, abs=2e-5)
        assert after.value == screen.update.values[12, 9]
        text = plain(screen.query_one("#ex-cursor", Static))
        assert f"a {sl.x[12]:.5g} Å" in text and f"c {sl.y[9]:.5g} Å" in text
        # a click on the map moves the cursor to the grid point drawn there
        heat = screen.query_one(CursorHeatmap)
        hit = heat.grid_index_at(heat.map_size[0] // 2 + 9, 0)
        assert hit is not None and hit[1] == 20  # the top text row holds the largest c
        screen.move_cursor(*hit)
        await until(pilot, lambda: (screen.probe.i, screen.probe.j) == hit, what="the clicked cursor")


@sync
async def test_descent_from_a_marked_minimum_stays_there(tmp_path):
    app = explorer_app(tmp_path, structure="U2Ti", points=41)
    async with app.run_test(size=SIZE) as pilot:
        screen = await complete(pilot)
        screen.path_steps = 60
        await pilot.press("1")
        minimum = screen.update.minima[0]
        assert screen.cursor == minimum.index
        await pilot.press("d")
        await until(pilot, lambda: len(screen.paths) == 3, what="three descent paths")
        step = (screen.slice.x[1] - screen.slice.x[0], screen.slice.y[1] - screen.slice.y[0])
        assert [p.mode for p in screen.paths] == ["free", "free-from-projected-init", "projected"]
        for path in screen.paths:
            end = np.asarray(path.points)[-1]
            assert abs(end[0] - minimum.coords[0]) < step[0] and abs(end[1] - minimum.coords[1]) < step[1], path.mode
            # at the bottom of the truth's basin (the next minimum lies at -0.75)
            assert path.final_loss == pytest.approx(minimum.value, abs=1e-3)
        assert len(screen.query_one(CursorHeatmap).record.paths) == 3
        assert "proj" in plain(screen.query_one("#ex-paths", Static))


@sync
async def test_a_new_choice_cancels_the_old_slice_and_no_stale_rows_land(tmp_path, u2ti):
    app = explorer_app(tmp_path, structure="U2Ti", points=101)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ExplorerScreen), what="the explorer")
        screen = app.screen
        await until(pilot, lambda: screen.update is not None, what="the first pass")
        old = screen.gen
        assert not screen.update.complete and screen.update.values.shape == (101, 101)
        screen.set_choice(replace(screen.choice, p2="b", points=21))
        assert screen.update is None  # the old picture is gone at once
        new = await complete(pilot)
        assert new.gen == old + 1
        old_workers = [w for w in app.workers if w.group == "slice"]
        assert all(w.is_cancelled or w.is_finished for w in old_workers)
        assert screen.evaluated[old] < 101 * 101  # the old worker stopped between chunks
        land = landscape_grid(u2ti, ("a", "b"), "cosine", span=0.15, resolution=21, n_patterns=0)
        np.testing.assert_array_equal(screen.update.values, land.values)
        assert screen.query_one(CursorHeatmap).record.grid.shape == (21, 21)
        await pilot.pause(0.3)
        assert screen.update.values.shape == (21, 21)  # nothing of the old slice arrived later


@sync
async def test_leaving_the_explorer_stops_its_slice_and_coming_back_finishes_it(tmp_path, u2ti):
    app = explorer_app(tmp_path, structure="U2Ti", p1="a", p2="c", points=101)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ExplorerScreen), what="the explorer")
        screen = app.screen
        await until(pilot, lambda: screen.update is not None, what="the first pass")
        assert not screen.update.complete
        gen = screen.gen
        await pilot.press("b")  # to the runs browser
        await until(pilot, lambda: not isinstance(app.screen, ExplorerScreen), what="another screen")
        slices = [w for w in app.workers if w.group == "slice"]
        await until(pilot, lambda: all(w.is_cancelled or w.is_finished for w in slices), timeout=30,
                    what="the slice worker to stop")
        assert screen.evaluated[gen] < 101 * 101
        await pilot.press("L")
        back = await complete(pilot)
        assert back is screen and screen.gen == gen + 1 and screen.update.values.shape == (101, 101)
        assert np.isfinite(screen.update.values).all()


@sync
async def test_tie_and_peak_width_toggles_show_the_engine_landscapes(tmp_path, u2ti):
    app = explorer_app(tmp_path, structure="U2Ti", p1="a", p2="c", points=41)
    async with app.run_test(size=SIZE) as pilot:
        screen = await complete(pilot)
        narrow_minima = len(screen.update.minima)
        await pilot.press("f")
        screen = await complete(pilot)
        assert screen.choice.tied
        tied = landscape_grid(u2ti, ("a", "c"), "cosine", span=0.15, resolution=41, tied=True, n_patterns=0)
        np.testing.assert_array_equal(screen.update.values, tied.values)
        await pilot.press("shift+right")
        await until(pilot, lambda: screen.probe.i == 21, what="the probe beside the truth")
        assert f"tied   b {screen.slice.x[21]:.4f}" in plain(screen.query_one("#ex-cursor", Static))  # b follows a
        await pilot.press("f")
        for _ in range(4):  # W 0.1 (the paper's) -> 0.3 -> 1 -> 3 -> 10
            await pilot.press("w")
            screen = await complete(pilot)
        assert screen.choice.width == 10.0
        broad = landscape_grid(u2ti, ("a", "c"), "cosine", span=0.15, resolution=41, n_patterns=0,
                               settings=replace(PatternSettings(), W=10.0))
        np.testing.assert_array_equal(screen.update.values, broad.values)
        assert len(screen.update.minima) < narrow_minima  # broad peaks smooth the landscape
        assert "W 10°²" in plain(screen.query_one("#ex-head", Static))


@sync
async def test_an_unreadable_cif_path_is_one_line_in_the_banner(tmp_path):
    bad = tmp_path / "broken.cif"
    bad.write_text("data_x\n_cell_length_a not-a-number\nloop_\n_atom_site_label\n")
    app = explorer_app(tmp_path, structure=str(bad), points=21)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ExplorerScreen), what="the explorer")
        banner = app.screen.query_one(Banner)
        await until(pilot, lambda: "-shown" in banner.classes, what="the banner")
        text = plain(banner)
        assert "\n" not in text and "Traceback" not in text
        assert text.startswith("broken.cif: ") and "CIF" in text
        app.screen.set_choice(replace(app.screen.choice, structure=str(tmp_path / "missing.cif")))
        await until(pilot, lambda: "neither a named structure" in plain(banner), what="the second error")
        assert "\n" not in plain(banner)
        assert app.is_running


@sync
async def test_saved_slice_is_what_xrdtui_landscape_stores(tmp_path, u2ti):
    from xrdtui.jobs.landscapes import SliceRequest, compute_slice
    from xrdtui.store.reader import StoreReader

    app = explorer_app(tmp_path, structure="U2Ti", p1="a", p2="c", points=21)
    async with app.run_test(size=SIZE) as pilot:
        screen = await complete(pilot)
        await pilot.press("ctrl+s")
        store = tmp_path / "landscapes.h5"
        await until(pilot, lambda: store.exists() and not any(w.group == "save" and not w.is_finished
                                                               for w in app.workers), what="the saved store")
        with StoreReader.open(store) as reader:
            assert reader.landscapes() == ["U2Ti/cosine/a-c"]
            saved = reader.landscape("U2Ti/cosine/a-c")
        await pilot.press("ctrl+s")
        banner = screen.query_one(Banner)
        await until(pilot, lambda: "already holds U2Ti/cosine/a-c" in plain(banner), what="the replace question")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: screen.replace_key is None, what="the replacing save")
    truth = lattice_params(u2ti)
    req = SliceRequest("a", "c", (truth[0] * 0.85, truth[0] * 1.15), (truth[2] * 0.85, truth[2] * 1.15), (21, 21))
    cli = compute_slice(u2ti, "U2Ti", req, "cosine", n_minima=5, starts=[], steps=300, tied=False, extra_attrs={})
    np.testing.assert_array_equal(saved.grid, cli.grid)
    np.testing.assert_array_equal(saved.axis1, cli.axis1)
    assert saved.minima == cli.minima
    np.testing.assert_allclose(saved.minima_patterns, cli.minima_patterns, atol=1e-6)
    assert set(cli.attrs) <= set(saved.attrs)
    assert {k: saved.attrs[k] for k in ("points1", "tied", "family", "objective_unit")} == \
        {k: cli.attrs[k] for k in ("points1", "tied", "family", "objective_unit")}
    assert saved.attrs["pattern_W"] == PatternSettings().W


def test_progressive_passes_fill_every_point_once_and_the_coarse_picture_is_nearest():
    assert ew.pass_strides(101, 101, 26) == (4, 2, 1)
    assert ew.pass_strides(41, 41, 26) == (1,)
    rows = ew.axis_indices(11, 4)
    assert rows.tolist() == [0, 4, 8, 10]
    grid = np.arange(11 * 11, dtype=float).reshape(11, 11)
    filled = ew.nearest_fill(grid, rows, rows)
    for i in range(11):
        for j in range(11):
            ni = min(rows, key=lambda r: (abs(r - i), r))
            nj = min(rows, key=lambda r: (abs(r - j), r))
            assert filled[i, j] == grid[ni, nj]
    top_x, top_y = ew.peak_envelope(np.arange(10.0), np.array([0, 1, 0, 0, 5, 0, 0, 0, 2, 0.0]), bins=3)
    assert top_y.tolist() == [1.0, 5.0, 2.0] and top_x.tolist() == pytest.approx([1.5, 4.5, 7.5])


def test_choice_dialog_parses_and_refuses_in_one_line():
    from xrdtui.errors import ConfigError
    from xrdtui.views.screens.explore_choice import parse_choice

    values = {"structure": "Au2S", "params": "c,a", "objective": "mse", "span": "0.1", "range1": "2,3",
              "range2": "", "points": "61"}
    choice = parse_choice(values, ew.Choice(tied=True), ["cosine", "mse"])
    assert (choice.p1, choice.p2, choice.range1, choice.range2) == ("a", "c", None, (2.0, 3.0))  # ranges follow
    assert (choice.objective, choice.points, choice.tied, choice.span) == ("mse", 61, True, 0.1)
    for key, bad, words in (("params", "a,a", "two different"), ("points", "1", "2..2001"),
                            ("range1", "3,2", "need lo < hi"), ("objective", "nope", "unknown objective")):
        with pytest.raises(ConfigError) as err:
            parse_choice({**values, key: bad}, ew.Choice(), ["cosine", "mse"])
        assert words in str(err.value) and "\n" not in str(err.value)


def test_xrdtui_explore_refuses_an_unknown_structure_and_needs_a_terminal(tmp_path, capsys):
    from xrdtui.cli.main import main

    def cli(*args) -> int:
        with pytest.raises(SystemExit) as exc:
            main([str(a) for a in args])
        return exc.value.code

    assert cli("explore", tmp_path / "nothing.cif", "--store", tmp_path) == 3
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "neither a named structure" in err
    assert cli("explore", "u2ti", "--store", tmp_path) == 1  # pytest's stdin is no terminal
    assert "no terminal attached" in capsys.readouterr().err


@sync
async def test_the_landscape_screen_opens_its_slice_in_the_explorer(tmp_path):
    from tests.test_views_support import landscape
    from xrdtui.store.writer import append_landscape

    store = tmp_path / "land.h5"
    append_landscape(store, landscape("U2Ti", "cosine", "a", "c", n=21))  # a synthetic bowl: ±10 %, 21 points
    app = XrdtuiApp(store, refresh_s=3600.0, scan_s=3600.0)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("l")
        await until(pilot, lambda: getattr(app.screen, "_record", None) is not None, what="the stored slice")
        rec = app.screen._record
        await pilot.press("e")
        screen = await complete(pilot)
        c = screen.choice
        assert (c.structure, c.p1, c.p2, c.objective, c.points) == ("U2Ti", "a", "c", "cosine", 21)
        assert c.range1 == (rec.axis1.min(), rec.axis1.max()) and c.range2 == (rec.axis2.min(), rec.axis2.max())
        np.testing.assert_array_equal(screen.slice.x, rec.axis1)  # the stored axes, now the real U2Ti loss on them


def test_explorer_snapshot_80x24(snap_compare, tmp_path, monkeypatch):
    class FrozenClock:  # the timings the explorer prints (grid seconds) would change every run
        @staticmethod
        def perf_counter() -> float:
            return 0.0

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(ew, "time", FrozenClock)
    app = explorer_app(Path("store"), structure="U2Ti", points=41)

    async def run_before(pilot) -> None:
        screen = await complete(pilot)
        await pilot.press("right", "right", "up")
        await until(pilot, lambda: screen.probe is not None and screen.probe.i != 20, what="the moved cursor")
        await pilot.pause(0.2)
        pilot.app.set_focus(None)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


# --------------------------------------------------------------------------- timings of the issue (slow)


@pytest.mark.slow
@sync
async def test_first_101x101_picture_within_2_s_and_frames_while_computing(tmp_path):
    """Measured, not modelled: seconds from asking for the 101x101 U2Ti cosine slice to its first picture
    (engine already imported, as after the first slice of a session), and the gaps between the ticks of a
    60 Hz timer on the UI thread while it computes."""
    ew.prepare(ew.Choice(points=5))  # imports torch and pymatgen: the cost of the session's first slice
    app = explorer_app(tmp_path, structure="U2Ti", points=101)
    ticks: list[float] = []
    async with app.run_test(size=(120, 40)) as pilot:
        app.set_interval(1 / 60, lambda: ticks.append(time.perf_counter()))
        screen = await complete(pilot)
        first = screen.first_visible_s[screen.gen]
        gaps = np.diff(ticks) * 1000
        print(f"first picture {first:.2f} s; grid {screen.update.elapsed:.1f} s; frame gaps median "
              f"{statistics.median(gaps):.1f} ms, p95 {np.percentile(gaps, 95):.1f} ms, max {gaps.max():.0f} ms")
        assert first <= 2.0
        assert np.percentile(gaps, 95) < 250
