"""The TUI on the store of a tiny but real sweep (the shared ``tiny_store`` fixture: engine, CHGNet,
StructureMatcher): every screen shows the reader's values for real results."""

from __future__ import annotations

import numpy as np
import pytest
from textual.widgets import DataTable, Static, Tree

from tests.test_views_app import cell, plain, settle, sync
from xrdtui.store.layout import format_level
from xrdtui.store.reader import StoreReader
from xrdtui.views.app import XrdtuiApp
from xrdtui.views.screens.detail import DetailScreen
from xrdtui.views.widgets.charts import PatternChart

TASK = "U2Ti/lattice/0.030/cosine/free"


@sync
async def test_screens_show_a_real_sweep(tiny_store):
    with StoreReader.open(tiny_store) as r:
        prog = r.progress()
        by_structure = {m.key[0]: m for m in r.match_table(group_by=("structure",))}
        pooled = {m.key: m for m in r.match_table(group_by=("noise", "level", "method", "mode"))}
        table4 = r.match_table(group_by=("method", "mode", "noise", "level"))
        rec = r.task(TASK)
        truth = r.structures()["U2Ti"]
    app = XrdtuiApp(tiny_store, refresh_s=3600.0, scan_s=3600.0)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        # runs browser
        campaigns = app.screen.query_one("#campaigns", DataTable)
        assert cell(campaigns, str(tiny_store), "tasks") == f"{prog.done}/{prog.total}"
        assert cell(campaigns, str(tiny_store), "state") == "finished"
        tree = app.screen.query_one("#tree", Tree)
        for node in tree.root.children:
            name = node.label.plain.split()[0]
            m = by_structure[name]
            assert f"{m.rate:.2f} [{m.lo:.2f},{m.hi:.2f}]" in node.label.plain
        # run detail of one task
        app.push_screen(DetailScreen(app.store, TASK))
        await settle(pilot)
        members = app.screen.query_one("#members", DataTable)
        assert members.row_count == rec.info.n_members
        for b in range(rec.info.n_members):
            assert cell(members, str(b), "ok") == ("✓" if rec.result.matched[b] else "✗")
            assert cell(members, str(b), "steps") == str(int(rec.result.n_steps[b]))
        head = plain(app.screen.query_one("#detail-head", Static))
        assert f"matched {rec.result.k}/{rec.result.n}" in head and truth.spacegroup_symbol in head
        lattice = app.screen.query_one("#lattice-table", DataTable)
        rows = [lattice.get_row_at(i) for i in range(6)]
        np.testing.assert_allclose([float(x[1]) for x in rows], truth.lattice, atol=5e-3)
        np.testing.assert_allclose([float(x[3]) for x in rows], rec.result.final_lattice[0], atol=5e-3)
        chart = app.screen.query_one("#xrd-chart", PatternChart)
        assert [t[0] for t in chart._signature[1]] == ["ground truth", "distorted", "final"]
        await pilot.press("escape")
        # monitor of a finished campaign: the pooled rates
        await pilot.press("m")
        await settle(pilot)
        assert "finished" in plain(app.screen.query_one("#summary", Static))
        pivot = app.screen.query_one("#pivot", DataTable)
        for (noise, level, method, mode), m in pooled.items():
            assert cell(pivot, f"{noise}/{format_level(level)}", f"{method}/{mode}") == f"{m.rate:.2f}/{m.rate_s:.2f}"  # paper/strict
        # match table
        await pilot.press("t")
        await settle(pilot)
        table = app.screen.query_one("#matches", DataTable)
        assert table.row_count == len(table4)
        shown = sorted(float(table.get_row_at(i)[5]) for i in range(table.row_count))
        assert shown == pytest.approx(sorted(round(m.rate, 3) for m in table4), abs=5e-4)
