"""Start the TUI: what ``xrdtui`` (no arguments), ``xrdtui open`` and ``xrdtui watch`` call."""

from __future__ import annotations

from pathlib import Path


def launch_app(target: Path, *, watch: bool = False) -> None:
    """Run the app on a store file or a folder of stores (blocking until the user quits);
    ``watch`` opens straight on the live monitor of the running (or newest) campaign."""
    from xrdtui.views.app import XrdtuiApp

    XrdtuiApp(Path(target), watch=watch).run()
