"""The registry of recovery methods: what a method is, and where the layers look one up.

A method is one :class:`Method` entry. It declares its name, kind (descent, relaxation, baseline), the
objective it minimises and that objective's unit, the similarity reported for its final patterns, the
settings tables it reads from an experiment file, the modes it runs in, whether a task's members may be
split across workers, its relative cost, and ``run``: the function that recovers one batch of distorted
starts (:class:`~xrdtui.methods.batch.Batch` in, :class:`~xrdtui.methods.batch.Outcome` out).

Config validation, task building, workers, the store's readers, the CLI, the TUI and the figures ask the
registry (``get_method(name).kind``, ``.unit``, ``.label``, ``.colour``) instead of comparing method names
with literals. Importing this module imports no heavy library: ``run`` functions import the engine when
they are called.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from xrdtui.errors import ConfigError, XrdtuiError
from xrdtui.vocab import DESCENT_MODES, NOISE_TYPES, MethodKind, Mode, Noise


@dataclass(frozen=True)
class SettingsTable:
    """A table of an experiment file (``[optimizer]``, ``[chgnet]``, ...): the settings dataclass that is
    the single home of its fields, defaults and checks (``"module:Class"``, imported when validated),
    fields the file may not set, and sweep-level keys that are not fields of the dataclass."""

    name: str
    cls: str
    hidden: tuple[str, ...] = ()
    extra: Mapping[str, type] = field(default_factory=dict)

    def settings_class(self):
        module, _, name = self.cls.partition(":")
        return getattr(importlib.import_module(module), name)

    def field_types(self) -> dict[str, type]:
        """Allowed keys and their TOML types (fields with a bool/int/float/str default keep that type;
        other fields (tuples, lists) take any value, left to the dataclass to check)."""
        types: dict[str, type] = {}
        for f in dataclasses.fields(self.settings_class()):
            if not f.init or f.name in self.hidden:
                continue
            default = f.default if f.default is not dataclasses.MISSING else None
            types[f.name] = type(default) if isinstance(default, (bool, int, float, str)) else object
        return {**types, **self.extra}

    def build(self, values: Mapping[str, Any]):
        """The settings object of validated ``values`` (sweep-level extra keys left out); ConfigError
        (naming the table) when the dataclass or its ``check()`` refuses them."""
        cls = self.settings_class()
        kwargs = {k: _from_toml(v) for k, v in values.items() if k not in self.extra}
        try:
            settings = cls(**kwargs)
            check = getattr(settings, "check", None) or getattr(settings, "validate", None)
            if callable(check):
                check()
        except XrdtuiError as exc:
            raise ConfigError(f"{self.name}: {exc}") from None
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{self.name}: {exc}") from None
        return settings


def _from_toml(value):
    """TOML arrays arrive as lists; the settings dataclasses are frozen and hashable, so use tuples."""
    return tuple(_from_toml(v) for v in value) if isinstance(value, list) else value


RunFn = Callable[[Any], Any]  # (Batch) -> Outcome


@dataclass(frozen=True)
class Method:
    """One recovery method (see the module docstring).

    ``modes``: the modes the method runs in; ``None`` means "the descent modes the experiment asks for"
    (``modes = [...]`` in the file); under coordinate noise descent modes collapse to "free" (the
    projection acts on the lattice) unless ``coords_modes`` says otherwise (a coordinate constraint). ``steps(settings)``: trajectory rows minus one for the given settings
    objects (table name -> object). ``members``: a (table, key) whose value caps the members per task
    (CHGNet relaxes only the first k distortions of each batch when ``[chgnet] members = k``).
    ``tracks_coords(noise)``: whether its trajectories move (and the store keeps) fractional coordinates.
    ``cost``: relative cost of one member-step, for scheduling (longest first) and ETAs (:meth:`task_cost`).
    ``step_overhead``: what one step costs beyond its members, in member-size units; None (default): a descent
    step's fixed part DESCENT_STEP_OVERHEAD for descent and hybrid methods, 0 for a relaxation (its per-member
    optimiser steps dominate) and the baseline.
    ``sized_by_graph``: a member's size is CHGNet's graph (engine.chgnet_graph.graph_cost_size) rather than
    its sites + SITE_OFFSET.
    ``reduces_supercells(settings)``: whether, with these settings, the method works on the primitive cell of
    a start that is an exact supercell (lattice noise in a centred cell): the cost then sizes that cell.
    ``warm(device)``: prepares a worker process before its first task (e.g. loads CHGNet's weights there).
    ``calls_chgnet``: whether its numbers come (partly) from CHGNet (the content hash then records how
    CHGNet's forces are taken, ``RelaxSettings.second_order``).
    ``needs_truth``: why the routine needs the reference structure itself, not only its pattern (empty: it
    does not); such a method cannot refine a candidate against a measured pattern (``xrdtui refine``).
    ``label``, ``colour``, ``axis_label``: how tables, the TUI and figures show it.
    """

    name: str
    kind: MethodKind
    description: str
    objective: str
    unit: str
    similarity: str
    run: RunFn | None
    tables: tuple[SettingsTable, ...] = ()
    modes: tuple[str, ...] | None = None
    coords_modes: tuple[str, ...] | None = None
    noises: tuple[str, ...] = NOISE_TYPES
    steps: Callable[[Mapping[str, Any]], int] = lambda settings: 0
    members: tuple[str, str] | None = None
    tracks_coords: Callable[[str], bool] = lambda noise: noise == Noise.COORDS
    splittable: bool = False
    cost: float = 1.0
    step_overhead: float | None = None
    sized_by_graph: bool = False
    reduces_supercells: Callable[[Mapping[str, Any]], bool] = lambda settings: False
    warm: Callable[[str], None] | None = None
    calls_chgnet: bool = False
    needs_truth: str = ""
    label: str = ""
    colour: str = "#7570b3"
    axis_label: str = ""

    @property
    def display(self) -> str:
        return self.label or self.name

    @property
    def objective_axis(self) -> str:
        """Axis / colour-bar label of the objective (with its unit where it has one)."""
        return self.axis_label or f"{self.display} loss"

    def task_modes(self, configured: tuple[str, ...], noise: str = Noise.LATTICE) -> tuple[str, ...]:
        """The modes of this method's tasks, given the experiment's ``modes`` and the task's noise type.

        The descent modes differ in how the *lattice* is projected; under coordinate noise only the
        coordinates move, so every descent mode would repeat the free run: coordinate-noise tasks run free
        only (the paper constrains only its lattice-noise runs)."""
        if noise == Noise.COORDS and self.coords_modes is not None:
            return self.coords_modes
        modes = self.modes if self.modes is not None else tuple(m for m in configured if m in DESCENT_MODES)
        if noise == Noise.COORDS and modes and all(m in DESCENT_MODES for m in modes):
            return (Mode.FREE,)
        return modes

    def member_size(self, n_sites: int, graph_size: float | None = None) -> float:
        """One member's work per step in cost units: its CHGNet graph size where the method is sized by it
        and the size is known, else ``n_sites + SITE_OFFSET``."""
        if self.sized_by_graph and graph_size is not None:
            return float(graph_size)
        return float(n_sites + SITE_OFFSET)

    def task_cost(self, n_members: int, member_size: float, max_steps: int) -> float:
        """Relative cost of one task: ``cost x (1 + max_steps) x (step_overhead + members x member_size)``."""
        overhead = self.step_overhead
        if overhead is None:
            overhead = DESCENT_STEP_OVERHEAD if self.kind in (MethodKind.DESCENT, MethodKind.HYBRID) else 0.0
        return self.cost * (1 + max_steps) * (overhead + n_members * member_size)


# A member-step costs what SITE_OFFSET more sites would (per-member Python and autograd overhead), and a
# descent step DESCENT_STEP_OVERHEAD member-sites beyond its members: benchmarks/descent_step.py on
# 2026-12-04 (idle machine) gave 2.56 ms at 1 member and 9.93 ms at 50 for CsTlO's 6-site cell (2.59 / 8.01 ms
# for ErPt3's 4 sites): 0.015 ms per member-site, a fixed 2.4-2.5 ms per step, about 170 member-sites. So
# small cells and straggling members cost more per site than sites alone say. Replayed on the paper sweep of
# 2026-12-04 (benchmarks/eta_replay.py), these, with CHGNet sized by its graph and rates per method and noise
# type, put the ETA at 5/10/20/30 % done +24/-13/-35/-13 % off the end, against +64/-12/-53/-33 % before.
SITE_OFFSET = 4
DESCENT_STEP_OVERHEAD = 170.0

METHODS: dict[str, Method] = {}
SETTINGS_TABLES: dict[str, SettingsTable] = {}


def register_method(method: Method, *, replace: bool = False) -> Method:
    """Add ``method`` to the registry (and its settings tables); ConfigError for a bad or taken name."""
    name = method.name
    if not name or not all(c.isalnum() or c in "-_." for c in name):
        raise ConfigError(f"method name must use letters, digits, '-', '_' or '.', got {name!r}")
    if name in METHODS and not replace:
        raise ConfigError(f"method {name!r} is already registered")
    for table in method.tables:
        register_table(table)
    METHODS[name] = method
    return method


def register_table(table: SettingsTable) -> SettingsTable:
    """A settings table every task reads (``[pattern]``), not owned by one method."""
    known = SETTINGS_TABLES.get(table.name)
    if known is not None and known != table:
        raise ConfigError(f"table [{table.name}] is already registered differently")
    SETTINGS_TABLES[table.name] = table
    return table


def settings_tables() -> dict[str, SettingsTable]:
    """Every settings table an experiment file may hold, by name."""
    _load_builtins()
    return dict(SETTINGS_TABLES)


def get_method(name: str) -> Method:
    """The registered method ``name``; ConfigError naming the known ones when there is none."""
    _load_builtins()
    try:
        return METHODS[name]
    except KeyError:
        raise ConfigError(f"unknown method {name!r}; known: {', '.join(METHODS)}") from None


def method_info(name: str) -> Method:
    """For readers (views, figures, reports): the registered method, or a neutral descent-like stand-in
    for a name this version does not know (a store written by a plug-in), so a display never fails."""
    _load_builtins()
    known = METHODS.get(name)
    if known is not None:
        return known
    return Method(name, MethodKind.DESCENT, "not registered in this xrdtui", "unknown", "", "cosine", None)


def all_methods() -> list[Method]:
    """Every registered method in registration order (the display order)."""
    _load_builtins()
    return list(METHODS.values())


def method_rank(name: str) -> tuple[int, str]:
    """Sort key: registration order, unknown names after, alphabetically."""
    _load_builtins()
    names = list(METHODS)
    return (names.index(name), "") if name in names else (len(names), name)


def is_kind(name: str, kind: MethodKind) -> bool:
    return method_info(name).kind == kind


def is_energy_objective(name: str) -> bool:
    """A landscape objective that is a relaxation method's energy (e.g. "chgnet"), not an XRD loss."""
    return is_kind(name, MethodKind.RELAXATION)


def steps_from(table: str, key: str) -> Callable[[Mapping[str, Any]], int]:
    """A ``steps`` function reading ``settings[table].key``."""

    def steps(settings: Mapping[str, Any]) -> int:
        return int(getattr(settings[table], key))

    return steps


_LOADED = False


def _load_builtins() -> None:
    """Register the built-in methods on first use (their module imports only this registry)."""
    global _LOADED
    if not _LOADED:
        _LOADED = True
        importlib.import_module("xrdtui.methods.builtin")
        importlib.import_module("xrdtui.methods.beyond")
