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


def nice_ticks(lo: float, hi: float, log: bool = False, target: int = 5, integer: bool = False) -> list[float]:
    """Round tick positions covering [lo, hi]: multiples of 1, 2, 2.5 or 5 x 10^k (about ``target`` of them),
    or on a log axis the 1-2-5 values of each decade (only the powers of ten when that is too many);
    ``integer`` keeps steps of at least 1 (an axis of step numbers). Empty when the range is not finite."""
    if not (np.isfinite(lo) and np.isfinite(hi)) or hi < lo or (log and lo <= 0):
        return []
    if log:
        decades = range(int(np.floor(np.log10(lo))), int(np.ceil(np.log10(hi))) + 1)
        for mantissas in ((1, 2, 5), (1,)):
            ticks = [m * 10.0 ** d for d in decades for m in mantissas if lo <= m * 10.0 ** d <= hi]
            if len(ticks) <= target + 2:
                break
        return ticks if len(ticks) >= 2 else [lo, hi]
    if hi == lo:
        return [lo]
    raw = (hi - lo) / max(target - 1, 1)
    power = 10.0 ** np.floor(np.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    if integer:
        step = max(round(step), 1.0)
    first, last = int(np.ceil(lo / step - 1e-9)), int(np.floor(hi / step + 1e-9))
    return [float(round(k * step, 12)) + 0.0 for k in range(first, last + 1)]  # + 0.0: no "-0" label


def _ticks(plt, axis: str, values: list[float]) -> None:
    if values:
        (plt.xticks if axis == "x" else plt.yticks)(values, [tick_text(v) for v in values])


def tick_text(value: float) -> str:
    """A short round tick label: 0, 0.25, 0.05, 1e-04 (``:g`` to 4 significant digits)."""
    return f"{float(value):.4g}"


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
            ys = []
            for c in curves:
                b = c.band
                # ~one point per column is as much as a line can show and halves the build time (a fixed
                # count, not the widget width: the same data must draw the same plot whenever it arrives)
                x, lo, mid, hi = thin(b.steps, b.lo, b.mid, b.hi, limit=LINE_POINTS)
                if not c.single:
                    plt.plot(x.tolist(), _clean(hi, log), color=c.color, marker="dot")
                    plt.plot(x.tolist(), _clean(lo, log), color=c.color, marker="dot")
                plt.plot(x.tolist(), _clean(mid, log), color=c.color, marker="hd", label=c.label)
                ys += [_clean(v, log) for v in ((mid,) if c.single else (lo, mid, hi))]
            plt.yscale("log" if log else "linear")  # clear_figure() keeps the previous scale
            last = max(float(c.band.steps[-1]) if len(c.band.steps) else 0.0 for c in curves)
            _ticks(plt, "x", nice_ticks(0.0, last, integer=True))
            flat = np.concatenate([np.asarray(v, float) for v in ys]) if ys else np.array([])
            if flat.size:
                _ticks(plt, "y", nice_ticks(float(flat.min()), float(flat.max()), log=log))
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
            lo = min(float(np.min(t.x)) for t in traces)
            hi = max(float(np.max(t.x)) for t in traces)
            _ticks(plt, "x", nice_ticks(lo, hi))
            plt.title(title)
            plt.xlabel("2θ (°)")
            plt.ylim(0, 1.05)

        self.draw(signature, paint)


RATE_TICKS = (0.0, 0.25, 0.5, 0.75, 1.0)


def legend_text(labels: Sequence[str], colors: Sequence[int] = PALETTE) -> Text:
    """A legend to show beside a chart (off its data): ``■ label`` in each line's colour."""
    out = Text()
    for i, label in enumerate(labels):
        if i:
            out.append("  ")
        out.append("■ ", style=f"color({colors[i % len(colors)]})")
        out.append(label)
    return out


class MatchFigure(Chart):
    """Figure 1 in the terminal: match rate against noise level, one line per method/mode, the 95%
    Jeffreys interval of each point drawn as a vertical range (points shifted apart slightly). The
    legend is not drawn on the plot (it would hide points): :func:`legend_text` of the series labels
    goes beside it; ticks are the levels and quarter rates."""

    def show_series(self, series: Sequence[Series], *, title: str = "") -> None:
        if not series:
            self.placeholder(title or "no finished tasks yet")
            return
        signature = (title, tuple((s.label, s.x.tobytes(), s.y.tobytes(), s.lo.tobytes(), s.hi.tobytes())
                                  for s in series))

        def paint(plt) -> None:
            xs = np.unique(np.concatenate([s.x for s in series]))
            gap = float(np.min(np.diff(xs))) if len(xs) > 1 else max(float(xs[0]) * 0.2, 0.01)
            width = 0.5 * gap
            for i, s in enumerate(series):
                color = PALETTE[i % len(PALETTE)]
                shift = (i - (len(series) - 1) / 2) * width / max(len(series), 1)
                x = s.x + shift
                plt.plot(x.tolist(), s.y.tolist(), color=color, marker="hd")
                for xi, lo, hi in zip(x, s.lo, s.hi):
                    if np.isfinite(lo) and np.isfinite(hi):
                        plt.plot([float(xi), float(xi)], [float(lo), float(hi)], color=color, marker="│")
            plt.ylim(0, 1.0)
            _ticks(plt, "y", list(RATE_TICKS))
            _ticks(plt, "x", xs.tolist())
            plt.title(title)
            plt.xlabel("noise level σ")
            plt.ylabel("match rate")

        self.draw(signature, paint)
