"""``xrdtui landscape``: 2-D slices of an objective over pairs of lattice parameters, stored in a store.

Per slice: the grid (xrdtui.engine.landscape.landscape_grid), its minima ranked by depth with the XRD
pattern of each stored minimum, and (for XRD losses) gradient-descent paths from the chosen starts in
the three modes (descent_paths), appended atomically to the store (xrdtui.store.writer.append_landscape).
The ground-truth structure goes with each slice as pymatgen JSON (attr ``structure_json``), so figures
can recompute patterns without the original file.
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import typer

from xrdtui.cli.main import DEFAULT_STORE_DIR, app
from xrdtui.cli.render import console, err_console
from xrdtui.errors import ConfigError

PARAM_NAMES = ("a", "b", "c", "alpha", "beta", "gamma")
PATH_MODES = ("free", "free-from-projected-init", "projected")
CHGNET = "chgnet"
DEFAULT_START = (0.2, 0.8)  # default start: this fraction along each axis (inside the slice, off the diagonal)
MAX_POINTS = 2001


@dataclass(frozen=True)
class SliceRequest:
    """One slice to compute: parameter names, axis bounds (absolute, Å or degrees) and points per axis."""

    p1: str
    p2: str
    bounds1: tuple[float, float]
    bounds2: tuple[float, float]
    points: tuple[int, int]


# ------------------------------------------------------------------------------------ option parsing


def parse_floats(text: str, n: int, what: str) -> tuple[float, ...]:
    """``"lo,hi"`` -> floats; ConfigError naming ``what`` unless there are exactly ``n`` finite numbers."""
    parts = [p.strip() for p in str(text).split(",")]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        raise ConfigError(f"{what} must be {n} comma-separated numbers, got {text!r}") from None
    if len(values) != n or not all(math.isfinite(v) for v in values):
        raise ConfigError(f"{what} must be {n} comma-separated finite numbers, got {text!r}")
    return values


def parse_pairs(text: str) -> list[tuple[str, str]]:
    """``"a,c"`` -> [("a", "c")]; ``"all"`` -> the 15 pairs in (a, b, c, alpha, beta, gamma) order."""
    from itertools import combinations

    aliases = {"α": "alpha", "β": "beta", "γ": "gamma"}
    if text.strip().lower() == "all":
        return list(combinations(PARAM_NAMES, 2))
    names = [aliases.get(p.strip(), p.strip().lower()) for p in text.split(",")]
    bad = [n for n in names if n not in PARAM_NAMES]
    if bad:
        raise ConfigError(f"unknown lattice parameter {bad[0]!r} in --params; choose two of {', '.join(PARAM_NAMES)} or 'all'")
    if len(names) != 2 or names[0] == names[1]:
        raise ConfigError(f"--params needs two different lattice parameters (e.g. a,c) or 'all', got {text!r}")
    # Canonical order, so a,c and c,a are the same stored slice (the command swaps ranges and
    # starts to match, see ``given_in_reverse``).
    names.sort(key=PARAM_NAMES.index)
    return [(names[0], names[1])]


def given_in_reverse(text: str) -> bool:
    """True when --params names its pair against the canonical order (e.g. c,a): --range1/--range2
    and the start coordinates then refer to the stored slice's second and first axes."""
    aliases = {"α": "alpha", "β": "beta", "γ": "gamma"}
    names = [aliases.get(p.strip(), p.strip().lower()) for p in text.split(",")]
    return len(names) == 2 and all(n in PARAM_NAMES for n in names) and PARAM_NAMES.index(names[0]) > PARAM_NAMES.index(names[1])


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


def check_bounds(name: str, lo: float, hi: float) -> tuple[float, float]:
    """Absolute range of one parameter: lo < hi, lengths positive, angles inside (0°, 180°)."""
    unit = "Å" if name in PARAM_NAMES[:3] else "°"
    if not hi > lo:
        raise ConfigError(f"bad range for {name}: {lo:g}..{hi:g} {unit} (need lo < hi)")
    if name in PARAM_NAMES[:3] and lo <= 0:
        raise ConfigError(f"bad range for {name}: lengths must be positive, got {lo:g}..{hi:g} Å")
    if name in PARAM_NAMES[3:] and not (0 < lo and hi < 180):
        raise ConfigError(f"bad range for {name}: angles must lie inside 0..180°, got {lo:g}..{hi:g}°")
    return lo, hi


def slice_requests(pairs, truth, span: float, range1: Optional[str], range2: Optional[str],
                   points: tuple[int, int]) -> list[SliceRequest]:
    """Absolute bounds of every slice: ``truth * (1 ± span)`` unless ``--range1/--range2`` give them."""
    if not (0 < span < 1):
        raise ConfigError(f"--span is a relative half-width and must lie in (0, 1), got {span:g}")
    if (range1 or range2) and len(pairs) > 1:
        raise ConfigError("--range1/--range2 need one pair in --params (use --span with --params all)")
    out = []
    for p1, p2 in pairs:
        bounds = []
        for name, given in ((p1, range1), (p2, range2)):
            t = float(truth[PARAM_NAMES.index(name)])
            lo, hi = parse_floats(given, 2, f"the range of {name}") if given else (t * (1 - span), t * (1 + span))
            bounds.append(check_bounds(name, lo, hi))
        out.append(SliceRequest(p1, p2, bounds[0], bounds[1], points))
    return out


def slice_starts(req: SliceRequest, truth, starts_rel: list[str], starts_abs: list[str],
                 reverse: bool = False) -> list[tuple[float, float]]:
    """Descent starts in slice coordinates: relative factors of the truth (``--start``), absolute
    values (``--start-at``), or by default the point 20 % along the first axis and 80 % along the
    second. ``reverse``: the given values are in (p2, p1) order. Every start must lie inside the slice."""
    t1, t2 = float(truth[PARAM_NAMES.index(req.p1)]), float(truth[PARAM_NAMES.index(req.p2)])
    order = (lambda v: v[::-1]) if reverse else (lambda v: v)
    starts = []
    for text in starts_rel:
        f1, f2 = order(parse_floats(text, 2, "--start"))
        starts.append((t1 * f1, t2 * f2))
    for text in starts_abs:
        starts.append(order(parse_floats(text, 2, "--start-at")))
    if not starts:
        (lo1, hi1), (lo2, hi2) = req.bounds1, req.bounds2
        starts.append((lo1 + DEFAULT_START[0] * (hi1 - lo1), lo2 + DEFAULT_START[1] * (hi2 - lo2)))
    for s1, s2 in starts:
        (lo1, hi1), (lo2, hi2) = req.bounds1, req.bounds2
        eps1, eps2 = 1e-9 * (hi1 - lo1), 1e-9 * (hi2 - lo2)
        if not (lo1 - eps1 <= s1 <= hi1 + eps1 and lo2 - eps2 <= s2 <= hi2 + eps2):
            raise ConfigError(
                f"start ({s1:.4g}, {s2:.4g}) lies outside the {req.p1}-{req.p2} slice "
                f"[{lo1:.4g}, {hi1:.4g}] x [{lo2:.4g}, {hi2:.4g}]"
            )
    return starts


def check_objective(objective: str) -> str:
    if objective == CHGNET:
        return objective
    from xrdtui.engine.losses import get_loss

    get_loss(objective)  # ConfigError naming the known losses
    return objective


# ------------------------------------------------------------------------------------------ compute


def compute_slice(structure, name: str, req: SliceRequest, objective: str, *, n_minima: int, starts, steps: int,
                  tied: bool, extra_attrs: dict, progress=None):
    """The LandscapeRecord of one slice: grid, top ``n_minima`` minima with patterns, and descent paths from
    ``starts`` (none when empty) in the three modes. ``progress(done_units)`` counts grid points,
    then one unit per mode."""
    import numpy as np

    from xrdtui.engine.landscape import descent_paths, landscape_grid
    from xrdtui.engine.optimize import OptimizerSettings
    from xrdtui.engine.simulator import PatternSettings
    from xrdtui.errors import InputError
    from xrdtui.store.records import LandscapeMinimum, LandscapePath, LandscapeRecord

    n_grid = req.points[0] * req.points[1]
    kwargs = dict(bounds=(req.bounds1, req.bounds2), resolution=req.points, tied=tied, n_patterns=n_minima,
                  progress=(lambda done, total: progress(done)) if progress else None)
    t0 = time.perf_counter()
    if objective == CHGNET:
        from xrdtui.engine.relax import chgnet_energies

        land = landscape_grid(structure, (req.p1, req.p2), "energy", energy_fn=chgnet_energies, chunk=64, **kwargs)
    else:
        land = landscape_grid(structure, (req.p1, req.p2), objective, chunk=1024, **kwargs)
    grid_s = time.perf_counter() - t0
    if not np.isfinite(land.values).any():
        raise InputError(f"every cell of the {req.p1}-{req.p2} slice is invalid (degenerate cells); narrow the range")

    top = land.minima[:n_minima]
    minima = [LandscapeMinimum(r, m.index[0], m.index[1], float(m.coords[0]), float(m.coords[1]), float(m.value),
                               float(m.depth)) for r, m in enumerate(top)]
    two_theta = land.two_theta if land.two_theta is not None else PatternSettings().two_theta
    patterns = land.minima_patterns[: len(top)] if land.minima_patterns is not None else np.zeros((0, len(two_theta)))

    paths = []
    t0 = time.perf_counter()
    target = truth_pattern(structure, land.truth) if starts else None
    for k, mode in enumerate(PATH_MODES if starts else ()):
        with single_thread():
            found = descent_paths(structure, (req.p1, req.p2), np.asarray(starts, dtype=np.float64), mode, objective,
                                  optimizer=OptimizerSettings(max_steps=steps), target=target)
        for start, p in zip(starts, found, strict=True):
            paths.append(LandscapePath(mode=mode, points=p.points, start=np.asarray(start, dtype=np.float64),
                                       final_loss=float(p.final_loss)))
        if progress:
            progress(n_grid + k + 1)
    paths_s = time.perf_counter() - t0

    unit = {n: ("Å" if n in PARAM_NAMES[:3] else "°") for n in PARAM_NAMES}
    attrs = dict(extra_attrs)
    attrs.update(
        points1=req.points[0], points2=req.points[1], tied=bool(tied), family=land.family or "",
        objective_unit="eV/atom" if objective == CHGNET else "dimensionless",
        minima_found=len(land.minima), edge_minima=",".join(str(r) for r, m in enumerate(top) if m.on_edge),
        path_steps=int(steps), path_others="fixed", grid_s=round(grid_s, 3), paths_s=round(paths_s, 3),
    )
    return LandscapeRecord(
        structure=name, objective=objective, p1=req.p1, p2=req.p2, axis1=land.x, axis2=land.y,
        unit1=unit[req.p1], unit2=unit[req.p2], grid=land.values.astype("float32"), truth=land.truth,
        minima=minima, minima_patterns=np.asarray(patterns, dtype="float32"), two_theta=np.asarray(two_theta),
        paths=paths, attrs=attrs,
    )


@contextmanager
def single_thread():
    """Run torch on one thread inside: a descent steps a batch of a few cells, too small to gain from
    intra-op threads, and on a busy machine extra threads only contend (measured 7.6 s vs 43 s for
    three U2Ti paths with two threads on a loaded 2-core machine)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def truth_pattern(structure, truth):
    """The ground truth's pattern [M], the descent target. Computed under ``no_grad`` rather than
    ``inference_mode``: tensors a simulator caches during an inference-mode call cannot take part in
    the autograd of a later descent."""
    import numpy as np
    import torch

    from xrdtui.engine.simulator import XRDSimulator

    with torch.no_grad():
        sim = XRDSimulator(structure, strain_margin=0.05)
        return sim.pattern(torch.as_tensor(np.asarray(truth, dtype=np.float64)[None]), None)[0].float().numpy()


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
        paths = objective != CHGNET
    if paths and objective == CHGNET:
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
