"""Start the TUI: what ``xrdtui`` (no arguments), ``xrdtui open`` and ``xrdtui watch`` call."""

from __future__ import annotations

from pathlib import Path


def launch_app(target: Path, *, watch: bool = False) -> None:
    """Run the app on a store file or a folder of stores (blocking until the user quits);
    ``watch`` opens straight on the live monitor of the running (or newest) campaign. A bug that ended the
    app is raised afterwards as InternalError, which the CLI prints as one line (traceback saved to a file)."""
    from xrdtui.views.app import XrdtuiApp

    app = XrdtuiApp(Path(target), watch=watch)
    app.run()
    if app.crash is not None:
        from xrdtui.errors import InternalError, describe

        raise InternalError(f"internal error in the TUI ({describe(app.crash)})") from app.crash
