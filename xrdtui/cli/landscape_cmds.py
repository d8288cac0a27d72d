"""``xrdtui landscape``: 2-D slices of an objective over pairs of lattice parameters, stored in a store.

Per slice: the grid (xrdtui.engine.landscape.landscape_grid), its minima ranked by depth with the XRD
pattern of each stored minimum, and (for XRD losses) gradient-descent paths from the chosen starts in
the three modes (descent_paths), appended atomically to the store (xrdtui.store.writer.append_landscape).
The ground-truth structure goes with each slice as pymatgen JSON (attr ``structure_json``), so figures
can recompute patterns without the original file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from xrdtui.cli.main import DEFAULT_STORE_DIR, app
from xrdtui.cli.render import console, err_console
from xrdtui.errors import ConfigError
from xrdtui.jobs.landscapes import (
    PATH_MODES,
    check_objective,
    compute_slice,
    slice_requests,
    slice_starts,
)
from xrdtui.methods import is_energy_objective as is_energy
from xrdtui.vocab import PARAM_NAMES, param_index, param_name

MAX_POINTS = 2001


# ------------------------------------------------------------------------------------ option parsing


def parse_pairs(text: str) -> list[tuple[str, str]]:
    """``"a,c"`` -> [("a", "c")]; ``"all"`` -> the 15 pairs in (a, b, c, alpha, beta, gamma) order."""
    from itertools import combinations

    if text.strip().lower() == "all":
        return list(combinations(PARAM_NAMES, 2))
    names = []
    for part in text.split(","):
        try:
            names.append(param_name(part))
        except ConfigError:
            raise ConfigError(f"unknown lattice parameter {part.strip()!r} in --params; choose two of "
                              f"{', '.join(PARAM_NAMES)} or 'all'") from None
    if len(names) != 2 or names[0] == names[1]:
        raise ConfigError(f"--params needs two different lattice parameters (e.g. a,c) or 'all', got {text!r}")
    # Canonical order, so a,c and c,a are the same stored slice (the command swaps ranges and
    # starts to match, see ``given_in_reverse``).
    names.sort(key=PARAM_NAMES.index)
    return [(names[0], names[1])]


def given_in_reverse(text: str) -> bool:
    """True when --params names its pair against the canonical order (e.g. c,a): --range1/--range2
    and the start coordinates then refer to the stored slice's second and first axes."""
    try:
        first, second = (param_index(p) for p in text.split(","))
    except (ConfigError, ValueError):
        return False
    return first > second


def parse_points(text: str) -> tuple[int, int]:
    parts = [p.strip() for p in str(text).split(",")]
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise ConfigError(f"--points must be N or N1,N2 (integers), got {text!r}") from None
    if len(values) == 1:
        values = values * 2
    if len(values) != 2 or not all(2 <= v <= MAX_POINTS for v in values):
        raise ConfigError(f"--points must be N or N1,N2 with 2 <= N <= {MAX_POINTS}, got {text!r}")
    return values[0], values[1]


def existing_keys(store: Path) -> set[str]:
    if not store.exists():
        return set()
    from xrdtui.store.reader import StoreReader

    with StoreReader.open(store) as reader:
        return set(reader.landscapes())


# ------------------------------------------------------------------------------------------ command


@app.command("landscape")
def landscape_cmd(
    structure: str = typer.Argument(..., help="A benchmark name (e.g. U2Ti) or a CIF / pymatgen-JSON file."),
    params: str = typer.Option("a,c", "--params", "-p", help="Two lattice parameters (a,b,c,alpha,beta,gamma), e.g. a,c; or 'all' for the 15 slices."),
    objective: str = typer.Option("cosine", "--objective", help="cosine | mse | entropy (XRD losses vs the truth's pattern) | chgnet (CHGNet energy, eV/atom)."),
    span: float = typer.Option(0.15, "--span", help="Relative half-width of each axis around the truth (0.15 = ±15 %)."),
    range1: Optional[str] = typer.Option(None, "--range1", help="Absolute range lo,hi of the first parameter (Å or degrees); overrides --span."),
    range2: Optional[str] = typer.Option(None, "--range2", help="Absolute range lo,hi of the second parameter."),
    points: str = typer.Option("101", "--points", help="Grid points per axis: N, or N1,N2."),
    paths: Optional[bool] = typer.Option(None, "--paths/--no-paths", help="Gradient-descent paths in the three modes (default: on for XRD losses, off for chgnet)."),
    start: list[str] = typer.Option([], "--start", help="Path start as factors of the truth, e.g. 0.9,1.1 (repeatable)."),
    start_at: list[str] = typer.Option([], "--start-at", help="Path start in absolute units (Å, degrees), e.g. 4.5,3.0 (repeatable)."),
    minima: int = typer.Option(5, "--minima", min=1, max=50, help="How many of the deepest minima to store (each with its XRD pattern)."),
    steps: int = typer.Option(300, "--steps", min=1, help="Most gradient-descent steps per path."),
    tied: bool = typer.Option(False, "--tied", help="Evaluate each point after the crystal-family slice projection (the landscape projected descent sees)."),
    store: Path = typer.Option(DEFAULT_STORE_DIR / "landscapes.h5", "--store", "-o", help="Store file (created when missing)."),
    replace: bool = typer.Option(False, "--replace", help="Overwrite slices already in the store."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Loss or energy landscape on 2-D slices of a structure's lattice parameters (the other four held at the truth)."""
    from xrdtui.engine.structures import lattice_params, resolve_structure
    from xrdtui.store.layout import landscape_key

    objective = check_objective(objective.strip().lower())
    pairs = parse_pairs(params)
    grid_points = parse_points(points)
    name, struct = resolve_structure(structure)
    truth = lattice_params(struct)
    reverse = given_in_reverse(params)
    if reverse:
        range1, range2 = range2, range1
    requests = slice_requests(pairs, truth, span, range1, range2, grid_points)
    if paths is None:
        paths = not is_energy(objective)
    if paths and is_energy(objective):
        raise ConfigError("descent paths follow an XRD loss; use --no-paths with --objective chgnet")
    if (start or start_at) and not paths:
        raise ConfigError("--start/--start-at place descent paths; drop them or use --paths")
    if start_at and len(pairs) > 1:
        raise ConfigError("--start-at gives absolute values for one pair; use --start (relative) with --params all")
    starts = {(r.p1, r.p2): slice_starts(r, truth, start, start_at, reverse) if paths else [] for r in requests}

    keys = {(r.p1, r.p2): landscape_key(name, objective, r.p1, r.p2) for r in requests}
    if not replace:
        clash = sorted(set(keys.values()) & existing_keys(store))
        if clash:
            raise ConfigError(f"{store} already holds {clash[0]}{' and more' if len(clash) > 1 else ''}; use --replace")

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from xrdtui.store.writer import append_landscape

    units = [r.points[0] * r.points[1] + (len(PATH_MODES) if paths else 0) for r in requests]
    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TimeRemainingColumn(), console=err_console, disable=quiet,
    )
    extra = {"source": structure, "structure_json": struct.to_json(), "span": float(span),
             "relative_range": not (range1 or range2)}
    if not quiet:
        err_console.print(f"[bold]xrdtui landscape[/bold] {name} ({objective}, {len(requests)} slice"
                          f"{'s' if len(requests) > 1 else ''}, {grid_points[0]}x{grid_points[1]}) -> {store}")
    done = 0
    results = []
    with progress:
        bar = progress.add_task(name, total=sum(units))
        for req, n_units in zip(requests, units, strict=True):
            progress.update(bar, description=f"{name} {objective} {req.p1}-{req.p2}")
            base = done
            record = compute_slice(
                struct, name, req, objective, n_minima=minima, starts=starts[(req.p1, req.p2)], steps=steps, tied=tied,
                extra_attrs=extra, progress=lambda d, base=base: progress.update(bar, completed=base + d),
            )
            append_landscape(store, record, replace=replace)
            done = base + n_units
            progress.update(bar, completed=done)
            results.append(record)
    _summary(results, store)


def _summary(records, store: Path) -> None:
    from rich.table import Table

    table = Table(title=f"landscapes stored in {store}", title_justify="left", header_style="bold")
    for col in ("slice", "grid", "min", "minima", "deepest at", "paths: final loss"):
        table.add_column(col, justify="left" if col in ("slice", "deepest at", "paths: final loss") else "right")
    for r in records:
        m = r.minima[0] if r.minima else None
        where = f"{r.p1}={m.p1:.4g} {r.unit1}, {r.p2}={m.p2:.4g} {r.unit2}" if m else "–"
        finals = ", ".join(f"{p.mode} {p.final_loss:.4g}" for p in r.paths) or "–"
        table.add_row(r.key, f"{r.grid.shape[0]}x{r.grid.shape[1]}", f"{float(r.grid[r.grid == r.grid].min()):.4g}",
                      str(len(r.minima)), where, finals)
    console.print(table)
    console.print(f"next: [bold]xrdtui figure landscape {store}[/bold] -o landscape.png")
