"""The built-in methods: the no-optimisation baseline, gradient descent on each XRD loss, and CHGNet
relaxation (registered in this order: the display order).

Each ``run_*`` adapts one engine routine to a :class:`~xrdtui.methods.batch.Batch`; the engine is imported
when a batch runs, never when this module is imported.
"""

from __future__ import annotations

import dataclasses

from xrdtui.methods.batch import Batch, Outcome
from xrdtui.methods.registry import Method, SettingsTable, register_method, register_table, steps_from
from xrdtui.vocab import Mode, MethodKind, Noise

# --- settings tables ----------------------------------------------------------------------------------
OPTIMIZER = SettingsTable("optimizer", "xrdtui.engine.optimize:OptimizerSettings", hidden=("callback_every",))
CHGNET = SettingsTable("chgnet", "xrdtui.engine.relax:RelaxSettings", hidden=("device",), extra={"members": int})
PATTERN = register_table(SettingsTable("pattern", "xrdtui.engine.simulator:PatternSettings"))
MATCHER = register_table(SettingsTable("matcher", "xrdtui.engine.matching:MatcherSettings"))  # paper metric
STRICT = register_table(SettingsTable("strict", "xrdtui.engine.matching:StrictMatcherSettings"))  # recovered


# --- the no-optimisation baseline -----------------------------------------------------------------------
def run_start(batch: Batch) -> Outcome:
    """The distorted starts as they are: no step is taken. The one trajectory row holds the cosine loss of
    each start against the target (what descent starts from)."""
    import numpy as np
    import torch

    from xrdtui.engine.losses import cosine_loss

    sim, b = batch.simulator(), batch.n_members
    lat = torch.as_tensor(batch.init_lattice, dtype=torch.float64, device=sim.device)
    frac = torch.as_tensor(batch.init_frac, dtype=torch.float64, device=sim.device)
    bad = (sim.invalid_members(lat, frac) | sim.outside_margin(lat)).cpu().numpy()
    loss = np.full(b, np.nan)
    if (~bad).any():
        with torch.no_grad():
            patterns = sim.pattern(lat[~bad], frac[~bad])
            target = torch.as_tensor(batch.target(), device=sim.device)
            loss[~bad] = cosine_loss(patterns, target).double().cpu().numpy()
    reasons = ["start cannot be simulated (degenerate or outside the simulator's margin)" if x else "" for x in bad]
    return Outcome(loss=loss[None], lattice=batch.init_lattice[None].copy(), frac=batch.init_frac[None].copy(),
                   n_steps=np.zeros(b, dtype=np.int64), final_lattice=batch.init_lattice.copy(),
                   final_frac=batch.init_frac.copy(), final_loss=loss.copy(), converged=~bad, failed=bad,
                   reasons=reasons)


register_method(Method(
    name="none",
    kind=MethodKind.BASELINE,
    description="no optimisation: the distorted start judged as it is (what every rate is read against)",
    objective="none (the start as it is)",
    unit="dimensionless",
    similarity="cosine",
    run=run_start,
    modes=(Mode.START,),
    cost=300.0,  # matching the starts, ~0.5 s a task: cosine descent's worker-s per cost unit (paper sweep 2026-12-04)
    label="no optimisation",
    colour="#999999",
    axis_label="cosine loss of the start",
))


# --- gradient descent on an XRD loss -----------------------------------------------------------------------
def optimised_variables(noise: str) -> tuple[str, ...]:
    """What descent moves: the lattice under lattice noise, the coordinates under coordinate noise
    (paper section 2: "in accordance with the noise applied")."""
    return ("coords",) if noise == Noise.COORDS else ("lattice",)


def run_descent(batch: Batch, loss: str) -> Outcome:
    """Projected (or free) gradient descent on ``loss`` from every start of the batch (engine.optimize)."""
    import numpy as np
    import torch

    from xrdtui.engine.optimize import recover

    settings = dataclasses.replace(batch.settings[OPTIMIZER.name], callback_every=1)
    traj = recover(
        batch.simulator(),
        torch.as_tensor(batch.target()),
        batch.init_lattice,
        batch.init_frac,
        loss=loss,
        mode=batch.mode,
        family=batch.family,
        optimise=optimised_variables(batch.noise),
        settings=settings,
        callback=batch.progress,
    )
    n = batch.n_members
    final_loss = traj.loss[np.minimum(traj.n_steps, traj.loss.shape[0] - 1), np.arange(n)]
    return Outcome(
        loss=traj.loss,
        lattice=traj.lattice,
        frac=traj.frac,
        n_steps=traj.n_steps,
        final_lattice=np.asarray(traj.final_lattice, dtype=np.float64),
        final_frac=np.asarray(traj.final_frac, dtype=np.float64),
        final_loss=np.asarray(final_loss, dtype=np.float64),
        converged=np.asarray(traj.converged, dtype=bool),
        failed=np.asarray(traj.failed, dtype=bool),
        reasons=list(traj.reasons),
    )


LOSS_COLOURS = {"cosine": "#1f77b4", "mse": "#d95f02", "entropy": "#1b9e77"}
LOSS_AXES = {
    "cosine": "cosine loss  −cos(pattern, truth)",
    "mse": "MSE loss",
    "entropy": "entropy loss  −(spectral-entropy similarity)",
}
LOSS_OBJECTIVES = {
    "cosine": "−cos(pattern, target)",
    "mse": "‖pattern − target‖² (summed over the 2θ bins)",
    "entropy": "−(spectral-entropy similarity to the target)",
}


def descent_method(loss: str, description: str = "", colour: str = "#7570b3") -> Method:
    """The registry entry of gradient descent on the XRD loss ``loss`` (a name of engine.losses)."""
    return Method(
        name=loss,
        kind=MethodKind.DESCENT,
        description=description or f"gradient descent on the {loss} XRD loss",
        objective=LOSS_OBJECTIVES.get(loss, f"{loss} loss against the target pattern"),
        unit="dimensionless",
        similarity=loss,
        run=lambda batch, _loss=loss: run_descent(batch, _loss),
        tables=(OPTIMIZER,),
        steps=steps_from(OPTIMIZER.name, "max_steps"),
        cost=1.0,
        colour=colour,
        axis_label=LOSS_AXES.get(loss, ""),
    )


for _loss, _what in (
    ("cosine", "gradient descent on the negative cosine similarity of the patterns (paper L_cos)"),
    ("mse", "gradient descent on the squared error of the patterns (paper L_MSE)"),
    ("entropy", "gradient descent on the negative spectral-entropy similarity (paper L_entropy)"),
):
    register_method(descent_method(_loss, _what, LOSS_COLOURS[_loss]))


# --- CHGNet relaxation -----------------------------------------------------------------------------------
def run_relax(batch: Batch) -> Outcome:
    """CHGNet relaxation of every start (engine.relax); energies per step in eV/atom."""
    import numpy as np

    from xrdtui.engine.relax import relax_structures
    from xrdtui.engine.structures import frac_coords, lattice_params, with_params

    B, T1, N = batch.n_members, batch.n_rows, batch.n_sites
    starts = [with_params(batch.structure, batch.init_lattice[b], batch.init_frac[b]) for b in range(B)]
    results = relax_structures(starts, dataclasses.replace(batch.settings[CHGNET.name], device=batch.device))
    loss = np.full((T1, B), np.nan)
    lattice = np.full((T1, B, 6), np.nan)
    frac = np.full((T1, B, N, 3), np.nan)
    n_steps = np.zeros(B, dtype=np.int64)
    final_lattice = batch.init_lattice.copy()
    final_frac = batch.init_frac.copy()
    final_loss = np.full(B, np.nan)
    converged = np.zeros(B, dtype=bool)
    failed = np.zeros(B, dtype=bool)
    reasons = [""] * B
    for b, res in enumerate(results):
        if res.failed:
            failed[b], reasons[b] = True, res.reason
            continue
        rows = min(len(res.energy), T1)
        loss[:rows, b] = res.energy[:rows]
        lattice[:rows, b] = res.lattice[:rows]
        frac[:rows, b] = res.frac[:rows]
        n_steps[b] = res.n_steps
        final_lattice[b] = lattice_params(res.final_structure)
        final_frac[b] = frac_coords(res.final_structure)
        final_loss[b] = res.energy[rows - 1]
        converged[b] = res.converged
    return Outcome(loss, lattice, frac, n_steps, final_lattice, final_frac, final_loss, converged, failed, reasons)


def warm_chgnet(device: str = "cpu") -> None:
    from xrdtui.engine.relax import MODEL_NAME, load_model

    load_model(MODEL_NAME, device)


register_method(Method(
    name="chgnet",
    kind=MethodKind.RELAXATION,
    description="CHGNet energy relaxation (FIRE, cell and positions) of the same distorted starts",
    objective="CHGNet energy per atom",
    unit="eV/atom",
    similarity="cosine",  # how far the relaxed cell's pattern is from the target's
    run=run_relax,
    tables=(CHGNET,),
    modes=(Mode.RELAX,),
    steps=steps_from(CHGNET.name, "steps"),
    members=(CHGNET.name, "members"),
    tracks_coords=lambda noise: True,  # CHGNet moves atoms and cell
    splittable=True,
    # per graph-sized member-step; 11 makes its worker-s per cost unit that of cosine descent (3.8e-5 at
    # weight 1 vs 3.4e-6 on the paper sweep of 2026-12-04), so longest first compares like with like
    cost=11.0,
    sized_by_graph=True,
    reduces_supercells=lambda settings: settings[CHGNET.name].supercells == "reduce",
    warm=warm_chgnet, calls_chgnet=True,
    label="CHGNet",
    colour="#444444",
    axis_label="CHGNet energy (eV/atom)",
))
