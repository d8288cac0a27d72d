"""Run a campaign: the single store writer feeding tasks to an executor.

The sweep's process owns the store (HDF5 SWMR); workers only compute and return results. The loop keeps
a bounded window of tasks in flight, writes each result as it arrives, streams live loss rows of running
tasks (local pool), and bumps the store heartbeat so readers can tell a live sweep from a dead one.
Resume skips tasks the store already holds; since distortions are seeded per (structure, noise, level),
a resumed campaign ends with the same content as an uninterrupted one.
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from xrdtui.errors import ConfigError, StoreError, XrdtuiError, describe
from xrdtui.jobs.config import ExperimentConfig
from xrdtui.jobs.executors import Executor, drain, make_executor
from xrdtui.methods import get_method
from xrdtui.vocab import Cell
from xrdtui.jobs.tasks import (
    PREVIEW_STRIDE,
    WorkItem,
    build_work,
    merge_results,
    run_task,
    split_work,
    structure_label,
    warm_worker,
)

HEARTBEAT_S = 1.0


@dataclass
class RunEvent:
    """What the runner reports to its caller (the CLI draws a progress bar from these)."""

    kind: str  # "start" | "warning" | "task" | "tick" (every heartbeat) | "done"
    total: int
    done: int
    failed: int
    task_id: str = ""
    message: str = ""
    progress: Any = None  # store.records.Progress on "tick" and "done" (running, members, ETA)


def package_versions() -> dict[str, str]:
    """Versions recorded with every campaign (reproducibility)."""
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in ("xrdtui", "numpy", "torch", "pymatgen", "h5py", "chgnet", "ase", "scipy"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


def structure_infos(config: ExperimentConfig):
    """Ground truths (with their simulated patterns) of the campaign's structures."""
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    from xrdtui.engine.structures import SYMPREC, crystal_family, frac_coords, lattice_params
    from xrdtui.jobs.tasks import ground_truth_pattern, simulator_for, structure_for, task_cell
    from xrdtui.store.records import CellInfo, StructureInfo

    def species(structure) -> list[str]:
        return [str(site.specie) if site.is_ordered else site.species.formula for site in structure]

    cells = sorted({task_cell(config, noise) for noise in config.noise} - {str(Cell.CONVENTIONAL)})
    infos = []
    for source in config.structures:
        s = structure_for(source)
        other = {cell: structure_for(source, cell) for cell in cells}
        for structure in (s, *other.values()):
            check_memory(structure_label(source), structure, config)
        sga = SpacegroupAnalyzer(s, symprec=SYMPREC)
        sim = simulator_for(source, config.pattern)
        infos.append(
            StructureInfo(
                name=structure_label(source),
                species=species(s),
                lattice=lattice_params(s),
                frac=frac_coords(s),
                spacegroup_symbol=sga.get_space_group_symbol(),
                spacegroup_number=sga.get_space_group_number(),
                family=crystal_family(s),
                pattern=ground_truth_pattern(source, config.pattern),
                two_theta=np.asarray(sim.two_theta, dtype=np.float64),
                cells={cell: CellInfo(species(c), lattice_params(c), frac_coords(c)) for cell, c in other.items()},
                source=structure_source(source),
            )
        )
    return infos


def check_memory(label: str, structure, config: ExperimentConfig) -> None:
    """ConfigError, before anything is built, when the simulator would not fit in memory for this structure
    and the campaign's batch of distortions (engine.resources explains the estimate)."""
    from xrdtui.engine import resources
    from xrdtui.engine.simulator import STRAIN_MARGIN, PatternSettings

    settings = PatternSettings(**config.pattern)
    need = resources.estimate(structure.lattice.abc, structure.lattice.volume, wavelength=settings.wavelength,
                              two_theta_cut=settings.two_theta_cut, strain_margin=STRAIN_MARGIN, n_sites=len(structure),
                              n_elements=len(structure.composition.elements), batch=config.distortions)
    budget = resources.memory_budget()
    if need.peak_bytes > budget:
        raise ConfigError(
            f"{label}: ~{need.reflections:.3g} reflections x {config.distortions} distortions need "
            f"~{resources.gib(need.peak_bytes)} of memory, {resources.gib(budget)} allowed (XRDTUI_MEMORY_GB): "
            "use fewer distortions or a smaller cell")


def structure_source(source: str) -> str:
    """Where a campaign structure comes from: a benchmark's stated source, or the user's file."""
    from xrdtui.engine.structures import NAMED, canonical_name

    known = canonical_name(source)
    return NAMED[known].source if known else f"file {source}"


def cell_structures(structures) -> dict:
    """(structure name, cell) -> pymatgen Structure of every cell a campaign's methods compute on: the
    conventional cell, the stored cells, and the primitive cell a relaxation reduces a lattice-strained
    supercell to (the same reduction as engine.supercell, so the cost model and the relaxation agree; a
    lattice-only sweep stores no primitive cell)."""
    out = {}
    for s in structures:
        for cell, info in ((str(Cell.CONVENTIONAL), s), *s.cells.items()):
            if (structure := _structure(info)) is not None:
                out[(s.name, cell)] = structure
        conventional = out.get((s.name, str(Cell.CONVENTIONAL)))
        if (s.name, str(Cell.PRIMITIVE)) not in out and conventional is not None:
            if (primitive := _primitive(conventional)) is not None:
                out[(s.name, str(Cell.PRIMITIVE))] = primitive
    return out


def site_counts(structures, cells: dict | None = None) -> dict:
    """(structure name, cell) -> number of sites, for ``build_work`` (a plain name: its conventional cell)."""
    cells = cell_structures(structures) if cells is None else cells
    out = {s.name: s.n_sites for s in structures}
    out.update({(s.name, cell): len(info.species) for s in structures for cell, info in s.cells.items()})
    out.update({(s.name, str(Cell.CONVENTIONAL)): s.n_sites for s in structures})
    out.update({key: len(structure) for key, structure in cells.items() if key not in out})
    return out


def graph_sizes(config: ExperimentConfig, cells: dict) -> dict:
    """(structure name, cell) -> CHGNet graph size of each cell (engine.chgnet_graph.graph_cost_size), when a
    method of ``config`` is sized by it (else empty: no neighbour lists to build)."""
    if not any(get_method(name).sized_by_graph for name in config.methods):
        return {}
    from xrdtui.engine.chgnet_graph import graph_cost_size

    return {key: graph_cost_size(structure) for key, structure in cells.items()}


def _structure(info):
    """A stored cell as a pymatgen Structure; None when it cannot be built (an unusual species string)."""
    from pymatgen.core import Lattice, Structure

    try:
        return Structure(Lattice.from_parameters(*np.asarray(info.lattice, dtype=float)), info.species,
                         np.asarray(info.frac, dtype=float))
    except Exception:  # costed by its site count alone
        return None


def _primitive(structure):
    """The primitive cell engine.supercell reduces ``structure`` to, or None (none smaller, or an unusual
    structure the reduction does not take: it is then costed as the cell it is)."""
    from xrdtui.engine.supercell import primitive_map

    try:
        pmap = primitive_map(structure)
    except Exception:
        return None
    return pmap.primitive if pmap is not None else None


def _cost(item: WorkItem) -> float:
    info = item.info
    method = get_method(info.method)
    size = item.cost_size if item.cost_size is not None else method.member_size(info.n_sites)
    return method.task_cost(info.n_members, size, info.max_steps)


def probe_key(info) -> tuple[str, str]:
    """The group a task's ETA rate is learned in: (method, noise type)."""
    return info.method, info.noise


def dispatch_order(items: list[WorkItem], learned: set = frozenset(), cost=None) -> list[WorkItem]:
    """The order tasks are handed to workers: first the largest task of each (method, noise type) not in
    ``learned`` (those with a finished task already: a resume), then everything else longest first
    (``cost(item)``, default the method's task cost).

    Longest first shortens the sweep's tail (CHGNet relaxations dominate). Probing every method and noise
    type early lets the ETA's cost model learn each one's own seconds per unit of cost within the first
    tasks (store.progress.cost_eta): by longest first alone the first 10 % of a beyond sweep were all
    multistart tasks, whose rate then stood in for every other method; and descent under coordinate noise
    runs members to many more steps than under lattice noise (mse: 2-9x the seconds per unit of cost on the
    paper sweep of 2026-12-04), which a rate learned on lattice tasks alone missed."""
    ordered = sorted(items, key=cost or _cost, reverse=True)
    probes: dict[tuple, WorkItem] = {}
    for it in ordered:
        key = probe_key(it.info)
        if key not in learned:
            probes.setdefault(key, it)
    first = {id(it) for it in probes.values()}
    return list(probes.values()) + [it for it in ordered if id(it) not in first]


def run_device(config: ExperimentConfig, device: str | None = None, scheduler: str | None = None) -> str:
    """The torch device a run uses (the argument, else the config's, else cpu), checked here unless the
    workers are a remote Dask cluster (there each task checks on its own worker): ConfigError if torch
    cannot use it."""
    from xrdtui.engine.devices import check_device_name, require_device

    name = check_device_name(device or config.device or "cpu")
    address = scheduler or config.scheduler
    return name if address and address not in ("inline", "local") else require_device(name)


def run_campaign(
    config: ExperimentConfig,
    *,
    store_path: str | Path | None = None,
    resume: bool = False,
    overwrite: bool = False,
    workers: int | None = None,
    scheduler: str | None = None,
    device: str | None = None,
    nice: int | None = None,
    executor: Executor | None = None,
    only: str | Callable[[Any], bool] | None = None,
    on_event: Callable[[RunEvent], None] | None = None,
) -> Path:
    """Run (or resume) ``config`` into its store; returns the store path.

    ``only``: a glob on task ids (``"U2Ti/*"``) or a predicate on TaskInfo; other tasks stay pending in the
    store (a later ``--resume`` runs them). ``device``: torch device of every task (cpu, cuda, cuda:N;
    default the config's, else cpu); checked here before any worker starts, unless the workers are a
    remote Dask cluster (each task then checks on its worker). ``nice``: the local workers' niceness
    (default the config's, else jobs.executors.WORKER_NICE).
    """
    from xrdtui.store.writer import StoreWriter

    path = Path(store_path) if store_path else config.store_path
    notify = on_event or (lambda event: None)
    if resume and not path.exists():
        raise ConfigError(f"--resume: no store at {path} to resume")
    if not resume and path.exists() and not overwrite:
        raise ConfigError(f"store {path} exists: use --resume to finish it or --overwrite to start again")
    device = run_device(config, device, scheduler)
    own_executor = executor is None
    ex = executor
    if ex is None:
        # Start the workers now: their imports (torch, pymatgen, CHGNet weights) overlap the set-up below.
        ex = make_executor(workers or config.workers, scheduler or config.scheduler,
                           config.nice if nice is None else nice)
        for _ in range(ex.workers):
            ex.submit(warm_worker, config.methods, device)
    try:
        structures = structure_infos(config)
        cells = cell_structures(structures)
        items = build_work(config, site_counts(structures, cells), device, graph_sizes(config, cells))
        infos = [item.info for item in items]
        if resume:
            writer, done_ids = StoreWriter.resume(path, tasks=infos, config_hash=config.content_hash)
            if writer.damaged:
                notify(RunEvent("warning", len(items), len(done_ids), 0, message=(
                    f"{len(writer.damaged)} finished task(s) were damaged on disk and run again: "
                    + ", ".join(writer.damaged[:3]) + (" ..." if len(writer.damaged) > 3 else ""))))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            preview_axis = np.asarray(structures[0].two_theta[::PREVIEW_STRIDE]) if structures else None
            writer = StoreWriter.create(
                path,
                name=config.name,
                tasks=infos,
                structures=structures,
                config_text=config.text,
                config_hash=config.content_hash,
                versions=package_versions(),
                seed=config.seed,
                conventions=config.conventions(),
                preview_two_theta=preview_axis,
                overwrite=overwrite,
            )
            done_ids = set()
    except BaseException:
        if own_executor:
            ex.terminate()  # the warm-up tasks too: close() would make the exit wait for their imports
        raise

    selected = _selector(only)
    todo = dispatch_order([it for it in items if it.info.task_id not in done_ids and selected(it.info)],
                          learned={probe_key(it.info) for it in items if it.info.task_id in done_ids})
    total = len(items)
    counts = {"done": len(done_ids), "failed": 0}
    interrupted: KeyboardInterrupt | None = None
    crashed: Exception | None = None
    completed = False
    resume_hint = f"resume with: xrdtui run {config.source} --resume --store {path}"
    try:
        writer.set_plan({it.info.task_id: _cost(it) for it in items}, ex.workers)
        _run_loop(writer, ex, todo, total, counts, notify)
        final = writer.progress()
        if counts["done"] + counts["failed"] == total:
            writer.finish()  # a partial (--only) run stays resumable, not finished
        notify(RunEvent("done", total, counts["done"], counts["failed"], progress=final))
        completed = True
    except KeyboardInterrupt as exc:  # Ctrl+C, or SIGTERM turned into Terminated by the CLI
        interrupted = exc
    except StoreError as exc:  # the store cannot take more (a full disk): stop the workers, say how to go on
        raise type(exc)(f"{exc}; {counts['done']} of {total} tasks are stored in {path}; once there is room, "
                        f"{resume_hint}") from None
    except XrdtuiError:
        raise
    except Exception as exc:  # a bug: the store stays resumable, the message says so (the CLI saves the traceback)
        crashed = exc
    finally:
        # Anything but a completed loop abandons the running tasks at once: close() would leave the pool's
        # management thread waiting for them at interpreter exit (the process hung after the message).
        if own_executor and ex is not None:
            ex.close() if completed else ex.terminate()
        writer.close()
    if crashed is not None:
        from xrdtui.errors import InternalError

        raise InternalError(f"the sweep stopped on an internal error ({describe(crashed)}); {counts['done']} of "
                            f"{total} tasks are stored in {path}; {resume_hint}") from crashed
    if interrupted is not None:
        from xrdtui.errors import Interrupted, Terminated

        raise Interrupted(f"{'terminated' if isinstance(interrupted, Terminated) else 'interrupted'}: "
                          f"{counts['done']} of {total} tasks stored in {path}; resume with: "
                          f"xrdtui run {config.source} --resume --store {path}",
                          terminated=isinstance(interrupted, Terminated)) from None
    return path


MAX_ATTEMPTS = 3  # a task whose worker process dies is run again up to this many times in all


def _run_loop(writer, ex: Executor, todo: list[WorkItem], total: int, counts: dict, notify) -> None:
    """Submit a bounded window of tasks, write each result as it arrives, stream live losses, beat the
    heartbeat; a task whose worker died is retried (MAX_ATTEMPTS), any other failure is recorded."""
    from collections import deque

    if not todo:
        notify(RunEvent("start", total, counts["done"], counts["failed"], message="0 tasks to run"))
        return
    notify(RunEvent("start", total, counts["done"], counts["failed"], message=f"{len(todo)} tasks to run"))
    notify(RunEvent("start", total, counts["done"], counts["failed"], message=ex.name))
    live = ex.progress_queue()
    window = getattr(ex, "window", max(2, 2 * ex.workers))  # tasks in flight
    pending: dict[Any, WorkItem] = {}
    # A task may run as several member slices (CHGNet); it is written once all of them are back.
    plan = {item.info.task_id: split_work(item, ex.workers) for item in todo}
    parts_left = {task_id: len(parts) for task_id, parts in plan.items()}
    parts_done: dict[str, list] = {task_id: [] for task_id in plan}
    task_error: dict[str, str] = {}
    attempts: dict[tuple, int] = {}
    retry: deque = deque()
    queue_iter = (part for parts in plan.values() for part in parts)
    last_beat = 0.0
    while True:
        while len(pending) < window:
            item = retry.popleft() if retry else next(queue_iter, None)
            if item is None:
                break
            if live is None:  # no worker will announce the start (inline, Dask): mark it here
                if writer.status(item.info.task_id) == "pending":
                    writer.mark_running(item.info.task_id)
            pending[ex.submit(run_task, item, live)] = item
        if not pending:
            break
        finished, _ = ex.wait_any(pending.keys(), timeout=0.5)
        _write_live(writer, drain(live))
        for future in finished:
            item = pending.pop(future)
            task_id = item.info.task_id
            try:
                parts_done[task_id].append((item.members, future.result()))
            except XrdtuiError as exc:
                task_error.setdefault(task_id, str(exc))
            except Exception as exc:  # a worker crash must not stop the campaign
                key = (task_id, item.members)
                attempts[key] = attempts.get(key, 1) + 1
                if ex.lost(exc) and attempts[key] <= MAX_ATTEMPTS:
                    retry.append(item)  # its worker died (killed, out of memory): run it again
                    notify(RunEvent("task", total, counts["done"], counts["failed"], task_id,
                                    f"worker lost, retrying ({attempts[key]}/{MAX_ATTEMPTS})"))
                    continue
                reason = (f"its worker process died {MAX_ATTEMPTS} times (killed or out of memory)" if ex.lost(exc)
                          else describe(exc))
                task_error.setdefault(task_id, reason[:200])
            parts_left[task_id] -= 1
            if parts_left[task_id]:
                members = sum(stop - start for (start, stop), _ in parts_done[task_id])
                writer.set_members_done(task_id, members)
                continue
            if task_id in task_error:
                writer.mark_failed(task_id, task_error[task_id])
                counts["failed"] += 1
                notify(RunEvent("task", total, counts["done"], counts["failed"], task_id,
                                f"failed: {task_error[task_id]}"))
                continue
            result = merge_results([r for _, r in sorted(parts_done.pop(task_id), key=lambda p: p[0])])
            writer.write_result(task_id, result)
            counts["done"] += 1
            notify(RunEvent("task", total, counts["done"], counts["failed"], task_id, f"{result.k}/{result.n} matched"))
        if time.monotonic() - last_beat > HEARTBEAT_S:
            writer.heartbeat()
            last_beat = time.monotonic()
            notify(RunEvent("tick", total, counts["done"], counts["failed"], progress=writer.progress()))


def _selector(only) -> Callable[[Any], bool]:
    if only is None:
        return lambda info: True
    if callable(only):
        return only
    import fnmatch

    return lambda info: fnmatch.fnmatchcase(info.task_id, only)


def _write_live(writer, messages: list) -> None:
    """Live messages from workers: ``(task_id, "start")`` or ``(task_id, first_row, loss_rows[t,B])``."""
    for message in messages:
        task_id = message[0]
        state = writer.status(task_id)
        if state in ("done", "failed"):  # a worker's last rows can arrive after the task's result: stale
            continue
        if state == "pending":
            writer.mark_running(task_id)
        if len(message) == 3:
            writer.write_partial_loss(task_id, int(message[1]), np.asarray(message[2]))
