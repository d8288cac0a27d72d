"""Comparisons across methods on the same distortions (the paper's Figure 7a): per noise type and level,
the no-optimisation baseline, XRD descent with one loss in each descent mode, and every relaxation method
in the store (paper match rate and strict recovery rate of each). Reads a store; used by ``xrdtui compare``, ``xrdtui run`` and the report."""

from __future__ import annotations

from dataclasses import dataclass

from xrdtui.errors import StoreError
from xrdtui.methods import method_info, method_rank
from xrdtui.store.records import MatchRow
from xrdtui.vocab import DESCENT_MODES, MODE_ORDER, MethodKind

GROUPING = ("noise", "level", "method", "mode")


@dataclass(frozen=True)
class Comparison:
    """``columns``: one label per compared series; ``rows``: per (noise, level) a dict with ``noise``,
    ``level`` and, for each column present, its pooled :class:`~xrdtui.store.records.MatchRow`."""

    loss: str | None
    columns: list[str]
    rows: list[dict]


def comparison(reader, loss: str | None = None) -> Comparison:
    """Figure 7a as a table: XRD descent with ``loss`` (default cosine, else the first descent method)
    in each stored descent mode, and each non-descent method (relaxations, baselines)."""
    rows: list[MatchRow] = reader.match_table(group_by=GROUPING)
    stored = {r.key[2] for r in rows}
    descent = sorted((m for m in stored if method_info(m).kind == MethodKind.DESCENT), key=method_rank)
    if loss is None:
        loss = "cosine" if "cosine" in descent else (descent[0] if descent else None)
    elif loss not in descent:
        raise StoreError(f"no '{loss}' runs in this store (descent methods: {', '.join(descent) or 'none'})")
    modes = [m for m in MODE_ORDER if m in DESCENT_MODES and any(r.key[2] == loss and r.key[3] == m for r in rows)]
    others = sorted((m for m in stored if method_info(m).kind != MethodKind.DESCENT), key=method_rank)
    baselines = [m for m in others if method_info(m).kind == MethodKind.BASELINE]
    columns = baselines + [f"{loss} {m}" for m in modes] + [m for m in others if m not in baselines]
    table: dict[tuple, dict] = {}
    for r in rows:
        noise, level, method, mode = r.key
        column = f"{method} {mode}" if method == loss else method if method in others else None
        if column in columns:
            table.setdefault((noise, level), {"noise": noise, "level": level})[column] = r
    return Comparison(loss, columns, [table[k] for k in sorted(table)])
