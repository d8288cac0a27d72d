"""The landscape explorer (``L``, or ``xrdtui explore STRUCTURE``): a slice of any objective computed live,
coarse first then refined, with a cursor (its lattice, objective value and XRD pattern over the truth's),
the minima marked and listed, descent paths in the three modes from the cursor, the crystal-family tie and
the peak width as toggles, and saving into a landscapes store. Every computation runs in a thread worker
(``views.explore_worker``); a new choice cancels the work of the old one, whose late results are dropped."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Header, Static
from textual.worker import get_current_worker

from xrdtui.engine.threads import one_torch_thread
from xrdtui.store.records import LandscapeMinimum, LandscapeRecord
from xrdtui.views.explore_worker import PAIRS, PATH_STEPS, RESOLUTIONS, SPANS, Choice, next_in
from xrdtui.views.fmt import fmt_num
from xrdtui.views.screens.base import Banner
from xrdtui.views.widgets.charts import PALETTE, PatternChart
from xrdtui.views.widgets.cursor_heatmap import CursorHeatmap
from xrdtui.views.widgets.heatmap import MINIMUM_COLOUR, PATH_COLOURS, legend
from xrdtui.views.widgets.footer import KeyFooter
from xrdtui.vocab import MODE_ABBREVIATIONS, PARAM_UNITS

LANDSCAPES_FILE = "landscapes.h5"  # saved slices go here, in the app's folder (as `xrdtui landscape -o`)
TRUTH_COLOUR, CURSOR_COLOUR = PALETTE[0], PALETTE[1]


def one_line(exc: BaseException) -> str:
    """A user's error as its own one-line message; anything else with its type."""
    from xrdtui.errors import XrdtuiError

    text = " ".join(str(exc).split())
    return text if isinstance(exc, XrdtuiError) else f"{type(exc).__name__}: {text or 'failed'}"


class Result(Message):
    """A worker's result for choice number ``gen`` (dropped when the choice changed since)."""

    def __init__(self, gen: int, value) -> None:
        super().__init__()
        self.gen = gen
        self.value = value


class SlicePrepared(Result):
    """``explore_worker.prepare``: the Slice."""


class SliceProgressed(Result):
    """``explore_worker.compute_passes``: one SliceUpdate."""


class Probed(Result):
    """``explore_worker.probe``: (Probe, 2θ bins, truth envelope, cursor envelope)."""


class Descended(Result):
    """``explore_worker.descend``: (paths, seconds)."""


class Saved(Result):
    """``explore_worker.save``: (key, path)."""


class SaveExists(Result):
    """The store already holds this slice's key: (key, path); a second save replaces it."""


class Failed(Result):
    """A worker failed: (what, one-line reason)."""


class Warmed(Message):
    """The engine is imported: the objectives (registry losses, energies) and the peak widths offered."""

    def __init__(self, objectives: list[str], widths: tuple[float, ...]) -> None:
        super().__init__()
        self.objectives = objectives
        self.widths = widths


class ExplorerScreen(Screen):
    BINDINGS = [
        Binding("c", "choose", "Choose"),
        Binding("d", "descend", "Descend"),
        Binding("f", "tie", "Tie"),
        Binding("w", "width", "Width"),
        Binding("ctrl+s", "save", "Save"),
        Binding("s", "cycle('structure')", "Structure", show=False),
        Binding("p", "cycle('pair')", "Pair", show=False),
        Binding("o", "cycle('objective')", "Objective", show=False),
        Binding("r", "resolution", "Resolution", show=False),
        Binding("plus", "span(1)", "Span +", show=False),
        Binding("minus", "span(-1)", "Span -", show=False),
        Binding("x", "clear_paths", "Clear paths", show=False),
        Binding("home", "to_truth", "Cursor to truth", show=False),
        *(Binding(k, f"move({di}, {dj}, False)", show=False)
          for k, di, dj in (("left", -1, 0), ("right", 1, 0), ("up", 0, 1), ("down", 0, -1))),
        *(Binding(f"shift+{k}", f"move({di}, {dj}, True)", show=False)
          for k, di, dj in (("left", -1, 0), ("right", 1, 0), ("up", 0, 1), ("down", 0, -1))),
        *(Binding(str(k), f"minimum({k})", show=False) for k in range(1, 10)),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Banner(id="banner")
        yield Static("", id="ex-head")
        with Horizontal(id="ex-body"):
            yield CursorHeatmap(id="ex-map")
            with Vertical(id="ex-side"):
                yield Static("", id="ex-cursor")
                yield Static("", id="ex-minima")
                yield Static("", id="ex-paths")
        yield PatternChart(id="ex-overlay")
        yield Static("", id="ex-status")
        yield KeyFooter()

    # ----------------------------------------------------------------------------------------- state

    def on_mount(self) -> None:
        first = getattr(self.app, "explore_structure", None) or Choice().structure
        self.choice = Choice(structure=first)
        self.objectives: list[str] = [self.choice.objective]
        self.widths: tuple[float | None, ...] = (None,)
        self.gen = 0
        self.slice = None           # explore_worker.Slice of the current choice
        self.update = None          # its latest SliceUpdate
        self.paths: list = []       # LandscapePath records drawn
        self.paths_s = 0.0
        self.cursor: tuple[int, int] | None = None
        self.probe = None           # explore_worker.Probe at the cursor
        self.replace_key: str | None = None  # a save of this key replaces the stored one
        self.started: dict[int, float] = {}        # choice number -> when its slice was asked for
        self.first_visible_s: dict[int, float] = {}  # choice number -> seconds to its first picture
        self.evaluated: dict[int, int] = {}        # choice number -> points its worker computed
        self.stale_dropped = 0
        self.path_steps = PATH_STEPS
        self.run_worker(self._warm, thread=True, group="warm", exit_on_error=False)
        self._take_request()
        self.start_slice()

    def on_screen_resume(self) -> None:
        if not hasattr(self, "gen"):
            return
        unfinished = self.update is None or self.update.done < self.update.total
        if self._take_request() or unfinished:  # a slice left half-computed when the screen was left: again
            self.start_slice()

    def on_screen_suspend(self) -> None:
        # leaving the explorer stops its computations: they would only compete with the screen now shown
        for group in ("slice", "probe", "descent"):
            self.workers.cancel_group(self, group)

    def _take_request(self) -> bool:
        """Another screen asked to explore a choice (``app.explore_request``, a dict of Choice fields)."""
        request = getattr(self.app, "explore_request", None)
        if not request:
            return False
        self.app.explore_request = None
        self.choice = replace(Choice(), **request).canonical()
        return True

    def _warm(self) -> None:
        import gc

        from xrdtui.views import explore_worker as ew

        names, widths = ew.objective_names(), ew.widths()
        # torch, pymatgen and the app live as long as the process: out of the cyclic collector with them, whose
        # full collections over their millions of objects stalled the UI for ~0.5 s (51 ms once frozen)
        gc.freeze()
        self.post_message(Warmed(names, widths))

    @on(Warmed)
    def _warmed(self, message: Warmed) -> None:
        self.objectives = message.objectives
        self.widths = message.widths

    def set_choice(self, choice: Choice) -> None:
        """Explore ``choice`` (cancelling the slice in progress) unless it is the one shown."""
        choice = choice.canonical()
        if choice != self.choice:
            self.choice = choice
            self.start_slice()

    def start_slice(self) -> None:
        self.gen += 1
        gen, choice = self.gen, self.choice
        self.slice = self.update = self.probe = None
        self.paths, self.replace_key = [], None
        self.started[gen] = time.perf_counter()
        self.query_one(Banner).clear()
        self.query_one(CursorHeatmap).set_record(None)
        self._show_head()
        self._status(f"preparing {choice.structure} …")

        def job() -> None:
            worker = get_current_worker()
            try:
                from xrdtui.views import explore_worker as ew

                with one_torch_thread():
                    sl = ew.prepare(choice)
                    if worker.is_cancelled:
                        return
                    self.post_message(SlicePrepared(gen, sl))
                    for update in ew.compute_passes(sl, lambda: worker.is_cancelled):
                        self.evaluated[gen] = update.done
                        self.post_message(SliceProgressed(gen, update))
            except Exception as exc:  # noqa: BLE001 - every failure is one line in the banner, never a crash
                if not worker.is_cancelled:
                    self.post_message(Failed(gen, ("slice", one_line(exc))))

        self.run_worker(job, thread=True, exclusive=True, group="slice", exit_on_error=False)

    def _current(self, message: Result) -> bool:
        if message.gen == self.gen:
            return True
        self.stale_dropped += 1
        return False

    # ------------------------------------------------------------------------------- worker results

    @on(SlicePrepared)
    def _prepared(self, message: SlicePrepared) -> None:
        if not self._current(message):
            return
        self.slice = sl = message.value
        self.choice = sl.choice
        self.cursor = sl.nearest_index(*sl.truth_point)
        self._show_head()
        self._status(f"computing {sl.shape[0]}×{sl.shape[1]} {sl.choice.objective} …")

    @on(SliceProgressed)
    def _progressed(self, message: SliceProgressed) -> None:
        if not self._current(message):
            return
        first = self.update is None
        self.update = update = message.value
        if first:
            self.first_visible_s[message.gen] = time.perf_counter() - self.started[message.gen]
            self.request_probe()
        self._draw_map()
        self._show_minima()
        if update.complete:
            if self.slice.energy:
                self.request_probe()  # the grid now has the energy at the cursor
            self.call_after_refresh(self._legend)
        else:
            k = update.passes.index(update.stride) + 1
            self._status(f"computing {update.total} points: pass {k}/{len(update.passes)} (every {update.stride}) · "
                         f"{update.done}/{update.total} · {update.elapsed:.1f} s  (any new choice cancels)")

    @on(Probed)
    def _probed(self, message: Probed) -> None:
        if not self._current(message):
            return
        probe, bins, truth_env, cursor_env = message.value
        if (probe.i, probe.j) != self.cursor:
            return  # the cursor moved on; its own probe is on the way
        self.probe = probe
        self._show_cursor()
        self._show_overlay(bins, truth_env, cursor_env)

    @on(Descended)
    def _descended(self, message: Descended) -> None:
        if not self._current(message):
            return
        self.paths, self.paths_s = message.value
        self._draw_map()
        self._show_paths()
        if self.update is not None and self.update.complete:
            self.call_after_refresh(self._legend)

    @on(Saved)
    def _saved(self, message: Saved) -> None:
        key, path = message.value
        self.replace_key = None
        self.app.notify(f"saved {key} in {path}", title="landscape saved", timeout=6)

    @on(SaveExists)
    def _save_exists(self, message: SaveExists) -> None:
        if not self._current(message):
            return
        key, path = message.value
        self.replace_key = key
        self.query_one(Banner).say(f"{path} already holds {key}; ctrl+s again replaces it", "info")

    @on(Failed)
    def _failed(self, message: Failed) -> None:
        if not self._current(message):
            return
        what, text = message.value
        self.query_one(Banner).say(text, "error")
        if what == "slice":
            self._status("")
        elif what == "descent":
            self.query_one("#ex-paths", Static).update("")

    # ----------------------------------------------------------------------------------- drawing

    def _show_head(self) -> None:
        c = self.choice
        sl = self.slice
        name = Text(sl.name if sl else Path(c.structure).name, style="bold")
        if sl is not None:
            name.append(f" ({sl.family})", style="dim")
        axes = (f"±{c.span * 100:g}%" if c.range1 is None and c.range2 is None
                else " ".join(f"{p} {r[0]:.4g}..{r[1]:.4g}" for p, r in ((c.p1, c.range1), (c.p2, c.range2)) if r))
        slow = " (slow)" if sl is not None and sl.energy else ""
        width = f"W {c.width:g}°²" if c.width is not None else "W paper"
        name.append(f"  {c.p1} × {c.p2} · {c.objective}{slow} · {axes} · {c.points}² · "
                    f"tie {'on' if c.tied else 'off'} · {width}")
        self.query_one("#ex-head", Static).update(name)

    def _status(self, text) -> None:
        self.query_one("#ex-status", Static).update(text)

    def display_record(self) -> LandscapeRecord | None:
        """What the map draws: the progressive picture, the minima found so far, the paths."""
        sl, update = self.slice, self.update
        if sl is None or update is None:
            return None
        minima = [LandscapeMinimum(r, m.index[0], m.index[1], m.coords[0], m.coords[1], m.value, m.depth)
                  for r, m in enumerate(update.minima[:9])]
        c = sl.choice
        return LandscapeRecord(structure=sl.name, objective=c.objective, p1=c.p1, p2=c.p2, axis1=sl.x, axis2=sl.y,
                               unit1=PARAM_UNITS[c.p1], unit2=PARAM_UNITS[c.p2], grid=update.display, truth=sl.truth,
                               minima=minima, minima_patterns=np.zeros((len(minima), 0)), two_theta=np.zeros(0),
                               paths=list(self.paths))

    def _draw_map(self) -> None:
        heat = self.query_one(CursorHeatmap)
        heat.set_record(self.display_record())
        heat.set_cursor(self._cursor_point())

    def _cursor_point(self) -> tuple[float, float] | None:
        if self.slice is None or self.cursor is None:
            return None
        i, j = self.cursor
        return float(self.slice.x[i]), float(self.slice.y[j])

    def _legend(self) -> None:
        update = self.update
        if update is None or not update.complete:
            return
        vmin, vmax = self.query_one(CursorHeatmap).scale
        text = legend(vmin, vmax, 8) if vmin == vmin else Text("")
        text.append(" X cursor + truth", style="bold")
        text.append(" 1-9 minima", style=f"bold {MINIMUM_COLOUR}")
        for k, path in enumerate(self.paths):
            colour = PATH_COLOURS[k % len(PATH_COLOURS)]
            text.append(f" ·{MODE_ABBREVIATIONS.get(path.mode, path.mode)}", style=f"bold {colour}")
        self._status(text)

    def _show_cursor(self) -> None:
        sl, probe = self.slice, self.probe
        if sl is None or probe is None:
            return
        from xrdtui.views.explore_worker import relative_distance
        from xrdtui.vocab import PARAM_NAMES, param_index

        c = sl.choice
        x, y = float(sl.x[probe.i]), float(sl.y[probe.j])
        text = Text("X ", style="bold")
        text.append(f"{c.p1} {x:.5g} {PARAM_UNITS[c.p1]}  {c.p2} {y:.5g} {PARAM_UNITS[c.p2]}\n")
        moved = [k for k in range(6) if k not in (param_index(c.p1), param_index(c.p2))
                 and abs(probe.lattice[k] - sl.truth[k]) > 1e-9]
        if moved:
            tied = "  ".join(f"{PARAM_NAMES[k]} {probe.lattice[k]:.4f}" for k in moved)
            text.append(f"tied   {tied}\n", style="dim")
        unit = "" if sl.unit in ("", "dimensionless") else f" {sl.unit}"
        text.append(f"{c.objective:<6} ", style="bold")
        text.append(f"{fmt_num(probe.value, 6)}{unit}\n")
        text.append(f"Δ truth {relative_distance(sl, x, y) * 100:.2f} %", style="dim")
        self.query_one("#ex-cursor", Static).update(text)

    def _show_minima(self) -> None:
        """The minima as fixed-width text (a rich Table took ~90 ms per redraw on the busy 2-core machine, and
        this list is redrawn after every chunk of a slice)."""
        sl, update = self.slice, self.update
        if sl is None or update is None:
            return
        from xrdtui.views.explore_worker import relative_distance

        wide = self.size.width >= 110
        c = sl.choice
        title = (f"minima ({len(update.minima)}) · grid {update.elapsed:.1f} s" if update.complete
                 else f"minima so far ({len(update.minima)})")
        text = Text(title + "\n", style="bold")
        value = f" {c.objective[:7]:>7}" if wide else ""
        text.append(f"# {c.p1[:6]:>6} {c.p2[:6]:>6}{value} {'depth':>6} {'Δ%':>5}\n", style="bold")
        for r, m in enumerate(update.minima[:9]):
            text.append(f"{r + 1}", style=f"bold {MINIMUM_COLOUR}")
            value = f" {m.value:>7.4g}" if wide else ""
            text.append(f" {m.coords[0]:>6.4g} {m.coords[1]:>6.4g}{value} {m.depth:>6.3g} "
                        f"{relative_distance(sl, *m.coords) * 100:>5.1f}\n")
        self.query_one("#ex-minima", Static).update(text)

    def _show_overlay(self, bins: np.ndarray, truth: np.ndarray, cursor: np.ndarray | None) -> None:
        """The cursor's pattern over the truth's (peak envelopes; braille dots: 4 levels per text row, as a
        7-row panel at 80x24 needs). No title or axis label: the cursor panel says where it is."""
        chart = self.query_one(PatternChart)
        signature = ("explore", bins.tobytes(), truth.tobytes(), None if cursor is None else cursor.tobytes())

        def paint(plt) -> None:
            if cursor is not None:
                plt.plot(bins.tolist(), cursor.tolist(), color=CURSOR_COLOUR, marker="braille", label="cursor")
            plt.plot(bins.tolist(), truth.tolist(), color=TRUTH_COLOUR, marker="braille",
                     label="truth" if cursor is not None else "truth (the cell at the cursor is invalid)")
            plt.ylim(0, 1.05)
            plt.yticks([0, 1])
            plt.xlim(float(bins[0]), float(bins[-1]))
            plt.xticks([0, 15, 30, 45, 60, 75, 90], ["0", "15", "30", "45", "60", "75", "90°"])

        chart.draw(signature, paint)

    def _show_paths(self) -> None:
        if not self.paths:
            self.query_one("#ex-paths", Static).update("")
            return
        text = Text(f"paths ({self.paths_s:.1f} s)\n", style="bold")
        for k, p in enumerate(self.paths):
            end = np.asarray(p.points)[-1]
            text.append("· ", style=f"bold {PATH_COLOURS[k % len(PATH_COLOURS)]}")
            text.append(f"{MODE_ABBREVIATIONS.get(p.mode, p.mode):<4} {fmt_num(p.final_loss, 4):>7} "
                        f"{end[0]:.4g},{end[1]:.4g}\n")
        self.query_one("#ex-paths", Static).update(text)

    # ----------------------------------------------------------------------------------- the cursor

    def request_probe(self) -> None:
        """One forward pass at the cursor, in a worker (a newer probe cancels an older one)."""
        sl, update, cursor, gen = self.slice, self.update, self.cursor, self.gen
        if sl is None or cursor is None:
            return
        known = float(update.values[cursor]) if update is not None and update.known[cursor] else None

        def job() -> None:
            worker = get_current_worker()
            try:
                from xrdtui.views import explore_worker as ew

                with one_torch_thread():
                    p = ew.probe(sl, cursor[0], cursor[1], known)
                bins, truth_env = ew.peak_envelope(sl.sim.two_theta, sl.target)
                cursor_env = None if p.pattern is None else ew.peak_envelope(sl.sim.two_theta, p.pattern)[1]
                if not worker.is_cancelled:
                    self.post_message(Probed(gen, (p, bins, truth_env, cursor_env)))
            except Exception as exc:  # noqa: BLE001
                self.post_message(Failed(gen, ("probe", one_line(exc))))

        self.run_worker(job, thread=True, exclusive=True, group="probe", exit_on_error=False)

    def move_cursor(self, i: int, j: int) -> None:
        if self.slice is None:
            return
        n1, n2 = self.slice.shape
        cursor = (min(max(int(i), 0), n1 - 1), min(max(int(j), 0), n2 - 1))
        if cursor != self.cursor:
            self.cursor = cursor
            self.query_one(CursorHeatmap).set_cursor(self._cursor_point())
            self.request_probe()

    def action_move(self, di: int, dj: int, fine: bool) -> None:
        """Arrows: one map cell (several grid points on a fine grid); shift+arrows: one grid point."""
        if self.slice is None or self.cursor is None:
            return
        n1, n2 = self.slice.shape
        cols, rows = self.query_one(CursorHeatmap).map_size
        step_i = 1 if fine else max(1, round(n1 / cols))
        step_j = 1 if fine else max(1, round(n2 / rows))
        self.move_cursor(self.cursor[0] + di * step_i, self.cursor[1] + dj * step_j)

    def action_minimum(self, rank: int) -> None:
        if self.update is not None and rank <= len(self.update.minima):
            self.move_cursor(*self.update.minima[rank - 1].index)

    def action_to_truth(self) -> None:
        if self.slice is not None:
            self.move_cursor(*self.slice.nearest_index(*self.slice.truth_point))

    @on(CursorHeatmap.Clicked)
    def _clicked(self, message: CursorHeatmap.Clicked) -> None:
        self.move_cursor(message.i, message.j)

    # ------------------------------------------------------------------------------------- choices

    def action_cycle(self, what: str) -> None:
        c = self.choice
        if what == "structure":
            from xrdtui.engine.structures import BENCHMARK_NAMES

            self.set_choice(replace(c, structure=next_in(BENCHMARK_NAMES, c.structure), range1=None, range2=None))
        elif what == "pair":
            p1, p2 = next_in(PAIRS, (c.p1, c.p2))
            self.set_choice(replace(c, p1=p1, p2=p2, range1=None, range2=None))
        elif what == "objective":
            self.set_choice(replace(c, objective=next_in(self.objectives, c.objective)))

    def action_span(self, step: int) -> None:
        c = self.choice
        spans = sorted(set(SPANS) | {c.span})
        k = min(max(spans.index(c.span) + step, 0), len(spans) - 1)
        self.set_choice(replace(c, span=spans[k], range1=None, range2=None))

    def action_resolution(self) -> None:
        self.set_choice(replace(self.choice, points=next_in(RESOLUTIONS, self.choice.points)))

    def action_tie(self) -> None:
        self.set_choice(replace(self.choice, tied=not self.choice.tied))

    def action_width(self) -> None:
        # None is the pattern settings' own W, which the list starts with once the engine is loaded
        widths = self.widths
        current = self.choice.width if self.choice.width is not None else widths[0]
        width = next_in(widths, current)
        self.set_choice(replace(self.choice, width=None if width == widths[0] else width))

    def action_choose(self) -> None:
        from xrdtui.views.screens.explore_choice import ChooseSliceScreen

        self.app.push_screen(ChooseSliceScreen(self.choice, self.objectives), self._chosen)

    def _chosen(self, choice: Choice | None) -> None:
        if choice is not None:
            self.set_choice(choice)

    # ------------------------------------------------------------------------------- paths, saving

    def action_descend(self) -> None:
        """Descent from the cursor in the three modes (a new descent replaces the paths drawn)."""
        sl, gen, steps = self.slice, self.gen, self.path_steps
        start = self._cursor_point()
        if sl is None or start is None:
            return
        note = Text(f"descending from {start[0]:.4g}, {start[1]:.4g} …", style="dim")
        self.query_one("#ex-paths", Static).update(note)

        def job() -> None:
            worker = get_current_worker()
            try:
                from xrdtui.views import explore_worker as ew

                t0 = time.perf_counter()
                with one_torch_thread():
                    paths = ew.descend(sl, start, steps)
                if not worker.is_cancelled:
                    self.post_message(Descended(gen, (paths, time.perf_counter() - t0)))
            except Exception as exc:  # noqa: BLE001
                self.post_message(Failed(gen, ("descent", one_line(exc))))

        self.run_worker(job, thread=True, exclusive=True, group="descent", exit_on_error=False)

    def action_clear_paths(self) -> None:
        self.paths = []
        self._draw_map()
        self._show_paths()

    @property
    def save_path(self) -> Path:
        return self.app.folder / LANDSCAPES_FILE

    def action_save(self) -> None:
        sl, update, paths, paths_s, gen = self.slice, self.update, list(self.paths), self.paths_s, self.gen
        steps = self.path_steps
        if sl is None or update is None or not update.complete:
            self.query_one(Banner).say("the slice is still being computed; save it when it is complete", "info")
            return
        path = self.save_path
        key = f"{sl.name}/{sl.choice.objective}/{sl.choice.p1}-{sl.choice.p2}"
        replace_it = self.replace_key == key

        def job() -> None:
            try:
                from xrdtui.store.reader import StoreReader
                from xrdtui.views import explore_worker as ew

                if path.exists() and not replace_it:
                    with StoreReader.open(path) as reader:
                        if key in reader.landscapes():
                            self.post_message(SaveExists(gen, (key, path)))
                            return
                with one_torch_thread():
                    record = ew.slice_record(sl, update, paths, paths_s=paths_s, path_steps=steps)
                self.post_message(Saved(gen, (ew.save(path, record, replace=replace_it), path)))
            except Exception as exc:  # noqa: BLE001
                self.post_message(Failed(gen, ("save", one_line(exc))))

        self.run_worker(job, thread=True, exclusive=True, group="save", exit_on_error=False)
