"""Terminal plots drawn with plotext (textual-plotext): loss bands, XRD overlays and Figure 1.

Each chart is redrawn only when the signature of its data changes, so a live refresh at 2 Hz costs
nothing while nothing new arrived. Colours are 256-palette indices: readable in a 256-colour terminal.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from rich.text import Text
from textual_plotext import PlotextPlot

from xrdtui.views.model import Band, Series

# 256-colour palette entries that stay distinct on dark and light backgrounds.
PALETTE = (39, 208, 41, 199, 226, 141, 51, 196, 250, 172)
DIM = 244
MAX_POINTS = 240  # a wide terminal shows ~2 points per column (hd marker); more only costs time
LINE_POINTS = 120  # points per loss curve (redrawn at every live refresh)


def thin(x: np.ndarray, *ys: np.ndarray, limit: int = MAX_POINTS):
    """Every k-th point so at most ``limit`` remain (always keeping the last)."""
    n = len(x)
    if n <= limit:
        return (x, *ys)
    idx = np.unique(np.r_[np.arange(0, n, int(np.ceil(n / limit))), n - 1])
    return (x[idx], *(y[idx] for y in ys))


class Chart(PlotextPlot):
    """A plotext plot with a placeholder text and signature-gated redraws."""

    DEFAULT_CSS = """
    Chart { width: 1fr; height: 1fr; min-height: 6; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._signature: object = None
        self.placeholder("no data yet")

    def render(self):
        # A plotting bug must cost one panel, not the app (a live monitor runs for days).
        try:
            return super().render()
        except Exception as exc:  # noqa: BLE001 - plotext raises plain ValueErrors on odd data
            return Text(f"cannot draw this plot: {type(exc).__name__}: {exc}", style="red")

    def placeholder(self, text: str) -> None:
        """An empty plot that says why it is empty."""
        self.draw(("placeholder", text), lambda plt: plt.title(text))

    def draw(self, signature: object, painter: Callable) -> bool:
        """Clear and repaint with ``painter(plt)`` unless ``signature`` equals the last one."""
        if signature == self._signature:
            return False
        self._signature = signature
        plt = self.plt
        plt.clear_figure()
        painter(plt)
        self.refresh()
        return True


@dataclass(frozen=True)
class Curve:
    """A band (or single line when lo/hi are None) to draw on a :class:`LossChart`."""

    label: str
    band: Band
    color: int
    single: bool = False


def _positive(curves: Sequence[Curve]) -> bool:
    vals = [c.band.lo for c in curves] + [c.band.mid for c in curves]
    fin = np.concatenate([v[np.isfinite(v)] for v in vals]) if vals else np.array([])
    return fin.size > 0 and bool((fin > 0).all())


class LossChart(Chart):
    """Loss against step: each curve as its median with the 10-90% member band as thin dim lines;
    log-scaled when every value is positive (XRD losses), linear otherwise (CHGNet energies)."""

    def show_curves(self, curves: Sequence[Curve], *, title: str = "", ylabel: str = "loss") -> None:
        if not curves:
            self.placeholder(title or "no loss curve yet")
            return
        signature = (
            title,
            ylabel,
            tuple((c.label, c.color, c.single, len(c.band.steps), float(np.nansum(c.band.mid))) for c in curves),
        )

        def paint(plt) -> None:
            log = _positive(curves)
            for c in curves:
                b = c.band
                # ~one point per column is as much as a line can show and halves the build time (a fixed
                # count, not the widget width: the same data must draw the same plot whenever it arrives)
                x, lo, mid, hi = thin(b.steps, b.lo, b.mid, b.hi, limit=LINE_POINTS)
                if not c.single:
                    plt.plot(x.tolist(), _clean(hi, log), color=c.color, marker="dot")
                    plt.plot(x.tolist(), _clean(lo, log), color=c.color, marker="dot")
                plt.plot(x.tolist(), _clean(mid, log), color=c.color, marker="hd", label=c.label)
            plt.yscale("log" if log else "linear")  # clear_figure() keeps the previous scale
            plt.title(title)
            plt.xlabel("step")
            plt.ylabel(ylabel)

        self.draw(signature, paint)


def _clean(values: np.ndarray, log: bool) -> list[float]:
    # plotext cannot take NaN; on a log axis zero would break the scale too.
    v = np.asarray(values, dtype=float)
    fill = np.nanmin(v[np.isfinite(v) & (v > 0)]) if log and np.any(np.isfinite(v) & (v > 0)) else 0.0
    v = np.where(np.isfinite(v) & (~log | (v > 0)), v, fill)
    return v.tolist()


@dataclass(frozen=True)
class Trace:
    """One pattern of an overlay: ``x`` (2θ degrees), ``y`` (intensity, max 1)."""

    label: str
    x: np.ndarray
    y: np.ndarray
    color: int


class PatternChart(Chart):
    """XRD patterns overlaid on one 2θ axis (intensity normalised to max 1)."""

    def show_traces(self, traces: Sequence[Trace], *, title: str = "") -> None:
        traces = [t for t in traces if t.y is not None and np.isfinite(np.asarray(t.y, float)).any()]
        if not traces:
            self.placeholder(title or "no pattern stored")
            return
        signature = (title, tuple((t.label, t.color, len(t.y), float(np.nansum(t.y))) for t in traces))

        def paint(plt) -> None:
            for t in traces:
                y = np.nan_to_num(np.asarray(t.y, dtype=float), nan=0.0)
                plt.plot(np.asarray(t.x, float).tolist(), y.tolist(), color=t.color, marker="hd", label=t.label)
            plt.title(title)
            plt.xlabel("2θ (°)")
            plt.ylim(0, 1.05)

        self.draw(signature, paint)


class MatchFigure(Chart):
    """Figure 1 in the terminal: match rate against noise level, one line per method/mode, the 95%
    Jeffreys interval of each point drawn as a vertical range (points shifted apart slightly)."""

    def show_series(self, series: Sequence[Series], *, title: str = "") -> None:
        if not series:
            self.placeholder(title or "no finished tasks yet")
            return
        signature = (title, tuple((s.label, s.x.tobytes(), s.y.tobytes(), s.lo.tobytes(), s.hi.tobytes()) for s in series))

        def paint(plt) -> None:
            xs = np.unique(np.concatenate([s.x for s in series]))
            gap = float(np.min(np.diff(xs))) if len(xs) > 1 else max(float(xs[0]) * 0.2, 0.01)
            width = 0.5 * gap
            for i, s in enumerate(series):
                color = PALETTE[i % len(PALETTE)]
                shift = (i - (len(series) - 1) / 2) * width / max(len(series), 1)
                x = s.x + shift
                plt.plot(x.tolist(), s.y.tolist(), color=color, marker="hd", label=s.label)
                for xi, lo, hi in zip(x, s.lo, s.hi):
                    if np.isfinite(lo) and np.isfinite(hi):
                        plt.plot([float(xi), float(xi)], [float(lo), float(hi)], color=color, marker="│")
            plt.ylim(0, 1.0)
            plt.xticks(xs.tolist(), [f"{v:g}" for v in xs])
            plt.title(title)
            plt.xlabel("noise level σ")
            plt.ylabel("match rate")

        self.draw(signature, paint)
