"""The TUI driven with Textual's Pilot on small synthetic stores: what each screen shows is checked
against the store reader (values, rows, selection), and unreadable stores must show a message."""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from textual.widgets import DataTable, Input, Static, TabbedContent, Tree

from tests.test_views_support import add_landscapes, make_store
from xrdtui.store.reader import StoreReader
from xrdtui.views.app import XrdtuiApp
from xrdtui.views.screens.base import Banner
from xrdtui.views.screens.detail import DetailScreen
from xrdtui.views.screens.help import HelpScreen
from xrdtui.views.widgets.heatmap import Heatmap

SIZE = (100, 30)


def sync(fn):
    """Run an async test with asyncio (no pytest async plugin is installed)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return asyncio.run(fn(*args, **kwargs))

    return wrapper


def plain(widget) -> str:
    content = widget.content if isinstance(widget, Static) else widget.render()
    return content.plain if hasattr(content, "plain") else str(content)


def cell(table: DataTable, row_key: str, col_key: str) -> str:
    value = table.get_cell(row_key, col_key)
    return value.plain if hasattr(value, "plain") else str(value)


async def settle(pilot, calm_rounds: int = 2, timeout: float = 20.0) -> None:
    """Let chained thread workers (scan -> campaign -> rates) finish and their results land: done when
    no worker ran during ``calm_rounds`` consecutive short pauses (a loaded machine may take a while
    to start the next link of a chain)."""
    calm = 0
    deadline = time.monotonic() + timeout
    while calm < calm_rounds and time.monotonic() < deadline:
        busy = any(not w.is_finished for w in pilot.app.workers)
        await pilot.app.workers.wait_for_complete()
        await pilot.pause(0.05)
        calm = 0 if busy else calm + 1


def quiet_app(target: Path, **kw) -> XrdtuiApp:
    kw.setdefault("refresh_s", 3600.0)
    kw.setdefault("scan_s", 3600.0)
    return XrdtuiApp(target, **kw)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("views") / "store"
    path = make_store(folder / "demo.h5", running=2, finish=False)
    add_landscapes(path)
    return folder


@pytest.fixture(scope="module")
def demo(folder) -> Path:
    return folder / "demo.h5"


@sync
async def test_browser_lists_campaign_and_hierarchy(folder, demo):
    with StoreReader.open(demo) as r:
        rows = r.tasks()
        by_structure = {m.key[0]: m for m in r.match_table(group_by=("structure",))}
    app = quiet_app(folder)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.store == demo
        table = app.screen.query_one("#campaigns", DataTable)
        assert table.row_count == 1
        done = sum(r.status == "done" for r in rows)
        assert cell(table, str(demo), "tasks") == f"{done}/{len(rows)}"
        assert cell(table, str(demo), "state") == "stopped"  # closed unfinished with tasks left running
        tree = app.screen.query_one("#tree", Tree)
        labels = [n.label.plain for n in tree.root.children]
        assert labels[0].startswith("U2Ti  ") and labels[1].startswith("Au2S  ")
        u2ti = by_structure["U2Ti"]
        assert f"{u2ti.rate:.2f} [{u2ti.lo:.2f},{u2ti.hi:.2f}]" in labels[0]
        n_u2ti = sum(r.structure == "U2Ti" for r in rows)
        d_u2ti = sum(r.structure == "U2Ti" and r.status == "done" for r in rows)
        assert f"{d_u2ti}/{n_u2ti}" in labels[0]
        assert labels[2] == "landscapes (4)"


@sync
async def test_filter_and_open_a_task(folder, demo):
    app = quiet_app(folder)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        assert isinstance(app.focused, Input)
        await pilot.press(*"au2s mse", "enter")
        await pilot.pause(0.2)
        tree = app.screen.query_one("#tree", Tree)
        assert app.focused is tree
        leaves = []

        def walk(node):
            for child in node.children:
                if child.data is not None and getattr(child.data, "is_leaf", False):
                    leaves.append(child)
                walk(child)

        walk(tree.root)
        ids = [leaf.data.task_id for leaf in leaves]
        assert len(ids) == 8 and all(i.startswith("Au2S/") and "/mse/" in i for i in ids)
        leaves = [leaf for leaf in leaves if leaf.data.task_id == "Au2S/coords/0.080/mse/free"]
        tree.select_node(leaves[0])
        await pilot.pause(0.1)
        await settle(pilot)
        assert isinstance(app.screen, DetailScreen)
        with StoreReader.open(demo) as r:
            rec = r.task("Au2S/coords/0.080/mse/free")
            truth = r.structures()["Au2S"]
        members = app.screen.query_one("#members", DataTable)
        assert members.row_count == rec.info.n_members
        assert cell(members, "0", "steps") == str(int(rec.result.n_steps[0]))
        head = plain(app.screen.query_one("#detail-head", Static))
        assert f"matched {rec.result.k}/{rec.result.n}" in head
        await pilot.press("2", "down")
        await pilot.pause(0.1)
        lattice = app.screen.query_one("#lattice-table", DataTable)
        first, alpha = lattice.get_row_at(0), lattice.get_row_at(3)
        assert first[1] == f"{truth.lattice[0]:.3f}"
        assert first[2] == f"{rec.result.init_lattice[1][0]:.3f}"  # member 1 after "down"
        assert first[3] == f"{rec.result.final_lattice[1][0]:.3f}"
        assert alpha[0] == "α °" and alpha[3] == f"{rec.result.final_lattice[1][3]:.2f}"
        assert first[4].plain == f"{rec.result.final_lattice[1][0] - truth.lattice[0]:+.3f}"
        await pilot.press("escape")
        assert not isinstance(app.screen, DetailScreen)


@sync
async def test_monitor_shows_progress_running_rates_and_failures(demo):
    with StoreReader.open(demo) as r:
        prog = r.progress()
        failures = r.failures()
        table = {m.key: m for m in r.match_table(group_by=("noise", "level", "method", "mode"))}
        running = [t.task_id for t in r.tasks() if t.status == "running"]
    app = quiet_app(demo, watch=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        summary = plain(screen.query_one("#summary", Static))
        assert f"{prog.done}/{prog.total} done" in summary and "stopped" in summary
        run_table = screen.query_one("#running", DataTable)
        assert [str(k.value) for k in run_table.rows] == running
        assert cell(run_table, running[0], "step").endswith("/40")
        pivot = screen.query_one("#pivot", DataTable)
        m = table[("lattice", 0.02, "mse", "free")]
        assert cell(pivot, "lattice/0.020", "mse/free") == f"{m.rate:.2f}/{m.rate_s:.2f}"  # paper/strict
        # U2Ti's task is done, Au2S's still running: the pooled rate so far, dimmed until the cell is complete
        partial = table[("coords", 0.08, "chgnet", "relax")]
        assert cell(pivot, "coords/0.080", "chgnet/relax") == f"{partial.rate:.2f}/{partial.rate_s:.2f}"
        assert pivot.get_cell("coords/0.080", "chgnet/relax").style == "dim"
        assert pivot.get_cell("lattice/0.020", "mse/free").style == "bold"
        await pilot.press("3")
        assert screen.query_one("#monitor-tabs", TabbedContent).active == "failures"
        fails = screen.query_one("#failure-table", DataTable)
        assert fails.row_count == len(failures) > 0
        assert any("synthetic failure" in str(fails.get_row_at(i)[2]) for i in range(fails.row_count))
        failed_task = next(f for f in failures if f.member == -1)
        row = next(i for i in range(fails.row_count) if fails.get_row_at(i)[0] == failed_task.task_id)
        fails.focus()
        fails.move_cursor(row=row)
        await pilot.press("enter")  # a task that failed as a whole: its reason, no results
        await settle(pilot)
        assert isinstance(app.screen, DetailScreen) and app.screen.task_id == failed_task.task_id
        head = plain(app.screen.query_one("#detail-head", Static))
        assert "failed" in head and failed_task.reason in head
        assert app.screen.query_one("#members", DataTable).row_count == 0
        await pilot.press("escape", "1")
        run_table.focus()
        await pilot.press("enter")  # the highlighted running task: its streamed loss so far
        await settle(pilot)
        assert isinstance(app.screen, DetailScreen) and app.screen.task_id == running[0]
        assert "results appear when it finishes" in plain(app.screen.query_one("#detail-head", Static))


@sync
async def test_match_table_values_grouping_and_sorting(demo):
    with StoreReader.open(demo) as r:
        rows = r.match_table(group_by=("method", "mode", "noise", "level"))
        by_structure = r.match_table(group_by=("structure",))
    app = quiet_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("t")
        await settle(pilot)
        table = app.screen.query_one("#matches", DataTable)
        assert table.row_count == len(rows)
        best = max(rows, key=lambda m: m.rate if m.n else -1)
        top = table.get_row_at(0)
        assert float(top[5]) == pytest.approx(best.rate, abs=5e-4)
        await pilot.press("r")
        assert float(app.screen.query_one("#matches", DataTable).get_row_at(0)[5]) == pytest.approx(
            min(m.rate for m in rows if m.n), abs=5e-4)
        await pilot.press("g", "g")  # -> ("structure",)
        await settle(pilot)
        table = app.screen.query_one("#matches", DataTable)
        assert table.row_count == len(by_structure)
        got = {table.get_row_at(i)[0]: table.get_row_at(i)[1] for i in range(table.row_count)}
        assert got == {m.key[0]: f"{m.k}/{m.n}" for m in by_structure}
        await pilot.press("2")
        assert app.screen.query_one("#match-tabs", TabbedContent).active == "figure"


@sync
async def test_landscape_heatmap_and_switching(demo):
    with StoreReader.open(demo) as r:
        keys = r.landscapes()
        rec = r.landscape("U2Ti/cosine/a-c")
    app = quiet_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.landscape_key = "U2Ti/cosine/a-c"
        await pilot.press("l")
        await settle(pilot)
        head = plain(app.screen.query_one("#ls-head", Static))
        assert "objective cosine" in head and "a × c" in head and f"/{len(keys)} slices" in head
        minima = app.screen.query_one("#minima", DataTable)
        assert minima.row_count == len(rec.minima)
        assert minima.get_row_at(1)[1] == f"{rec.minima[1].p1:.4g}"
        heat = app.screen.query_one(Heatmap)
        art = heat.render().plain
        assert "1" in art and "2" in art and "·" in art and "o" in art  # minima, a path and its start
        assert heat.truth_under == 1  # the deepest minimum sits on the truth and is drawn over it
        assert "+ truth (under 1)" in plain(app.screen.query_one("#ls-legend", Static))
        await pilot.press("o")
        await settle(pilot)
        assert app.landscape_key == "U2Ti/mse/a-c"
        await pilot.press("p")
        await settle(pilot)
        assert app.landscape_key == "U2Ti/cosine/a-b"


@sync
async def test_single_file_target_and_help_screen(demo):
    app = quiet_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.store == demo
        assert app.screen.query_one("#campaigns", DataTable).row_count == 1
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


@pytest.fixture(scope="module")
def bad_folder(tmp_path_factory, demo) -> Path:
    folder = tmp_path_factory.mktemp("bad")
    (folder / "corrupt.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 8)
    with h5py.File(folder / "foreign.h5", "w") as f:
        f["x"] = np.arange(3)
    shutil.copy(demo, folder / "newer.h5")
    with h5py.File(folder / "newer.h5", "r+") as f:
        f.attrs["schema"] = 99
    return folder


@sync
async def test_unreadable_stores_are_listed_with_their_message(bad_folder):
    app = quiet_app(bad_folder)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#campaigns", DataTable)
        assert table.row_count == 3
        states = {Path(str(k.value)).name: cell(table, str(k.value), "state") for k in table.rows}
        assert states == {"corrupt.h5": "error", "foreign.h5": "error", "newer.h5": "error"}
        table.focus()
        await pilot.press("down", "down")
        await settle(pilot)
        assert app.store == bad_folder / "newer.h5"
        banner = app.screen.query_one(Banner)
        assert banner.display and "newer" in plain(banner)
        for mode in ("m", "t", "l"):  # every screen copes with the broken store
            await pilot.press(mode)
            await settle(pilot)
            assert app.screen.query_one(Banner).display


@sync
async def test_missing_folder_says_how_to_start(tmp_path):
    app = quiet_app(tmp_path / "nothing-here")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        banner = app.screen.query_one(Banner)
        assert "No store at" in plain(banner) and "xrdtui run" in plain(banner)
        await pilot.press("m")
        await settle(pilot)
        assert app.store is None


def test_app_path_imports_nothing_heavy():
    """``xrdtui`` paints its first screen without torch, pymatgen, scipy or matplotlib (nor numpy, h5py
    or plotext, which load in the first worker thread)."""
    code = (
        "import sys; import xrdtui.views.launch, xrdtui.views.app, xrdtui.views.screens.browser; "
        "print(sorted(m for m in ('torch', 'pymatgen', 'scipy', 'matplotlib', 'chgnet', 'numpy', 'h5py', "
        "'plotext') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_sweep_command_passes_the_worker_count():
    from xrdtui.jobs.detached import sweep_command

    assert sweep_command("quick", Path("s.h5"), workers=3)[-2:] == ["--workers", "3"]
    assert "--workers" not in sweep_command("quick", Path("s.h5"))


def test_detached_sweep_survives_in_its_own_session(tmp_path):
    from xrdtui.jobs.detached import start_sweep

    proc = start_sweep(str(tmp_path / "missing.toml"), tmp_path / "out" / "x.h5")
    assert proc.log == tmp_path / "out" / "x.log"
    assert proc.command[1:4] == ("-m", "xrdtui", "run") and proc.command[0] == sys.executable
    try:
        assert os.getsid(proc.pid) == proc.pid != os.getsid(0)  # a new session: no SIGHUP from our terminal
    except ProcessLookupError:
        pass  # already gone: it exited fast, which the log below shows
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            os.waitpid(proc.pid, os.WNOHANG)
        except ChildProcessError:
            break
        if proc.log.exists() and "missing.toml" in proc.log.read_text():
            break
        time.sleep(0.2)
    assert "missing.toml" in proc.log.read_text()  # its error went to the log, not to our terminal


@sync
async def test_new_sweep_dialog_starts_a_detached_run(monkeypatch, tmp_path):
    from xrdtui.jobs.detached import SweepProcess
    from xrdtui.views.screens import sweep as sweep_screen

    started = []

    def fake_start(config, store, *, resume=False, workers=None, cwd=None):
        started.append((config, store, resume, workers))
        return SweepProcess(4242, store, store.with_suffix(".log"), ("python",))

    monkeypatch.setattr(sweep_screen, "start_sweep", fake_start)
    app = quiet_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+n")
        await pilot.pause(0.1)
        box = app.screen.query_one("#sweep-config", Input)
        box.value = "paper"
        await pilot.pause(0.1)
        assert app.screen.query_one("#sweep-store", Input).value == "paper.h5"
        app.screen.query_one("#sweep-workers", Input).value = "3"
        await pilot.click("#sweep-start")
        await pilot.pause(0.2)
        assert started == [("paper", tmp_path / "paper.h5", False, 3)]
        assert app.current_mode == "monitor" and app.store == tmp_path / "paper.h5"
        await settle(pilot)
        banner = app.screen.query_one(Banner)
        assert "waiting for the sweep (pid 4242)" in plain(banner)



@sync
async def test_watch_waits_for_a_store_to_appear(tmp_path, demo):
    folder = tmp_path / "runs"
    app = quiet_app(folder, watch=True, scan_s=0.2)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.store is None and "No store at" in plain(app.screen.query_one(Banner))
        folder.mkdir()
        shutil.copy(demo, folder / "demo.h5")
        for _ in range(50):
            await pilot.pause(0.1)
            if app.store is not None:
                break
        await settle(pilot)
        assert app.store == folder / "demo.h5"
        assert "done" in plain(app.screen.query_one("#summary", Static))


def test_heatmap_marks_truth_minima_and_paths_where_they_are():
    from tests.test_views_support import landscape

    rec = landscape(n=41)
    rec.minima = [m for m in rec.minima if m.rank == 1]  # only the off-truth minimum
    heat = Heatmap()
    text = heat._draw(rec, 41, 41)  # one column and one text row (two pixels) per grid point
    grid_lines = [line[9:] for line in text.plain.split("\n")[:41]]
    truth_row = next(r for r, line in enumerate(grid_lines) if "+" in line)
    assert (truth_row, grid_lines[truth_row].index("+")) == (20, 20)  # the truth is the centre of both axes
    m = rec.minima[0]
    row2 = next(r for r, line in enumerate(grid_lines) if "2" in line)
    assert (row2, grid_lines[row2].index("2")) == (40 - m.j, m.i)  # axis2 grows upwards
    assert heat.truth_under is None
    lo, hi = heat.scale
    assert lo < hi and np.isfinite([lo, hi]).all()
