"""The ``xrdtui`` console script: the TUI's own invocations start the app without importing Typer.

``xrdtui``, ``xrdtui open [STORE]`` and ``xrdtui watch [STORE]`` on a terminal go straight to the app:
Typer 0.2x imports pydantic, ~0.15 s before the first screen could start. Everything else (options,
``--help``, other commands, no terminal) goes through the Typer app in :mod:`xrdtui.cli.main`, which
defines these commands with the same behaviour and the same one-line errors.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

TUI_COMMANDS = {"open": False, "watch": True}  # command -> open on the live monitor


def tui_request(args: list[str]) -> Optional[tuple[Optional[Path], bool]]:
    """(store or None for the default, watch) when ``args`` only start the TUI, else None."""
    if not args:
        return None, False
    if args[0] not in TUI_COMMANDS or len(args) > 2 or any(a.startswith("-") for a in args[1:]):
        return None
    return (Path(args[1]) if len(args) == 2 else None), TUI_COMMANDS[args[0]]


def main(argv: Optional[list[str]] = None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    request = tui_request(args)
    if request is None or not (sys.stdin.isatty() and sys.stdout.isatty()):
        from xrdtui.cli.main import main as cli_main  # the hint, the usage error, every other command

        cli_main(argv)
        return
    from xrdtui.cli.locations import default_store_location
    from xrdtui.errors import XrdtuiError, user_message
    from xrdtui.views.launch import launch_app

    store, watch = request
    try:
        launch_app(store or default_store_location(), watch=watch)
    except XrdtuiError as exc:
        print(f"error: {user_message(exc)}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)
