"""Recovery methods beyond the paper: remedies for the rough landscape, each one registry entry with its
own engine routine, chosen by the target pattern only (never the truth).

* ``xcorr``: projected descent on de Gelder's weighted cross-correlation (``engine.losses``);
* ``multistart``: K quasi-random starts around the distorted one, the best final loss kept
  (``engine.multistart``);
* ``continuation``: broad peaks first, narrowed stage by stage (``engine.continuation``);
* ``wyckoff``: coordinates constrained to the free Wyckoff parameters of the space group
  (``engine.wyckoff``), with the family projector for the lattice;
* ``xrd-then-chgnet``: the paper's advocated pipeline, constrained XRD descent then CHGNet relaxation;
* ``xrd-energy``: descent on the joint objective L_XRD + λ·E_CHGNet (``engine.hybrid``).
"""

from __future__ import annotations

import dataclasses

from xrdtui.methods.batch import Batch, Outcome
from xrdtui.methods.builtin import CHGNET, OPTIMIZER, descent_method, optimised_variables, run_descent, warm_chgnet
from xrdtui.methods.registry import Method, SettingsTable, register_method
from xrdtui.vocab import Mode, MethodKind, Noise

MULTISTART = SettingsTable("multistart", "xrdtui.engine.multistart:MultiStartSettings")
CONTINUATION = SettingsTable("continuation", "xrdtui.engine.continuation:ContinuationSettings")
HYBRID = SettingsTable("hybrid", "xrdtui.engine.hybrid:HybridSettings")
LOSS = "cosine"  # the XRD loss of the methods below (the paper's main one)


def _outcome(traj, rows=None) -> Outcome:
    """An Outcome from an engine Trajectory (optionally a member-wise selection of its columns)."""
    import numpy as np

    pick = slice(None) if rows is None else rows
    loss, lattice = traj.loss[:, pick], traj.lattice[:, pick]
    frac = None if traj.frac is None else traj.frac[:, pick]
    n_steps = np.asarray(traj.n_steps)[pick]
    final_loss = loss[np.minimum(n_steps, loss.shape[0] - 1), np.arange(loss.shape[1])]
    return Outcome(loss=loss, lattice=lattice, frac=frac, n_steps=n_steps,
                   final_lattice=np.asarray(traj.final_lattice, dtype=np.float64)[pick],
                   final_frac=np.asarray(traj.final_frac, dtype=np.float64)[pick],
                   final_loss=np.asarray(final_loss, dtype=np.float64), converged=np.asarray(traj.converged)[pick],
                   failed=np.asarray(traj.failed)[pick], reasons=[traj.reasons[i] for i in np.arange(len(traj.reasons))[pick]])


def _recover(batch: Batch, lattice, frac, **kwargs):
    import torch

    from xrdtui.engine.optimize import recover

    settings = kwargs.pop("settings", None) or dataclasses.replace(batch.settings[OPTIMIZER.name], callback_every=1)
    return recover(batch.simulator() if "sim" not in kwargs else kwargs.pop("sim"),
                   torch.as_tensor(kwargs.pop("target")) if "target" in kwargs else torch.as_tensor(batch.target()),
                   lattice, frac, mode=batch.mode, family=batch.family,
                   optimise=kwargs.pop("optimise", optimised_variables(batch.noise)), settings=settings, **kwargs)


# --- multi-start -------------------------------------------------------------------------------------
def run_multistart(batch: Batch) -> Outcome:
    import numpy as np

    from xrdtui.engine.multistart import best_of, spread_starts

    ms = batch.settings[MULTISTART.name]
    k = ms.starts
    lattice, frac = spread_starts(batch.init_lattice, batch.init_frac, batch.noise, batch.level, ms)

    def progress(step, loss):  # the best of each member's K starts so far
        if batch.progress is not None:
            batch.progress(step, np.nanmin(np.asarray(loss).reshape(-1, k), axis=1))

    traj = _recover(batch, lattice, frac, loss=LOSS, callback=progress)
    final = traj.loss[np.minimum(traj.n_steps, traj.loss.shape[0] - 1), np.arange(traj.loss.shape[1])]
    best = best_of(final, np.asarray(traj.failed), k)
    return _outcome(traj, np.arange(batch.n_members) * k + best)


# --- peak-width continuation ---------------------------------------------------------------------------
_WIDE_SIMULATORS: dict = {}


def _simulator_at(structure, pattern, width: float, device: str = "cpu"):
    """The (cached) simulator of ``structure`` with Caglioti W = ``width`` on ``device`` and its reference
    pattern."""
    from xrdtui.engine.simulator import XRDSimulator

    key = (id(structure), pattern, width, device)
    if key not in _WIDE_SIMULATORS:
        sim = XRDSimulator(structure, dataclasses.replace(pattern, W=width), device=device)
        _WIDE_SIMULATORS[key] = (sim, sim.reference_pattern())
    return _WIDE_SIMULATORS[key]


def continuation_steps(settings) -> int:
    optimizer, cont, pattern = settings[OPTIMIZER.name], settings[CONTINUATION.name], settings["pattern"]
    return len(cont.schedule(pattern.W)) * (cont.stage_steps or optimizer.max_steps)


def run_continuation(batch: Batch) -> Outcome:
    import numpy as np

    cont, pattern = batch.settings[CONTINUATION.name], batch.settings["pattern"]
    stage = dataclasses.replace(batch.settings[OPTIMIZER.name], callback_every=1,
                                max_steps=cont.stage_steps or batch.settings[OPTIMIZER.name].max_steps)
    lattice, frac = batch.init_lattice, batch.init_frac
    parts, done = [], 0
    for width in cont.schedule(pattern.W):
        sim, target = ((batch.simulator(), batch.target()) if width == pattern.W
                       else _simulator_at(batch.structure, pattern, width, batch.device))
        offset = done

        def progress(step, loss, offset=offset):
            if batch.progress is not None:
                batch.progress(offset + step, loss)

        traj = _recover(batch, lattice, frac, loss=LOSS, sim=sim, target=target, settings=stage, callback=progress)
        # every member runs every stage to its end (rows repeat after it stops): the stages line up
        rows = traj.loss.shape[0] - 1
        parts.append((traj, rows if parts else rows + 1))
        done += rows
        lattice = traj.final_lattice
        frac = traj.final_frac if traj.frac is not None else frac
    last = parts[-1][0]
    loss = np.concatenate([t.loss[-r:] for t, r in parts])
    lat = np.concatenate([t.lattice[-r:] for t, r in parts])
    fr = None if last.frac is None else np.concatenate([t.frac[-r:] for t, r in parts])
    failed = np.any([t.failed for t, _ in parts], axis=0)
    reasons = [next((t.reasons[b] for t, _ in parts if t.reasons[b]), "") for b in range(batch.n_members)]
    n_steps = np.full(batch.n_members, loss.shape[0] - 1)
    final = loss[-1]
    return Outcome(loss=loss, lattice=lat, frac=fr, n_steps=n_steps, final_lattice=last.final_lattice,
                   final_frac=last.final_frac, final_loss=np.asarray(final, dtype=np.float64),
                   converged=np.asarray(last.converged), failed=failed, reasons=reasons)


# --- space-group constrained coordinates ---------------------------------------------------------------------
def run_wyckoff(batch: Batch) -> Outcome:
    import numpy as np

    from xrdtui.engine.wyckoff import WyckoffProjector
    from xrdtui.errors import InputError

    try:
        projector = WyckoffProjector.for_starts(batch.structure, batch.init_frac)
    except InputError as exc:  # the starts cannot be assigned to the orbits: every member fails with why
        b = batch.n_members
        return Outcome(np.full((1, b), np.nan), batch.init_lattice[None].copy(), batch.init_frac[None].copy(),
                       np.zeros(b, dtype=int), batch.init_lattice.copy(), batch.init_frac.copy(), np.full(b, np.nan),
                       np.zeros(b, dtype=bool), np.ones(b, dtype=bool), [str(exc)] * b)
    optimise = ("lattice", "coords") if batch.noise == Noise.LATTICE else ("coords",)
    traj = _recover(batch, batch.init_lattice, batch.init_frac, loss=LOSS, optimise=optimise,
                    coord_projector=projector, callback=batch.progress)
    return _outcome(traj)


# --- XRD then CHGNet ----------------------------------------------------------------------------------
def run_xrd_then_chgnet(batch: Batch) -> Outcome:
    """Constrained XRD descent, then CHGNet relaxation of its result. The trajectory holds the XRD loss
    throughout (the relaxation's steps re-simulated), so one curve shows what relaxing does to it."""
    import numpy as np
    import torch

    from xrdtui.engine.losses import get_loss
    from xrdtui.engine.relax import relax_structures
    from xrdtui.engine.structures import frac_coords, lattice_params, with_params

    xrd = run_descent(batch, LOSS)
    b, n = batch.n_members, batch.n_sites
    starts = [None if xrd.failed[i] else with_params(batch.structure, xrd.final_lattice[i], xrd.final_frac[i])
              for i in range(b)]
    todo = [i for i in range(b) if starts[i] is not None]
    chgnet = dataclasses.replace(batch.settings[CHGNET.name], device=batch.device)
    relaxed = dict(zip(todo, relax_structures([starts[i] for i in todo], chgnet)))
    t_x = xrd.loss.shape[0]
    t_r = max([len(r.energy) for r in relaxed.values() if not r.failed] or [1])
    rows = t_x + t_r - 1
    loss = np.full((rows, b), np.nan)
    lattice = np.full((rows, b, 6), np.nan)
    frac = np.full((rows, b, n, 3), np.nan)
    loss[:t_x], lattice[:t_x] = xrd.loss, xrd.lattice
    frac[:t_x] = xrd.frac if xrd.frac is not None else batch.init_frac[None]
    out = dataclasses.replace(xrd, loss=loss, lattice=lattice, frac=frac, n_steps=np.array(xrd.n_steps).copy(),
                              reasons=list(xrd.reasons), failed=np.array(xrd.failed).copy(),
                              final_lattice=np.array(xrd.final_lattice).copy(),
                              final_frac=np.array(xrd.final_frac).copy(), final_loss=np.array(xrd.final_loss).copy())
    sim, fn = batch.simulator(), get_loss(LOSS)
    target = torch.as_tensor(batch.target(), device=sim.device)
    for i, r in relaxed.items():
        if r.failed:
            out.failed[i], out.reasons[i] = True, f"relaxation after XRD descent: {r.reason}"
            continue
        steps = len(r.energy)
        lat, fr = torch.as_tensor(r.lattice, device=sim.device), torch.as_tensor(r.frac, device=sim.device)
        ok = ~(sim.invalid_members(lat, fr) | sim.outside_margin(lat)).cpu().numpy()
        curve = np.full(steps, np.nan)
        if ok.any():
            with torch.no_grad():
                curve[ok] = fn(sim.pattern(lat[ok], fr[ok]), target).double().cpu().numpy()
        # rows after the XRD part: this member's XRD steps, then its relaxation steps
        start = int(xrd.n_steps[i])
        loss[start:start + steps, i], lattice[start:start + steps, i] = curve, r.lattice
        frac[start:start + steps, i] = r.frac
        out.n_steps[i] = start + steps - 1
        out.final_lattice[i], out.final_frac[i] = lattice_params(r.final_structure), frac_coords(r.final_structure)
        out.final_loss[i] = curve[-1]
        if start + steps < rows:  # NaN past the member's last step, as the store expects
            loss[start + steps:, i], lattice[start + steps:, i], frac[start + steps:, i] = np.nan, np.nan, np.nan
    return out


# --- joint XRD + energy objective ---------------------------------------------------------------------------
def run_xrd_energy(batch: Batch) -> Outcome:
    from xrdtui.engine.hybrid import energy_penalty
    from xrdtui.engine.relax import MODEL_NAME, load_model

    hybrid = batch.settings[HYBRID.name]
    species = [site.species_string for site in batch.structure]
    moving = optimised_variables(batch.noise)
    penalty = energy_penalty(load_model(MODEL_NAME, batch.device), species, hybrid.weight,
                             fixed_frac=batch.init_frac if "coords" not in moving else None)
    traj = _recover(batch, batch.init_lattice, batch.init_frac, loss=hybrid.loss, penalty=penalty,
                    callback=batch.progress)
    return _outcome(traj)


def _steps(settings) -> int:
    return settings[OPTIMIZER.name].max_steps


PROJECTED = (Mode.PROJECTED,)

register_method(dataclasses.replace(
    descent_method("xcorr", "descent on de Gelder's weighted cross-correlation (triangle 2°): informative "
                            "while peaks do not overlap", "#e7298a"),
    objective="−(weighted cross-correlation with the target)", axis_label="xcorr loss  −(weighted cross-correlation)"))
register_method(Method(
    name="multistart", kind=MethodKind.DESCENT, colour="#7570b3",
    description="K Sobol starts in a box the size of the noise around the distorted start, projected descent "
                "from each, the lowest final loss kept",
    objective="−cos(pattern, target), best of K starts", unit="dimensionless", similarity=LOSS,
    run=run_multistart, tables=(OPTIMIZER, MULTISTART), modes=PROJECTED, steps=_steps, cost=16.0,
    axis_label="cosine loss (best start)"))
register_method(Method(
    name="continuation", kind=MethodKind.DESCENT, colour="#66a61e",
    description="projected descent against broad peaks first (Caglioti W 10 -> 0.1), narrowed stage by stage",
    objective="−cos(pattern, target) at each stage's width", unit="dimensionless", similarity=LOSS,
    run=run_continuation, tables=(OPTIMIZER, CONTINUATION), modes=PROJECTED, steps=continuation_steps,
    cost=1.0, axis_label="cosine loss (stage width)",
    needs_truth="it re-simulates the reference structure at broad peak widths as its target"))
register_method(Method(
    name="wyckoff", kind=MethodKind.DESCENT, colour="#e6ab02",
    description="coordinates on the free Wyckoff parameters of the space group (symmetrised start), "
                "lattice projected onto the family",
    objective="−cos(pattern, target)", unit="dimensionless", similarity=LOSS, run=run_wyckoff,
    tables=(OPTIMIZER,), modes=PROJECTED, coords_modes=PROJECTED, tracks_coords=lambda noise: True, steps=_steps,
    cost=1.5, axis_label="cosine loss"))
register_method(Method(
    name="xrd-then-chgnet", kind=MethodKind.HYBRID, colour="#a6761d", label="XRD then CHGNet",
    description="the paper's advocated pipeline: constrained XRD descent, then CHGNet relaxation of its result",
    objective="−cos(pattern, target) through descent and relaxation", unit="dimensionless", similarity=LOSS,
    run=run_xrd_then_chgnet, tables=(OPTIMIZER, CHGNET), modes=PROJECTED, coords_modes=(Mode.FREE,),
    tracks_coords=lambda noise: True,
    steps=lambda s: s[OPTIMIZER.name].max_steps + s[CHGNET.name].steps, cost=10.0, warm=warm_chgnet, calls_chgnet=True,
    axis_label="cosine loss"))
register_method(Method(
    name="xrd-energy", kind=MethodKind.DESCENT, colour="#1b7837", label="XRD + λ·energy",
    description="projected descent on the cosine loss + λ·CHGNet energy per atom (λ = 10 per eV/atom, "
                "fixed in advance), with the joint objective's own calibrated steps",
    objective="−cos(pattern, target) + λ·E_CHGNet", unit="dimensionless + λ·eV/atom", similarity=LOSS,
    run=run_xrd_energy, tables=(OPTIMIZER, HYBRID), modes=PROJECTED, steps=_steps, warm=warm_chgnet, calls_chgnet=True,
    cost=200.0,  # a CHGNet call per member and step: measured ~14x multistart per step on CsTlO
    axis_label="cosine loss + λ·energy"))
