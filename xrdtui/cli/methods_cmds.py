"""``xrdtui methods``: the registry of recovery methods, as a table or JSON (no heavy import)."""

from __future__ import annotations

import typer

from xrdtui.cli.main import app
from xrdtui.cli.render import console, print_json


def method_rows() -> list[dict]:
    """One plain dict per registered method, in registry order."""
    from xrdtui.methods import all_methods

    return [
        {
            "name": m.name,
            "kind": str(m.kind),
            "description": m.description,
            "objective": m.objective,
            "unit": m.unit,
            "similarity": m.similarity,
            "modes": "configured descent modes" if m.modes is None else [str(x) for x in m.modes],
            "noises": [str(x) for x in m.noises],
            "tables": [t.name for t in m.tables],
            "splittable": m.splittable,
            "cost": m.cost,
        }
        for m in all_methods()
    ]


@app.command("methods")
def methods_cmd(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """List the recovery methods an experiment can name in ``methods = [...]``."""
    rows = method_rows()
    if as_json:
        return print_json(rows)
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="recovery methods (methods = [...] in an experiment file)", title_justify="left",
                  header_style="bold")
    for col in ("method", "kind", "objective", "modes", "tables", "description"):
        table.add_column(col, overflow="fold")
    for r in rows:
        modes = r["modes"] if isinstance(r["modes"], str) else ", ".join(r["modes"])
        table.add_row(r["name"], r["kind"], f"{r['objective']} [{r['unit']}]", modes,
                      escape(", ".join(f"[{t}]" for t in r["tables"])) or "–", r["description"])
    console.print(table)
