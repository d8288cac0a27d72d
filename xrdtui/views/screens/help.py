"""The ``?`` help screen: what each screen shows and every key."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

INTRO = (
    "Crystal structures recovered from powder XRD by gradient descent, judged by pymatgen's "
    "StructureMatcher (ltol 0.1, stol 0.2, angle_tol 5°); match rates carry 95% Jeffreys intervals."
)

SECTIONS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("everywhere", (
        ("b m t l L", "runs browser · live monitor · match table · landscapes · explorer"),
        ("ctrl+n", "start a sweep in the background (it keeps running when the app closes)"),
        ("? q", "this help · quit"),
        ("tab, arrows", "move between panels / inside one; enter opens"),
    )),
    ("runs browser", (
        ("/", "filter: every word must occur in structure/noise/level/method/mode or the status;"),
        ("", "enter on a filter that leaves one task opens it; rates beside counts are the filtered tasks'"),
        ("e", "expand every group (again: collapse them all)"),
        ("esc", "clear the filter"),
        ("c", "campaign list (the highlighted campaign is the one every screen shows)"),
        ("enter", "open a task (run detail) or a landscape; expand or collapse a group"),
    )),
    ("monitor", (
        ("1 2 3", "loss curves · match rates · failures"),
        ("enter", "open the highlighted running task or failure"),
        ("", "curves: median and 10-90% band over members (a member that stopped keeps its last loss);"),
        ("", "task ETA extrapolates the steps streamed since the monitor saw it (an upper bound)"),
    )),
    ("match table", (
        ("g", "next grouping: method/mode/noise/level, structure, ..."),
        ("s r", "next sort column · reverse (or click a column header)"),
        ("1 2 x v", "table · Figure 1 · next noise type in the figure · paper / strict metric"),
    )),
    ("run detail", (
        ("[ ] arrows", "previous / next member"),
        ("1 2 3", "loss curve · lattice parameters · XRD overlay"),
        ("esc", "back"),
    )),
    ("landscape", (
        ("o p s", "next objective · parameter pair · structure"),
        ("[ ]", "previous / next slice"),
        ("", "dark = low objective (colours clipped to 2-98%); + truth, 1-9 minima, · path, o start"),
        ("e", "explore this slice live (the explorer on its structure, pair, objective and ranges)"),
    )),
    ("explorer", (
        ("L", "from any screen (or `xrdtui explore STRUCTURE`): a slice of any objective computed live"),
        ("c", "choose: structure (benchmark or CIF/JSON path), parameters, objective, span or ranges, points"),
        ("s p o", "next benchmark structure · parameter pair · objective (chgnet: CHGNet energy, slow)"),
        ("+ - r", "wider / narrower span · next resolution (51, 101, 201 points per axis)"),
        ("f w", "crystal-family tie (the landscape projected descent sees) · next peak width W (broad = smooth)"),
        ("arrows", "move the cursor one map cell (shift: one grid point); a click puts it there; home: truth"),
        ("1-9", "cursor to minimum k (listed with depth and distance from the truth)"),
        ("d x", "descent from the cursor in the three modes (free, from the projected start, projected) · clear"),
        ("ctrl+s", "save the slice (with its paths) in landscapes.h5 of the folder, as `xrdtui landscape` does"),
        ("", "the slice fills in coarse first; any new choice cancels the one computing"),
    )),
)


def help_table() -> Table:
    """Keys by screen, two columns, no borders (fits 80 columns)."""
    table = Table(box=None, show_header=False, padding=(0, 1), expand=True)
    table.add_column(style="bold", width=12, no_wrap=True)
    table.add_column(ratio=1)
    for title, rows in SECTIONS:
        table.add_row(Text(title, style="bold underline"), "")
        for key, what in rows:
            table.add_row(key, what)
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "dismiss", "Close"),
        Binding("question_mark", "dismiss", "Close", show=False),
        Binding("q", "dismiss", "Close", show=False),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static(Text("xrdtui  ", style="bold").append(INTRO, style="not bold"), id="help-intro")
            yield Static(help_table(), id="help-text")

    def action_dismiss(self) -> None:
        self.dismiss(None)
