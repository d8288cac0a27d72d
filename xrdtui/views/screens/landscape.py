"""Landscape: a stored 2-D slice of an objective (an XRD loss, or CHGNet energy with objective
"chgnet") as a heatmap with the ground truth, ranked minima and gradient-descent paths; o, p and s
switch objective, parameter pair and structure; [ and ] step through all slices."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Header, Static
from textual.widgets.data_table import ColumnKey

from xrdtui.store.records import LandscapeRecord
from xrdtui.views.model import cycle_landscape
from xrdtui.views.messages import LandscapeIndexLoaded, LandscapeLoaded
from xrdtui.views.screens.base import Banner, StoreScreen
from xrdtui.views.widgets.heatmap import MINIMUM_COLOUR, PATH_COLOURS, Heatmap, legend
from xrdtui.views.workers import store_files
from xrdtui.views.widgets.footer import KeyFooter


class LandscapeScreen(StoreScreen):
    BINDINGS = [
        Binding("o", "cycle('objective')", "Objective"),
        Binding("p", "cycle('pair')", "Pair"),
        Binding("s", "cycle('structure')", "Structure"),
        Binding("left_square_bracket", "step(-1)", "Prev"),
        Binding("right_square_bracket", "step(1)", "Next"),
        Binding("e", "explore", "Explore", show=False),  # listed in the help screen
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Banner(id="banner")
        yield Static("", id="ls-head")
        with Horizontal(id="ls-body"):
            yield Heatmap(id="heatmap")
            yield DataTable(id="minima", cursor_type="row", zebra_stripes=True)
        yield Static("", id="ls-legend")
        yield KeyFooter()

    def setup(self) -> None:
        self._index: dict[str, Path] = {}
        self._record: LandscapeRecord | None = None
        table = self.query_one("#minima", DataTable)
        for name, width in (("#", 2), ("p1", 8), ("p2", 8), ("value", 9), ("depth", 8)):
            table.add_column(name, key=name, width=width)

    def resumed(self) -> None:
        if self.app.landscape_key and self._record is not None and self._record.key != self.app.landscape_key:
            self._open(self.app.landscape_key)

    def reload(self) -> None:
        paths = [self.store] if self.store is not None else []
        paths += [p for p in store_files(self.app.folder) if p not in paths]
        self.query_one("#ls-head", Static).update("looking for landscapes …")
        self.load("landscape_index", paths, message=LandscapeIndexLoaded, group="index")

    @on(LandscapeIndexLoaded)
    def _indexed(self, message: LandscapeIndexLoaded) -> None:
        index: dict[str, Path] = message.value
        self._index = index
        if not index:
            self.query_one(Banner).say(
                "no landscapes stored here; make one with: xrdtui landscape STRUCTURE --params a,c -o STORE", "info"
            )
            self.query_one("#ls-head", Static).update("")
            self.query_one(Heatmap).set_record(None)
            return
        self.query_one(Banner).clear()
        key = self.app.landscape_key if self.app.landscape_key in index else next(iter(index))
        self._open(key)

    def _open(self, key: str) -> None:
        if key not in self._index:
            return
        self.app.landscape_key = key
        self.query_one("#ls-head", Static).update(f"loading {key} …")
        self.load("load_landscape", self._index[key], key, message=LandscapeLoaded)

    @on(LandscapeLoaded)
    def _show(self, message: LandscapeLoaded) -> None:
        rec: LandscapeRecord = message.value
        if rec.key != self.app.landscape_key:
            return
        self._record = rec
        heat = self.query_one(Heatmap)
        heat.set_record(rec)
        n1, n2 = rec.grid.shape
        keys = list(self._index)
        head = Text(f"{rec.structure}", style="bold")
        head.append(f"  objective {rec.objective}  ·  {rec.p1} × {rec.p2}  ·  {n1}×{n2} grid  ·  ")
        head.append(f"{keys.index(rec.key) + 1}/{len(keys)} slices", style="dim")
        head.append(f"  ({self._index[rec.key].name})", style="dim")
        self.query_one("#ls-head", Static).update(head)
        table = self.query_one("#minima", DataTable)
        table.clear()
        for col, name in (("p1", rec.p1), ("p2", rec.p2)):
            table.columns[ColumnKey(col)].label = Text(name[:8])
        for m in sorted(rec.minima, key=lambda m: m.rank):
            table.add_row(str(m.rank + 1), f"{m.p1:.4g}", f"{m.p2:.4g}", f"{m.value:.4g}", f"{m.depth:.3g}")
        self.call_after_refresh(self._legend)

    def _legend(self) -> None:
        rec = self._record
        if rec is None:
            return
        heat = self.query_one(Heatmap)
        vmin, vmax = heat.scale
        text = legend(vmin, vmax, 20) if vmin == vmin else Text("")
        under = heat.truth_under
        text.append("   + truth" + (f" (under {under})" if under else ""), style="bold")
        text.append("  1-9 minima", style=f"bold {MINIMUM_COLOUR}")
        for i, mode in enumerate(dict.fromkeys(p.mode for p in rec.paths)):
            text.append(f"  · {mode} path", style=f"bold {PATH_COLOURS[i % len(PATH_COLOURS)]}")
        self.query_one("#ls-legend", Static).update(text)

    def action_cycle(self, what: str) -> None:
        if self._index and self.app.landscape_key:
            self._open(cycle_landscape(list(self._index), self.app.landscape_key, what))

    def action_explore(self) -> None:
        """Open the explorer on the slice shown: its structure (the source `xrdtui landscape` was given when it
        is a benchmark name or an existing file, else the stored name), pair, objective, ranges and points."""
        rec = self._record
        if rec is None:
            return
        from xrdtui.engine.structures import canonical_name

        source = str(rec.attrs.get("source") or "")
        structure = source if source and (canonical_name(source) or Path(source).is_file()) else rec.structure
        a1, a2 = np.asarray(rec.axis1, float), np.asarray(rec.axis2, float)
        request = dict(structure=structure, p1=rec.p1, p2=rec.p2, objective=rec.objective,
                       range1=(float(a1.min()), float(a1.max())), range2=(float(a2.min()), float(a2.max())),
                       points=int(max(len(a1), len(a2))), tied=bool(rec.attrs.get("tied", False)))
        if "pattern_W" in rec.attrs:
            request["width"] = float(rec.attrs["pattern_W"])
        self.app.explore_request = request
        self.app.action_goto("explorer")

    def action_step(self, step: int) -> None:
        keys = list(self._index)
        if keys and self.app.landscape_key in keys:
            self._open(keys[(keys.index(self.app.landscape_key) + step) % len(keys)])
