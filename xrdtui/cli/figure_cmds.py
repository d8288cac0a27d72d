"""``xrdtui figure KIND STORE -o FILE``: publication figures (matplotlib, imported when the command runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from xrdtui.cli.main import app
from xrdtui.cli.render import console


@app.command("figure")
def figure_cmd(
    kind: str = typer.Argument(..., help="match-rate | landscape | paths | slices | member | energy."),
    store: Path = typer.Argument(..., help="The store file (a campaign, or landscapes)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output file: .png, .svg or .pdf."),
    key: Optional[str] = typer.Option(None, "--key", "-k", help="Landscape figures: structure/objective/p1-p2 (or a prefix such as U2Ti/cosine); default: the first stored."),
    structure: Optional[str] = typer.Option(None, "--structure", help="match-rate: one structure instead of pooling all."),
    task: Optional[str] = typer.Option(None, "--task", help="member: the cell structure/noise/level/method, e.g. U2Ti/lattice/0.1/cosine."),
    member: Optional[int] = typer.Option(None, "--member", "-m", help="member: which distorted start (default 0)."),
    minima: Optional[int] = typer.Option(None, "--minima", min=1, max=9, help="landscape, energy: how many minima to mark (default 3)."),
    metric: Optional[str] = typer.Option(None, "--metric", help="match-rate: paper (default), strict, or both (two rows)."),
) -> None:
    """Render a publication figure from a store (KIND: match-rate, landscape, paths, slices, member, energy)."""
    from xrdtui.figures import render

    kind = kind.strip().lower()
    if kind == "member" and task is None:
        raise typer.BadParameter("the member figure needs the task, e.g. --task U2Ti/lattice/0.1/cosine",
                                 param_hint="--task")
    path = render(kind, store, out, key=key, structure=structure, task=task, member=member, n_minima=minima,
                  metric=metric)
    size = path.stat().st_size
    console.print(f"wrote {path} ({size / 1024:.0f} KiB)")
