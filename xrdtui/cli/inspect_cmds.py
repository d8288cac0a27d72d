"""Read-only commands on stores: ``ls``, ``show``, ``status``, ``export``.

They import the store reader (h5py + numpy) and nothing heavier, so they answer in well under a second.
``--json`` prints machine-readable output instead of tables.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Optional

import typer

from xrdtui.cli.main import app
from xrdtui.cli.render import compare_table, console, fmt_duration, fmt_rate, fmt_time, print_json
from xrdtui.errors import StoreError
from xrdtui.vocab import PARAM_NAMES



def _open(path: Path):
    from xrdtui.store.reader import StoreReader

    return StoreReader.open(path)


def _store_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.h5") if p.is_file())


def _progress_dict(prog) -> dict:
    return {
        "total": prog.total, "done": prog.done, "failed": prog.failed, "running": prog.running,
        "pending": prog.pending, "live": prog.live, "finished": prog.finished,
        "tasks_per_minute": prog.tasks_per_minute, "eta_s": prog.eta_s,
        "started": prog.started, "last_update": prog.last_update,
    }


@app.command("ls")
def ls_cmd(
    store: Path = typer.Argument(Path("store"), help="A store file, or a folder of stores."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """List the campaigns of a folder, or the tasks of one store."""
    if store.is_dir():
        rows = []
        for path in _store_files(store):
            try:
                with _open(path) as r:
                    info, prog = r.info, r.progress()
                rows.append({"path": str(path), "name": info.name, "kind": info.kind, "created": info.created,
                             "state": str(prog.state), **_progress_dict(prog)})
            except StoreError as exc:
                rows.append({"path": str(path), "error": str(exc)})
        if as_json:
            return print_json(rows)
        from rich.table import Table

        table = Table(title=f"stores in {store}", title_justify="left", header_style="bold")
        for col in ("store", "name", "kind", "state", "done", "failed", "created"):
            table.add_column(col)
        for row in rows:
            if "error" in row:
                table.add_row(row["path"], f"[red]{row['error']}[/red]", "", "", "", "", "")
            else:
                table.add_row(row["path"], row["name"], row["kind"], row["state"], f"{row['done']}/{row['total']}",
                              str(row["failed"]), row["created"])
        if not rows:
            console.print(f"no stores in {store} (run [bold]xrdtui run[/bold] to make one)")
            return
        console.print(table)
        return
    with _open(store) as r:
        tasks = r.tasks()
        landscapes = r.landscapes()
    if as_json:
        return print_json({"tasks": [t.__dict__ for t in tasks], "landscapes": landscapes})
    from rich.table import Table

    table = Table(title=str(store), title_justify="left", header_style="bold")
    for col in ("task", "status", "matched", "rate [95% CI]", "wall"):
        table.add_column(col, justify="left" if col in ("task", "status") else "right")
    for t in tasks:
        style = {"failed": "red", "running": "yellow", "pending": "dim"}.get(t.status, "")
        table.add_row(t.task_id, f"[{style}]{t.status}[/{style}]" if style else t.status,
                      f"{t.k}/{t.n}" if t.status == "done" else "–",
                      fmt_rate(t.k, t.n, t.lo, t.hi) if t.status == "done" else "–",
                      fmt_duration(t.wall_s) if t.status == "done" else "–")
    if tasks:
        console.print(table)
    for key in landscapes:
        console.print(f"landscape  {key}")


@app.command()
def status(
    store: Path = typer.Argument(..., help="A store file."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing until the sweep stops."),
) -> None:
    """Progress of a live or finished sweep (reads only the progress table: instant on any size)."""
    with _open(store) as r:
        while True:
            r.refresh()
            prog = r.progress()
            if as_json:
                print_json({"path": str(store), "name": r.info.name, "state": str(prog.state), **_progress_dict(prog)})
            else:
                pct = 100.0 * (prog.done + prog.failed) / prog.total if prog.total else 100.0
                console.print(
                    f"{r.info.name}: [bold]{prog.state}[/bold]  {prog.done}/{prog.total} done ({pct:.0f}%), "
                    f"{prog.failed} failed, {prog.running} running, {prog.pending} pending; "
                    f"{prog.tasks_per_minute:.1f} tasks/min, ETA {fmt_duration(prog.eta_s)}; "
                    f"last update {fmt_time(prog.last_update)}"
                )
            if not follow or not prog.live:
                break
            time.sleep(2.0)


def _lattice_cells(values) -> list[str]:
    return [f"{v:.4f}" for v in values]


@app.command()
def show(
    store: Path = typer.Argument(..., help="A store file."),
    path: str = typer.Argument("", help="A task id (structure/noise/level/method/mode), a prefix of one, or a landscape key."),
    member: Optional[int] = typer.Option(None, "--member", "-m", help="Details of one member of a task."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Inspect part of a store: a task's members, one member, a group's match rates, or a landscape."""
    with _open(store) as r:
        tasks = {t.task_id: t for t in r.tasks()}
        if path in tasks:
            return _show_task(r, tasks[path], member, as_json)
        if path in r.landscapes():
            return _show_landscape(r.landscape(path), as_json)
        prefix = path.strip("/")
        chosen = [t for tid, t in tasks.items() if not prefix or tid == prefix or tid.startswith(prefix + "/")]
        if not chosen:
            raise StoreError(f"no task or landscape '{path}' in {store} (see: xrdtui ls {store})")
        if as_json:
            return print_json([t.__dict__ for t in chosen])
        from rich.table import Table

        table = Table(title=f"{store}:{prefix or '/'}", title_justify="left", header_style="bold")
        for col in ("task", "status", "matched", "rate [95% CI]"):
            table.add_column(col)
        for t in chosen:
            table.add_row(t.task_id, t.status, f"{t.k}/{t.n}", fmt_rate(t.k, t.n, t.lo, t.hi))
        console.print(table)


def _show_task(r, row, member: Optional[int], as_json: bool) -> None:
    rec = r.task(row.task_id)
    res = rec.result
    if res is None:
        msg = {"task": row.task_id, "status": rec.status, "reason": rec.reason}
        if rec.partial_loss is not None:
            msg["steps_so_far"] = int(rec.partial_loss.shape[0])
        return print_json(msg) if as_json else console.print(
            f"{row.task_id}: {rec.status}" + (f" — {rec.reason}" if rec.reason else ""))
    truth = r.structures().get(rec.info.structure)
    if member is not None:
        if not 0 <= member < rec.info.n_members:
            raise StoreError(f"member {member} out of range 0..{rec.info.n_members - 1}")
        data = {
            "task": row.task_id, "member": member, "matched": bool(res.matched[member]), "rms": float(res.rms[member]),
            "final_loss": float(res.final_loss[member]), "final_similarity": float(res.final_similarity[member]),
            "steps": int(res.n_steps[member]), "converged": bool(res.converged[member]),
            "failed": bool(res.failed[member]), "reason": res.reasons[member],
            "truth_lattice": None if truth is None else truth.lattice.tolist(),
            "init_lattice": res.init_lattice[member].tolist(), "final_lattice": res.final_lattice[member].tolist(),
            "loss": res.loss[: int(res.n_steps[member]) + 1, member].tolist(),
        }
        if as_json:
            return print_json(data)
        from rich.table import Table

        table = Table(title=f"{row.task_id} member {member}", title_justify="left", header_style="bold")
        table.add_column("")
        for name in PARAM_NAMES:
            table.add_column(name, justify="right")
        if truth is not None:
            table.add_row("ground truth", *_lattice_cells(truth.lattice))
        table.add_row("distorted", *_lattice_cells(res.init_lattice[member]))
        table.add_row("recovered", *_lattice_cells(res.final_lattice[member]))
        console.print(table)
        console.print(f"matched: {data['matched']}  rms: {data['rms']:.4f}  final loss: {data['final_loss']:.5g}  "
                      f"similarity: {data['final_similarity']:.4f}  steps: {data['steps']}"
                      + (f"  failed: {data['reason']}" if data["failed"] else ""))
        return
    members = [
        {"member": b, "matched": bool(res.matched[b]), "rms": float(res.rms[b]), "final_loss": float(res.final_loss[b]),
         "final_similarity": float(res.final_similarity[b]), "steps": int(res.n_steps[b]),
         "converged": bool(res.converged[b]), "failed": bool(res.failed[b]), "reason": res.reasons[b]}
        for b in range(rec.info.n_members)
    ]
    if as_json:
        return print_json({"task": row.task_id, "k": res.k, "n": res.n, "lo": res.lo, "hi": res.hi,
                            "wall_s": res.wall_s, "members": members})
    from rich.table import Table

    table = Table(title=f"{row.task_id}: {res.k}/{res.n} matched, rate {fmt_rate(res.k, res.n, res.lo, res.hi)}",
                  title_justify="left", header_style="bold")
    for col in ("member", "matched", "rms", "final loss", "similarity", "steps", "note"):
        table.add_column(col, justify="right" if col not in ("note",) else "left")
    for m in members:
        table.add_row(str(m["member"]), "[green]yes[/green]" if m["matched"] else "[red]no[/red]",
                      "–" if not math.isfinite(m["rms"]) else f"{m['rms']:.4f}", f"{m['final_loss']:.5g}",
                      f"{m['final_similarity']:.4f}", str(m["steps"]), m["reason"] if m["failed"] else "")
    console.print(table)


def _show_landscape(rec, as_json: bool) -> None:
    minima = [m.__dict__ for m in rec.minima]
    if as_json:
        return print_json({"key": rec.key, "objective": rec.objective, "p1": rec.p1, "p2": rec.p2,
                            "shape": list(rec.grid.shape), "minima": minima,
                            "paths": [{"mode": p.mode, "steps": len(p.points), "final_loss": p.final_loss} for p in rec.paths]})
    from rich.table import Table

    table = Table(title=f"landscape {rec.key} ({rec.grid.shape[0]}x{rec.grid.shape[1]})", title_justify="left",
                  header_style="bold")
    for col in ("rank", rec.p1, rec.p2, "value", "depth"):
        table.add_column(col, justify="right")
    for m in rec.minima:
        table.add_row(str(m.rank), f"{m.p1:.4f}", f"{m.p2:.4f}", f"{m.value:.5g}", f"{m.depth:.4g}")
    console.print(table)
    for p in rec.paths:
        console.print(f"path {p.mode}: {len(p.points)} points, final loss {p.final_loss:.5g}")


@app.command()
def compare(
    store: Path = typer.Argument(..., help="A store file."),
    loss: Optional[str] = typer.Option(None, "--loss", help="XRD loss to compare (default: cosine)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """XRD descent (free / projected) against relaxation and baseline methods per noise type and level (paper Figure 7a)."""
    from xrdtui.jobs.comparison import comparison

    with _open(store) as r:
        cmp = comparison(r, loss)
    if as_json:
        return print_json([{k: ({"k": v.k, "n": v.n, "rate": v.rate, "lo": v.lo, "hi": v.hi}
                                 if hasattr(v, "k") else v) for k, v in row.items()} for row in cmp.rows])
    console.print(compare_table(cmp, title=f"{store}: match rate [95% Jeffreys interval]"))


@app.command()
def export(
    store: Path = typer.Argument(..., help="A store file."),
    output: Path = typer.Option(..., "--output", "-o", help="CSV file to write ('-' for standard output)."),
    wide: bool = typer.Option(False, "--wide", help="Match-rate table (one row per task) instead of per member."),
    trajectories: bool = typer.Option(False, "--trajectories", help="Per-step losses (long: task, member, step, loss)."),
) -> None:
    """Write a tidy CSV: per-member results (default), match rates (--wide) or per-step losses (--trajectories)."""
    from xrdtui.cli.export import write_csv

    if wide and trajectories:
        raise typer.BadParameter("choose one of --wide and --trajectories")
    kind = "wide" if wide else "trajectories" if trajectories else "members"
    with _open(store) as r:
        n = write_csv(r, output, kind)
    if str(output) != "-":
        console.print(f"wrote {n} rows to {output}")
