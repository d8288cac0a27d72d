"""``xrdtui open``, ``xrdtui watch`` and ``xrdtui explore``: the Textual app on a store file or a folder of
stores, or straight on the landscape explorer."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from xrdtui.cli.main import app
from xrdtui.cli.locations import default_store_location
from xrdtui.errors import XrdtuiError

NO_TTY = ("xrdtui {cmd}: no terminal attached, so the TUI cannot start; use 'xrdtui status {store}' or "
          "'xrdtui ls {store}' instead.")


def _need_terminal(cmd: str, store: Path) -> None:
    """The TUI needs a terminal: without one, fail (exit 1) with the headless commands to use instead."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise XrdtuiError(NO_TTY.format(cmd=cmd, store=store))


@app.command("open")
def open_store(
    store: Optional[Path] = typer.Argument(
        None, help="A store file (.h5) or a folder of stores (default: ./store, or the current folder when it "
                   "holds stores)."),
) -> None:
    """Browse a store (or a folder of stores) in the TUI."""
    store = store or default_store_location()
    _need_terminal("open", store)
    from xrdtui.views.launch import launch_app

    launch_app(store)


@app.command("watch")
def watch_store(
    store: Optional[Path] = typer.Argument(None,
                                           help="The store a sweep is writing, or its folder (default: ./store)."),
) -> None:
    """Attach to a running sweep: open the TUI on its live monitor."""
    store = store or default_store_location()
    _need_terminal("watch", store)
    from xrdtui.views.launch import launch_app

    launch_app(store, watch=True)


@app.command("explore")
def explore_cmd(
    structure: str = typer.Argument("U2Ti", help="A benchmark name (e.g. U2Ti) or a CIF / pymatgen-JSON file."),
    store: Optional[Path] = typer.Option(
        None, "--store", "-o", help="The folder (or store) the app shows; ctrl+s saves slices into landscapes.h5 "
                                    "there (default: ./store)."),
) -> None:
    """Explore a structure's loss landscape live: slices computed as you choose them, cursor, minima, descent."""
    from xrdtui.engine.structures import NAMED, canonical_name
    from xrdtui.errors import InputError

    name = canonical_name(structure)
    if name is None and not Path(structure).is_file():
        raise InputError(f"{structure!r} is neither a named structure ({', '.join(NAMED)}) nor an existing file")
    store = store or default_store_location()
    _need_terminal("explore", store)
    from xrdtui.views.app import XrdtuiApp

    XrdtuiApp(store, explore=name or structure).run()
