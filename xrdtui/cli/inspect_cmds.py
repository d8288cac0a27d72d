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
from xrdtui.cli.render import (
    aligned_table,
    compare_table,
    console,
    fmt_duration,
    fmt_rate,
    fmt_strict,
    print_json,
    progress_line,
    running_lines,
)
from xrdtui.errors import StoreError
from xrdtui.vocab import PARAM_NAMES, CampaignState

LEVEL_PART = 2  # structure/noise/LEVEL/method/mode


def _open(path: Path):
    from xrdtui.store.reader import StoreReader

    return StoreReader.open(path)


def canonical_path(text: str) -> str:
    """A task id, prefix or glob with its level written as the store writes it (``0.08`` -> ``0.080``,
    ``8e-2`` -> ``0.080``, via ``layout.format_level``): the one reading of levels for ``show`` and
    ``export --task``. Parts that are not numbers (a glob such as ``0.0*``) are left as they are."""
    parts = text.strip().strip("/").split("/")
    if len(parts) > LEVEL_PART:
        try:
            level = float(parts[LEVEL_PART])
        except ValueError:
            pass
        else:
            from xrdtui.store.layout import format_level

            parts[LEVEL_PART] = format_level(level)
    return "/".join(parts)


def landscapes_only(reader, command: str) -> StoreError:
    """The one-line error of a campaign command run on a landscapes store: what the file is and what to
    run instead."""
    keys = reader.landscapes()
    path = reader.path
    held = f"{len(keys)} slice{'s' if len(keys) != 1 else ''}" + (f", e.g. {keys[0]}" if keys else "")
    return StoreError(f"{path} is a landscapes store ({held}), not a sweep: '{command}' needs a campaign store. "
                      f"List its slices with 'xrdtui ls {path}', draw one with 'xrdtui figure landscape {path} "
                      f"-o FILE.png' or open it with 'xrdtui open {path}'")


def _campaign(reader, command: str):
    """``reader``, unless its store holds landscapes only (other kinds of task store pass)."""
    from xrdtui.store.layout import KIND_LANDSCAPES

    if reader.info.kind == KIND_LANDSCAPES:
        raise landscapes_only(reader, command)
    return reader


def _store_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.h5") if p.is_file())


def _progress_dict(prog) -> dict:
    return {
        "total": prog.total, "done": prog.done, "failed": prog.failed, "running": prog.running,
        "pending": prog.pending, "live": prog.live, "finished": prog.finished,
        "tasks_per_minute": prog.tasks_per_minute, "eta_s": prog.eta_s, "eta_basis": prog.eta_basis,
        "running_members_done": prog.running_members[0], "running_members": prog.running_members[1],
        "started": prog.started, "last_update": prog.last_update,
    }


@app.command("ls")
def ls_cmd(
    store: Optional[Path] = typer.Argument(
        None, help="A store file, or a folder of stores (default: ./store, or the current folder when it "
                   "holds stores)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """List the campaigns of a folder, or the tasks of one store."""
    if store is None:
        from xrdtui.cli.locations import default_store_location

        store = default_store_location()
        if not store.exists():
            raise StoreError(f"no store folder ./{store} and no .h5 store in the current folder "
                             "(run 'xrdtui run' to make one, or name a store: xrdtui ls STORE)")
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
    columns = ("task", "status", "matched", "rate [95% CI]", "strict [95% CI]", "wall")
    rows, styles = [], []
    for t in tasks:
        done = t.status == "done"
        rows.append((t.task_id, t.status, f"{t.k}/{t.n}" if done else "–",
                     fmt_rate(t.k, t.n, t.lo, t.hi) if done else "–",
                     fmt_strict(t.ks, t.n, t.lo_s, t.hi_s) if done else "–",
                     fmt_duration(t.wall_s) if done else "–"))
        styles.append({"failed": "red", "running": "yellow", "pending": "dim"}.get(t.status, ""))
    if tasks:
        console.print(aligned_table(str(store), columns, rows, right=columns[2:], styles=styles),
                      no_wrap=True, overflow="ignore", crop=False)
    for key in landscapes:
        console.print(f"landscape  {key}")


@app.command()
def status(
    store: Path = typer.Argument(..., help="A store file."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing until the sweep stops."),
) -> None:
    """Progress of a live or finished sweep (reads only the progress table: instant on any size)."""
    last = None
    with _open(store) as r:
        _campaign(r, "xrdtui status")
        while True:
            r.refresh()
            prog = r.progress()
            running = [t for t in r.tasks() if t.status == "running"]
            if as_json:
                print_json({"path": str(store), "name": r.info.name, "state": str(prog.state), **_progress_dict(prog),
                            "running_tasks": [{"task_id": t.task_id, "members_done": t.members_done,
                                               "members": t.members, "started_at": t.started_at} for t in running]})
            else:
                change = (prog.done, prog.failed, prog.running, prog.running_members, str(prog.state))
                if change != last:  # --follow prints only when something happened
                    console.print(progress_line(r.info.name, prog))
                    for line in running_lines(running, time.time()):
                        console.print(line)
                    if prog.state == CampaignState.STOPPED:
                        from xrdtui.views.fmt import resume_command

                        console.print(f"stopped before the end: resume with {resume_command(r.info.name, store)}",
                                      markup=False)
                last = change
            if not follow or not prog.live:
                break
            time.sleep(2.0)


def _lattice_cells(values) -> list[str]:
    return [f"{v:.4f}" for v in values]


@app.command()
def show(
    store: Path = typer.Argument(..., help="A store file."),
    path: str = typer.Argument(
        "", help="A task id (structure/noise/level/method/mode), a prefix of one, or a landscape key."),
    member: Optional[int] = typer.Option(None, "--member", "-m", help="Details of one member of a task."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Inspect part of a store: a task's members, one member, a group's match rates, or a landscape."""
    with _open(store) as r:
        tasks = {t.task_id: t for t in r.tasks()}
        if path in r.landscapes():
            return _show_landscape(r.landscape(path), as_json)
        path = canonical_path(path)
        if path in tasks:
            return _show_task(r, tasks[path], member, as_json)
        prefix = path.strip("/")
        chosen = [t for tid, t in tasks.items() if not prefix or tid == prefix or tid.startswith(prefix + "/")]
        if not chosen:
            raise StoreError(f"no task or landscape '{path}' in {store} (see: xrdtui ls {store})")
        if as_json:
            out = {"tasks": [t.__dict__ for t in chosen]}
            if not prefix:
                out["conventions"] = r.info.conventions
                out["structures"] = {n: {"spacegroup": s.spacegroup_symbol, "number": s.spacegroup_number,
                                         "family": s.family, "sites": s.n_sites, "source": s.source,
                                         "cells": {c: len(i.species) for c, i in s.cells.items()}}
                                     for n, s in r.structures().items()}
            return print_json(out)
        from rich.table import Table

        if not prefix:
            console.print(conventions_table(r.info))
            console.print(structures_table(r.structures()))
        table = Table(title=f"{store}:{prefix or '/'}", title_justify="left", header_style="bold")
        for col in ("task", "status", "matched", "rate [95% CI]", "strict [95% CI]"):
            table.add_column(col)
        for t in chosen:
            table.add_row(t.task_id, t.status, f"{t.k}/{t.n}", fmt_rate(t.k, t.n, t.lo, t.hi),
                          fmt_strict(t.ks, t.n, t.lo_s, t.hi_s))
        console.print(table)


def conventions_table(info):
    """Every setting the campaign ran with (``StoreInfo.conventions``), one row per table."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"{info.name}: conventions (stored with the campaign)", title_justify="left",
                  header_style="bold", show_header=False)
    table.add_column("table", style="bold")
    table.add_column("settings", overflow="fold")
    if not info.conventions:
        table.add_row("–", "not recorded (a store written before conventions were stored)")
    for name, values in info.conventions.items():
        text = ", ".join(f"{k}={v}" for k, v in values.items()) if isinstance(values, dict) else str(values)
        table.add_row(escape(f"[{name}]"), escape(text))
    return table


def structures_table(structures: dict):
    """The ground truths: space group, family, sites per cell and where their facts come from."""
    from rich.table import Table

    table = Table(title="ground truths", title_justify="left", header_style="bold")
    for col in ("structure", "space group", "family", "sites", "source"):
        table.add_column(col, overflow="fold")
    for name, s in structures.items():
        sites = ", ".join([f"{s.n_sites} conventional", *(f"{len(i.species)} {c}" for c, i in s.cells.items())])
        table.add_row(name, f"{s.spacegroup_symbol} ({s.spacegroup_number})", s.family, sites, s.source or "–")
    return table


def verdict(res, b: int) -> str:
    """One member's verdict in words: the paper's metric and the strict one."""
    paper = "matched (paper)" if res.matched[b] else "not matched (paper)"
    if res.recovered is None:
        return paper
    return f"{paper}, {'recovered' if res.recovered[b] else 'not recovered'} (strict)"


def _member_errors(res, b: int) -> dict:
    keys = ("recovered", "strict_rms", "length_error", "angle_error", "site_error")
    out = {}
    for key in keys:
        value = getattr(res, key)
        out[key] = None if value is None else (bool(value[b]) if key == "recovered" else float(value[b]))
    return out


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
    truth = None if truth is None else truth.in_cell(rec.info.cell)
    if member is not None:
        if not 0 <= member < rec.info.n_members:
            raise StoreError(f"member {member} out of range 0..{rec.info.n_members - 1}")
        data = {
            "task": row.task_id, "member": member, "cell": rec.info.cell, "matched": bool(res.matched[member]),
            "rms": float(res.rms[member]), **_member_errors(res, member), "verdict": verdict(res, member),
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

        table = Table(title=f"{row.task_id} member {member} ({rec.info.cell} cell)", title_justify="left",
                      header_style="bold")
        table.add_column("")
        for name in PARAM_NAMES:
            table.add_column(name, justify="right")
        if truth is not None:
            table.add_row("ground truth", *_lattice_cells(truth.lattice))
        table.add_row("distorted", *_lattice_cells(res.init_lattice[member]))
        table.add_row("final", *_lattice_cells(res.final_lattice[member]))
        console.print(table)
        errors = "" if data["length_error"] is None else (
            f"  lengths within {100 * data['length_error']:.2f} %, angles within {data['angle_error']:.2f}°, "
            f"sites rms {data['site_error']:.3f}")
        console.print(f"{data['verdict']}  rms {data['rms']:.4f}{errors}")
        console.print(f"final loss {data['final_loss']:.5g}  similarity {data['final_similarity']:.4f}  "
                      f"steps {data['steps']}" + (f"  failed: {data['reason']}" if data["failed"] else ""))
        return
    members = [
        {"member": b, "matched": bool(res.matched[b]), "rms": float(res.rms[b]), **_member_errors(res, b),
         "final_loss": float(res.final_loss[b]), "final_similarity": float(res.final_similarity[b]),
         "steps": int(res.n_steps[b]), "converged": bool(res.converged[b]), "failed": bool(res.failed[b]),
         "reason": res.reasons[b]}
        for b in range(rec.info.n_members)
    ]
    if as_json:
        return print_json({"task": row.task_id, "cell": rec.info.cell, "k": res.k, "n": res.n, "lo": res.lo,
                           "hi": res.hi, "ks": res.ks, "lo_strict": res.lo_s, "hi_strict": res.hi_s,
                           "wall_s": res.wall_s, "members": members})
    from rich.table import Table

    strict = f"; recovered {res.ks}/{res.n} = {fmt_strict(res.ks, res.n, res.lo_s, res.hi_s)} (strict)"
    table = Table(title=f"{row.task_id}: matched {res.k}/{res.n} = {fmt_rate(res.k, res.n, res.lo, res.hi)} "
                        f"(paper){strict if res.recovered is not None else ''}",
                  title_justify="left", header_style="bold")
    for col in ("member", "matched", "recovered", "rms", "Δl max", "Δangle", "sites", "final loss", "similarity",
                "steps", "note"):
        table.add_column(col, justify="right" if col not in ("note",) else "left")

    def num(x, fmt):
        return "–" if x is None or not math.isfinite(x) else format(x, fmt)

    for m in members:
        recovered = "–" if m["recovered"] is None else ("[green]yes[/green]" if m["recovered"] else "[red]no[/red]")
        table.add_row(str(m["member"]), "[green]yes[/green]" if m["matched"] else "[red]no[/red]", recovered,
                      num(m["rms"], ".4f"),
                      num(None if m["length_error"] is None else 100 * m["length_error"], ".2f") + " %",
                      num(m["angle_error"], ".2f") + "°", num(m["site_error"], ".3f"), f"{m['final_loss']:.5g}",
                      f"{m['final_similarity']:.4f}", str(m["steps"]), m["reason"] if m["failed"] else "")
    console.print(table)


def _show_landscape(rec, as_json: bool) -> None:
    minima = [m.__dict__ for m in rec.minima]
    if as_json:
        return print_json({"key": rec.key, "objective": rec.objective, "p1": rec.p1, "p2": rec.p2,
                           "shape": list(rec.grid.shape), "minima": minima,
                           "paths": [{"mode": p.mode, "steps": len(p.points), "final_loss": p.final_loss}
                                     for p in rec.paths]})
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
    paired: bool = typer.Option(False, "--paired", help="Every method against a reference series on the same "
                                "members: paired differences with 95 % intervals and the cost per member."),
    reference: str = typer.Option("cosine/projected", "--reference", help="With --paired: the METHOD/MODE "
                                  "every other series is set against."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """XRD descent (free / projected) against relaxation and baseline methods per noise type and level
    (paper Figure 7a); with --paired, every method against a reference on the same members.

    Each cell gives its members matched / judged: a method run on fewer members ([chgnet] members) says so."""
    from xrdtui.jobs.comparison import comparison
    from xrdtui.methods import method_info
    from xrdtui.vocab import MethodKind

    with _open(store) as r:
        _campaign(r, "xrdtui compare")
        if paired:
            return _paired_compare(r, store, reference, as_json)
        if loss is not None:
            descent = sorted({t.method for t in r.tasks() if method_info(t.method).kind == MethodKind.DESCENT})
            if loss not in descent:
                raise typer.BadParameter(f"no '{loss}' descent runs in {store} (descent methods here: "
                                         f"{', '.join(descent) or 'none'})", param_hint="--loss")
        cmp = comparison(r, loss)
    if as_json:
        return print_json([{k: ({"k": v.k, "n": v.n, "rate": v.rate, "lo": v.lo, "hi": v.hi}
                                 if hasattr(v, "k") else v) for k, v in row.items()} for row in cmp.rows])
    console.print(compare_table(cmp, title=f"{store}: match rate [95% Jeffreys interval]"))


def _paired_compare(reader, store: Path, reference: str, as_json: bool) -> None:
    from rich.table import Table

    from xrdtui.report.data import load
    from xrdtui.report.methods import gains_table, method_gains

    ref = tuple(reference.split("/"))
    data = load(reader, starts=False)
    series = sorted({f"{k[3]}/{k[4]}" for k in data.members})
    if len(ref) != 2 or reference not in series:
        raise typer.BadParameter(f"no {reference!r} series in {store} (series here: {', '.join(series) or 'none'})",
                                 param_hint="--reference")
    gains = method_gains(data, ref)
    if as_json:
        return print_json([g.as_dict() for g in gains])
    header, rows = gains_table(gains)
    table = Table(title=f"{store}: every method against {reference} on the same members", title_justify="left",
                  header_style="bold", caption="Δ: paired difference of the rates, percentage points, 95 % bootstrap "
                  "interval over members; cost: worker seconds per member over the reference's")
    for i, name in enumerate(header):
        table.add_column(name, justify="left" if i < 4 else "right")
    for row in rows:
        table.add_row(*row)
    console.print(table)


@app.command()
def export(
    store: Optional[Path] = typer.Argument(None, help="A campaign store file."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="CSV file to write ('-' for standard output)."),
    wide: bool = typer.Option(False, "--wide", help="Match-rate table (one row per task) instead of per member."),
    trajectories: bool = typer.Option(False, "--trajectories",
                                      help="Per-step objective and lattice (task, member, step, loss/energy, "
                                           "a..gamma)."),
    coords: bool = typer.Option(False, "--coords", help="With --trajectories: also the per-step fractional coordinates "
                                "of the tasks that store them, in FILE.coords.csv (long: one row per site)."),
    conventions: bool = typer.Option(False, "--conventions", help="The campaign's settings as JSON instead of a CSV."),
    describe: bool = typer.Option(False, "--describe",
                                  help="Print the data dictionary (every column, its unit and meaning)."),
    task: Optional[str] = typer.Option(None, "--task",
                                       help="Only tasks whose id matches this glob, e.g. 'U2Ti/lattice/0.08/*'."),
    cif: Optional[Path] = typer.Option(None, "--cif",
                                       help="Write structures (one CIF per member) into this folder instead of a CSV."),
    member: Optional[int] = typer.Option(None, "--member", "-m", min=0, help="--cif: only this member of each task."),
    stage: str = typer.Option("final", "--stage", help="--cif: final, initial (the distorted start) or truth."),
    symprec: float = typer.Option(0.01, "--symprec", min=0.0, help="--cif: spglib tolerance (Å) for the symmetry "
                                  "written (the refined, symmetrised cell); 0 writes the stored cell as P1."),
    poscar: bool = typer.Option(False, "--poscar", help="--cif: write VASP POSCAR files (.vasp) instead of CIF."),
) -> None:
    """Write a tidy CSV: per-member results (default), match rates (--wide) or per-step trajectories
    (--trajectories [--coords]), with the campaign's conventions beside it (FILE.conventions.json);
    --conventions writes only those; --cif DIR writes structures; --describe prints the data dictionary."""
    from xrdtui.cli import export as ex

    if describe:
        kinds = ["wide"] if wide else ["trajectories", "coordinates"] if trajectories else list(ex.TABLES)
        console.print(ex.describe_markdown(kinds), markup=False, highlight=False)
        return
    if store is None:
        raise typer.BadParameter("give the store to export (or --describe for the data dictionary)", param_hint="STORE")
    if sum((wide, trajectories, conventions, cif is not None)) > 1:
        raise typer.BadParameter("choose one of --wide, --trajectories, --conventions and --cif")
    if coords and not trajectories:
        raise typer.BadParameter("--coords goes with --trajectories", param_hint="--coords")
    if stage not in ex.STAGES:
        raise typer.BadParameter(f"choose one of {', '.join(ex.STAGES)}", param_hint="--stage")
    if cif is None and output is None and not conventions:
        raise typer.BadParameter("give the CSV file to write (-o FILE.csv, '-' for standard output) or --cif DIR",
                                 param_hint="--output")
    pattern = canonical_path(task) if task else None
    with _open(store) as r:
        _campaign(r, "xrdtui export")
        if cif is not None:
            done = ex.write_structures(r, cif, pattern=pattern, member=member, stage=stage,
                                       symprec=symprec or None, poscar=poscar)
            what = "POSCAR" if poscar else "CIF"
            sym = "P1, the stored cells" if done.symprec is None else f"symmetry at symprec {done.symprec:g} Å"
            console.print(f"wrote {len(done.files)} {what} files ({stage} structures, {sym}) to {cif}")
            for line in done.skipped:
                console.print(f"  skipped {line}")
            return
        if conventions:
            out = output or Path("-")
            ex.write_conventions(r, out)
            if str(out) != "-":
                console.print(f"wrote the conventions of {r.info.name} to {out}")
            return
        kind = "wide" if wide else "trajectories" if trajectories else "members"
        n = ex.write_csv(r, output, kind, pattern)
        extra = ""
        if coords:
            if str(output) == "-":
                raise typer.BadParameter("--coords writes FILE.coords.csv beside -o FILE.csv: give a file",
                                         param_hint="--coords")
            side_coords = ex.coordinates_path(output)
            extra = f", {ex.write_csv(r, side_coords, 'coordinates', pattern)} coordinate rows to {side_coords}"
        if str(output) != "-":
            side = ex.conventions_path(output)
            ex.write_conventions(r, side)
            console.print(f"wrote {n} rows to {output}{extra} (conventions: {side})")
