"""Match table: match rate with its 95% Jeffreys interval grouped by structure / noise / level /
method / mode (g cycles the grouping; s, r or a click on a header sort), and Figure 1 in the terminal
(match rate against noise level per loss and mode, intervals as vertical ranges; x switches noise)."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Header, Static, TabbedContent, TabPane

from xrdtui.store.layout import format_level
from xrdtui.store.records import MatchRow
from xrdtui.views.fmt import DASH
from xrdtui.views.model import field_order, figure1_series, sort_match_rows
from xrdtui.views.messages import MatchesLoaded
from xrdtui.views.screens.base import Banner, StoreScreen
from xrdtui.views.widgets.charts import MatchFigure, legend_text
from xrdtui.views.workers import MatchData
from xrdtui.views.widgets.footer import KeyFooter

GROUPINGS: tuple[tuple[str, ...], ...] = (
    ("method", "mode", "noise", "level"),
    ("method", "mode"),
    ("structure",),
    ("structure", "method", "mode"),
    ("noise", "level"),
    ("structure", "noise", "level", "method", "mode"),
)
NUMERIC = ("rate", "rate_s", "lo", "hi", "n", "tasks")


def matcher_text(conventions: dict, table: str, default: str) -> str:
    """``StructureMatcher ltol 0.1, stol 0.2, angle 5°`` from a store's recorded matcher settings."""
    m = conventions.get(table)
    if not m:
        return f"{default} metric"
    scale = "" if m.get("scale", True) else ", no scaling"
    return f"ltol {m['ltol']:g}, stol {m['stol']:g}, angle {m['angle_tol']:g}°{scale}"


def rate_bar(m: MatchRow, width: int = 10) -> Text:
    """The rate as a bar with the interval marked: ``━`` inside the interval, ``█`` up to the rate."""
    out = Text()
    if not m.n:
        return Text(DASH, style="dim")
    for i in range(width):
        x = (i + 0.5) / width
        if x <= m.rate:
            out.append("█", style="green")
        elif m.lo <= x <= m.hi:
            out.append("━", style="yellow")
        else:
            out.append(" ")
    return out


class MatchScreen(StoreScreen):
    BINDINGS = [
        Binding("g", "grouping", "Group by"),
        Binding("s", "sort", "Sort"),
        Binding("r", "reverse", "Reverse"),
        Binding("x", "noise", "Noise type"),
        Binding("v", "metric", "Paper/strict"),
        Binding("1", "tab('table')", "Table", show=False),
        Binding("2", "tab('figure')", "Figure", show=False),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Banner(id="banner")
        yield Static("", id="match-head")
        with TabbedContent(id="match-tabs", initial="table"):
            with TabPane("Table [1]", id="table"):
                yield DataTable(id="matches", cursor_type="row", zebra_stripes=True)
            with TabPane("Figure 1 [2]", id="figure"):
                yield MatchFigure(id="figure1")
                yield Static("", id="figure1-legend")
        yield KeyFooter()

    def setup(self) -> None:
        self._grouping = 0
        self._sort = "rate"
        self._reverse = True
        self._noise_i = 0
        self._strict = False
        self._data: MatchData | None = None

    @property
    def group_by(self) -> tuple[str, ...]:
        return GROUPINGS[self._grouping]

    def reload(self) -> None:
        if self.store is None:
            self.query_one(Banner).say("no store chosen: pick one in the runs browser (b)", "info")
            return
        self.load("load_matches", self.store, self.group_by, message=MatchesLoaded)

    @on(MatchesLoaded)
    def _show(self, message: MatchesLoaded) -> None:
        data: MatchData = message.value
        if data.path != self.store or data.group_by != self.group_by:
            return
        self.query_one(Banner).clear()
        self._data = data
        self._fill_table()
        self._fill_figure()

    def _columns(self) -> list[str]:
        return [*self.group_by, "k/n", "rate", "95% CI", "bar", "strict", "strict CI", "tasks"]

    def _fill_table(self) -> None:
        data = self._data
        table = self.query_one("#matches", DataTable)
        table.clear(columns=True)
        for name in self._columns():
            sort_col = {"lo": "95% CI", "hi": "95% CI", "n": "k/n", "rate_s": "strict"}.get(self._sort, self._sort)
            label = f"{name} {'↓' if self._reverse else '↑'}" if name == sort_col else name
            table.add_column(label, key=name)
        order = field_order(data.task_rows)
        rows = sort_match_rows(data.rows, self._sort, self._reverse, self.group_by, order)
        for m in rows:
            keys = [format_level(v) if f == "level" else str(v) for f, v in zip(self.group_by, m.key)]
            table.add_row(
                *keys,
                f"{m.k}/{m.n}",
                f"{m.rate:.3f}" if m.n else DASH,
                f"[{m.lo:.2f},{m.hi:.2f}]" if m.n else DASH,
                rate_bar(m),
                f"{m.rate_s:.3f}" if m.ns else DASH,
                f"[{m.lo_s:.2f},{m.hi_s:.2f}]" if m.ns else DASH,
                str(m.tasks),
                key="/".join(keys),
            )
        by = " · ".join(self.group_by)
        self.query_one("#match-head", Static).update(
            f"{data.path.name}: match rate ({matcher_text(data.conventions, 'matcher', 'paper')}) and strict "
            f"({matcher_text(data.conventions, 'strict', 'strict')}), 95% Jeffreys intervals"
            f"\ngroup by {by}  ·  sort {self._sort} {'↓' if self._reverse else '↑'}  ·  "
            "g group, s/r sort, x noise, v metric"
        )

    def _noises(self) -> list[str]:
        data = self._data
        return list(dict.fromkeys(m.key[0] for m in data.figure_rows)) if data else []

    def _fill_figure(self) -> None:
        noises = self._noises()
        fig = self.query_one("#figure1", MatchFigure)
        legend = self.query_one("#figure1-legend", Static)
        if not noises:
            fig.placeholder("no finished tasks yet")
            legend.update("")
            return
        noise = noises[self._noise_i % len(noises)]
        series = figure1_series(self._data.figure_rows, noise, self._data.task_rows, strict=self._strict)
        what = "strict recovery rate" if self._strict else "match rate (paper metric)"
        fig.show_series(series, title=f"{noise} noise: {what} vs level (95% Jeffreys intervals); v: other metric")
        legend.update(legend_text([s.label for s in series]))

    # --- actions ------------------------------------------------------------------------------------------
    def action_grouping(self) -> None:
        self._grouping = (self._grouping + 1) % len(GROUPINGS)
        if self._sort not in (*self.group_by, *NUMERIC):
            self._sort = "rate"
        self.reload()

    def action_sort(self) -> None:
        choices = [*self.group_by, *NUMERIC]
        i = choices.index(self._sort) if self._sort in choices else -1
        self._sort = choices[(i + 1) % len(choices)]
        if self._data:
            self._fill_table()

    def action_reverse(self) -> None:
        self._reverse = not self._reverse
        if self._data:
            self._fill_table()

    def action_noise(self) -> None:
        self._noise_i += 1
        if self._data:
            self._fill_figure()
        self.query_one("#match-tabs", TabbedContent).active = "figure"

    def action_metric(self) -> None:
        self._strict = not self._strict
        if self._data:
            self._fill_figure()
        self.query_one("#match-tabs", TabbedContent).active = "figure"

    def action_tab(self, tab: str) -> None:
        self.query_one("#match-tabs", TabbedContent).active = tab

    @on(DataTable.HeaderSelected, "#matches")
    def _header(self, event: DataTable.HeaderSelected) -> None:
        name = str(event.column_key.value)
        name = {"k/n": "n", "95% CI": "lo", "bar": "rate"}.get(name, name)
        if name == self._sort:
            self._reverse = not self._reverse
        else:
            self._sort, self._reverse = name, name in NUMERIC
        self._fill_table()
