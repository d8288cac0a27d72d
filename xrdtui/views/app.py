"""The xrdtui Textual app: one mode per main screen (runs browser, live monitor, match table,
landscape), run detail pushed on top, help as a modal. The app holds the shared state (target folder
or file, the current store, the reader pool); screens read the store in thread workers only."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from textual.app import App
from textual.binding import Binding
from textual.reactive import reactive

from textual.screen import Screen

from xrdtui.views.messages import OpenLandscape


def _screen(module: str, name: str) -> Callable[[], Screen]:
    """A mode factory that imports its screen on first use (plotext, numpy and h5py stay out of the
    first paint)."""

    def make() -> Screen:
        import importlib

        return getattr(importlib.import_module(f"xrdtui.views.screens.{module}"), name)()

    return make


class XrdtuiApp(App):
    """Browse, monitor and compare xrdtui campaigns stored in HDF5 files."""

    CSS_PATH = "app.tcss"
    TITLE = "xrdtui"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    MODES = {
        "browser": _screen("browser", "BrowserScreen"),
        "monitor": _screen("monitor", "MonitorScreen"),
        "matches": _screen("matches", "MatchScreen"),
        "landscape": _screen("landscape", "LandscapeScreen"),
        "explorer": _screen("explorer", "ExplorerScreen"),
    }
    # Quit and Help first: the footer lists the screen's keys, then these, and cuts what does not fit in
    # 80 columns (every key is also in the help screen).
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help"),
        Binding("b", "goto('browser')", "Runs"),
        Binding("m", "goto('monitor')", "Monitor"),
        Binding("t", "goto('matches')", "Matches"),
        Binding("l", "goto('landscape')", "Landscape"),
        Binding("L", "goto('explorer')", "Explore", show=False),  # listed in the help screen
        Binding("ctrl+n", "new_sweep", "New sweep"),
    ]

    store: reactive[Path | None] = reactive(None, init=False)
    """The campaign (or landscape) store the screens show."""

    def __init__(
        self,
        target: Path,
        *,
        watch: bool = False,
        refresh_s: float = 0.5,
        scan_s: float = 2.0,
        clock: Callable[[], float] = time.time,
        pool=None,
        explore: str | None = None,
    ) -> None:
        super().__init__()
        self.target = Path(target)
        self.watch_live = watch
        self.refresh_s = refresh_s
        self.scan_s = scan_s
        self.clock = clock
        self._pool = pool
        self._pool_lock = threading.Lock()
        self.landscape_key: str | None = None
        self.sweeps: list = []  # SweepProcess started from this app
        self.explore_structure = explore  # open on the explorer with this structure (`xrdtui explore`)
        self.explore_request: dict | None = None  # Choice fields another screen asks the explorer to show
        self.sub_title = str(self.target)
        self.first_paint = threading.Event()  # set once the first screen is on the terminal

    @property
    def pool(self):
        """The shared :class:`~xrdtui.views.workers.StorePool` (made on first use, usually in a worker)."""
        with self._pool_lock:
            if self._pool is None:
                from xrdtui.views.workers import StorePool

                self._pool = StorePool()
            return self._pool

    @property
    def folder(self) -> Path:
        """The folder of stores (the target, or the folder holding the target file)."""
        return self.target if self.target.is_dir() or not self.target.suffix else self.target.parent

    def on_mount(self) -> None:
        self.call_after_refresh(self.first_paint.set)
        if self.target.is_file() or (self.watch_live and self.target.suffix == ".h5"):
            self.store = self.target  # a file that does not exist yet is waited for by the monitor
        if self.explore_structure:
            self.switch_mode("explorer")
        elif self.watch_live:
            self.switch_mode("monitor")
            if self.store is None:
                self._pick_live()
        else:
            self.switch_mode("browser")

    def _pick_live(self) -> None:
        """Watching a folder: show its live campaign (else the newest); retry while there is none."""

        def job() -> None:
            from xrdtui.views.workers import pick_store, scan

            catalogue = scan(self.pool, self.target)
            self.call_from_thread(self._picked, pick_store(catalogue, prefer_live=True), catalogue.message)

        self.run_worker(job, thread=True, exclusive=True, group="pick", exit_on_error=False)

    def _picked(self, path: Path | None, message: str) -> None:
        if path is not None:
            self.store = path
            return
        from xrdtui.views.screens.base import Banner

        for banner in self.screen.query(Banner):
            banner.say(message or f"no store in {self.target} yet; waiting for one", "info")
        self.set_timer(self.scan_s, self._pick_live)

    def on_open_landscape(self, message: OpenLandscape) -> None:
        self.landscape_key = message.key
        self.switch_mode("landscape")

    def watch_store(self, store: Path | None) -> None:
        self.sub_title = str(store) if store is not None else str(self.target)

    def action_goto(self, mode: str) -> None:
        # A pushed screen (run detail) is closed first so the mode switch is what the user sees.
        if self.current_mode == mode and len(self.screen_stack) > 1:
            self.pop_screen()
        self.switch_mode(mode)

    def action_help(self) -> None:
        from xrdtui.views.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_new_sweep(self) -> None:
        from xrdtui.views.screens.sweep import NewSweepScreen

        self.push_screen(NewSweepScreen(self.folder), self._sweep_started)

    def _sweep_started(self, sweep) -> None:
        if sweep is None:
            return
        self.sweeps.append(sweep)
        self.notify(f"sweep started (pid {sweep.pid}); log: {sweep.log}", title="xrdtui run", timeout=8)
        self.store = sweep.store
        self.switch_mode("monitor")

    crash: Exception | None = None
    """The first unhandled exception, once one ended the app (launch_app turns it into one line)."""

    def _handle_exception(self, error: Exception) -> None:
        if self.crash is None:
            self.crash = error
        super()._handle_exception(error)

    def _fatal_error(self) -> None:
        # Textual would print a Rich traceback with locals (pages of it over SSH) after closing; the launcher
        # prints one line instead and saves the plain traceback to a file (errors.save_traceback).
        self.bell()
        self._close_messages_no_wait()

    def on_unmount(self) -> None:
        if self._pool is not None:
            self._pool.close_all()
