"""Runs browser: the campaigns of the folder, and the chosen store's hierarchy
(structure → noise → level → method → mode) with status, counts, match rate and dates; type to filter,
enter to open a task (run detail) or a landscape."""

from __future__ import annotations

import time
from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Header, Input, Static, Tree
from textual.widgets.tree import TreeNode as UITreeNode

from typing import TYPE_CHECKING

from xrdtui.views.fmt import DASH, fmt_duration, fmt_iso, fmt_rate, fmt_time
from xrdtui.views.messages import CampaignLoaded, CatalogueLoaded, Loaded, OpenLandscape, RatesLoaded
from xrdtui.views.screens.base import Banner, StoreScreen
from xrdtui.views.widgets.footer import KeyFooter

if TYPE_CHECKING:  # numpy/h5py-backed modules load in the first worker thread, after the first paint
    from xrdtui.views.model import TreeNode
    from xrdtui.views.workers import Campaign, CampaignData, Catalogue

STATE_STYLE = {
    "done": "green",
    "done*": "green",
    "running": "yellow",
    "partial": "cyan",
    "failed": "red",
    "pending": "dim",
    "live": "bold yellow",
    "finished": "green",
    "stopped": "magenta",
    "created": "dim",
    "error": "bold red",
    "landscapes": "cyan",
}
EXPAND_LIMIT = 300  # a filter expands every match up to this many tasks
RATES_EVERY_S = 10.0  # pooled intervals of a live campaign are recomputed at most this often


class FilteredRatesLoaded(Loaded):
    """Intervals of a filtered tree: (path, filter text, rates over the filtered tasks)."""


def _is_node(data) -> bool:
    """A hierarchy node (model.TreeNode) rather than a landscape key or nothing."""
    return data is not None and not isinstance(data, str) and hasattr(data, "is_leaf")


def _counts(p) -> tuple:
    return (p.total, p.done, p.failed, p.running, p.pending)


def campaign_cells(c: Campaign) -> tuple:
    """Cells of one campaign row: store, state, tasks, failed, match, created."""
    state = Text(c.state, style=STATE_STYLE.get(c.state, ""))
    if c.error:
        return (c.name, state, DASH, DASH, DASH, Text(c.error[:60], style="red"))
    if not c.is_campaign:
        return (c.name, state, DASH, DASH, f"{c.landscapes} slices", fmt_iso(c.created))
    p = c.progress
    tasks = f"{p.done}/{p.total}" if p else DASH
    failed = str(p.failed) if p else DASH
    match = f"{fmt_rate(c.rate)} ({c.k}/{c.n})" if c.n else DASH
    return (c.name, state, tasks, failed, match, fmt_iso(c.created))


def node_label(node: TreeNode, rates: dict) -> Text:
    """Tree label: name, status counts and the pooled match rate with its interval."""
    c = node.counts()
    text = Text(node.label, style="bold")
    text.append("  ")
    if node.is_leaf:
        text.append(c.state, style=STATE_STYLE.get(c.state, ""))
    else:
        text.append(f"{c.done}/{c.total}", style=STATE_STYLE.get(c.state, ""))
        if c.running:
            text.append(f" ▶{c.running}", style="yellow")
    if c.failed:
        text.append(f" ✗{c.failed}", style="red")
    match = node_match(node, rates)
    if match is not None:
        text.append(f"  {match[2]}")
    strict = node_strict(node, rates)
    if strict is not None:
        text.append(f" · strict {strict[2]}", style="dim")
    return text


def node_match(node: TreeNode, rates: dict) -> tuple[int, int, str] | None:
    """(k, n, rate text) under a node: with its Jeffreys interval once computed, else the pooled k/n."""
    m = rates.get(node.key)
    if m is not None and m.n:
        return m.k, m.n, fmt_rate(m.rate, m.lo, m.hi)
    from xrdtui.store.records import pooled  # numpy-backed: loaded by the first worker, after first paint

    k, n = pooled(node.rows)
    return (k, n, fmt_rate(k / n)) if n else None


def node_strict(node: TreeNode, rates: dict) -> tuple[int, int, str] | None:
    """(recovered, judged, rate text) of the strict metric under a node, like :func:`node_match`."""
    m = rates.get(node.key)
    if m is not None and m.ns:
        return m.ks, m.ns, fmt_rate(m.rate_s, m.lo_s, m.hi_s)
    from xrdtui.store.records import pooled_strict

    ks, ns = pooled_strict(node.rows)
    return (ks, ns, fmt_rate(ks / ns)) if ns else None


def node_info(node: TreeNode, rates: dict) -> str:
    """The info line under the tree for the highlighted node."""
    c = node.counts()
    head = node.path or "campaign"
    parts = [f"{c.total} tasks: {c.done} done, {c.failed} failed, {c.running} running, {c.pending} pending"]
    match = node_match(node, rates)
    if match is not None:
        parts.append(f"match {match[0]}/{match[1]} = {match[2]}")
    strict = node_strict(node, rates)
    if strict is not None:
        parts.append(f"recovered (strict) {strict[0]}/{strict[1]} = {strict[2]}")
    if node.is_leaf and node.rows:
        row = node.rows[0]
        if row.status == "done":
            parts.append(f"wall {fmt_duration(row.wall_s)}")
    last = node.last_finished()
    if last == last:
        parts.append(f"last finished {fmt_time(last)}")
    return f"{head} · " + " · ".join(parts)


class BrowserScreen(StoreScreen):
    """Campaign list on top, the chosen campaign's hierarchy below (focused first: it is what one browses)."""

    AUTO_FOCUS = "#tree"
    BINDINGS = [
        Binding("slash", "filter", "Filter"),
        Binding("e", "expand_all", "Expand all"),
        Binding("c", "focus_campaigns", "Campaigns"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Banner(id="banner")
        with Vertical(id="browser"):
            yield DataTable(id="campaigns", cursor_type="row", zebra_stripes=True)
            yield Input(placeholder="type to filter (e.g. U2Ti cosine 0.050 failed) - / to focus", id="filter")
            tree: Tree = Tree("no store", id="tree")
            tree.guide_depth = 3
            yield tree
            yield Static("", id="node-info")
        yield KeyFooter()

    def setup(self) -> None:
        table = self.query_one("#campaigns", DataTable)
        for name, width in (("store", 14), ("state", 10), ("tasks", 7), ("failed", 6), ("match", 14), ("created", 16)):
            table.add_column(name, key=name, width=width)
        self._data: CampaignData | None = None
        self._tree_nodes: dict[tuple, UITreeNode] = {}
        self._filter = ""
        self._filter_timer = None
        self._scanning = False
        self._loading = False
        self._filling = False
        self._rates_for: tuple | None = None
        self._rates_at = float("-inf")
        self._rates_timer = None
        self.rescan()
        self.set_interval(self.app.scan_s, self._tick)

    # --- catalogue -----------------------------------------------------------------------------------
    def rescan(self) -> None:
        self._scanning = True
        self.load("scan", self.app.target, message=CatalogueLoaded, group="scan")

    def _tick(self) -> None:
        if not self.is_current or self._scanning:
            return
        self.rescan()

    @on(CatalogueLoaded)
    def _show_catalogue(self, message: CatalogueLoaded) -> None:
        cat: Catalogue = message.value
        self._scanning = False
        table = self.query_one("#campaigns", DataTable)
        if self.app.store is None:  # choose before filling the table: its cursor must not choose
            from xrdtui.views.workers import pick_store

            chosen = pick_store(cat, prefer_live=True)
            if chosen is not None:
                self.app.store = chosen
        keys = [str(c.path) for c in cat.campaigns]
        existing = [str(k.value) for k in table.rows]
        if keys != existing:
            self._filling = True  # highlight events of a refill are not the user's choice
            table.clear()
            for c in cat.campaigns:
                table.add_row(*campaign_cells(c), key=str(c.path))
            if self.app.store is not None and str(self.app.store) in keys:
                table.move_cursor(row=keys.index(str(self.app.store)))
            self.call_after_refresh(self._filled)
        else:
            for c in cat.campaigns:
                for col, value in zip(("store", "state", "tasks", "failed", "match", "created"), campaign_cells(c)):
                    table.update_cell(str(c.path), col, value)
        table.display = bool(cat.campaigns)
        banner = self.query_one(Banner)
        if cat.message:
            banner.say(cat.message, "info")
        elif banner.has_class("-info"):
            banner.clear()
        self._catalogue = cat
        if self.app.store is not None:
            mine = next((c for c in cat.campaigns if c.path == self.app.store), None)
            shown = self._data.progress if self._data is not None and self._data.path == self.app.store else None
            if mine is not None and mine.progress is not None and shown is not None and not self._loading:
                if _counts(mine.progress) != _counts(shown):
                    self.reload(quiet=True)  # keep the counts of a running campaign current

    def _filled(self) -> None:
        self._filling = False

    @on(DataTable.RowHighlighted, "#campaigns")
    def _campaign_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if self._filling:
            return
        if event.row_key is not None and event.row_key.value is not None:
            path = Path(event.row_key.value)
            if path != self.app.store:
                self.app.store = path

    # --- one campaign --------------------------------------------------------------------------------
    def reload(self, quiet: bool = False) -> None:
        store = self.app.store
        if store is None:
            return
        self._loading = True
        if not quiet:
            self.query_one("#node-info", Static).update(f"loading {store.name} …")
        self.load("load_campaign", store, message=CampaignLoaded)

    def load_failed(self, group: str, text: str) -> None:
        if group == "load":  # the campaign itself: the tree says so too
            self._campaign_failed(text)
        else:
            self.show_error(text)

    def _campaign_failed(self, message: str) -> None:
        self._loading = False
        self._data = None
        tree = self.query_one("#tree", Tree)
        tree.clear()
        tree.root.set_label(Text(self.app.store.name if self.app.store else "no store", style="red"))
        self._tree_nodes = {}
        self.show_error(message)
        self.query_one("#node-info", Static).update(message)

    @on(CampaignLoaded)
    def _show_campaign(self, message: CampaignLoaded) -> None:
        data: CampaignData = message.value
        self._loading = False
        if data.path != self.app.store:
            return
        banner = self.query_one(Banner)
        if banner.has_class("-error"):
            banner.clear()
        same = (
            self._data is not None
            and self._data.path == data.path
            and [r.task_id for r in self._data.rows] == [r.task_id for r in data.rows]
            and self._data.landscapes == data.landscapes
        )
        if self._data is not None and self._data.path == data.path and not data.rates:
            data.rates = self._data.rates  # keep the intervals shown until fresh ones arrive
        self._data = data
        if same:
            self._relabel()
        else:
            self._rebuild()
        self._maybe_load_rates()

    def _maybe_load_rates(self) -> None:
        """Intervals for the tree (five match tables, ~0.1-0.4 s of CPU on a paper-size store): when
        the finished tasks changed, and at most every RATES_EVERY_S while a sweep is writing."""
        data = self._data
        if data is None or not data.rows:
            return
        done = (data.path, sum(r.status == "done" for r in data.rows), self._filter)
        if done == self._rates_for:
            return
        live = data.progress is not None and data.progress.live
        wait = RATES_EVERY_S - (time.monotonic() - self._rates_at)
        if live and wait > 0 and done[:2] != (self._rates_for or (None, None))[:2]:
            if self._rates_timer is None:
                self._rates_timer = self.set_timer(wait, self._rates_due)
            return
        self._rates_for, self._rates_at = done, time.monotonic()
        if self._filter:
            self._load_filtered_rates(data.path, self._filter, self._rows())
        else:
            self.load("load_rates", data.path, message=RatesLoaded, group="rates")

    def _load_filtered_rates(self, path: Path, text: str, rows: list) -> None:
        """The intervals beside a filtered tree's counts are those of the filtered tasks (in a thread:
        the Jeffreys interval imports scipy)."""

        def job() -> None:
            from textual.worker import get_current_worker

            from xrdtui.engine.matching import jeffreys_interval
            from xrdtui.views.model import hierarchy_rates

            rates = hierarchy_rates(rows, jeffreys_interval)
            if not get_current_worker().is_cancelled:
                self.post_message(FilteredRatesLoaded((path, text, rates)))

        self.run_worker(job, thread=True, exclusive=True, group="rates", exit_on_error=False)

    def _rates_due(self) -> None:
        self._rates_timer = None
        self._maybe_load_rates()

    @on(RatesLoaded)
    def _show_rates(self, message: RatesLoaded) -> None:
        path, rates = message.value
        if self._data is None or self._data.path != path or self._filter:
            return
        self._data.rates = rates
        self._relabel()

    @on(FilteredRatesLoaded)
    def _show_filtered_rates(self, message: FilteredRatesLoaded) -> None:
        path, text, rates = message.value
        if self._data is None or self._data.path != path or text != self._filter:
            return
        self._data.rates = rates
        self._relabel()

    def _rows(self):
        from xrdtui.views.model import filter_rows

        return filter_rows(self._data.rows, self._filter) if self._data else []

    def _rebuild(self) -> None:
        tree = self.query_one("#tree", Tree)
        data = self._data
        tree.clear()
        self._tree_nodes = {}
        if data is None:
            return
        from xrdtui.views.model import build_tree

        rows = self._rows()
        model = build_tree(rows)
        title = Text(f"{data.info.name or data.path.stem}", style="bold")
        title.append(f"  {data.path.name}", style="dim")
        tree.root.set_label(title)
        tree.root.data = model
        self._tree_nodes[()] = tree.root
        # A filter short enough opens every match; otherwise only the structures are made now and a
        # group's children when it is first expanded (a paper-size tree has ~1,300 nodes: 0.15-0.35 s
        # of the UI thread before the first paint when built eagerly).
        self._populate(tree.root, model, deep=bool(self._filter) and len(rows) <= EXPAND_LIMIT)
        if data.landscapes and not self._filter:
            ls = tree.root.add(Text(f"landscapes ({len(data.landscapes)})", style="bold cyan"), expand=not data.rows)
            for key in data.landscapes:
                ls.add_leaf(key, data=key)
        if not rows and data.rows:
            tree.root.add_leaf(Text(f"nothing matches {self._filter!r}", style="dim"))
        tree.root.expand()
        self._update_info(tree.root)  # clear() put the cursor back on the root

    def _populate(self, parent: UITreeNode, node: TreeNode, deep: bool = False) -> None:
        """Add the UI children of ``parent`` (showing model ``node``) once; ``deep``: every level below
        too, expanded."""
        if node.is_leaf:
            return
        if parent.children:  # made before (a group the user opened): only the levels below, if asked
            if deep:
                for ui in parent.children:
                    if _is_node(ui.data):
                        self._populate(ui, ui.data, deep=True)
            return
        rates = self._data.rates if self._data is not None else {}
        for child in node.children.values():
            if child.is_leaf:
                ui = parent.add_leaf(node_label(child, rates), data=child)
            else:
                ui = parent.add(node_label(child, rates), data=child, expand=deep)
                if deep:
                    self._populate(ui, child, deep=True)
            self._tree_nodes[child.key] = ui

    @on(Tree.NodeExpanded, "#tree")
    def _node_expanded(self, event: Tree.NodeExpanded) -> None:
        if _is_node(event.node.data):
            self._populate(event.node, event.node.data)

    def _relabel(self) -> None:
        from xrdtui.views.model import build_tree

        data = self._data
        model = build_tree(self._rows())
        for node in model.walk():
            ui = self._tree_nodes.get(node.key)
            if ui is not None and node.key:
                ui.data = node
                ui.set_label(node_label(node, data.rates))
        if () in self._tree_nodes:
            self._tree_nodes[()].data = model
        tree = self.query_one("#tree", Tree)
        node = tree.cursor_node
        self._update_info(node if node is not None and node.data is not None else tree.root)

    @on(Tree.NodeHighlighted, "#tree")
    def _node_highlighted(self, event: Tree.NodeHighlighted) -> None:
        self._update_info(event.node)

    def _update_info(self, ui: UITreeNode | None) -> None:
        info = self.query_one("#node-info", Static)
        if ui is None or self._data is None:
            return
        if _is_node(ui.data):
            info.update(node_info(ui.data, self._data.rates))
        elif isinstance(ui.data, str):
            info.update(f"landscape {ui.data} · enter to open")

    @on(Tree.NodeSelected, "#tree")
    def _node_selected(self, event: Tree.NodeSelected) -> None:
        data = event.node.data
        if _is_node(data) and data.is_leaf and data.task_id and self.app.store:
            from xrdtui.views.screens.detail import DetailScreen

            self.app.push_screen(DetailScreen(self.app.store, data.task_id))
        elif isinstance(data, str):
            self.post_message(OpenLandscape(data))

    # --- filter ------------------------------------------------------------------------------------------
    def action_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_focus_campaigns(self) -> None:
        self.query_one("#campaigns", DataTable).focus()

    def action_expand_all(self) -> None:
        """Expand every node of the tree, or collapse them all when everything is already open."""
        tree = self.query_one("#tree", Tree)
        nodes = [n for n in self._tree_nodes.values() if n.allow_expand and _is_node(n.data)]
        if nodes and all(n.is_expanded and n.children for n in nodes):
            for child in tree.root.children:
                child.collapse_all()
        else:
            for ui in list(tree.root.children):  # every group made first, then all opened at once
                if _is_node(ui.data):
                    self._populate(ui, ui.data, deep=True)
            tree.root.expand_all()
        tree.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.value = ""
        self.query_one("#tree", Tree).focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        if self._filter_timer is not None:
            self._filter_timer.stop()
        self._filter_timer = self.set_timer(0.15, lambda: self._apply_filter(event.value))

    def _apply_filter(self, text: str) -> None:
        if text != self._filter:
            self._filter = text
            if self._data is not None:  # the shown intervals were of the other task set
                self._data.rates = {}
            self._rebuild()
            self._maybe_load_rates()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        """Apply the filter and go to the tree; when it leaves a single task, open that task."""
        if self._filter_timer is not None:
            self._filter_timer.stop()
        self._apply_filter(event.value)
        self.query_one("#tree", Tree).focus()
        rows = self._rows()
        if self._filter and len(rows) == 1 and self.app.store is not None:
            from xrdtui.views.screens.detail import DetailScreen

            self.app.push_screen(DetailScreen(self.app.store, rows[0].task_id))
