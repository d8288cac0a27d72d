"""The live monitor follows a sweep that another process is writing (SWMR), as ``xrdtui watch`` does."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from textual.widgets import DataTable, Static

from tests.test_views_app import plain, settle, sync
from xrdtui.store.reader import StoreReader
from xrdtui.views.app import XrdtuiApp

ROOT = Path(__file__).resolve().parents[1]


def start_writer(path: Path, delay: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "tests.test_views_support", str(path), str(delay)], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "created"
    return proc


@sync
async def test_watch_follows_a_live_writer(tmp_path):
    folder = tmp_path / "store"
    folder.mkdir()
    writer = start_writer(folder / "live.h5", delay=0.15)
    try:
        app = XrdtuiApp(folder, watch=True, refresh_s=0.25)
        seen_done: list[int] = []
        seen_running: set[str] = set()
        curves_drawn = 0
        async with app.run_test(size=(100, 30)) as pilot:
            deadline = time.time() + 60
            while time.time() < deadline:
                await pilot.pause(0.2)
                if app.screen.query("#summary") and app.store is not None:
                    summary = plain(app.screen.query_one("#summary", Static))
                    if "/20 done" in summary:
                        seen_done.append(int(summary.split("/20 done")[0].split()[-1]))
                    table = app.screen.query_one("#running", DataTable)
                    seen_running |= {str(k.value) for k in table.rows}
                    chart = app.screen.query_one("#live-loss")
                    curves_drawn += "running" in str(chart._signature)
                    if "finished" in summary:
                        break
            await settle(pilot)
            assert app.store == folder / "live.h5"
            summary = plain(app.screen.query_one("#summary", Static))
            assert "finished" in summary and "19/20 done · 1 failed" in summary
            pivot = app.screen.query_one("#pivot", DataTable)
            with StoreReader.open(folder / "live.h5") as r:
                m = {x.key: x for x in r.match_table(group_by=("noise", "level", "method", "mode"))}
                failures = r.failures()
            got = pivot.get_cell("coords/0.080", "cosine/projected").plain
            cell_rates = m[("coords", 0.08, "cosine", "projected")]
            assert got == f"{cell_rates.rate:.2f}/{cell_rates.rate_s:.2f}"  # paper/strict
            assert app.screen.query_one("#failure-table", DataTable).row_count == len(failures)
            assert any(f.member == -1 and "live synthetic failure" in f.reason for f in failures)
        # it was followed live: counts rose in several steps, running tasks and their curves were shown
        assert len(set(seen_done)) >= 4 and seen_done == sorted(seen_done)
        assert len(seen_running) >= 3 and curves_drawn >= 3
    finally:
        writer.kill()
        writer.wait()
