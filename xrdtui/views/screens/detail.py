"""Run detail of one task: its members (matched, RMS, final loss, steps, reason); for the chosen member
the loss curve over the batch's band, the lattice parameters (ground truth / distorted / final) and an
overlay of the XRD patterns (ground truth, distorted start, final) on the 0.1° preview axis."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Header, Static, TabbedContent, TabPane

from xrdtui.methods import method_info
from xrdtui.views.fmt import DASH, axis_label, fmt_duration, fmt_num, fmt_objective, fmt_rate
from xrdtui.views.model import Band, forward_fill, loss_band, sample_pattern
from xrdtui.views.messages import DetailLoaded
from xrdtui.views.screens.base import Banner, StoreScreen
from xrdtui.views.widgets.charts import DIM, PALETTE, Curve, LossChart, PatternChart, Trace
from xrdtui.views.workers import DetailData
from xrdtui.views.widgets.footer import KeyFooter
from xrdtui.vocab import LATTICE_PARAMS



def member_note(data: DetailData, b: int) -> str:
    """Why a member stopped: ``failed: <reason>``, the stored reason, or converged / max steps."""
    r = data.record.result
    if r.failed[b]:
        return "failed: " + (r.reasons[b] or "no reason stored")
    return r.reasons[b] or ("converged" if r.converged[b] else "")


def _mark(flag: bool) -> Text:
    return Text("✓" if flag else "✗", style="green" if flag else "red")


def verdict(r, b: int) -> str:
    """``matched (paper), not recovered (strict)``: a member under both metrics."""
    paper = "matched (paper)" if r.matched[b] else "not matched (paper)"
    if r.recovered is None:
        return paper
    return f"{paper}, {'recovered' if r.recovered[b] else 'not recovered'} (strict)"


def member_cells(data: DetailData, b: int) -> tuple:
    """One row of the member table: #, paper match and strict recovery (``!`` failed), rms, final loss,
    steps (the reason is shown under the plots for the highlighted member)."""
    r = data.record.result
    unit = method_info(data.record.info.method).unit
    failed = Text("!", style="bold red")
    paper = failed if r.failed[b] else _mark(bool(r.matched[b]))
    strict = failed if r.failed[b] else (
        Text(DASH, style="dim") if r.recovered is None else _mark(bool(r.recovered[b])))
    return (
        str(b),
        paper,
        strict,
        f"{r.rms[b]:.3f}" if np.isfinite(r.rms[b]) else DASH,
        fmt_objective(r.final_loss[b], unit, 3),
        str(int(r.n_steps[b])),
    )


def lattice_rows(data: DetailData, b: int) -> list[tuple]:
    """Rows a..γ: parameter, truth, distorted, final, final - truth (lengths to 0.001 Å, angles to
    0.01°: compact enough for 80 columns); Δ is green within 1% of the truth."""
    r = data.record.result
    truth = np.asarray(data.truth.lattice, float) if data.truth is not None else np.full(6, np.nan)
    init = np.asarray(r.init_lattice[b], float)
    final = np.asarray(r.final_lattice[b], float)
    rows = []
    for i, p in enumerate(LATTICE_PARAMS):
        name, unit = p.symbol, p.unit
        digits = 3 if unit == "Å" else 2
        d = final[i] - truth[i]
        delta = DASH
        if np.isfinite(d):
            close = abs(d) <= 0.01 * max(abs(truth[i]), 1e-9)
            delta = Text(f"{d:+.{digits}f}", style="green" if close else "red")
        rows.append((f"{name} {unit}", f"{truth[i]:.{digits}f}", f"{init[i]:.{digits}f}", f"{final[i]:.{digits}f}",
                     delta))
    return rows


class DetailScreen(StoreScreen):
    """Pushed on top of a mode screen; ``escape`` goes back."""

    follows_app_store = False

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("left_square_bracket", "member(-1)", "Prev member"),
        Binding("right_square_bracket", "member(1)", "Next member"),
        Binding("1", "tab('loss')", "Loss", show=False),
        Binding("2", "tab('lattice')", "Lattice", show=False),
        Binding("3", "tab('xrd')", "XRD", show=False),
    ]

    def __init__(self, store: Path, task_id: str) -> None:
        super().__init__()
        self._store = Path(store)
        self.task_id = task_id

    @property
    def store(self) -> Path:
        return self._store

    def compose(self) -> ComposeResult:
        yield Header()
        yield Banner(id="banner")
        yield Static(self.task_id, id="detail-head")
        with Horizontal(id="detail-body"):
            yield DataTable(id="members", cursor_type="row", zebra_stripes=True)
            with Vertical(id="detail-right"):
                with TabbedContent(id="detail-tabs", initial="loss"):
                    with TabPane("Loss [1]", id="loss"):
                        yield LossChart(id="member-loss")
                    with TabPane("Lattice [2]", id="lattice"):
                        yield DataTable(id="lattice-table", cursor_type="none", zebra_stripes=True)
                    with TabPane("XRD [3]", id="xrd"):
                        yield PatternChart(id="xrd-chart")
                yield Static("", id="member-note")
        yield KeyFooter()

    def setup(self) -> None:
        self._data: DetailData | None = None
        self._member = 0
        members = self.query_one("#members", DataTable)
        for name, width in (("#", 3), ("ok", 2), ("st", 2), ("rms", 5), ("loss", 7), ("steps", 5)):
            members.add_column(name, key=name, width=width)
        lattice = self.query_one("#lattice-table", DataTable)
        for name in ("", "truth", "distorted", "final", "Δ"):
            lattice.add_column(name, key=name or "param")
        self._timer = self.set_interval(1.0, self._poll, pause=True)
        self.reload()

    def reload(self) -> None:
        self.load("load_detail", self.store, self.task_id, message=DetailLoaded)

    def _poll(self) -> None:
        if self.is_current:
            self.reload()

    @on(DetailLoaded)
    def _show(self, message: DetailLoaded) -> None:
        data: DetailData = message.value
        self.query_one(Banner).clear()
        first = self._data is None
        self._data = data
        rec = data.record
        head = Text(rec.info.task_id, style="bold")
        head.append(f"  {rec.status}",
                    style={"done": "green", "failed": "red", "running": "yellow"}.get(rec.status, "dim"))
        if data.truth is not None:
            head.append(f"  {data.truth.spacegroup_symbol} ({data.truth.spacegroup_number}), {data.truth.family}, "
                        f"{rec.info.cell} cell", style="dim")
        if rec.result is not None:
            r = rec.result
            strict = (f" · recovered {r.ks}/{r.n} = {fmt_rate(r.rate_s, r.lo_s, r.hi_s)} (strict)"
                      if r.recovered is not None else "")
            head.append(f"\nmatched {r.k}/{r.n} = {fmt_rate(r.rate, r.lo, r.hi)}{strict} · "
                        f"wall {fmt_duration(r.wall_s)} · worker {r.worker or DASH}")
        elif rec.reason:
            head.append(f"\n{rec.reason}", style="red")
        else:
            head.append(f"\n{rec.info.n_members} members, up to {rec.info.max_steps} steps; results appear when it "
                        "finishes", style="dim")
        self.query_one("#detail-head", Static).update(head)
        if rec.status in ("running", "pending"):
            self._timer.resume()
        else:
            self._timer.pause()
        members = self.query_one("#members", DataTable)
        if rec.result is not None and (first or members.row_count == 0):
            members.clear()
            for b in range(len(rec.result.n_steps)):
                members.add_row(*member_cells(data, b), key=str(b))
            members.focus()
        self._show_member()

    @on(DataTable.RowHighlighted, "#members")
    def _member_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value is not None:
            self._member = int(event.row_key.value)
            self._show_member()

    def _show_member(self) -> None:
        data = self._data
        if data is None:
            return
        rec = data.record
        b = self._member
        chart = self.query_one("#member-loss", LossChart)
        xrd = self.query_one("#xrd-chart", PatternChart)
        lattice = self.query_one("#lattice-table", DataTable)
        note = self.query_one("#member-note", Static)
        ylabel = axis_label(method_info(rec.info.method).unit)
        if rec.result is None:
            band = loss_band(rec.partial_loss)
            curves = [Curve("batch (running)", band, PALETTE[0])] if band is not None else []
            chart.show_curves(curves, title=f"{rec.info.task_id}: streamed loss, median and 10-90%", ylabel=ylabel)
            xrd.placeholder("patterns appear when the task finishes")
            lattice.clear()
            note.update("")
            return
        r = rec.result
        band = loss_band(r.loss)
        member = forward_fill(np.asarray(r.loss, float))[:, b]
        ok = np.isfinite(member)
        curves = []
        if band is not None:
            curves.append(Curve("batch 10-50-90%", band, DIM))
        if ok.any():
            last = int(np.nonzero(ok)[0][-1]) + 1
            m = member[:last]
            curves.append(Curve(f"member {b}", Band(np.arange(last, dtype=float), m, m, m, 1), PALETTE[0], single=True))
        chart.show_curves(curves, title=f"member {b}: loss per step", ylabel=ylabel)
        lattice.clear()
        for row in lattice_rows(data, b):
            lattice.add_row(*row)
        traces = []
        axis = data.preview_axis
        if data.truth is not None and axis is not None:
            truth = sample_pattern(data.truth.two_theta, data.truth.pattern, axis)
            traces.append(Trace("ground truth", axis, truth, PALETTE[2]))
        if axis is not None:
            traces.append(Trace("distorted", axis, np.asarray(r.init_pattern[b], float), PALETTE[1]))
            traces.append(Trace("final", axis, np.asarray(r.final_pattern[b], float), PALETTE[0]))
        xrd.show_traces(traces, title=f"member {b}: XRD patterns (0.1° previews)")
        why = member_note(data, b)
        errors = "" if r.length_error is None else (
            f", Δl ≤ {100 * r.length_error[b]:.1f} %, Δangle ≤ {r.angle_error[b]:.1f}°")
        unit = method_info(rec.info.method).unit
        final = (f"final energy {fmt_objective(r.final_loss[b], unit)} {unit}" if unit == "eV/atom"
                 else f"final loss {fmt_objective(r.final_loss[b], unit)}")
        note.update(
            f"member {b}: {verdict(r, b)}, rms {fmt_num(r.rms[b], 3)}{errors}, {final}, "
            f"similarity {fmt_num(r.final_similarity[b], 4)}, {int(r.n_steps[b])} steps"
            + (f" ({why})" if why else "")
        )

    def action_member(self, step: int) -> None:
        members = self.query_one("#members", DataTable)
        if members.row_count:
            members.move_cursor(row=(members.cursor_row + step) % members.row_count)

    def action_tab(self, tab: str) -> None:
        self.query_one("#detail-tabs", TabbedContent).active = tab

    def action_back(self) -> None:
        self.app.pop_screen()
