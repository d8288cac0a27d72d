"""``xrdtui refine``: refine candidate structures against a target structure or a measured pattern.

Heavy imports (torch, pymatgen, h5py, pybaselines) happen inside the command; this module loads only typer.
"""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path
from typing import Optional

import typer

from xrdtui.cli.main import app
from xrdtui.refine import (DEFAULT_BACKGROUND_WINDOW, DEFAULT_LEVEL, DEFAULT_METHOD, DEFAULT_SYMPREC,
                           DEFAULT_WAVELENGTH)


def parse_settings(items: list[str]) -> dict[str, dict]:
    """``table.key=value`` items -> {table: {key: value}}; values are TOML (``8``, ``1e-6``, ``true``,
    ``"gd"``), a bare word is a string. ConfigError for a malformed item."""
    import tomllib

    from xrdtui.errors import ConfigError

    out: dict[str, dict] = {}
    for item in items:
        name, eq, raw = item.partition("=")
        table, dot, key = name.strip().partition(".")
        if not (eq and dot and table and key and raw.strip()):
            raise ConfigError(f"--set {item!r}: expected table.key=value, e.g. multistart.starts=8")
        try:
            value = tomllib.loads(f"v = {raw.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw.strip()
        out.setdefault(table, {})[key.strip()] = value
    return out


@app.command()
def refine(
    candidates: list[Path] = typer.Argument(..., help="Candidate CIF / pymatgen JSON files, or folders of them."),
    target: Path = typer.Option(..., "--target", "-t", help="A structure (CIF/JSON), or a measured pattern "
                                "(.xy .xye .csv .dat .txt: 2θ, intensity[, σ])."),
    method: str = typer.Option(DEFAULT_METHOD, "--method", "-m", help="A registry method (xrdtui methods)."),
    family: str = typer.Option("auto", "--family", help="auto | cubic | hexagonal | tetragonal | orthorhombic | "
                               "monoclinic | triclinic (auto: the target structure's, else the candidate's)."),
    wavelength: float = typer.Option(DEFAULT_WAVELENGTH, "--wavelength", help="X-ray wavelength in Å (Cu Kα1)."),
    noise: str = typer.Option("lattice", "--noise", help="Where the candidate's errors are: lattice (the cell "
                              "moves) or coords (the coordinates move)."),
    level: float = typer.Option(DEFAULT_LEVEL, "--level", help="Their expected size (multistart's box)."),
    symprec: float = typer.Option(DEFAULT_SYMPREC, "--symprec", help="Loose symmetry tolerance (Å) that puts "
                                  "each candidate in its conventional setting."),
    background: float = typer.Option(DEFAULT_BACKGROUND_WINDOW, "--background-window",
                                     help="SNIP half-window (degrees 2θ) for a measured pattern's background."),
    settings: list[str] = typer.Option([], "--set", help="A settings table value, e.g. multistart.starts=8 or "
                                       "optimizer.max_steps=500 (repeatable)."),
    store: Optional[Path] = typer.Option(None, "--store", "-o", help="Store file (default: "
                                         "store/refine-<target>.h5)."),
    cif: Optional[Path] = typer.Option(None, "--cif", help="Folder for the refined structures as CIFs."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing store."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
    device: str = typer.Option("cpu", "--device", help="Torch device: cpu, cuda or cuda:N."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
    log_every: float = typer.Option(10.0, "--log-every", min=0.0,
                                    help="Without a terminal: a progress line every this many seconds (0: none)."),
) -> None:
    """Refine candidate structures against a target with the study's simulator and a recovery method."""
    from xrdtui.errors import terminate_as_interrupt
    from xrdtui.refine.workflow import RefineOptions
    from xrdtui.refine.workflow import refine as run_refine

    terminate_as_interrupt()
    options = RefineOptions(method=method, family=family.strip().lower(), wavelength=wavelength, noise=noise,
                            level=level, symprec=symprec, background_window=background,
                            tables=parse_settings(settings), store=store, cif_dir=cif, overwrite=overwrite,
                            device=device, command=shlex.join(["xrdtui", "refine", *sys.argv[2:]]))
    with _Progress(quiet, log_every) as progress:
        report = run_refine(candidates, target, options, on_event=progress.event)
    if as_json:
        from xrdtui.cli.render import print_json

        return print_json(report.as_dict())
    _print_report(report)


class _Progress:
    """A rich progress bar on a terminal; plain time-stamped lines on stderr otherwise."""

    def __init__(self, quiet: bool, log_every: float):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from xrdtui.cli.render import err_console

        self.console = err_console
        self.quiet = quiet
        self.lines = not err_console.is_terminal and log_every > 0 and not quiet
        self.log_every, self.last = log_every, 0.0
        self.bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[info]}", style="dim"), TimeElapsedColumn(),
                            console=err_console, disable=quiet or not err_console.is_terminal)
        self.task = None

    def __enter__(self):
        self.bar.__enter__()
        return self

    def __exit__(self, *exc):
        self.bar.__exit__(*exc)

    def event(self, e) -> None:
        if e.kind == "start":
            self._line(f"refine: {e.message}", force=True)
            return
        if e.kind == "batch":
            description = f"batch {e.batch}/{e.batches} ({e.members} candidate{'s' if e.members != 1 else ''})"
            if self.task is None:
                self.task = self.bar.add_task(description, total=max(e.max_steps, 1), info="")
            self.bar.update(self.task, description=description, total=max(e.max_steps, 1), completed=0)
            return
        if e.kind == "step" and self.task is not None:
            info = f"best objective {e.best:.4f}; {e.done}/{e.total} candidates done"
            self.bar.update(self.task, completed=e.step, info=info)
            self._line(f"refine: batch {e.batch}/{e.batches} step {e.step}/{e.max_steps}, {info}")
        elif e.kind == "batch-done":
            if self.task is not None:
                self.bar.update(self.task, completed=self.bar.tasks[0].total, info=f"{e.done}/{e.total} done")
            self._line(f"refine: batch {e.batch}/{e.batches} done; {e.done}/{e.total} candidates done", force=True)

    def _line(self, text: str, force: bool = False) -> None:
        if not self.lines or not (force or time.monotonic() - self.last >= self.log_every):
            return
        self.last = time.monotonic()
        self.console.print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}", markup=False, highlight=False,
                           soft_wrap=True)


def _print_report(report) -> None:
    from rich.table import Table

    from xrdtui.cli.render import console, fmt_duration

    t = report.target
    measured = not t.is_structure
    title = (f"refined against {t.path.name} ({t.kind}, λ = {t.settings.wavelength} Å, 2θ "
             f"{t.settings.two_theta_min:g}-{t.settings.two_theta_min + t.settings.n_points * t.settings.step:g}°): "
             f"{report.method}, {report.mode}")
    table = Table(title=title, title_justify="left", header_style="bold")
    columns = ["candidate", "family (from)", "symmetry", f"start {report.similarity}", f"final {report.similarity}"]
    columns += ["χ²/ν"] if measured and any(r.chi2 is not None for r in report.results) else []
    columns += [] if measured else ["matched", "recovered"]
    columns += ["steps", "time"]
    for col in columns:
        table.add_column(col, justify="left" if col in ("candidate", "family (from)", "symmetry") else "right")
    for r in report.results:
        row = [r.label, f"{r.family} ({r.family_source})", r.spacegroup, f"{r.start_similarity:.4f}",
               "failed" if r.failed else f"{r.final_similarity:.4f}"]
        if "χ²/ν" in columns:
            row.append("–" if r.chi2 is None else f"{r.chi2:.3g}")
        if not measured:
            row += ["yes" if r.matched else "no", "[green]yes[/green]" if r.recovered else "no"]
        batch = f" (batch of {r.batch_size})" if r.batch_size > 1 else ""
        row += [str(r.steps), fmt_duration(r.wall_s) + batch]
        table.add_row(*row)
    console.print(table)
    for note in t.notes:
        console.print(f"[dim]{note}[/dim]")
    for r in report.results:
        if r.failed and r.reason:
            console.print(f"[red]{r.label}[/red]: {r.reason}")
    if not measured:
        n = len(report.results)
        console.print(f"{sum(bool(r.recovered) for r in report.results)}/{n} recovered (strict), "
                      f"{sum(bool(r.matched) for r in report.results)}/{n} matched (paper's matcher)")
    console.print(f"stored in {report.store} ({fmt_duration(report.wall_s)}); "
                  + (f"CIFs in {report.cif_dir}; " if report.cif_dir else "")
                  + f"next: [bold]xrdtui open {report.store}[/bold]")
