"""``xrdtui run``: run or resume a sweep headless, with a rich progress bar and a summary table."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from xrdtui.cli.main import app
from xrdtui.cli.render import compare_table, console, err_console, match_table_view, progress_line

PRESETS_DIR = Path(__file__).resolve().parents[1] / "jobs" / "presets"


def resolve_config_path(config: Optional[str]) -> Path:
    """A TOML path, or the name of a built-in preset ("quick", "paper"); no argument means "quick"."""
    if config is None:
        return PRESETS_DIR / "quick.toml"
    path = Path(config)
    if path.exists() or path.suffix:
        return path
    preset = PRESETS_DIR / f"{config}.toml"
    return preset if preset.exists() else path


@app.command()
def run(
    config: Optional[str] = typer.Argument(
        None, help="Experiment TOML, or a preset name (quick, paper). Default: the built-in quick preset."
    ),
    resume: bool = typer.Option(False, "--resume", help="Finish an interrupted store, skipping finished tasks."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing store instead of failing."),
    workers: Optional[int] = typer.Option(None, "--workers", "-w", min=1, help="Local worker processes (default: cores)."),
    scheduler: Optional[str] = typer.Option(
        None, "--scheduler", help="Dask scheduler address (tcp://host:8786), 'local' for a local Dask cluster, 'inline' to run in this process."
    ),
    store: Optional[Path] = typer.Option(None, "--store", "-o", help="Store file (default: store/<name>.h5)."),
    only: Optional[str] = typer.Option(
        None, "--only", help="Run only tasks whose id matches this glob, e.g. 'U2Ti/*' (others stay pending)."
    ),
    device: Optional[str] = typer.Option(
        None, "--device", help="Torch device for the simulator, descent and CHGNet: cpu (default), cuda, cuda:N.",
    ),
    nice: Optional[int] = typer.Option(
        None, "--nice", min=0, max=19,
        help="Niceness of the local workers (default 10: the shell and the TUI stay responsive; 0: the sweep's own).",
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    log_every: float = typer.Option(
        30.0, "--log-every", min=0.0,
        help="When stderr is not a terminal (nohup, sbatch, a pipe): a progress line every this many seconds (0: none).",
    ),
) -> None:
    """Run a sweep: distort, recover by XRD gradient descent (and CHGNet), match, store everything."""
    from xrdtui.errors import terminate_as_interrupt
    from xrdtui.jobs.config import load_config

    terminate_as_interrupt()  # SIGTERM (kill, sbatch time-out) cleans up like Ctrl+C: one line, exit 143

    cfg = load_config(resolve_config_path(config))
    from xrdtui.jobs.campaign import run_device

    device = run_device(cfg, device, scheduler)  # before the header: a missing GPU is one line
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from xrdtui.jobs.campaign import run_campaign

    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("failed {task.fields[failed]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[last]}", style="dim"),
        console=err_console,
        disable=quiet or not err_console.is_terminal,
        transient=False,
    )
    bar = None
    batch_log = not err_console.is_terminal and log_every > 0
    last_log = [0.0]

    def on_event(event) -> None:
        nonlocal bar
        if batch_log and event.progress is not None and (
                event.kind == "done" or time.monotonic() - last_log[0] >= log_every):
            last_log[0] = time.monotonic()
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            err_console.print(f"{stamp} {progress_line(cfg.name, event.progress, markup=False)}", markup=False,
                              highlight=False, soft_wrap=True)
        if event.kind == "warning":
            err_console.print(f"[yellow]warning:[/yellow] {event.message}", highlight=False)
            return
        if bar is None:
            bar = progress.add_task(cfg.name, total=event.total, completed=event.done, failed=event.failed, last="")
        if event.kind == "start" and event.message:
            err_console.print(f"[dim]{event.message}[/dim]") if not quiet else None
        progress.update(bar, completed=event.done + event.failed, failed=event.failed,
                        last=f"{event.task_id} {event.message}".strip())

    target = Path(store) if store else cfg.store_path
    if target.exists() and not (resume or overwrite) and _already_complete(target, cfg):
        err_console.print(f"{target} already holds this finished campaign (use --overwrite to run it again)")
        return _summary(cfg, target)
    err_console.print(f"[bold]xrdtui run[/bold] {cfg.source} -> {target}") if not quiet else None
    with progress:
        path = run_campaign(
            cfg, store_path=store, resume=resume, overwrite=overwrite, workers=workers, scheduler=scheduler,
            device=device, nice=nice, only=only, on_event=on_event,
        )
    _summary(cfg, path)


def _already_complete(path: Path, cfg) -> bool:
    """True when ``path`` is a finished store of exactly this experiment (same content hash)."""
    from xrdtui.errors import StoreError
    from xrdtui.store.reader import StoreReader

    try:
        with StoreReader.open(path) as reader:
            return reader.progress().finished and reader.info.config_hash == cfg.content_hash
    except StoreError:
        return False  # run_campaign reports the problem with the file


def _summary(cfg, path: Path) -> None:
    from xrdtui.store.reader import StoreReader

    with StoreReader.open(path) as reader:
        rows = reader.match_table(group_by=("method", "mode", "noise", "level"))
        console.print(match_table_view(rows, ("method", "mode", "noise", "level"),
                                       title=f"{cfg.name}: match rate (95% Jeffreys interval)"))
        others = [m for m in cfg.methods if m not in cfg.xrd_methods]
        if others and cfg.xrd_methods:
            from xrdtui.jobs.comparison import comparison

            console.print(compare_table(comparison(reader), title=f"XRD descent vs {', '.join(others)} (paper Figure 7a)"))
        prog = reader.progress()
        console.print(f"stored {prog.done}/{prog.total} tasks ({prog.failed} failed) in {path}")
        console.print(f"next: [bold]xrdtui open {path}[/bold] (TUI), [bold]xrdtui export {path} -o results.csv[/bold]")
