"""Publication figures (matplotlib, no pyplot) built from a store: one module per figure kind.

``build(kind, reader, **options) -> matplotlib.figure.Figure`` and ``render(kind, store, out,
**options) -> Path``. Importing this package imports nothing heavy; a builder's module (matplotlib,
and the engine where a figure recomputes patterns) is imported when that kind is built.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

from xrdtui.errors import ConfigError

# kind -> (module, builder, what it shows)
KINDS: dict[str, tuple[str, str, str]] = {
    "match-rate": ("match_rate", "match_rate_figure", "match rate vs noise per loss and mode, Jeffreys bars (Fig. 1, 7a)"),
    "landscape": ("landscape", "landscape_figure", "a landscape with ranked minima and their XRD patterns (Fig. 2)"),
    "paths": ("paths", "paths_figure", "gradient-descent paths of the three modes on a landscape (Fig. 3)"),
    "slices": ("slices", "slices_figure", "all stored slices of one structure/objective (Fig. 5)"),
    "member": ("member", "member_figure", "lattice and XRD of truth, distorted and recovered member (Fig. 6)"),
    "energy": ("energy", "energy_figure", "a CHGNet energy landscape (Fig. 7b)"),
}

# Command-line spelling of each builder option (for messages).
OPTION_FLAGS = {"key": "--key", "structure": "--structure", "task": "--task", "member": "--member",
                "n_minima": "--minima", "metric": "--metric"}


def builder(kind: str):
    """The builder function of ``kind``; ConfigError for an unknown kind."""
    if kind not in KINDS:
        raise ConfigError(f"unknown figure kind {kind!r}; choose from {', '.join(KINDS)}")
    module, name, _ = KINDS[kind]
    return getattr(importlib.import_module(f"xrdtui.figures.{module}"), name)


def build(kind: str, reader, **options):
    """Build figure ``kind`` from an open StoreReader. Options left as None are dropped; an option
    the kind does not take is a ConfigError (``--task`` means nothing to a landscape figure)."""
    fn = builder(kind)
    accepted = set(inspect.signature(fn).parameters) - {"reader"}
    given = {k: v for k, v in options.items() if v is not None}
    extra = sorted(set(given) - accepted)
    if extra:
        flags = ", ".join(OPTION_FLAGS.get(k, k) for k in extra)
        raise ConfigError(f"{flags} does not apply to the {kind} figure")
    missing = [p.name for p in inspect.signature(fn).parameters.values()
               if p.name != "reader" and p.default is inspect.Parameter.empty and p.name not in given]
    if missing:
        raise ConfigError(f"the {kind} figure needs {', '.join(OPTION_FLAGS.get(m, m) for m in missing)}")
    return fn(reader, **given)


def render(kind: str, store: str | Path, out: str | Path, **options) -> Path:
    """Build figure ``kind`` from the store at ``store`` and save it to ``out`` (.png, .svg, .pdf)."""
    from xrdtui.figures.style import check_output, save_figure
    from xrdtui.store.reader import StoreReader

    builder(kind)
    out = check_output(out)
    with StoreReader.open(store) as reader:
        fig = build(kind, reader, **options)
    return save_figure(fig, out)


__all__ = ["KINDS", "build", "builder", "render"]
