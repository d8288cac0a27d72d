"""The HDF5 layout of an xrdtui store: every group, dataset and attribute name lives here.

One file per campaign (schema :data:`SCHEMA`), readable with plain h5py / ``h5ls -r`` once closed::

    /                                   attrs: format="xrdtui-store", schema, kind ("campaign"|"landscapes"|
                                               "refinement": xrdtui refine, one task per candidate),
                                               name, created (ISO 8601), config_text (TOML), config_hash,
                                               xrdtui_version, versions (JSON), seed, units (JSON), status_codes,
                                               conventions (JSON: pattern, optimiser, ... settings as used)
    /tasks/<column>          [n_tasks]  static task table, row i = task i (task_id, structure, noise, level,
                                        method, mode, n_members, n_sites, max_steps, traj_frac, seed, cell)
    /progress/<column>       [n_tasks]  mutable per-task state: status int8 (0 pending, 1 running, 2 done,
                                        3 failed), started_at, finished_at (Unix s), wall_s (s), loss_rows,
                                        k, n, rate, lo, hi (paper match rate, Jeffreys 95%), k_strict,
                                        lo_strict, hi_strict (strict recovery rate), worker, reason,
                                        cost (the ETA's weight), members_done
    /progress/<clock>        [1]        heartbeat, started, session_started, session_done0,
                                        finished_at_campaign (Unix s), writer_state (0 created,
                                        1 writing, 2 finished, 3 closed unfinished), writer (host:pid),
                                        workers (of the current session)
    /structures/<name>/                 ground truth: species, lattice [6], frac [N,3], pattern [M], two_theta [M]
                                        (conventional standard cell); attrs: spacegroup_symbol, spacegroup_number,
                                        family, source; cells/<cell>/ species, lattice, frac: the same crystal in the
                                        other cells tasks use (e.g. primitive for coordinate noise)
    /axes/preview_two_theta  [P]        2θ axis (degrees) of the pattern previews
    /runs/<structure>/<noise>/<level>/<method>/<mode>/    one group per task (attrs task_id, row)
        loss [T+1,B] f4, lattice [T+1,B,6] f4, frac [T+1,B,N,3] f4 (only if traj_frac),
        n_steps [B], init_lattice / final_lattice [B,6] f8, init_frac / final_frac [B,N,3] f8,
        matched, converged, failed [B] bool, rms, final_loss, final_similarity [B] f8,
        recovered [B] bool, strict_rms, length_error, angle_error, site_error [B] f8,
        reasons [B] S120, init_pattern / final_pattern [B,P] f2
    /landscapes/<structure>/<objective>/<p1>-<p2>/        see LANDSCAPE_* names below

Mutable state lives only in datasets (SWMR forbids creating objects or attributes after the switch).
Every dataset is chunked with the Fletcher-32 checksum filter (:data:`CHECKSUM`), so corruption is detected.
Trajectory rows past a member's n_steps hold the fill value NaN. Strings are fixed-length UTF-8 bytes.
"""

from __future__ import annotations

import json
import re

import numpy as np

from xrdtui.errors import ConfigError

FORMAT = "xrdtui-store"
SCHEMA = 2  # 2: task cell, strict recovery metric and continuous errors, per-structure cells
READABLE_SCHEMAS = (1, 2)  # schema-1 stores read with cell "conventional" and no strict metric
# HDF5 file-format bounds: 1.10 objects (the oldest that allow SWMR), so HDF5 1.10+ tools (Debian's h5ls,
# HDFView, MATLAB, older h5py) read every store; "latest" under HDF5 2.0 writes headers they reject.
LIBVER = ("v110", "v110")
KIND_CAMPAIGN = "campaign"
KIND_LANDSCAPES = "landscapes"
KIND_REFINEMENT = "refinement"  # xrdtui refine: one task per candidate, the campaign layout
TASK_KINDS = (KIND_CAMPAIGN, KIND_REFINEMENT)  # kinds whose /tasks, /progress and /runs readers show

# --- root attributes -----------------------------------------------------------------------------
A_FORMAT = "format"
A_SCHEMA = "schema"
A_KIND = "kind"
A_NAME = "name"
A_CREATED = "created"
A_CONFIG_TEXT = "config_text"
A_CONFIG_HASH = "config_hash"
A_XRDTUI_VERSION = "xrdtui_version"
A_VERSIONS = "versions"
A_SEED = "seed"
A_UNITS = "units"
A_STATUS_CODES = "status_codes"
A_DESCRIPTION = "description"
A_CONVENTIONS = "conventions"  # JSON: every setting that determines results (see StoreInfo.conventions)
# per-dataset attributes
A_UNIT = "units"
A_DOC = "description"

# --- groups ---------------------------------------------------------------------------------------
G_TASKS = "tasks"
G_PROGRESS = "progress"
G_STRUCTURES = "structures"
G_AXES = "axes"
G_RUNS = "runs"
G_LANDSCAPES = "landscapes"

# --- /tasks columns (static) ------------------------------------------------------------------------
TASK_COLUMNS = (
    "task_id",
    "structure",
    "noise",
    "level",
    "method",
    "mode",
    "n_members",
    "n_sites",
    "max_steps",
    "traj_frac",
    "seed",
    "cell",
)
TASK_STR_COLUMNS = ("task_id", "structure", "noise", "method", "mode", "cell")
TASK_DEFAULTS = {"cell": "conventional"}  # columns a schema-1 store lacks
TASK_NUM_DTYPES = {
    "level": "f8",
    "n_members": "i4",
    "n_sites": "i4",
    "max_steps": "i4",
    "traj_frac": "?",
    "seed": "i8",
}

# --- /progress per-task columns (mutable) -------------------------------------------------------
P_STATUS = "status"
P_STARTED_AT = "started_at"
P_FINISHED_AT = "finished_at"
P_WALL_S = "wall_s"
P_LOSS_ROWS = "loss_rows"
P_K = "k"
P_N = "n"
P_RATE = "rate"
P_LO = "lo"
P_HI = "hi"
P_K_STRICT = "k_strict"
P_LO_STRICT = "lo_strict"
P_HI_STRICT = "hi_strict"
P_WORKER = "worker"
P_REASON = "reason"
P_COST = "cost"
P_MEMBERS_DONE = "members_done"
# name -> (dtype, fill, units/description)
PROGRESS_COLUMNS: dict[str, tuple[str, object, str]] = {
    P_STATUS: ("i1", 0, "0 pending, 1 running, 2 done, 3 failed"),
    P_STARTED_AT: ("f8", np.nan, "s since Unix epoch (task marked running)"),
    P_FINISHED_AT: ("f8", np.nan, "s since Unix epoch (result written or failure)"),
    P_WALL_S: ("f8", np.nan, "s, task time measured by the worker (summed over the slices of a split task)"),
    P_LOSS_ROWS: ("i4", 0, "trajectory rows of loss written so far (streamed while running)"),
    P_K: ("i4", 0, "members matched (StructureMatcher ltol 0.1, stol 0.2, angle_tol 5)"),
    P_N: ("i4", 0, "members judged"),
    P_RATE: ("f8", np.nan, "k / n"),
    P_LO: ("f8", np.nan, "Jeffreys 95% interval lower bound: Beta(0.025; k+1/2, n-k+1/2), 0 if k=0"),
    P_HI: ("f8", np.nan, "Jeffreys 95% interval upper bound: Beta(0.975; k+1/2, n-k+1/2), 1 if k=n"),
    P_K_STRICT: ("i4", 0, "members recovered (strict metric, see the conventions attribute)"),
    P_LO_STRICT: ("f8", np.nan, "Jeffreys 95% interval lower bound of k_strict / n"),
    P_HI_STRICT: ("f8", np.nan, "Jeffreys 95% interval upper bound of k_strict / n"),
    P_WORKER: ("S64", b"", "worker (host:pid) that ran the task"),
    P_REASON: ("S120", b"", "task-level failure reason (UTF-8)"),
    P_COST: ("f8", np.nan, "expected relative cost (method weight x members x sites x steps): weights the ETA"),
    P_MEMBERS_DONE: ("i4", 0, "members finished so far (a task split into member slices counts each slice)"),
}
# campaign clock, each a [1] dataset
C_HEARTBEAT = "heartbeat"
C_STARTED = "started"
C_SESSION_STARTED = "session_started"
C_SESSION_DONE0 = "session_done0"
C_FINISHED_AT = "finished_at_campaign"
C_WRITER_STATE = "writer_state"
C_WRITER = "writer"
C_WORKERS = "workers"
CLOCK_COLUMNS: dict[str, tuple[str, object, str]] = {
    C_HEARTBEAT: ("f8", np.nan, "s since Unix epoch; bumped by the writer at least every few seconds"),
    C_STARTED: ("f8", np.nan, "s since Unix epoch; first writer session start"),
    C_SESSION_STARTED: ("f8", np.nan, "s since Unix epoch; current writer session start"),
    C_SESSION_DONE0: ("i4", 0, "tasks done or failed when the current session started"),
    C_FINISHED_AT: ("f8", np.nan, "s since Unix epoch; writer called finish()"),
    C_WRITER_STATE: ("i1", 0, "0 created, 1 writing, 2 finished, 3 closed unfinished"),
    C_WRITER: ("S64", b"", "host:pid of the current writer process"),
    C_WORKERS: ("i4", 0, "worker processes of the current writer session"),
}
WS_CREATED, WS_WRITING, WS_FINISHED, WS_CLOSED = 0, 1, 2, 3
LIVE_WINDOW_S = 5.0  # a reader calls the campaign live when the heartbeat is younger than this

# --- /structures/<name> ----------------------------------------------------------------------------
S_SPECIES = "species"
S_LATTICE = "lattice"
S_FRAC = "frac"
S_PATTERN = "pattern"
S_TWO_THETA = "two_theta"
S_CELLS = "cells"
SA_SG_SYMBOL = "spacegroup_symbol"
SA_SG_NUMBER = "spacegroup_number"
SA_FAMILY = "family"
SA_SOURCE = "source"  # where the ground truth's facts come from, in words

AX_PREVIEW = "preview_two_theta"
PREVIEW_STEP = 0.1  # degrees
PREVIEW_POINTS = 900

# --- /runs/.../<mode>/ per-task datasets -----------------------------------------------------------
RA_TASK_ID = "task_id"
RA_ROW = "row"
REASON_BYTES = 120
WORKER_BYTES = 64
# Trajectories: [T+1, B, ...] float32, chunked over rows and compressed.
R_LOSS = "loss"
R_LATTICE = "lattice"
R_FRAC = "frac"
TRAJ_DATASETS = (R_LOSS, R_LATTICE, R_FRAC)
# Per-member arrays: name -> (dtype, trailing shape kind, fill, units)
#   kind: "" -> [B], "6" -> [B,6], "N3" -> [B,N,3], "P" -> [B,P], "S" -> [B] fixed bytes
MEMBER_DATASETS: dict[str, tuple[str, str, object, str]] = {
    "n_steps": ("i4", "", 0, "optimisation steps taken (trajectory rows used = n_steps + 1)"),
    "init_lattice": ("f8", "6", np.nan, "a,b,c (angstrom), alpha,beta,gamma (degrees)"),
    "init_frac": ("f8", "N3", np.nan, "fractional coordinates"),
    "final_lattice": ("f8", "6", np.nan, "a,b,c (angstrom), alpha,beta,gamma (degrees)"),
    "final_frac": ("f8", "N3", np.nan, "fractional coordinates"),
    "matched": ("?", "", False, "StructureMatcher of [matcher] (paper: ltol 0.1, stol 0.2, angle_tol 5) fits"),
    "rms": ("f8", "", np.nan, "normalised RMS displacement (get_rms_dist), NaN if unmatched"),
    "recovered": ("?", "", False, "strict metric: StructureMatcher of [strict] (ltol 0.02, stol 0.1, 1 deg, scale=False) fits"),
    "strict_rms": ("f8", "", np.nan, "normalised RMS displacement under the strict matcher, NaN if not recovered"),
    "length_error": ("f8", "", np.nan, "max over a,b,c of |l/l0 - 1| (dimensionless)"),
    "angle_error": ("f8", "", np.nan, "max over alpha,beta,gamma of |angle - angle0| (degrees)"),
    "site_error": ("f8", "", np.nan, "RMS nearest-image site displacement, mean shift removed, / (V0/N)^(1/3)"),
    "final_loss": ("f8", "", np.nan, "final loss (XRD: dimensionless; chgnet: eV/atom)"),
    "final_similarity": ("f8", "", np.nan, "final pattern similarity of the method's loss"),
    "converged": ("?", "", False, "stopping criterion met before max_steps"),
    "failed": ("?", "", False, "member failed (NaN, degenerate cell, ...); see reasons"),
    "reasons": (f"S{REASON_BYTES}", "S", b"", "failure / stop reason, UTF-8"),
    "init_pattern": ("f2", "P", np.nan, "pattern preview at 0.1 deg (max 1) of the initial state"),
    "final_pattern": ("f2", "P", np.nan, "pattern preview at 0.1 deg (max 1) of the final state"),
}
TRAJ_UNITS = {
    R_LOSS: "loss per step (XRD: dimensionless; chgnet: energy eV/atom); NaN past n_steps",
    R_LATTICE: "a,b,c (angstrom), alpha,beta,gamma (degrees) per step; NaN past n_steps",
    R_FRAC: "fractional coordinates per step; NaN past n_steps",
}
# Every dataset carries HDF5's Fletcher-32 checksum filter (it needs chunked storage, so small datasets are
# chunked too): a flipped byte on disk is an error on read, never a silently wrong number (`xrdtui verify`).
CHECKSUM = {"fletcher32": True}
COMPRESSION = {"compression": "gzip", "compression_opts": 4, "shuffle": True, **CHECKSUM}  # gzip: h5ls reads it
TRAJ_CHUNK_BYTES = 256 * 1024

# --- /landscapes/<structure>/<objective>/<p1>-<p2>/ ----------------------------------------------
L_AXIS1 = "axis1"
L_AXIS2 = "axis2"
L_GRID = "grid"
L_TRUTH = "truth"
L_MINIMA = "minima"
L_MINIMA_PATTERNS = "minima_patterns"
L_TWO_THETA = "two_theta"
L_PATHS = "paths"
L_POINTS = "points"
L_START = "start"
LA_STRUCTURE = "structure"
LA_OBJECTIVE = "objective"
LA_P1 = "p1"
LA_P2 = "p2"
LA_MODE = "mode"
LA_FINAL_LOSS = "final_loss"
LA_SETTINGS_PREFIX = "setting."
MINIMA_DTYPE = np.dtype(
    [("rank", "i4"), ("i", "i4"), ("j", "i4"), ("p1", "f8"), ("p2", "f8"), ("value", "f8"), ("depth", "f8")]
)

UNITS_DOC = {
    "lattice": "a,b,c in angstrom; alpha,beta,gamma in degrees",
    "frac": "fractional coordinates in [0,1)",
    "two_theta": "degrees",
    "times": "seconds since the Unix epoch; durations in seconds",
    "loss": "XRD losses dimensionless; chgnet energy in eV/atom",
}

_NAME_RE = re.compile(r"^[A-Za-z0-9_.+()\[\]{}=,@#%-]+$")


def check_name(kind: str, value: str) -> str:
    """Return ``value`` if it can be one HDF5 path component, else raise ConfigError."""
    if not isinstance(value, str) or not _NAME_RE.match(value) or value in (".", ".."):
        raise ConfigError(f"invalid {kind} name {value!r}: use letters, digits and _.+-() only, no '/'")
    return value


def format_level(level: float) -> str:
    """Stable text of a noise level: 3 decimals ("0.050") unless more are needed to round-trip."""
    level = float(level)
    if not np.isfinite(level):
        raise ConfigError(f"noise level must be finite, got {level!r}")
    for digits in range(3, 13):
        text = f"{level:.{digits}f}"
        if abs(float(text) - level) <= 1e-12 * max(1.0, abs(level)):
            return text
    return repr(level)


def task_id(structure: str, noise: str, level: float, method: str, mode: str) -> str:
    """The task id = its hierarchy path below /runs: ``structure/noise/level/method/mode``."""
    parts = (
        check_name("structure", structure),
        check_name("noise", noise),
        format_level(level),
        check_name("method", method),
        check_name("mode", mode),
    )
    return "/".join(parts)


def run_path(tid: str) -> str:
    """Absolute HDF5 path of a task group."""
    return f"/{G_RUNS}/{tid}"


def landscape_key(structure: str, objective: str, p1: str, p2: str) -> str:
    """``structure/objective/p1-p2`` (the key of ``StoreReader.landscape``)."""
    for kind, v in (("structure", structure), ("objective", objective), ("parameter", p1), ("parameter", p2)):
        check_name(kind, v)
    return f"{structure}/{objective}/{p1}-{p2}"


def landscape_path(key: str) -> str:
    """Absolute HDF5 path of a landscape group."""
    return f"/{G_LANDSCAPES}/{key}"


def progress_path(column: str) -> str:
    return f"/{G_PROGRESS}/{column}"


def task_column_path(column: str) -> str:
    return f"/{G_TASKS}/{column}"


def encode(text: str, nbytes: int) -> bytes:
    """UTF-8 bytes of ``text`` cut to at most ``nbytes`` on a character boundary."""
    raw = str(text).encode("utf-8")
    if len(raw) <= nbytes:
        return raw
    return raw[:nbytes].decode("utf-8", errors="ignore").encode("utf-8")


def decode(raw) -> str:
    """Text from a fixed-length bytes cell."""
    if isinstance(raw, bytes | np.bytes_):
        return bytes(raw).decode("utf-8", errors="replace")
    return str(raw)


def traj_chunks(shape: tuple[int, ...], itemsize: int = 4) -> tuple[int, ...]:
    """Chunk shape for a [T+1, B, ...] trajectory: whole trailing dims, rows so a chunk is ~256 KiB."""
    per_row = itemsize * int(np.prod(shape[1:], dtype=np.int64))
    rows = max(1, min(shape[0], TRAJ_CHUNK_BYTES // max(per_row, 1)))
    return (rows, *shape[1:])


def root_units_json() -> str:
    return json.dumps(UNITS_DOC, sort_keys=True)
