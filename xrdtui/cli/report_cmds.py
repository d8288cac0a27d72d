"""``xrdtui report STORE -o DIR``: the reproduction report (HTML, Markdown, figures, claims as JSON)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from xrdtui.cli.main import app
from xrdtui.cli.render import console, print_json


def _writable_dir(out: Path) -> Path:
    """``out`` created if needed; a usage error (exit 2) when it cannot be written."""
    if out.exists() and not out.is_dir():
        raise typer.BadParameter(f"{out} exists and is not a folder", param_hint="--out")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise typer.BadParameter(f"cannot create {out}: {exc.strerror}", param_hint="--out") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise typer.BadParameter(f"{out} is not writable", param_hint="--out")
    return out


@app.command("report")
def report_cmd(
    store: Path = typer.Argument(..., help="A campaign store (finished, partial or live)."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for report.html, report.md, claims.json and the figures."),
    landscapes: Optional[list[Path]] = typer.Option(None, "--landscapes", "-l", help="Landscape stores (for C5 and Figure 2); repeatable."),
    as_json: bool = typer.Option(False, "--json", help="Print the claims table as JSON instead of a summary."),
) -> None:
    """Write a reproduction report: each of the paper's claims against the store's numbers, with intervals."""
    out = _writable_dir(out)
    from xrdtui.report import build_report
    from xrdtui.report.render import claim_dict

    outcome = build_report(store, out, landscapes or ())
    if as_json:
        return print_json({"report": str(outcome.html), "missing": outcome.missing,
                           "claims": [claim_dict(c) for c in outcome.claims]})
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="claims", title_justify="left", header_style="bold")
    for col in ("claim", "verdict", "our numbers"):
        table.add_column(col, overflow="fold")
    for c in outcome.claims:
        table.add_row(c.id, c.verdict, escape(c.numbers))
    console.print(table)
    for line in outcome.missing:
        console.print(f"[yellow]missing:[/] {escape(line)}")
    console.print(f"wrote {outcome.html}, {outcome.markdown.name}, {outcome.json.name} and {len(outcome.figures)} "
                  f"figures (PNG + SVG) in {outcome.seconds:.1f} s")
