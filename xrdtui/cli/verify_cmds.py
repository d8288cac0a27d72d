"""``xrdtui verify``: read a store chunk by chunk and check every checksum (store.integrity)."""

from __future__ import annotations

from pathlib import Path

import typer

from xrdtui.cli.main import app
from xrdtui.cli.render import console, print_json
from xrdtui.errors import StoreError


@app.command("verify")
def verify_cmd(
    store: Path = typer.Argument(..., help="A campaign, landscapes or refinement store."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable report."),
) -> None:
    """Check every dataset of a store against its Fletcher-32 checksum; name damaged tasks (exit 5 if any)."""
    from xrdtui.store.access import open_checked
    from xrdtui.store.integrity import verify_file

    f = open_checked(store)
    try:
        report = verify_file(f, store)
    except (OSError, RuntimeError, KeyError) as exc:
        raise StoreError(f"cannot verify {store}: {str(exc).splitlines()[0]}") from None
    finally:
        f.close()
    if as_json:
        print_json(report.as_dict())
    else:
        unchecked = report.datasets - report.checksummed
        note = f" ({unchecked} without a checksum: written by an older xrdtui)" if unchecked else ""
        console.print(f"{store}: {report.datasets} datasets, {report.bytes_read / 1e6:.1f} MB read, "
                      f"{len(report.damage)} damaged{note}", highlight=False)
        for d in report.damage:
            where = f" (task {d.task_id})" if d.task_id else ""
            console.print(f"  damaged {d.dataset}{where}: {d.bad_chunks}/{d.chunks} chunks fail to read",
                          highlight=False)
    if not report.ok:
        tasks = report.damaged_tasks
        outside = [d for d in report.damage if not d.task_id]
        hint = ("the damage is outside the task data (task table, structures or progress): re-create the store"
                if outside else
                f"'xrdtui run CONFIG --store {store} --resume' runs the {len(tasks)} damaged task(s) again")
        raise StoreError(f"{store} is damaged: {hint}")
