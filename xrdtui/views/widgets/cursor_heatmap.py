"""The explorer's heatmap: :class:`~xrdtui.views.widgets.heatmap.Heatmap` with a cursor drawn over the
other marks (a black ``X`` on white, visible on every colour of the map), a click that asks to move it, and
lines handed to Textual as ready strips (Textual's Line API): the map is one styled span per cell, and
converting those spans through Textual's content layer cost ~0.4 s per redraw of a 120x40 screen on the
2-core machine, while Rich renders the same text to segments in a few milliseconds."""

from __future__ import annotations

import numpy as np
from rich.style import Style
from rich.segment import Segment
from textual import events
from textual.message import Message
from textual.strip import Strip

from xrdtui.views.widgets.heatmap import Y_MARGIN, Heatmap

CURSOR_STYLE = Style(color="#000000", bgcolor="#ffffff", bold=True)


class CursorHeatmap(Heatmap):
    """A heatmap with a cursor at slice coordinates ``cursor`` (None: no cursor)."""

    class Clicked(Message):
        """The user clicked the map at grid point (i, j) of the record's axes."""

        def __init__(self, i: int, j: int) -> None:
            super().__init__()
            self.i = i
            self.j = j

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.cursor: tuple[float, float] | None = None
        self._strips: tuple[object, list[Strip]] | None = None

    def set_cursor(self, point: tuple[float, float] | None) -> None:
        if point != self.cursor:
            self.cursor = point
            self.refresh()

    def extra_marks(self):
        return [] if self.cursor is None else [(self.cursor[0], self.cursor[1], "X", CURSOR_STYLE)]

    def overlay_key(self) -> object:
        return self.cursor

    @property
    def map_size(self) -> tuple[int, int]:
        """(columns, text rows) of the map itself, without the axis labels (as :meth:`Heatmap.render` draws)."""
        return max(self.size.width - Y_MARGIN, 4), max(self.size.height - 1, 2)

    def grid_index_at(self, x: int, y: int) -> tuple[int, int] | None:
        """Grid point (i, j) drawn at widget cell (x, y), None outside the map: the inverse of the
        nearest-neighbour resampling of ``model.grid_to_image`` (two pixel rows per text row)."""
        rec = self.record
        if rec is None:
            return None
        width, rows = self.map_size
        col, row = x - Y_MARGIN, y
        if not (0 <= col < width and 0 <= row < rows):
            return None
        n1, n2 = np.asarray(rec.grid).shape
        height = 2 * rows
        i = min(int((col + 0.5) * n1 / width), n1 - 1)
        # pixel rows 2*row and 2*row + 1 (top and bottom half) count from the top; the grid's j from the bottom
        js = [min(int((height - 1 - p + 0.5) * n2 / height), n2 - 1) for p in (2 * row, 2 * row + 1)]
        return i, int(round(sum(js) / 2))

    def on_click(self, event: events.Click) -> None:
        hit = self.grid_index_at(event.x, event.y)
        if hit is not None:
            self.post_message(self.Clicked(*hit))

    def render_line(self, y: int) -> Strip:
        width, height = self.size.width, self.size.height
        rec = self.record
        key = (id(rec), width, height, self.overlay_key())
        if self._strips is None or self._strips[0] != key:
            self._strips = (key, self._build_strips(rec, width, height))
        strips = self._strips[1]
        return strips[y] if y < len(strips) else Strip.blank(width, self.rich_style)

    def _build_strips(self, rec, width: int, height: int) -> list[Strip]:
        """The base class's pieces as strips, runs of one style merged into one segment."""
        base = self.rich_style
        if rec is None:
            return [Strip([Segment("no landscape selected", base + Style(dim=True))]).adjust_cell_length(width, base)]
        parsed: dict[str, Style] = {}
        combined: dict[int, Style] = {}  # id(style) -> base + style (the pieces reuse a few style objects)
        strips = []
        for line in self._pieces(rec, max(width - Y_MARGIN, 4), max(height - 1, 2)):
            segments: list[Segment] = []
            run, run_style = [], None
            for chunk, style in line:
                if isinstance(style, str):
                    style = parsed.setdefault(style, Style.parse(style))
                if style is not run_style and run:
                    segments.append(Segment("".join(run), _with(combined, base, run_style)))
                    run = []
                run_style = style
                run.append(chunk)
            if run:
                segments.append(Segment("".join(run), _with(combined, base, run_style)))
            strips.append(Strip(segments).adjust_cell_length(width, base))
        return strips


def _with(cache: dict[int, Style], base: Style, style: Style) -> Style:
    out = cache.get(id(style))
    if out is None:
        out = cache[id(style)] = base + style
    return out
