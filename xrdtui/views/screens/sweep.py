"""The ctrl+n dialog: start a sweep as a detached process writing a store in the app's folder."""

from __future__ import annotations

import os
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from xrdtui.errors import XrdtuiError
from xrdtui.jobs.detached import SweepProcess, start_sweep
from xrdtui.views.workers import summarise


def default_store_name(config: str) -> str:
    """``quick`` -> ``quick.h5``; ``runs/my.toml`` -> ``my.h5``."""
    stem = Path(config.strip()).stem or "sweep"
    return f"{stem}.h5"


class NewSweepScreen(ModalScreen[SweepProcess | None]):
    """Asks for a configuration (preset name or TOML file) and the store file name."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = Path(folder)
        self._workers: int | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="sweep-box"):
            yield Label("Start a sweep (runs detached: it keeps going when the app closes)", id="sweep-title")
            yield Label("configuration: a preset (quick, paper) or a TOML file")
            yield Input("quick", id="sweep-config")
            yield Label(f"store file in {self.folder}/ (an unfinished one is resumed)")
            yield Input("quick.h5", id="sweep-store")
            yield Label(f"worker processes (blank: the configuration's; this machine has {os.cpu_count()} cores)")
            yield Input("", id="sweep-workers", type="integer", placeholder="from the configuration")
            yield Static("", id="sweep-error")
            with Horizontal(id="sweep-buttons"):
                yield Button("Start", variant="primary", id="sweep-start")
                yield Button("Cancel", id="sweep-cancel")

    @on(Input.Changed, "#sweep-config")
    def _config_changed(self, event: Input.Changed) -> None:
        self.query_one("#sweep-store", Input).value = default_store_name(event.value)

    @on(Input.Submitted)
    @on(Button.Pressed, "#sweep-start")
    def _start(self) -> None:
        config = self.query_one("#sweep-config", Input).value.strip()
        name = self.query_one("#sweep-store", Input).value.strip()
        error = self.query_one("#sweep-error", Static)
        if not name:
            error.update("give a store file name")
            return
        text = self.query_one("#sweep-workers", Input).value.strip()
        try:
            self._workers = int(text) if text else None
        except ValueError:
            error.update(f"workers must be a whole number, got {text!r}")
            return
        store = self.folder / (name if name.endswith(".h5") else f"{name}.h5")
        if not store.exists():
            self._launch(config, store, resume=False)
            return
        error.update(f"checking {store.name} …")
        # Reading the existing store happens off the UI thread like every other read.
        self.run_worker(lambda: self._check(config, store), thread=True, exclusive=True)

    def _check(self, config: str, store: Path) -> None:
        entry = summarise(self.app.pool, store)
        self.app.call_from_thread(self._decide, config, store, entry)

    def _decide(self, config: str, store: Path, entry) -> None:
        error = self.query_one("#sweep-error", Static)
        if entry.error:
            error.update(f"{store.name} cannot be resumed: {entry.error}")
        elif entry.state == "live":
            error.update(f"{store.name} is already being written (live): press escape, then m to watch it")
        elif entry.state == "finished":
            error.update(f"{store.name} is finished: choose another store name")
        else:
            self._launch(config, store, resume=True)

    def _launch(self, config: str, store: Path, resume: bool) -> None:
        try:
            proc = start_sweep(config, store, resume=resume, workers=self._workers)
        except XrdtuiError as exc:
            self.query_one("#sweep-error", Static).update(str(exc))
            return
        self.dismiss(proc)

    @on(Button.Pressed, "#sweep-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
