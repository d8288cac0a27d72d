"""The project's own words, defined once: noise types, descent modes, crystal families, lattice parameters,
method kinds and campaign states.

Every layer (engine, store, jobs, cli, views, figures) imports its vocabulary from here; nothing else spells
these names as literals. Standard library only, so the CLI and the TUI's first screen may import it.

The enums are ``StrEnum``: a member equals its string value, so values read back from a store (plain
strings) compare equal to members and ``f"{Mode.FREE}"`` is ``"free"``.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from enum import StrEnum

from xrdtui.errors import ConfigError


class Noise(StrEnum):
    """How a reference structure is distorted (paper section 2)."""

    LATTICE = "lattice"  # strain of the cell, fractional coordinates fixed
    COORDS = "coords"  # Gaussian noise on fractional coordinates, cell fixed


NOISE_TYPES: tuple[str, ...] = tuple(n.value for n in Noise)


class Mode(StrEnum):
    """How a method runs on one batch. The first three are the descent modes of the paper's Figure 3."""

    FREE = "free"  # unconstrained gradient descent
    FREE_FROM_PROJECTED_INIT = "free-from-projected-init"  # projected start, then unconstrained
    PROJECTED = "projected"  # projected onto the crystal family at the start and after every step
    RELAX = "relax"  # energy relaxation (CHGNet)
    START = "start"  # the distorted start judged as it is (the no-optimisation baseline)


DESCENT_MODES: tuple[str, ...] = (Mode.FREE, Mode.PROJECTED, Mode.FREE_FROM_PROJECTED_INIT)
# Display order: unconstrained first, constrained last, then the non-descent modes.
MODE_ORDER: tuple[str, ...] = (Mode.START, Mode.FREE, Mode.FREE_FROM_PROJECTED_INIT, Mode.PROJECTED, Mode.RELAX)
MODE_ABBREVIATIONS = {Mode.PROJECTED: "proj", Mode.FREE_FROM_PROJECTED_INIT: "ffpi", Mode.RELAX: "rlx"}


class StrainForm(StrEnum):
    """How the lattice-noise deformation S acts (``[noise] strain``; see ``engine.noise``)."""

    CARTESIAN = "cartesian"  # L~ = S L, columns of L the lattice vectors (the paper's, default)
    BASIS = "basis"  # S mixes the cell vectors: a~_i = sum_j s_ij a_j


STRAIN_FORMS: tuple[str, ...] = tuple(s.value for s in StrainForm)


class Profile(StrEnum):
    """Peak normalisation of the simulated patterns (``[pattern] profile``; see ``engine.profile``)."""

    HEIGHT = "height"  # paper A.2: unit-height G and L, each peak's height is its intensity (default)
    AREA = "area"  # unit-area G and L, each peak's area is its intensity


PROFILES: tuple[str, ...] = tuple(p.value for p in Profile)


class Cell(StrEnum):
    """The cell coordinate-noise tasks distort and optimise (``[noise] cell``; ``engine.structures.in_cell``)."""

    PRIMITIVE = "primitive"  # standard primitive cell: MP-20's cells up to axis order and signs (default)
    NIGGLI = "niggli"  # Niggli-reduced primitive cell (shortest vectors)
    CONVENTIONAL = "conventional"  # conventional standard cell (the lattice study's: the projectors need it)


CELLS: tuple[str, ...] = tuple(c.value for c in Cell)


class Family(StrEnum):
    """Crystal families of the projectors (paper A.3); trigonal structures use the hexagonal one."""

    CUBIC = "cubic"
    HEXAGONAL = "hexagonal"
    TETRAGONAL = "tetragonal"
    ORTHORHOMBIC = "orthorhombic"
    MONOCLINIC = "monoclinic"
    TRICLINIC = "triclinic"


FAMILIES: tuple[str, ...] = tuple(f.value for f in Family)


class MethodKind(StrEnum):
    """What a recovery method does (see :mod:`xrdtui.methods`)."""

    DESCENT = "descent"  # gradient descent on an XRD objective
    RELAXATION = "relaxation"  # energy minimisation
    HYBRID = "hybrid"  # XRD descent followed by energy minimisation
    BASELINE = "baseline"  # no optimisation


class CampaignState(StrEnum):
    """One word for where a campaign stands, used by ``ls``, ``status``, the browser and the monitor."""

    CREATED = "created"  # the store exists, no task has started
    LIVE = "live"  # a writer is running (recent heartbeat)
    FINISHED = "finished"  # the writer finished every task
    COMPLETE = "complete"  # every task ended but the writer did not finish (a partial --only run)
    STOPPED = "stopped"  # the writer is gone and tasks remain (resume it)


@dataclass(frozen=True)
class LatticeParam:
    """One of the six lattice parameters: name, symbol and unit."""

    name: str
    symbol: str
    unit: str

    @property
    def is_length(self) -> bool:
        return self.unit == "Å"


LATTICE_PARAMS: tuple[LatticeParam, ...] = (
    LatticeParam("a", "a", "Å"),
    LatticeParam("b", "b", "Å"),
    LatticeParam("c", "c", "Å"),
    LatticeParam("alpha", "α", "°"),
    LatticeParam("beta", "β", "°"),
    LatticeParam("gamma", "γ", "°"),
)
PARAM_NAMES: tuple[str, ...] = tuple(p.name for p in LATTICE_PARAMS)
PARAM_SYMBOLS: dict[str, str] = {p.name: p.symbol for p in LATTICE_PARAMS}
PARAM_UNITS: dict[str, str] = {p.name: p.unit for p in LATTICE_PARAMS}
LENGTH_NAMES: tuple[str, ...] = tuple(p.name for p in LATTICE_PARAMS if p.is_length)
_PARAM_ALIASES = {p.symbol: p.name for p in LATTICE_PARAMS}

# The levels of a task id below /runs: structure/noise/level/method/mode.
HIERARCHY: tuple[str, ...] = ("structure", "noise", "level", "method", "mode")


def param_index(name: str | int) -> int:
    """Index 0..5 of a lattice parameter given by name ("a", "alpha"), symbol ("α") or index."""
    if isinstance(name, numbers.Integral) and not isinstance(name, bool) and 0 <= int(name) < len(PARAM_NAMES):
        return int(name)
    key = _PARAM_ALIASES.get(str(name).strip(), str(name).strip().lower())
    if key not in PARAM_NAMES:
        raise ConfigError(f"unknown lattice parameter {name!r}; choose from {', '.join(PARAM_NAMES)}")
    return PARAM_NAMES.index(key)


def param_name(name: str | int) -> str:
    """The canonical name of a lattice parameter given by name, symbol or index."""
    return PARAM_NAMES[param_index(name)]


def param_label(name: str) -> str:
    """Axis label with unit, e.g. ``a (Å)``, ``β (°)``."""
    key = param_name(name)
    return f"{PARAM_SYMBOLS[key]} ({PARAM_UNITS[key]})"


def check_choice(value: str, choices, what: str) -> str:
    """``value`` if it is one of ``choices``, else a one-line ConfigError naming them."""
    if value not in choices:
        raise ConfigError(f"unknown {what} {value!r}; choose one of {', '.join(map(str, choices))}")
    return value
