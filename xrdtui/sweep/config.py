"""Experiment configuration: a TOML file, validated into an :class:`ExperimentConfig`.

Every problem (unknown key, wrong type, out-of-range value, unknown loss or structure) is reported as
one :class:`~xrdtui.errors.ConfigError` line naming the key. Example (``examples/quick.toml``)::

    name = "quick"
    seed = 0
    structures = ["U2Ti", "Au2S"]          # benchmark names or CIF / pymatgen-JSON paths
    distortions = 8                        # per structure and noise level
    methods = ["cosine", "mse", "entropy", "chgnet"]
    modes = ["free", "projected"]

    [noise]
    lattice = [0.02, 0.05]                 # sigma_l of the strain matrix
    coords = [0.02]                        # sigma_c of the fractional-coordinate noise

    [optimizer]                            # see xrdtui.engine.optimize.OptimizerSettings
    method = "adam"
    max_steps = 200

    [chgnet]                               # see xrdtui.engine.relax.RelaxSettings
    fmax = 0.1
    steps = 300
    members = 4                            # relax only the first k distortions of each batch
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xrdtui.errors import ConfigError, XrdtuiError

NOISE_TYPES = ("lattice", "coords")
MODES = ("free", "projected", "free-from-projected-init")
RELAX_METHOD = "chgnet"
RELAX_MODE = "relax"
XRD_LOSSES = ("cosine", "mse", "entropy")

# Keys each table accepts, and their types. Validation is explicit so that a typo is an error, not a silent default.
_TOP_KEYS = {
    "name": str,
    "seed": int,
    "store": str,
    "structures": list,
    "distortions": int,
    "methods": list,
    "modes": list,
    "workers": int,
    "scheduler": str,
    "noise": dict,
    "optimizer": dict,
    "chgnet": dict,
    "pattern": dict,
}
# The [optimizer], [chgnet] and [pattern] tables are the fields of the engine's settings dataclasses;
# the dataclasses are the single home of their defaults and checks (see _settings_table).
_SETTINGS_TABLES = {
    "optimizer": ("xrdtui.engine.optimize", "OptimizerSettings", ("callback_every",)),
    "chgnet": ("xrdtui.engine.relax", "RelaxSettings", ("device",)),
    "pattern": ("xrdtui.engine.simulator", "PatternSettings", ()),
}
CHGNET_EXTRA_KEYS = {"members": int}  # sweep-level: relax only the first k distortions of each batch


@dataclass(frozen=True)
class ExperimentConfig:
    """A validated experiment. ``text`` is the TOML source, stored verbatim in the campaign file."""

    name: str
    seed: int
    structures: tuple[str, ...]
    distortions: int
    noise: dict[str, tuple[float, ...]]
    methods: tuple[str, ...]
    modes: tuple[str, ...]
    optimizer: dict[str, Any] = field(default_factory=dict)
    chgnet: dict[str, Any] = field(default_factory=dict)
    pattern: dict[str, Any] = field(default_factory=dict)
    store: str | None = None
    workers: int | None = None
    scheduler: str | None = None
    text: str = ""
    source: str = "<string>"

    @property
    def xrd_methods(self) -> tuple[str, ...]:
        return tuple(m for m in self.methods if m != RELAX_METHOD)

    @property
    def store_path(self) -> Path:
        return Path(self.store) if self.store else Path("store") / f"{self.name}.h5"

    @property
    def content_hash(self) -> str:
        """Hash of everything that determines results (not the store path, workers or scheduler)."""
        key = repr(
            (
                self.seed,
                self.structures,
                self.distortions,
                sorted(self.noise.items()),
                self.methods,
                self.modes,
                sorted(self.optimizer.items()),
                sorted(self.chgnet.items()),
                sorted(self.pattern.items()),
            )
        )
        return hashlib.sha256(key.encode()).hexdigest()[:16]


def _check_table(table: dict, allowed: dict[str, type], where: str) -> dict:
    out = {}
    for key, value in table.items():
        if key not in allowed:
            raise ConfigError(f"{where}: unknown key '{key}' (allowed: {', '.join(sorted(allowed))})")
        want = allowed[key]
        if want is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if want is not object and (not isinstance(value, want) or isinstance(value, bool) and want is not bool):
            raise ConfigError(f"{where}.{key}: expected {want.__name__}, got {type(value).__name__} {value!r}")
        if isinstance(value, float) and not (value == value and abs(value) != float("inf")):
            raise ConfigError(f"{where}.{key}: must be a finite number, got {value!r}")
        out[key] = value
    return out


def _str_list(value: Any, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{key}: expected a non-empty list of strings, got {value!r}")
    if len(set(value)) != len(value):
        raise ConfigError(f"{key}: duplicate entries in {value!r}")
    return tuple(value)


def parse_config(text: str, source: str = "<string>", base_dir: Path | None = None) -> ExperimentConfig:
    """Parse and validate TOML ``text``; relative structure paths resolve against ``base_dir``."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML ({exc})") from None
    top = _check_table(raw, _TOP_KEYS, source)

    name = top.get("name", Path(source).stem if source != "<string>" else "campaign")
    if not name or not all(c.isalnum() or c in "-_." for c in name):
        raise ConfigError(f"name: use letters, digits, '-', '_' or '.', got {name!r}")
    seed = top.get("seed", 0)
    if seed < 0:
        raise ConfigError(f"seed: must be >= 0, got {seed}")

    structures = _resolve_structure_names(_str_list(top.get("structures"), "structures"), base_dir)
    distortions = top.get("distortions", 50)
    if not 1 <= distortions <= 10_000:
        raise ConfigError(f"distortions: must be between 1 and 10000, got {distortions}")

    noise_raw = top.get("noise")
    if not noise_raw:
        raise ConfigError("noise: give at least one of [noise] lattice = [...] or coords = [...]")
    noise: dict[str, tuple[float, ...]] = {}
    for kind, levels in noise_raw.items():
        if kind not in NOISE_TYPES:
            raise ConfigError(f"noise: unknown noise type '{kind}' (allowed: {', '.join(NOISE_TYPES)})")
        if not isinstance(levels, list) or not levels:
            raise ConfigError(f"noise.{kind}: expected a non-empty list of levels, got {levels!r}")
        clean = []
        for level in levels:
            if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level <= 1:
                raise ConfigError(f"noise.{kind}: levels must be numbers in (0, 1], got {level!r}")
            clean.append(float(level))
        if len(set(clean)) != len(clean):
            raise ConfigError(f"noise.{kind}: duplicate levels in {levels!r}")
        noise[kind] = tuple(clean)

    methods = _str_list(top.get("methods", list(XRD_LOSSES)), "methods")
    known = _known_losses() + (RELAX_METHOD,)
    for method in methods:
        if method not in known:
            raise ConfigError(f"methods: unknown method '{method}' (known: {', '.join(known)})")
    modes = _str_list(top.get("modes", ["free", "projected"]), "modes")
    for mode in modes:
        if mode not in MODES:
            raise ConfigError(f"modes: unknown mode '{mode}' (allowed: {', '.join(MODES)})")

    optimizer = _settings_table(top.get("optimizer", {}), "optimizer")
    chgnet_raw = dict(top.get("chgnet", {}))
    extra = _check_table({k: chgnet_raw.pop(k) for k in list(chgnet_raw) if k in CHGNET_EXTRA_KEYS},
                         CHGNET_EXTRA_KEYS, "chgnet")
    chgnet = {**_settings_table(chgnet_raw, "chgnet"), **extra}
    if "members" in chgnet and not 1 <= chgnet["members"] <= distortions:
        raise ConfigError(f"chgnet.members: must be between 1 and distortions ({distortions}), got {chgnet['members']}")
    pattern = _settings_table(top.get("pattern", {}), "pattern")

    workers = top.get("workers")
    if workers is not None and workers < 1:
        raise ConfigError(f"workers: must be >= 1, got {workers}")

    return ExperimentConfig(
        name=name,
        seed=seed,
        structures=structures,
        distortions=distortions,
        noise=noise,
        methods=methods,
        modes=modes,
        optimizer=optimizer,
        chgnet=chgnet,
        pattern=pattern,
        store=top.get("store"),
        workers=workers,
        scheduler=top.get("scheduler"),
        text=text,
        source=source,
    )


def _settings_table(table: dict, where: str) -> dict:
    """Validate a table against the fields of its engine settings dataclass, and build it once so that
    the dataclass's own checks run now (at config time) rather than inside a worker."""
    import dataclasses
    import importlib

    module, cls_name, hidden = _SETTINGS_TABLES[where]
    cls = getattr(importlib.import_module(module), cls_name)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init and f.name not in hidden}
    types = {}
    for name, f in fields.items():
        default = f.default if f.default is not dataclasses.MISSING else None
        types[name] = type(default) if isinstance(default, (bool, int, float, str)) else object
    clean = _check_table(table, types, where)
    try:
        settings = cls(**clean)
        check = getattr(settings, "check", None)
        if callable(check):
            check()
    except XrdtuiError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return clean


def load_config(path: str | Path) -> ExperimentConfig:
    """Read and validate a TOML experiment file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config {path}: {exc}") from None
    return parse_config(text, source=str(path), base_dir=path.parent)


def _known_losses() -> tuple[str, ...]:
    # The loss registry lives in the engine (it imports torch); plug-ins registered there count too.
    from xrdtui.engine.losses import LOSSES

    return tuple(LOSSES)


def _resolve_structure_names(names: tuple[str, ...], base_dir: Path | None) -> tuple[str, ...]:
    """Benchmark names stay names; anything else must be an existing file (made absolute)."""
    from xrdtui.engine.structures import BENCHMARK_NAMES

    lookup = {n.lower(): n for n in BENCHMARK_NAMES}
    out = []
    for name in names:
        if name.lower() in lookup:
            out.append(lookup[name.lower()])
            continue
        path = Path(name)
        if not path.is_absolute() and base_dir is not None and not path.exists():
            path = base_dir / path
        if not path.is_file():
            raise ConfigError(
                f"structures: '{name}' is neither a benchmark ({', '.join(BENCHMARK_NAMES)}) nor a structure file"
            )
        out.append(str(path.resolve()))
    return tuple(out)
