"""The explorer's ``c`` dialog: structure (benchmark name or structure file), the two parameters, the
objective, the axes (relative span or absolute ranges) and the points per axis, checked by the rules of
``xrdtui landscape`` before the dialog closes (one line under the fields when a value is wrong)."""

from __future__ import annotations

from dataclasses import replace

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from xrdtui.errors import ConfigError
from xrdtui.views.explore_worker import Choice

FIELDS = (  # (input id, label)
    ("structure", "structure"),
    ("params", "parameters"),
    ("objective", "objective"),
    ("span", "span (±)"),
    ("range1", "range 1"),
    ("range2", "range 2"),
    ("points", "points"),
)


def parse_choice(values: dict[str, str], base: Choice, objectives: list[str]) -> Choice:
    """The dialog's texts -> a Choice (tie and peak width kept from ``base``); ConfigError naming the field."""
    from xrdtui.jobs.landscapes import check_bounds, parse_floats
    from xrdtui.vocab import param_name

    structure = values["structure"].strip()
    if not structure:
        raise ConfigError("give a structure: a benchmark name (e.g. U2Ti) or a CIF / pymatgen-JSON file")
    names = [p.strip() for p in values["params"].split(",")]
    if len(names) != 2:
        raise ConfigError(f"parameters must be two of a,b,c,alpha,beta,gamma (e.g. a,c), got {values['params']!r}")
    p1, p2 = (param_name(n) for n in names)
    if p1 == p2:
        raise ConfigError(f"parameters must be two different lattice parameters, got {p1} twice")
    objective = values["objective"].strip().lower()
    if objectives and len(objectives) > 1 and objective not in objectives:
        raise ConfigError(f"unknown objective {objective!r}; known: {', '.join(objectives)}")
    (span,) = parse_floats(values["span"], 1, "the span")
    if not 0 < span < 1:
        raise ConfigError(f"the span is a relative half-width in (0, 1), got {span:g}")
    ranges = []
    for key, name in (("range1", p1), ("range2", p2)):
        text = values[key].strip()
        ranges.append(check_bounds(name, *parse_floats(text, 2, f"the range of {name}")) if text else None)
    try:
        points = int(values["points"].strip())
    except ValueError:
        raise ConfigError(f"points must be an integer, got {values['points']!r}") from None
    if not 2 <= points <= 2001:
        raise ConfigError(f"points must lie in 2..2001, got {points}")
    return replace(base, structure=structure, p1=p1, p2=p2, objective=objective, span=span, range1=ranges[0],
                   range2=ranges[1], points=points).canonical()


def objectives_hint(objectives: list[str]) -> str:
    """``objectives: cosine, mse, ..., chgnet (slow)``: energies are a CHGNet call per cell."""
    from xrdtui.views.explore_worker import is_energy

    if len(objectives) < 2:
        return ""
    return "objectives: " + ", ".join(f"{o} (slow)" if is_energy(o) else o for o in objectives)


class ChooseSliceScreen(ModalScreen[Choice | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, choice: Choice, objectives: list[str]) -> None:
        super().__init__()
        self.choice = choice
        self.objectives = objectives

    def compose(self) -> ComposeResult:
        c = self.choice
        start = {
            "structure": c.structure, "params": f"{c.p1},{c.p2}", "objective": c.objective, "span": f"{c.span:g}",
            "range1": "" if c.range1 is None else f"{c.range1[0]:g},{c.range1[1]:g}",
            "range2": "" if c.range2 is None else f"{c.range2[0]:g},{c.range2[1]:g}", "points": str(c.points),
        }
        with Vertical(id="choose-box"):
            yield Label("Explore a slice (a range is lo,hi in Å or °; empty: the span)", id="choose-title")
            with Grid(id="choose-grid"):
                for key, label in FIELDS:
                    yield Label(label)
                    yield Input(start[key], id=f"choose-{key}")
            yield Static(objectives_hint(self.objectives), id="choose-hint")
            yield Static("", id="choose-error")
            with Horizontal(id="choose-buttons"):
                yield Button("Explore", variant="primary", id="choose-ok")
                yield Button("Cancel", id="choose-cancel")

    @on(Input.Submitted)
    @on(Button.Pressed, "#choose-ok")
    def _submit(self) -> None:
        values = {key: self.query_one(f"#choose-{key}", Input).value for key, _ in FIELDS}
        try:
            choice = parse_choice(values, self.choice, self.objectives)
        except ConfigError as exc:
            self.query_one("#choose-error", Static).update(str(exc))
            return
        self.dismiss(choice)

    @on(Button.Pressed, "#choose-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
