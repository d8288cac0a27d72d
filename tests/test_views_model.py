"""View models of the TUI (pure numpy): tree counts, filters, loss bands, pivots, Figure-1 series,
heatmap resampling and landscape cycling, checked against hand-built cases and the store reader."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from xrdtui.store.records import LandscapeMinimum, LandscapeRecord, MatchRow, TaskRow
from xrdtui.views import fmt, model


def row(structure="U2Ti", noise="lattice", level=0.05, method="cosine", mode="free", status="done", k=3, n=4):
    from xrdtui.store.layout import task_id

    return TaskRow(task_id(structure, noise, level, method, mode), structure, noise, level, method, mode, status,
                   n if status == "done" else 0, k if status == "done" else 0, float("nan"), float("nan"),
                   float("nan"), 1.0, 100.0 if status in ("done", "failed") else float("nan"))


ROWS = [
    row(),
    row(mode="projected", k=4),
    row(level=0.1, k=1),
    row(level=0.1, mode="projected", status="failed"),
    row(noise="coords", status="running"),
    row(structure="Au2S", status="pending"),
    row(structure="Au2S", method="mse", k=2),
]


def test_tree_groups_in_store_order_with_counts():
    root = model.build_tree(ROWS)
    assert list(root.children) == ["U2Ti", "Au2S"]
    u = root.children["U2Ti"]
    assert list(u.children) == ["lattice", "coords"]
    c = u.counts()
    assert (c.total, c.done, c.failed, c.running, c.pending) == (5, 3, 1, 1, 0)
    assert c.state == "running"
    lat = u.children["lattice"]
    assert [n.label for n in lat.children.values()] == ["0.050", "0.100"]
    leaf = lat.children[0.1].children["cosine"].children["projected"]
    assert leaf.is_leaf and leaf.task_id == "U2Ti/lattice/0.100/cosine/projected"
    assert leaf.counts().state == "failed"
    assert leaf.path == "U2Ti/lattice/0.100/cosine/projected"
    assert root.children["Au2S"].counts().state == "partial"
    assert lat.last_finished() == 100.0
    assert len(list(root.walk())) == 1 + 2 + 3 + 4 + 5 + 7  # root, structures, noises, levels, methods, modes


def test_filter_needs_every_word():
    assert {r.task_id for r in model.filter_rows(ROWS, "u2ti PROJ")} == {
        "U2Ti/lattice/0.050/cosine/projected", "U2Ti/lattice/0.100/cosine/projected"}
    assert [r.status for r in model.filter_rows(ROWS, "failed")] == ["failed"]
    assert model.filter_rows(ROWS, "  ") == ROWS
    assert model.filter_rows(ROWS, "0.100 mse") == []


def test_pivot_pools_k_and_n_of_finished_tasks():
    pv = model.pivot(ROWS)
    assert pv.row_keys == [("lattice", 0.05), ("lattice", 0.1), ("coords", 0.05)]
    assert pv.col_keys == [("cosine", "free"), ("cosine", "projected"), ("mse", "free")]
    cell = pv.cells[(("lattice", 0.05), ("cosine", "free"))]
    # U2Ti (3/4) pooled with Au2S (pending: not counted)
    assert (cell.k, cell.n, cell.counts.total, cell.counts.pending) == (3, 4, 2, 1)
    assert cell.rate == 0.75
    assert math.isnan(pv.cells[(("coords", 0.05), ("cosine", "free"))].rate)
    assert (("coords", 0.05), ("mse", "free")) not in pv.cells


def test_forward_fill_keeps_last_value_of_stopped_members():
    nan = np.nan
    loss = np.array([[1.0, nan, 5.0], [0.5, nan, nan], [nan, nan, nan], [nan, nan, 2.0]])
    out = model.forward_fill(loss)
    expected = np.array([[1.0, nan, 5.0], [0.5, nan, 5.0], [0.5, nan, 5.0], [0.5, nan, 2.0]])
    np.testing.assert_array_equal(out, expected)
    assert np.isnan(loss[2, 0])  # input untouched


def test_loss_band_matches_percentiles_of_filled_members():
    rng = np.random.default_rng(1)
    loss = rng.random((30, 9))
    for m, stop in enumerate([29, 10, 5, 29, 20, 3, 29, 29, 15]):
        loss[stop + 1:, m] = np.nan
    loss[:, 4] = np.nan  # a member that failed at once
    band = model.loss_band(loss)
    assert band.n == 8 and len(band.steps) == 30
    for t in (0, 4, 12, 29):
        vals = []
        for m in range(9):
            col = loss[: t + 1, m]
            fin = col[np.isfinite(col)]
            if fin.size:
                vals.append(fin[-1])
        assert band.lo[t] == pytest.approx(np.percentile(vals, 10))
        assert band.mid[t] == pytest.approx(np.median(vals))
        assert band.hi[t] == pytest.approx(np.percentile(vals, 90))
    assert model.loss_band(np.full((4, 3), np.nan)) is None
    assert model.loss_band(None) is None


def test_loss_band_trims_rows_after_the_last_finite_value():
    loss = np.full((10, 2), np.nan)
    loss[:4] = [[3.0, 2.0]] * 4
    assert len(model.loss_band(loss).steps) == 4


def mrow(noise, level, method, mode, k, n):
    return MatchRow((noise, level, method, mode), k, n, k / n if n else float("nan"), 0.1, 0.9, 2)


def test_figure1_series_per_method_and_mode_sorted_by_level():
    rows = [mrow("lattice", 0.1, "cosine", "free", 1, 4), mrow("lattice", 0.05, "cosine", "free", 3, 4),
            mrow("coords", 0.05, "cosine", "free", 2, 4), mrow("lattice", 0.05, "mse", "free", 0, 0)]
    series = model.figure1_series(rows, "lattice")
    assert [s.label for s in series] == ["cosine/free"]  # mse has no judged member
    np.testing.assert_array_equal(series[0].x, [0.05, 0.1])
    np.testing.assert_array_equal(series[0].y, [0.75, 0.25])


def test_sort_match_rows_by_rate_puts_nan_last():
    rows = [mrow("l", 0.1, "a", "f", 1, 4), mrow("l", 0.2, "a", "f", 0, 0), mrow("l", 0.3, "a", "f", 3, 4)]
    fields = ("noise", "level", "method", "mode")
    out = model.sort_match_rows(rows, "rate", True, fields, {})
    assert [m.key[1] for m in out] == [0.3, 0.1, 0.2]
    out = model.sort_match_rows(rows, "rate", False, fields, {})
    assert [m.key[1] for m in out] == [0.1, 0.3, 0.2]
    out = model.sort_match_rows(rows, "level", True, fields, model.field_order([]))
    assert [m.key[1] for m in out] == [0.3, 0.2, 0.1]


def record(n1=5, n2=4):
    a1 = np.linspace(4.0, 5.0, n1)
    a2 = np.linspace(2.0, 3.0, n2)
    grid = np.add.outer(np.arange(n1) * 100.0, np.arange(n2))
    return LandscapeRecord("U2Ti", "cosine", "a", "c", a1, a2, "Å", "Å", grid, np.array([4.5, 4.5, 2.5, 90, 90, 120.0]),
                           [LandscapeMinimum(0, 2, 1, a1[2], a2[1], 201.0, 1.0)], np.zeros((1, 3)), np.arange(3.0))


def test_grid_to_image_puts_axis1_right_and_axis2_up():
    rec = record()
    img = model.grid_to_image(rec.grid, 5, 4)
    assert img.shape == (4, 5)
    assert img[0, 0] == rec.grid[0, 3]  # top-left: smallest axis1, largest axis2
    assert img[3, 4] == rec.grid[4, 0]  # bottom-right: largest axis1, smallest axis2
    for i in range(5):
        for j in range(4):
            c, r = model.point_to_pixel(rec, rec.axis1[i], rec.axis2[j], 5, 4)
            assert img[r, c] == rec.grid[i, j]
    assert model.point_to_pixel(rec, 3.9, 2.5, 5, 4) is None
    # twice the resolution: still the same grid value under each grid point
    img2 = model.grid_to_image(rec.grid, 10, 8)
    c, r = model.point_to_pixel(rec, rec.axis1[3], rec.axis2[2], 10, 8)
    assert img2[r, c] == rec.grid[3, 2]


def test_normalise_clips_to_percentiles():
    img = np.array([[0.0, 1.0], [2.0, np.nan]])
    out, lo, hi = model.normalise(img, 0, 100)
    assert (lo, hi) == (0.0, 2.0)
    np.testing.assert_array_equal(out[0], [0.0, 0.5])
    assert np.isnan(out[1, 1])


def test_cycle_landscape_changes_one_part():
    keys = ["U2Ti/cosine/a-c", "U2Ti/mse/a-c", "U2Ti/cosine/a-b", "Au2S/cosine/a-c"]
    assert model.cycle_landscape(keys, keys[0], "objective") == "U2Ti/mse/a-c"
    assert model.cycle_landscape(keys, "U2Ti/mse/a-c", "objective") == "U2Ti/cosine/a-c"
    assert model.cycle_landscape(keys, keys[0], "pair") == "U2Ti/cosine/a-b"
    assert model.cycle_landscape(keys, keys[0], "structure") == "Au2S/cosine/a-c"
    assert model.cycle_landscape(keys, "U2Ti/mse/a-c", "pair") == "U2Ti/cosine/a-b"  # no mse a-b: keep structure
    assert model.cycle_landscape(keys, "gone", "pair") == keys[0]


def test_sample_pattern_equals_striding_on_a_sub_axis():
    x = np.arange(9000) * 0.01
    y = np.sin(x) ** 2
    axis = x[::10]
    np.testing.assert_allclose(model.sample_pattern(x, y, axis), y[::10])


@pytest.mark.parametrize("seconds,text", [(0.29, "0.3s"), (5, "5.0s"), (12.4, "12s"), (125, "2m05s"), (3725, "1h02m"),
                                          (90000, "1d01h"), (float("nan"), "—")])
def test_fmt_duration(seconds, text):
    assert fmt.fmt_duration(seconds) == text


def test_fmt_rate_and_iso(monkeypatch):
    assert fmt.fmt_rate(0.5, 0.2, 0.8) == "0.50 [0.20,0.80]"
    assert fmt.fmt_rate(float("nan")) == "—"
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    try:  # stored UTC stamps are shown in local time, like every other time on screen
        assert fmt.fmt_iso("2023-11-14T22:13:20+00:00") == "2023-11-14 23:13"
        assert fmt.fmt_time(1_700_000_000) == "2023-11-14 23:13"
    finally:
        monkeypatch.undo()
        time.tzset()
