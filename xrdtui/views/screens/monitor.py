"""Live sweep monitor: overall progress with rate and ETA, the running tasks with their own progress
and ETA, live loss curves (median and 10-90% band of the running batch, and the latest finished
batch), the match-rate table filling in as tasks finish, and the failures with their reasons."""

from __future__ import annotations

import time

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container
from textual.widgets import DataTable, Header, ProgressBar, Static, TabbedContent, TabPane

from xrdtui.store.layout import format_level
from xrdtui.methods import method_info
from xrdtui.views.fmt import DASH, axis_label, fmt_duration, fmt_time, resume_command
from xrdtui.views.model import pivot
from xrdtui.views.messages import MonitorLoaded
from xrdtui.views.screens.base import Banner, StoreScreen
from xrdtui.views.widgets.charts import PALETTE, Curve, LossChart
from xrdtui.views.workers import MonitorCache, MonitorData, RunningTask
from xrdtui.views.widgets.footer import KeyFooter
from xrdtui.vocab import MODE_ABBREVIATIONS, CampaignState

BAR = 10
STATE_BADGES = {
    CampaignState.LIVE: ("● live", "bold yellow"),
    CampaignState.FINISHED: ("✓ finished", "green"),
    CampaignState.CREATED: ("○ not started", "dim"),
    CampaignState.COMPLETE: ("■ complete", "magenta"),
    CampaignState.STOPPED: ("■ stopped", "magenta"),
}


def bar(fraction: float, width: int = BAR) -> str:
    """A text progress bar ``█████░░░░░``."""
    f = min(max(fraction, 0.0), 1.0) if fraction == fraction else 0.0
    full = int(round(f * width))
    return "█" * full + "░" * (width - full)


def summary_text(data: MonitorData, now: float) -> Text:
    """The headline: state, counts, throughput and ETA."""
    p = data.progress
    t = Text()
    t.append(f"{data.info.name or data.path.stem} ", style="bold")
    state = p.state
    badge, style = STATE_BADGES[state]
    if state in (CampaignState.STOPPED, CampaignState.COMPLETE):
        ago = now - p.last_update if p.last_update == p.last_update else float("nan")
        badge += f" (last heartbeat {fmt_duration(ago)} ago)"
    t.append(badge, style=style)
    t.append(f"   {p.done}/{p.total} done", style="green")
    t.append(f" · {p.failed} failed", style="red" if p.failed else "dim")
    t.append(f" · {p.running} running", style="yellow" if p.running else "dim")
    t.append(f" · {p.pending} pending")
    if p.live:
        t.append(f"\n{p.tasks_per_minute:.1f} tasks/min · ETA {fmt_duration(p.eta_s)} ({p.eta_basis})"
                 if p.tasks_per_minute == p.tasks_per_minute else "\nrate: measuring …")
    elif p.finished:
        t.append(f"\nfinished {fmt_time(p.last_update)}")
    else:
        t.append(f"\nlast update {fmt_time(p.last_update)}")
        if state == CampaignState.STOPPED:
            t.append(f" · resume: {resume_command(data.info.name, data.path)}", style="bold")
    return t


RUNNING_COLUMNS = ("task", "step", "members", "progress", "ETA")


class TaskClock:
    """Per-task ETA from the streamed rows: rows per second since the monitor first saw the task
    running, extrapolated to ``max_rows`` (an upper bound, since optimisations may stop early)."""

    def __init__(self) -> None:
        self._first: dict[str, tuple[float, int]] = {}

    def eta(self, task: RunningTask, now: float) -> float:
        t0, r0 = self._first.setdefault(task.task_id, (now, task.rows))
        if task.rows <= r0 or now <= t0:
            return float("nan")
        speed = (task.rows - r0) / (now - t0)
        return (task.max_rows - task.rows) / speed

    def forget_except(self, ids: set[str]) -> None:
        for k in list(self._first):
            if k not in ids:
                del self._first[k]


class MonitorScreen(StoreScreen):
    """Polls the store every ``app.refresh_s`` seconds while shown."""

    BINDINGS = [
        Binding("1", "tab('curves')", "Curves"),
        Binding("2", "tab('rates')", "Rates"),
        Binding("3", "tab('failures')", "Failures"),
        Binding("enter", "open_task", "Open task", show=False),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Banner(id="banner")
        yield Static("", id="summary")
        yield ProgressBar(id="overall", show_eta=False)
        with TabbedContent(id="monitor-tabs", initial="curves"):
            with TabPane("Curves [1]", id="curves"):
                with Container(id="curves-box"):
                    yield DataTable(id="running", cursor_type="row")
                    yield LossChart(id="live-loss")
            with TabPane("Match rates paper/strict [2]", id="rates"):
                yield DataTable(id="pivot", cursor_type="cell", zebra_stripes=True)
            with TabPane("Failures [3]", id="failures"):
                yield DataTable(id="failure-table", cursor_type="row", zebra_stripes=True)
        yield KeyFooter()

    def setup(self) -> None:
        running = self.query_one("#running", DataTable)
        for name, width in (("task", 40), ("step", 9), ("members", 7), ("progress", BAR), ("ETA", 7)):
            running.add_column(name, key=name, width=width)
        fails = self.query_one("#failure-table", DataTable)
        for name, width in (("task", 44), ("member", 6), ("reason", 60)):  # paper task ids run to 42
            fails.add_column(name, key=name, width=width)
        self._cache = MonitorCache()
        self._clock = TaskClock()
        self._focus: str | None = None
        self._busy = False
        self._data: MonitorData | None = None
        self._pivot_shape: tuple | None = None
        self._rows_version = -1
        self._loaded_at = float("-inf")
        self._cells: dict[tuple[str, str], object] = {}
        self._timer = self.set_interval(self.app.refresh_s, self._tick, pause=True)

    def resumed(self) -> None:
        self._timer.resume()

    def suspended(self) -> None:
        self._timer.pause()

    def reload(self) -> None:
        self._cache = MonitorCache()
        self._clock = TaskClock()
        self._data = None
        self._pivot_shape = None
        self._rows_version = -1
        self._loaded_at = float("-inf")
        self._busy = False
        self.query_one("#summary", Static).update(
            "waiting for a store …" if self.store is None else f"reading {self.store.name} …")
        self._tick()

    def _tick(self) -> None:
        if self._busy or self.store is None:
            return
        idle = self._data is not None and not self._data.progress.live
        if idle and time.monotonic() - self._loaded_at < self.app.scan_s:
            return  # a finished or stopped campaign is polled slowly, only to notice a resume
        self._busy = True
        self._loaded_at = time.monotonic()
        self.load("load_monitor", self.store, self._focus, self._cache, message=MonitorLoaded)

    def load_failed(self, group: str, message: str) -> None:
        self._busy = False
        sweep = next((s for s in reversed(self.app.sweeps) if s.store == self.store), None)
        if sweep is not None and "no store" in message:
            message = f"waiting for the sweep (pid {sweep.pid}) to create {self.store.name}; log: {sweep.log}"
            self.query_one(Banner).say(message, "info")
        else:
            self.show_error(message)
            self.query_one("#summary", Static).update("")

    @on(MonitorLoaded)
    def _show(self, message: MonitorLoaded) -> None:
        data: MonitorData = message.value
        self._busy = False
        if data.path != self.store:
            return
        banner = self.query_one(Banner)
        if banner.has_class("-shown"):
            banner.clear()
        self._data = data
        now = self.app.clock()
        p = data.progress
        self.query_one("#summary", Static).update(summary_text(data, now))
        self.query_one("#overall", ProgressBar).update(total=max(p.total, 1), progress=p.done + p.failed)
        self._show_running(data, now)
        self._show_curves(data)
        self._show_pivot(data)
        self._show_failures(data)

    # --- panels -------------------------------------------------------------------------------------------
    def _show_running(self, data: MonitorData, now: float) -> None:
        table = self.query_one("#running", DataTable)
        ids = [t.task_id for t in data.running]
        self._clock.forget_except(set(ids))
        current = [str(k.value) for k in table.rows]
        if ids != current:
            table.clear()
            for t in data.running:
                table.add_row(*self._running_cells(t, now), key=t.task_id)
            if self._focus in ids:
                table.move_cursor(row=ids.index(self._focus))
        else:
            for t in data.running:
                for col, value in zip(RUNNING_COLUMNS, self._running_cells(t, now)):
                    if self._cells.get((t.task_id, col)) != value:  # unchanged cells cost no repaint
                        table.update_cell(t.task_id, col, value)
        self._cells = {(t.task_id, col): v for t in data.running
                       for col, v in zip(RUNNING_COLUMNS, self._running_cells(t, now))}
        if not ids:
            table.display = False
        else:
            table.display = True

    def _running_cells(self, t: RunningTask, now: float) -> tuple:
        done = max(t.rows - 1, 0)
        total = max(t.max_rows - 1, 1)
        members = f"{t.members_done}/{t.n_members}"
        if t.rows == 0:  # nothing streamed (a relaxation in member slices): progress by members
            return (t.task_id, "–", members, bar(t.members_done / max(t.n_members, 1)), "–")
        return (t.task_id, f"{done}/{total}", members, bar(done / total), fmt_duration(self._clock.eta(t, now)))

    def _show_curves(self, data: MonitorData) -> None:
        curves = []
        title = ""
        if data.focus is not None and data.focus_band is not None:
            band = data.focus_band
            curves.append(Curve(f"running {short(data.focus.info.task_id)}", band, PALETTE[0]))
            title = f"{data.focus.info.task_id}: median and 10-90% of {band.n} members"
        if data.latest is not None and data.latest_band is not None:
            band = data.latest_band
            label = f"last done {short(data.latest.info.task_id)} (median)"
            curves.append(Curve(label, band, PALETTE[1], single=bool(curves)))
            title = title or f"last finished {data.latest.info.task_id}: median and 10-90% of {band.n} members"
        chart = self.query_one("#live-loss", LossChart)
        records = [c for c in (data.focus, data.latest) if c is not None]
        unit = method_info(records[0].info.method).unit if len(curves) == 1 and records else ""
        chart.show_curves(curves, title=title or "no task running or finished yet", ylabel=axis_label(unit))

    def _show_pivot(self, data: MonitorData) -> None:
        if data.rows_version == self._rows_version:
            return  # statuses and rates only change with the task table
        self._rows_version = data.rows_version
        table = self.query_one("#pivot", DataTable)
        pv = pivot(data.rows)
        shape = (tuple(pv.row_keys), tuple(pv.col_keys))
        cols = [f"{m}/{md}" for m, md in pv.col_keys]
        if shape != self._pivot_shape:
            table.clear(columns=True)
            table.add_column("noise", key="noise", width=7)
            table.add_column("level", key="level", width=6)
            for key, label in zip(pv.col_keys, cols):
                table.add_column(abbreviate(label), key="/".join(key), width=max(9, min(len(abbreviate(label)), 14)))
            for rk in pv.row_keys:
                table.add_row(rk[0], format_level(rk[1]), *[cell_text(pv, rk, ck) for ck in pv.col_keys],
                              key=row_key(rk))
            self._pivot_shape = shape
        else:
            for rk in pv.row_keys:
                for ck in pv.col_keys:
                    text = cell_text(pv, rk, ck)
                    if table.get_cell(row_key(rk), "/".join(ck)) != text:
                        table.update_cell(row_key(rk), "/".join(ck), text)

    def _show_failures(self, data: MonitorData) -> None:
        table = self.query_one("#failure-table", DataTable)
        if table.row_count == len(data.failures):
            return
        table.clear()
        for i, f in enumerate(data.failures):
            member = "task" if f.member < 0 else str(f.member)
            table.add_row(f.task_id, member, Text(f.reason, style="red"), key=f"{f.task_id}#{f.member}#{i}")
        tabs = self.query_one("#monitor-tabs", TabbedContent)
        tabs.get_tab("failures").label = f"Failures ({len(data.failures)}) [3]"

    # --- actions --------------------------------------------------------------------------------------------
    @on(DataTable.RowHighlighted, "#running")
    def _running_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value != self._focus:
            self._focus = event.row_key.value

    @on(DataTable.RowSelected, "#running")
    @on(DataTable.RowSelected, "#failure-table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        task_id = str(event.row_key.value).split("#", 1)[0]
        self._open(task_id)

    def action_open_task(self) -> None:
        if self._focus:
            self._open(self._focus)

    def _open(self, task_id: str) -> None:
        if self.store is None:
            return
        from xrdtui.views.screens.detail import DetailScreen

        self.app.push_screen(DetailScreen(self.store, task_id))

    def action_tab(self, tab: str) -> None:
        self.query_one("#monitor-tabs", TabbedContent).active = tab


def short(task_id: str) -> str:
    """A task id without its structure and noise (for legends)."""
    parts = task_id.split("/")
    return "/".join(parts[2:]) if len(parts) == 5 else task_id


ABBREV = {**MODE_ABBREVIATIONS, "entropy": "entr", "cosine": "cos"}


def abbreviate(label: str) -> str:
    """Short column titles so seven method/mode columns fit 80 cells."""
    return "/".join(ABBREV.get(p, p) for p in label.split("/"))


def row_key(rk: tuple) -> str:
    return f"{rk[0]}/{format_level(rk[1])}"


def cell_text(pv, rk: tuple, ck: tuple) -> Text:
    """A pivot cell: the pooled rate (paper metric, then ``/`` the strict recovery rate when the store has
    it), bold once every task of the cell ended (dim while some are still to come); ``▶`` while one runs
    and none finished, ``✗`` when all failed, ``·`` before any ended."""
    cell = pv.cells.get((rk, ck))
    if cell is None:
        return Text(DASH, style="dim")
    st = cell.counts
    if cell.n:
        style = "bold" if st.done + st.failed == st.total else "dim"
        strict = f"/{cell.rate_s:.2f}" if cell.ns else ""
        return Text(f"{cell.rate:.2f}{strict}", style=style)
    if st.running:
        return Text("▶", style="yellow")
    if st.failed and st.failed + st.done == st.total:
        return Text("✗", style="red")
    return Text("·", style="dim")

