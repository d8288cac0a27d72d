"""``xrdtui open`` and ``xrdtui watch``: the Textual app on a store file or a folder of stores."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from xrdtui.cli.main import app

NO_TTY = "xrdtui {cmd}: no terminal attached; use 'xrdtui status {store}' or 'xrdtui ls {store}' instead."


def _need_terminal(cmd: str, store: Path) -> None:
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        typer.echo(NO_TTY.format(cmd=cmd, store=store))
        raise typer.Exit(0)


@app.command("open")
def open_store(
    store: Path = typer.Argument(Path("store"), help="A store file (.h5) or a folder of stores."),
) -> None:
    """Browse a store (or a folder of stores) in the TUI."""
    _need_terminal("open", store)
    from xrdtui.views.launch import launch_app

    launch_app(store)


@app.command("watch")
def watch_store(
    store: Path = typer.Argument(Path("store"), help="The store a sweep is writing, or its folder."),
) -> None:
    """Attach to a running sweep: open the TUI on its live monitor."""
    _need_terminal("watch", store)
    from xrdtui.views.launch import launch_app

    launch_app(store, watch=True)

