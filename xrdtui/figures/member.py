"""Figure 6: one member of one (structure, noise, level, method) cell: ground truth, its distorted
start and the results of each stored mode (free, projected, ...). Left: relative deviation of the six
lattice parameters from the truth (grouped bars, %). Right: full XRD patterns (recomputed with the
engine simulator from the stored lattice parameters and fractional coordinates), offset vertically."""

from __future__ import annotations

import numpy as np

from xrdtui.errors import ConfigError, StoreError
from xrdtui.figures.landscape import stack_patterns
from xrdtui.figures.style import (
    TRUTH_COLOUR,
    mode_colour,
    mode_rank,
    new_figure,
    param_symbol,
    styled,
)
from xrdtui.methods import method_info
from xrdtui.vocab import PARAM_NAMES, MethodKind, Noise

DISTORTED_COLOUR = "#888888"


def relative_deviation(lattice, truth) -> np.ndarray:
    """100 * (x - x_truth) / x_truth per lattice parameter (%), lengths and angles alike."""
    lattice, truth = np.asarray(lattice, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    return 100.0 * (lattice - truth) / truth


def site_displacement(frac, truth_frac, truth_lattice) -> np.ndarray:
    """|Δr| per site (Å): the fractional difference wrapped to the nearest image (Δ - round(Δ)),
    times the truth's lattice matrix (pymatgen's orientation), so the distance is measured in the
    truth cell. [N]."""
    from pymatgen.core import Lattice

    d = np.asarray(frac, dtype=np.float64) - np.asarray(truth_frac, dtype=np.float64)
    d -= np.round(d)
    matrix = Lattice.from_parameters(*np.asarray(truth_lattice, dtype=np.float64)).matrix
    return np.linalg.norm(d @ matrix, axis=1)


def cell_tasks(reader, task: str) -> list:
    """Finished TaskRecords of ``structure/noise/level/method`` (a trailing mode is ignored), in mode order."""
    parts = [p for p in str(task).strip("/").split("/") if p]
    if len(parts) not in (4, 5):
        raise ConfigError(f"--task must be structure/noise/level/method (e.g. U2Ti/lattice/0.1/cosine), got {task!r}")
    structure, noise, level, method = parts[:4]
    try:
        level_f = float(level)
    except ValueError:
        raise ConfigError(f"noise level in --task must be a number, got {level!r}") from None
    rows = [t for t in reader.tasks() if (t.structure, t.noise, t.method) == (structure, noise, method)
            and abs(t.level - level_f) <= 1e-9 * max(1.0, abs(level_f))]
    if not rows:
        cells = sorted({f"{t.structure}/{t.noise}/{t.level:g}/{t.method}" for t in reader.tasks()})
        shown = ", ".join(cells[:6]) + (", …" if len(cells) > 6 else "")
        raise StoreError(f"no tasks {task!r} in {reader.path.name}; cells: {shown}")
    done = [t for t in rows if t.status == "done"]
    if not done:
        raise StoreError(f"no task of {task!r} has finished in {reader.path.name}")
    return sorted((reader.task(t.task_id) for t in done), key=lambda rec: mode_rank(rec.info.mode))


def _structure(info):
    from pymatgen.core import Lattice, Structure

    return Structure(Lattice.from_parameters(*np.asarray(info.lattice, dtype=np.float64)), info.species,
                     np.asarray(info.frac, dtype=np.float64))


def campaign_pattern_settings(reader):
    """The campaign's PatternSettings as stored with it (``conventions["pattern"]``); a store written
    before conventions were recorded gives its TOML's [pattern] table (defaults for keys it leaves out)."""
    import tomllib

    from xrdtui.engine.simulator import PatternSettings

    stored = reader.info.conventions.get("pattern")
    if stored is None:
        try:
            stored = tomllib.loads(reader.info.config_text).get("pattern", {})
        except tomllib.TOMLDecodeError as exc:
            raise StoreError(f"{reader.path.name}: cannot tell its pattern settings ({exc})") from None
    try:
        return PatternSettings(**stored)
    except TypeError as exc:
        raise StoreError(f"{reader.path.name}: unknown pattern settings {stored!r} ({exc})") from None


def simulate(info, lattices: np.ndarray, fracs: np.ndarray, settings=None) -> tuple[np.ndarray, np.ndarray]:
    """Full patterns [B, M] of the truth's species at the given cells and coordinates (NaN rows for
    cells the simulator cannot take), and the 2θ axis [M] (degrees)."""
    import torch

    from xrdtui.engine.landscape import simulator_for_grid

    ok = np.isfinite(lattices).all(axis=1) & np.isfinite(fracs).reshape(len(fracs), -1).all(axis=1)
    sim = simulator_for_grid(_structure(info), lattices[ok], settings)
    out = np.full((len(lattices), len(sim.two_theta)), np.nan, dtype=np.float32)
    with torch.no_grad():
        lat_t = torch.as_tensor(lattices[ok])
        good = ~(sim.invalid_members(lat_t) | sim.outside_margin(lat_t)).numpy()
        idx = np.flatnonzero(ok)[good]
        if idx.size:
            out[idx] = sim.pattern(torch.as_tensor(lattices[idx]), torch.as_tensor(fracs[idx])).float().numpy()
    return out, np.asarray(sim.two_theta, dtype=np.float64)


def member_figure(reader, task: str, member: int = 0):
    """Figure 6 for member ``member`` of the cell ``task`` = structure/noise/level/method."""
    records = cell_tasks(reader, task)
    first = records[0]
    n_members = int(first.info.n_members)
    if not 0 <= int(member) < n_members:
        raise ConfigError(f"--member must be in 0..{n_members - 1} for {task}, got {member}")
    k = int(member)
    info = reader.structures().get(first.info.structure)
    if info is None:
        raise StoreError(f"{reader.path.name} lacks the ground truth of {first.info.structure}")
    info = info.in_cell(first.info.cell)  # the cell the task distorted and optimised
    truth = np.asarray(info.lattice, dtype=np.float64)
    res0 = first.result
    rows = [("ground truth", TRUTH_COLOUR, truth, np.asarray(info.frac, dtype=np.float64), ""),
            ("distorted start", DISTORTED_COLOUR, res0.init_lattice[k], res0.init_frac[k], "")]
    for rec in records:
        r = rec.result
        verdict = (f"matched, rms {r.rms[k]:.3f}" if r.matched[k] else "not matched") + ("; failed" if r.failed[k] else "")
        method = method_info(rec.info.method)
        label = f"{method.display} {method.kind}" if method.kind != MethodKind.DESCENT else f"{rec.info.mode} GD"
        rows.append((label, mode_colour(rec.info.mode), r.final_lattice[k], r.final_frac[k], verdict))
    lattices = np.stack([np.asarray(r[2], dtype=np.float64) for r in rows])
    fracs = np.stack([np.asarray(r[3], dtype=np.float64) for r in rows])
    settings = campaign_pattern_settings(reader)
    patterns, two_theta = simulate(info, lattices, fracs, settings)

    coords = first.info.noise == Noise.COORDS
    with styled():
        fig = new_figure(16.0 if coords else 12.0, 4.8)
        if coords:  # coordinate noise: the site displacements tell more than the (unchanged) cell
            left, middle, right = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1.0, 1.0, 1.3]})
        else:
            left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.0, 1.3]})
        bars = rows[1:]
        width = 0.8 / len(bars)
        x = np.arange(6)
        for b, (label, colour, lat, _, verdict) in enumerate(bars):
            dev = relative_deviation(lat, truth)
            left.bar(x + (b - (len(bars) - 1) / 2) * width, np.nan_to_num(dev), width, color=colour,
                     label=f"{label} ({verdict})" if verdict else label, edgecolor="white", linewidth=0.4)
        left.axhline(0, color=TRUTH_COLOUR, lw=0.8)
        if all(np.allclose(relative_deviation(b[2], truth), 0, atol=1e-9) for b in bars):
            left.text(0.5, 0.6, "cell unchanged (all deviations 0)", transform=left.transAxes, ha="center", color="0.4")
        left.set_xticks(x, [f"{param_symbol(p)}" for p in PARAM_NAMES])
        left.set_xlabel("lattice parameter (a, b, c in Å; α, β, γ in °)")
        left.set_ylabel("deviation from ground truth (%)")
        left.set_title("lattice parameters relative to the truth")
        left.legend(loc="best", fontsize=7.5, framealpha=0.9)
        left.grid(axis="y", color="0.9", lw=0.6)
        if coords:
            sites = np.arange(len(info.species))
            for b, (label, colour, _, frac, _) in enumerate(bars):
                disp = site_displacement(frac, info.frac, truth)
                middle.bar(sites + (b - (len(bars) - 1) / 2) * width, np.nan_to_num(disp), width, color=colour,
                           label=label, edgecolor="white", linewidth=0.4)
            middle.set_xticks(sites, [f"{sp}{i + 1}" for i, sp in enumerate(info.species)],
                              rotation=90 if len(sites) > 12 else 0)
            middle.set_xlabel("site")
            middle.set_ylabel("displacement from the true site (Å)")
            middle.set_title("atomic positions (nearest image, truth cell)")
            middle.grid(axis="y", color="0.9", lw=0.6)

        drawn = [(p, f"{label}" + (f" ({verdict})" if verdict else ""), colour)
                 for (label, colour, _, _, verdict), p in zip(rows, patterns, strict=True) if np.isfinite(p).all()]
        stack_patterns(right, two_theta, drawn)
        right.set_title(f"XRD patterns (λ = {settings.wavelength:g} Å, recomputed from the stored cells)")
        info_ = first.info
        fig.suptitle(f"{info_.structure}: {info_.noise} noise σ = {info_.level:g}, {info_.method}, member {k}")
    return fig
