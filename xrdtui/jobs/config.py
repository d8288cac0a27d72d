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
    strain = "cartesian"                   # L~ = S L (the paper's) | "basis" (S mixes the cell vectors)
    cell = "primitive"                     # cell of coordinate-noise tasks: primitive | niggli | conventional

    [optimizer]                            # see xrdtui.engine.optimize.OptimizerSettings; without
    max_steps = 200                        # method = ..., the paper's plain GD (xrdtui.jobs.defaults)

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

from xrdtui.errors import ConfigError, InputError
from xrdtui.vocab import CELLS, DESCENT_MODES, NOISE_TYPES, STRAIN_FORMS, Cell, MethodKind, StrainForm

# Keys of the top level and their types. Validation is explicit so that a typo is an error, not a silent default.
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
    "device": str,
    "nice": int,
    "noise": dict,
}
DEFAULT_METHODS = ("cosine", "mse", "entropy")
DEFAULT_MODES = ("free", "projected")
# Tables whose contents enter the content hash first, in this order (keeps the hash of older files).
_HASHED_FIRST = ("optimizer", "chgnet", "pattern")


@dataclass(frozen=True)
class ExperimentConfig:
    """A validated experiment. ``tables`` maps each settings table given in the file (``optimizer``,
    ``chgnet``, ``pattern``, ...: see ``xrdtui methods``) to its validated keys; ``text`` is the TOML source,
    stored verbatim in the campaign file."""

    name: str
    seed: int
    structures: tuple[str, ...]
    distortions: int
    noise: dict[str, tuple[float, ...]]
    methods: tuple[str, ...]
    modes: tuple[str, ...]
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    strain: str = StrainForm.CARTESIAN
    cell: str = Cell.PRIMITIVE
    store: str | None = None
    workers: int | None = None
    scheduler: str | None = None
    device: str | None = None  # where tensors live (engine.devices); like workers, not part of the content hash
    nice: int | None = None  # local workers' scheduling priority (jobs.executors.WORKER_NICE); not hashed either
    text: str = ""
    source: str = "<string>"

    def table(self, name: str) -> dict[str, Any]:
        """The validated keys of table ``name`` ({} when the file does not have it)."""
        return dict(self.tables.get(name, {}))

    @property
    def optimizer(self) -> dict[str, Any]:
        return self.table("optimizer")

    @property
    def chgnet(self) -> dict[str, Any]:
        return self.table("chgnet")

    @property
    def pattern(self) -> dict[str, Any]:
        return self.table("pattern")

    def conventions(self) -> dict[str, Any]:
        """Every setting that determines results, as used (defaults filled in): each settings table's
        fields by table name. Stored with the campaign (``StoreInfo.conventions``)."""
        import dataclasses

        out = {name: _jsonable(dataclasses.asdict(obj)) for name, obj in self.settings().items()}
        for name, table in self.tables.items():  # per-method sub-tables: the settings that method ran with
            for method in (k for k, v in table.items() if isinstance(v, dict)):
                out[f"{name}.{method}"] = _jsonable(dataclasses.asdict(self.settings(method)[name]))
        out["noise"] = {"strain": str(self.strain), "cell": str(self.cell),
                        "lattice_cell": str(Cell.CONVENTIONAL), "seed": self.seed, "distortions": self.distortions,
                        "levels": {k: list(v) for k, v in self.noise.items()}}
        return out

    def settings(self, method: str | None = None) -> dict[str, Any]:
        """Every settings object the methods may read (table name -> dataclass instance; defaults for
        tables the file leaves out), as ``method`` sees them (its per-method sub-tables applied)."""
        return build_settings(self.tables, method)

    @property
    def xrd_methods(self) -> tuple[str, ...]:
        """The methods that descend an XRD objective (what ``xrdtui compare`` sets against the others)."""
        from xrdtui.methods import get_method

        return tuple(m for m in self.methods if get_method(m).kind == MethodKind.DESCENT)

    @property
    def calls_chgnet(self) -> bool:
        """Whether some method of the file takes numbers from CHGNet."""
        from xrdtui.methods import get_method

        return any(get_method(m).calls_chgnet for m in self.methods)

    @property
    def paper_optimizer_layer(self) -> bool:
        """Whether some method runs on the paper's optimiser defaults (its [optimizer] names no ``method``)."""
        return any("method" not in table_for(self.tables, "optimizer", m, defaults=False) for m in self.methods)

    @property
    def store_path(self) -> Path:
        return Path(self.store) if self.store else Path("store") / f"{self.name}.h5"

    @property
    def content_hash(self) -> str:
        """Hash of everything that determines results (not the store path, workers or scheduler)."""
        later = sorted(set(self.tables) - set(_HASHED_FIRST))
        key = repr(
            (
                self.seed,
                self.structures,
                self.distortions,
                sorted(self.noise.items()),
                self.methods,
                self.modes,
                *(sorted(self.tables.get(name, {}).items()) for name in _HASHED_FIRST),
                ("strain", str(self.strain), "cell", str(self.cell)),
            )
            + tuple((name, sorted(self.tables[name].items())) for name in later)
            + ((("optimizer defaults", "paper gd 1"),) if self.paper_optimizer_layer else ())
            # CHGNet's forces became first-order by default (RelaxSettings.second_order), then supercells
            # relaxed as their primitive cell (RelaxSettings.supercells), then the cell filter took its matrix
            # functions from engine.cell_math (RelaxSettings.cell_math): a store made before any of them is
            # not resumed with numbers of the other kind
            + ((("chgnet backward", "first-order default"), ("chgnet supercells", "reduce default"),
                ("chgnet cell math", "fast default"))
               if self.calls_chgnet else ())
        )
        return hashlib.sha256(key.encode()).hexdigest()[:16]


def table_for(tables: dict[str, dict[str, Any]], name: str, method: str | None = None,
              defaults: bool = True) -> dict[str, Any]:
    """The keys of table ``name`` as ``method`` sees them: the table's own keys, overridden by its
    per-method sub-table ``[name.method]`` when there is one (e.g. ``[optimizer.mse] lr_length = ...``);
    with ``defaults``, an optimiser that names no update rule gets the paper's (``jobs/defaults.py``)."""
    from xrdtui.methods import METHODS

    raw = tables.get(name, {})
    base = {k: v for k, v in raw.items() if not (isinstance(v, dict) and k in METHODS)}
    override = raw.get(method) if method is not None else None
    merged = {**base, **override} if isinstance(override, dict) else base
    if defaults and name == "optimizer" and "method" not in merged:  # no update rule named: the paper's
        from xrdtui.jobs.defaults import paper_optimizer

        merged = {**paper_optimizer(method), **merged}
    return merged


def build_settings(tables: dict[str, dict[str, Any]], method: str | None = None) -> dict[str, Any]:
    """Settings objects of every registered table from validated table contents (defaults where absent),
    with ``method``'s per-method sub-tables applied."""
    from xrdtui.methods import settings_tables

    return {name: t.build(table_for(tables, name, method)) for name, t in settings_tables().items()}


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


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


NOISE_OPTIONS = {"strain": STRAIN_FORMS, "cell": CELLS}  # [noise] keys that are not noise types


def _noise_table(raw: Any) -> tuple[dict[str, tuple[float, ...]], dict[str, str]]:
    """[noise]: a list of levels per noise type, each checked by the engine's own rule, and the options
    ``strain`` (how S acts, engine.noise) and ``cell`` (the cell of coordinate-noise tasks)."""
    from xrdtui.engine.noise import check_level

    raw = dict(raw or {})
    options = {}
    for key, choices in NOISE_OPTIONS.items():
        if key in raw:
            value = raw.pop(key)
            if value not in choices:
                raise ConfigError(f"noise.{key}: expected one of {', '.join(choices)}, got {value!r}")
            options[key] = value
    if not raw:
        raise ConfigError("noise: give at least one of [noise] lattice = [...] or coords = [...]")
    noise: dict[str, tuple[float, ...]] = {}
    for kind, levels in raw.items():
        if kind not in NOISE_TYPES:
            allowed = ", ".join((*NOISE_TYPES, *NOISE_OPTIONS))
            raise ConfigError(f"noise: unknown noise type '{kind}' (allowed: {allowed})")
        if not isinstance(levels, list) or not levels:
            raise ConfigError(f"noise.{kind}: expected a non-empty list of levels, got {levels!r}")
        clean = []
        for level in levels:
            if isinstance(level, bool):
                raise ConfigError(f"noise.{kind}: levels must be numbers, got {level!r}")
            try:
                clean.append(check_level(level))
            except ConfigError as exc:
                raise ConfigError(f"noise.{kind}: {exc}") from None
        if len(set(clean)) != len(clean):
            raise ConfigError(f"noise.{kind}: duplicate levels in {levels!r}")
        noise[kind] = tuple(clean)
    return noise, options


def parse_config(text: str, source: str = "<string>", base_dir: Path | None = None) -> ExperimentConfig:
    """Parse and validate TOML ``text``; relative structure paths resolve against ``base_dir``."""
    from xrdtui.methods import get_method, settings_tables

    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML ({exc})") from None
    known_tables = settings_tables()
    # tables are checked below, each against its settings dataclass; the allowed names go in the message
    top = _check_table({k: v for k, v in raw.items() if k not in known_tables},
                       {**_TOP_KEYS, **dict.fromkeys(known_tables, dict)}, source)

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
    noise, noise_options = _noise_table(top.get("noise"))

    methods = _str_list(top.get("methods", list(DEFAULT_METHODS)), "methods")
    for method in methods:
        try:
            get_method(method)
        except ConfigError as exc:
            raise ConfigError(f"methods: {exc}") from None
    modes = _str_list(top.get("modes", list(DEFAULT_MODES)), "modes")
    for mode in modes:
        if mode not in DESCENT_MODES:
            raise ConfigError(f"modes: unknown mode '{mode}' (allowed: {', '.join(DESCENT_MODES)})")

    tables: dict[str, dict[str, Any]] = {}
    for table_name, table in known_tables.items():
        if table_name not in raw:
            continue
        if not isinstance(raw[table_name], dict):
            raise ConfigError(f"{table_name}: expected a table [{table_name}], got {raw[table_name]!r}")
        types = table.field_types()
        own = {k: v for k, v in raw[table_name].items() if not isinstance(v, dict)}
        clean = _check_table(own, types, table_name)
        table.build(clean)  # the dataclass's own checks run now (at config time), not inside a worker
        for method, sub in ((k, v) for k, v in raw[table_name].items() if isinstance(v, dict)):
            if method not in methods:  # [optimizer.mse]: only for a method the experiment runs
                raise ConfigError(f"{table_name}.{method}: not a method of this experiment "
                                  f"(methods: {', '.join(methods)})")
            clean[method] = _check_table(sub, types, f"{table_name}.{method}")
            table.build({**{k: v for k, v in clean.items() if not isinstance(v, dict)}, **clean[method]})
        tables[table_name] = clean
    _check_member_limits(methods, tables, distortions)

    workers = top.get("workers")
    if workers is not None and workers < 1:
        raise ConfigError(f"workers: must be >= 1, got {workers}")
    device = top.get("device")
    if device is not None:
        from xrdtui.engine.devices import check_device_name

        device = check_device_name(device)
    nice = top.get("nice")
    if nice is not None:
        from xrdtui.jobs.executors import check_nice

        nice = check_nice(nice)

    return ExperimentConfig(
        name=name,
        seed=seed,
        structures=structures,
        distortions=distortions,
        noise=noise,
        methods=methods,
        modes=modes,
        tables=tables,
        **noise_options,
        store=top.get("store"),
        workers=workers,
        scheduler=top.get("scheduler"),
        device=device,
        nice=nice,
        text=text,
        source=source,
    )


def _check_member_limits(methods, tables, distortions: int) -> None:
    """A method's member cap (``[chgnet] members = k``) must lie in 1..distortions."""
    from xrdtui.methods import get_method

    for method in methods:
        limit = get_method(method).members
        if limit is None:
            continue
        table, key = limit
        value = tables.get(table, {}).get(key)
        if value is not None and not 1 <= value <= distortions:
            raise ConfigError(f"{table}.{key}: must be between 1 and distortions ({distortions}), got {value}")


def members_per_task(method: str, config: ExperimentConfig) -> int:
    """Distortions a task of ``method`` judges: all of them unless its table caps the number."""
    from xrdtui.methods import get_method

    limit = get_method(method).members
    if limit is None:
        return config.distortions
    return int(config.table(limit[0]).get(limit[1], config.distortions))


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


def _resolve_structure_names(names: tuple[str, ...], base_dir: Path | None) -> tuple[str, ...]:
    """Benchmark names stay names; anything else must be an existing file (made absolute)."""
    from xrdtui.engine.structures import BENCHMARK_NAMES, NAMED

    lookup = {n.lower(): n for n in NAMED}
    out = []
    for name in names:
        if name.lower() in lookup:
            out.append(lookup[name.lower()])
            continue
        path = Path(name)
        if not path.is_absolute() and base_dir is not None and not path.exists():
            path = base_dir / path
        if not path.is_file():
            raise InputError(  # a missing structure is bad structure input (exit 3), as for `landscape`
                f"structures: '{name}' is neither a benchmark ({', '.join(BENCHMARK_NAMES)}) nor a structure file"
            )
        out.append(str(path.resolve()))
    from xrdtui.jobs.tasks import structure_label

    labels: dict[str, str] = {}
    for name, source in zip(names, out):  # the label names tasks: two sources may not share one
        label = structure_label(source).lower()
        if label in labels:
            raise ConfigError(f"structures: '{labels[label]}' and '{name}' would both be called "
                              f"'{structure_label(source)}' in the store; list each structure once (rename a file)")
        labels[label] = name
    return tuple(out)
