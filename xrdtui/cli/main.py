"""The ``xrdtui`` command: the TUI with no arguments, headless sub-commands otherwise.

Start-up stays fast over SSH: this module imports only typer/rich at load time; each command imports the
engine (torch, pymatgen), the store (h5py) or the app (textual) when it runs.

Exit codes: 0 success, 1 other xrdtui error, 2 usage error, 3 bad structure input, 4 bad configuration,
5 store problem (missing, corrupt, foreign, newer schema), 130 interrupted.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from xrdtui.errors import InternalError, XrdtuiError, describe, user_message

DEFAULT_STORE_DIR = Path("store")

app = typer.Typer(
    name="xrdtui",
    help="Recover crystal structures from powder XRD by gradient descent; sweeps, landscapes and a TUI to watch them.",
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

HEADLESS_HINT = """\
xrdtui: no terminal attached, so the TUI was not started. Headless commands:
  xrdtui run [CONFIG] [--resume] [--workers N] [--scheduler ADDR]   run a sweep (default: the built-in quick preset)
  xrdtui status STORE                                               progress of a live or finished sweep
  xrdtui ls STORE | xrdtui show STORE PATH                          browse a stored campaign
  xrdtui compare STORE                                              XRD descent vs CHGNet per noise level
  xrdtui methods [--json]                                           the recovery methods an experiment can use
  xrdtui export STORE -o FILE.csv [--wide|--trajectories]           tidy CSV export
  xrdtui landscape STRUCTURE --params a,c -o STORE                  loss landscape slice
  xrdtui figure KIND STORE -o FILE.png                              publication figures
  xrdtui report STORE -o DIR [--landscapes L.h5]                    reproduction report: the paper's claims vs ours
  xrdtui verify STORE                                               check every checksum; name damaged tasks
  xrdtui refine CANDIDATE... --target CIF|PATTERN [--cif DIR]      refine your own structures against a target
  xrdtui open STORE | xrdtui watch STORE                            the TUI (needs a terminal)
Run 'xrdtui --help' for all options."""


def _print_version(value: bool) -> None:
    if value:
        from xrdtui import __version__

        typer.echo(f"xrdtui {__version__}")
        raise typer.Exit(0)


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                 help="Print the version and exit."),
) -> None:
    """With no command, open the TUI on ./store (or print a hint when there is no terminal)."""
    if ctx.invoked_subcommand is not None:
        return
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        typer.echo(HEADLESS_HINT)
        raise typer.Exit(0)
    from xrdtui.cli.locations import default_store_location
    from xrdtui.views.launch import launch_app

    launch_app(default_store_location())


COMMAND_MODULES = ("run_cmds", "inspect_cmds", "methods_cmds", "tui_cmds", "landscape_cmds", "figure_cmds",
                   "report_cmds", "verify_cmds", "refine_cmds")


def _register_commands() -> None:
    # Each module adds its commands to ``app``; they import heavy libraries only inside the commands.
    import importlib

    for name in COMMAND_MODULES:
        importlib.import_module(f"xrdtui.cli.{name}")


def main(argv: Optional[list[str]] = None) -> None:
    """Console-script entry point: run the app and turn user errors into one line and an exit code.

    Click (standalone mode) reports usage errors itself with exit code 2; xrdtui's own errors are caught here.
    """
    _register_commands()
    try:
        # not standalone: Click would turn Ctrl+C into "Aborted!" and exit 1
        code = app(args=argv, standalone_mode=False)
    except XrdtuiError as exc:
        if getattr(exc, "poisoned", False):
            _fail_now(str(exc), exc.exit_code)
        _fail(user_message(exc), exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt) as exc:
        from xrdtui.errors import Terminated

        terminated = isinstance(exc, Terminated) or isinstance(exc.__context__, Terminated)
        _fail("terminated" if terminated else "interrupted", 143 if terminated else 130)
    except Exception as exc:
        if callable(getattr(exc, "show", None)) and isinstance(getattr(exc, "exit_code", None), int):
            exc.show()  # a usage error: Click's own message, exit 2
            sys.exit(exc.exit_code)
        bug = InternalError(f"internal error ({describe(exc)})")
        bug.__cause__ = exc
        _fail(user_message(bug), bug.exit_code)
    sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str, code: int) -> None:
    typer.echo(f"error: {message}", err=True)
    sys.exit(code)


def _fail_now(message: str, code: int) -> None:
    # After a failed HDF5 write, HDF5's own teardown at exit would crash (exit 139); skip it. Workers are
    # already stopped and the lock released by then.
    import os

    typer.echo(f"error: {message}", err=True)
    try:  # multiprocessing's own exit handler (queues, semaphores), which os._exit would skip
        from multiprocessing import util

        util._exit_function()
    except Exception:
        pass
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
