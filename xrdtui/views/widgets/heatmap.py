"""A landscape slice as a terminal heatmap: two pixels per cell (upper half block ▀ with foreground
and background colours), with the ground truth (+), ranked minima (1, 2, ...) and gradient-descent
paths (· per step, o at the start) drawn on top, and the axes labelled with parameter values."""

from __future__ import annotations

import numpy as np
from rich.color import Color
from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from xrdtui.store.records import LandscapeRecord
from xrdtui.views.model import grid_to_image, normalise, point_to_pixel
from xrdtui.vocab import PARAM_NAMES

# viridis at 9 stops (sRGB); low objective values (minima) are dark.
_VIRIDIS = np.array(
    [
        (68, 1, 84),
        (71, 44, 122),
        (59, 81, 139),
        (44, 113, 142),
        (33, 144, 141),
        (39, 173, 129),
        (92, 200, 99),
        (170, 220, 50),
        (253, 231, 37),
    ],
    dtype=float,
)
LEVELS = 48
PATH_COLOURS = ("#ffffff", "#ff8700", "#ff5fd7", "#00d7ff")  # per path mode, in order of appearance
TRUTH_STYLE = Style(color="#ffffff", bold=True)
_WHITE = TRUTH_STYLE.color
MINIMUM_COLOUR = "#ff0000"
Y_MARGIN = 9


def palette(levels: int = LEVELS) -> list[Color]:
    """``levels`` colours interpolated along viridis."""
    t = np.linspace(0, 1, levels) * (len(_VIRIDIS) - 1)
    i = np.minimum(t.astype(int), len(_VIRIDIS) - 2)
    f = (t - i)[:, None]
    rgb = _VIRIDIS[i] * (1 - f) + _VIRIDIS[i + 1] * f
    return [Color.from_rgb(*map(int, np.round(c))) for c in rgb]


_PALETTE = palette()


def legend(vmin: float, vmax: float, width: int = 24) -> Text:
    """A colour bar from ``vmin`` to ``vmax`` (the clipped range of the colours)."""
    out = Text()
    out.append(f"{vmin:.3g} ")
    for k in range(width):
        out.append("█", Style(color=_PALETTE[int(k * (LEVELS - 1) / max(width - 1, 1))]))
    out.append(f" {vmax:.3g}")
    return out


class Heatmap(Widget):
    """Draws one :class:`LandscapeRecord` to fit the widget."""

    DEFAULT_CSS = """
    Heatmap { width: 1fr; height: 1fr; min-height: 6; min-width: 20; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.record: LandscapeRecord | None = None
        self.scale: tuple[float, float] = (float("nan"), float("nan"))
        self.truth_under: int | None = None  # rank drawn over the truth's cell, if any
        self._cache: tuple[object, Text] | None = None

    def set_record(self, record: LandscapeRecord | None) -> None:
        self.record = record
        self._cache = None
        self.refresh()

    def render(self) -> Text:
        rec = self.record
        w, h = self.size.width, self.size.height
        if rec is None:
            return Text("no landscape selected", style="dim")
        key = (id(rec), w, h, self.overlay_key())
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        text = self._draw(rec, max(w - Y_MARGIN, 4), max(h - 1, 2))
        self._cache = (key, text)
        return text

    def extra_marks(self) -> list[tuple[float, float, str, Style]]:
        """Marks (p1, p2, character, style) a subclass draws over the others; their state goes in
        :meth:`overlay_key` so a change redraws."""
        return []

    def overlay_key(self) -> object:
        return None

    def _draw(self, rec: LandscapeRecord, width: int, rows: int) -> Text:
        lines = self._pieces(rec, width, rows)
        text = Text(no_wrap=True, overflow="crop")
        for k, line in enumerate(lines):
            for chunk, style in line:
                text.append(chunk, style)
            if k < len(lines) - 1:
                text.append("\n")
        return text

    def _pieces(self, rec: LandscapeRecord, width: int, rows: int) -> list[list[tuple[str, Style | str]]]:
        """The drawing as rows of (characters, style): ``rows`` map rows with their y label, then the x axis."""
        height = 2 * rows
        img = grid_to_image(rec.grid, width, height)
        norm, vmin, vmax = normalise(img)
        self.scale = (vmin, vmax)
        level = np.where(np.isfinite(norm), np.round(norm * (LEVELS - 1)), -1).astype(int)
        marks: dict[tuple[int, int], tuple[str, Style]] = {}

        def mark(p1: float, p2: float, char: str, style: Style) -> None:
            px = point_to_pixel(rec, p1, p2, width, height)
            if px is not None:
                marks[(px[1] // 2, px[0])] = (char, style)

        modes = list(dict.fromkeys(p.mode for p in rec.paths))
        for path in rec.paths:
            style = Style(color=PATH_COLOURS[modes.index(path.mode) % len(PATH_COLOURS)], bold=True)
            pts = np.asarray(path.points, dtype=float).reshape(-1, 2)
            for p1, p2 in pts:
                mark(p1, p2, "·", style)
            start = np.asarray(path.start, dtype=float).reshape(-1)
            if start.size == 2:
                mark(start[0], start[1], "o", style)
        truth = _truth_point(rec)
        truth_cell = None
        if truth is not None:
            mark(truth[0], truth[1], "+", TRUTH_STYLE)
            truth_cell = _cell_of(rec, truth, width, height)
        # minima on top: a minimum at the truth (the hoped-for case) keeps its rank visible
        self.truth_under: int | None = None
        for m in sorted(rec.minima, key=lambda m: -m.rank):
            if m.rank < 9:
                mark(m.p1, m.p2, str(m.rank + 1), Style(color=MINIMUM_COLOUR, bold=True))
        if truth_cell is not None and marks.get(truth_cell, ("+",))[0] != "+":
            self.truth_under = int(marks[truth_cell][0])
        for p1, p2, char, style in self.extra_marks():  # e.g. a cursor, drawn over everything
            mark(p1, p2, char, style)

        a1 = np.asarray(rec.axis1, float)
        a2 = np.asarray(rec.axis2, float)
        ylabels = {0: f"{a2.max():.4g}", rows - 1: f"{a2.min():.4g}", rows // 2: f"{rec.p2} ({rec.unit2})"}
        lines: list[list[tuple[str, Style | str]]] = []
        styles: dict[tuple[int, int], Style] = {}
        for r in range(rows):
            label = ylabels.get(r, "")
            line: list[tuple[str, Style | str]] = [(f"{label[: Y_MARGIN - 1]:>{Y_MARGIN - 1}} ", "dim")]
            lines.append(line)
            top, bottom = level[2 * r], level[2 * r + 1]
            for c in range(width):
                t, b = int(top[c]), int(bottom[c])
                if (r, c) in marks:
                    char, mstyle = marks[(r, c)]
                    level_bg = max(t, b)
                    if level_bg >= 0 and mstyle.bgcolor is None:  # a mark with its own background keeps it
                        # white marks vanish on the bright (yellow) end of viridis: draw them black there
                        if level_bg > 0.6 * LEVELS and mstyle.color == _WHITE:
                            mstyle = mstyle + Style(color="#000000")
                        mstyle = mstyle + Style(bgcolor=_PALETTE[level_bg])
                    line.append((char, mstyle))
                    continue
                st = styles.get((t, b))
                if st is None:
                    st = styles[(t, b)] = Style(
                        color=_PALETTE[t] if t >= 0 else None, bgcolor=_PALETTE[b] if b >= 0 else None
                    )
                line.append(("▀" if t >= 0 else " ", st))
        left, right = f"{a1.min():.4g}", f"{a1.max():.4g}"
        mid = f"{rec.p1} ({rec.unit1})"
        gap = max(width - len(left) - len(right) - len(mid), 2)
        lines.append([(" " * Y_MARGIN + left + " " * (gap // 2) + mid + " " * (gap - gap // 2) + right, "dim")])
        return lines


def _cell_of(rec: LandscapeRecord, point, width: int, height: int) -> tuple[int, int] | None:
    px = point_to_pixel(rec, point[0], point[1], width, height)
    return None if px is None else (px[1] // 2, px[0])


def _truth_point(rec: LandscapeRecord) -> tuple[float, float] | None:
    """The ground truth's (p1, p2), looked up by parameter name in ``truth`` [6] (a, b, c, alpha,
    beta, gamma); None for parameters outside the lattice (e.g. coordinates) unless given in attrs."""
    vals = []
    for p in (rec.p1, rec.p2):
        if p in PARAM_NAMES and rec.truth is not None and len(rec.truth) == 6:
            vals.append(float(rec.truth[PARAM_NAMES.index(p)]))
        elif f"truth.{p}" in rec.attrs:
            vals.append(float(rec.attrs[f"truth.{p}"]))
        else:
            return None
    return vals[0], vals[1]
