"""SVG snapshots of every screen at 100x30 (and the browser at 80x24) on a frozen synthetic store:
clocks are fixed in the store and in the app, the time zone is UTC and paths are relative.
Update after an intended change with ``pytest tests/test_views_snapshots.py --snapshot-update``."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from textual.widgets import DataTable

from tests.test_views_app import settle
from tests.test_views_support import FROZEN, add_landscapes, make_store
from xrdtui.views.app import XrdtuiApp
from xrdtui.views.screens.detail import DetailScreen

SIZE = (100, 30)


@pytest.fixture(scope="module")
def store_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("snap")
    path = make_store(root / "store" / "demo.h5", running=2, finish=False)
    add_landscapes(path)
    return root


@pytest.fixture
def app(store_root, monkeypatch) -> XrdtuiApp:
    monkeypatch.chdir(store_root)
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield XrdtuiApp(Path("store"), refresh_s=3600.0, scan_s=3600.0, clock=lambda: FROZEN + 65.0)
    monkeypatch.undo()
    time.tzset()


async def ready(pilot, until=lambda app: True, timeout: float = 30.0) -> None:
    """Wait until ``until(app)`` holds and nothing is left to land. A screen starts its loader only once
    it is mounted, the loader runs in a thread, its result arrives as a message after the thread ended,
    and a DataTable sizes its columns on a later Idle event: on a slow machine any of these can come after
    a fixed pause, and the shot would show an empty table or columns at their header widths."""
    await settle(pilot)
    pilot.app.set_focus(None)  # no blinking cursor / focus highlight that depends on timing
    deadline = time.monotonic() + timeout
    calm = 0
    while calm < 3 and time.monotonic() < deadline:
        await pilot.pause(0.05)
        calm = 0 if _busy(pilot.app) or not until(pilot.app) else calm + 1
    assert until(pilot.app), "the screen never finished loading"
    pilot.app.set_focus(None)  # a screen may have focused its first widget meanwhile
    await pilot.pause(0.05)
    STATE[:] = [_state(pilot.app)]


STATE: list[str] = []  # what the screen held when the last shot was taken: printed when a shot differs


def _state(app) -> str:
    screen = app.screen
    tables = [f"{t.id}: {t.row_count} rows, widths {[c.get_render_width(t) for c in t.ordered_columns]}"
              for t in screen.query(DataTable)]
    workers = [f"{w.name}:{w.state.name}" for w in app.workers]
    return f"{type(screen).__name__}, focus {app.focused}, tables {tables}, workers {workers}"


def shot(snap_compare, app, run_before, size=SIZE) -> None:
    STATE.clear()
    assert snap_compare(app, terminal_size=size, run_before=run_before), f"screen differs; it held {STATE}"


def _busy(app) -> bool:
    screen = app.screen
    return bool(app.message_queue_size or screen.message_queue_size
                or any(not w.is_finished for w in app.workers)
                or any(_table_pending(t) for t in screen.query(DataTable)))


def _table_filled(app) -> bool:
    return app.screen.query_one("#matches", DataTable).row_count > 0


def _table_pending(table: DataTable) -> bool:
    # Textual's DataTable keeps these private flags until its idle handler has laid the rows out.
    return bool(table._require_update_dimensions or table._new_rows or table._updated_cells)


def test_browser(snap_compare, app):
    async def run_before(pilot):
        await ready(pilot)
        tree = pilot.app.screen.query_one("#tree")
        tree.focus()
        await pilot.press("down", "enter", "down", "enter", "down", "enter", "down", "enter", "down")
        await pilot.pause(0.05)

    shot(snap_compare, app, run_before)


def test_browser_small_terminal(snap_compare, app):
    shot(snap_compare, app, ready, size=(80, 24))


def test_monitor_curves(snap_compare, app):
    async def run_before(pilot):
        await pilot.press("m")
        await ready(pilot)

    shot(snap_compare, app, run_before)


def test_monitor_rates(snap_compare, app):
    async def run_before(pilot):
        await pilot.press("m")
        await ready(pilot)
        await pilot.press("2")

    shot(snap_compare, app, run_before)


def test_match_table(snap_compare, app):
    async def run_before(pilot):
        await pilot.press("t")
        await ready(pilot, until=_table_filled)

    shot(snap_compare, app, run_before)


def test_match_figure(snap_compare, app):
    async def run_before(pilot):
        await pilot.press("t")
        await ready(pilot, until=_table_filled)
        await pilot.press("2")

    shot(snap_compare, app, run_before)


@pytest.mark.parametrize("tab", ["1", "3"])  # loss curve, XRD overlay (lattice values: test_views_app)
def test_run_detail(snap_compare, app, tab):
    async def run_before(pilot):
        await ready(pilot)
        pilot.app.push_screen(DetailScreen(pilot.app.store, "U2Ti/lattice/0.080/cosine/free"))
        await ready(pilot)
        await pilot.press(tab)

    shot(snap_compare, app, run_before)


def test_landscape(snap_compare, app):
    async def run_before(pilot):
        await ready(pilot)
        pilot.app.landscape_key = "U2Ti/cosine/a-c"
        await pilot.press("l")
        await ready(pilot)

    shot(snap_compare, app, run_before)


def test_help(snap_compare, app):
    async def run_before(pilot):
        await ready(pilot)
        await pilot.press("question_mark")

    shot(snap_compare, app, run_before)
