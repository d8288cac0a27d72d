"""The key footer (views/widgets/footer.py): it shows the focused widget's keys as Textual's Footer does,
follows focus, and rebuilds only when the keys change."""

from __future__ import annotations

from textual.app import App
from textual.binding import Binding
from textual.widget import Widget
from textual.widgets._footer import FooterKey

from tests.test_views_app import sync
from xrdtui.views.widgets.footer import KeyFooter


class Pane(Widget, can_focus=True):
    DEFAULT_CSS = "Pane { height: 3; }"


class Left(Pane):
    BINDINGS = [Binding("x", "noop", "Ex")]


class Right(Pane):
    BINDINGS = [Binding("y", "noop", "Why")]


class Demo(App):
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [Binding("q", "quit", "Quit")]

    def compose(self):
        yield Left(id="left")
        yield Right(id="right")
        yield KeyFooter()


def shown(app) -> list[str]:
    return [key.description for key in app.screen.query(FooterKey)]


@sync
async def test_footer_follows_focus_and_skips_updates_that_change_no_key():
    app = Demo()
    composes = []
    original = KeyFooter.compose

    def counting(self):
        composes.append(1)
        return original(self)

    KeyFooter.compose = counting
    try:
        async with app.run_test(size=(60, 12)) as pilot:
            app.query_one("#left").focus()
            await pilot.pause(0.1)
            assert shown(app) == ["Ex", "Quit"]
            app.query_one("#right").focus()
            await pilot.pause(0.1)
            assert shown(app) == ["Why", "Quit"]
            before = len(composes)
            for _ in range(5):  # updates that leave the keys as they are: no rebuild
                app.screen.refresh_bindings()
                await pilot.pause(0.02)
            await pilot.pause(0.1)
            assert len(composes) == before and shown(app) == ["Why", "Quit"]
            app.query_one("#left").focus()
            await pilot.pause(0.1)
            assert shown(app) == ["Ex", "Quit"] and len(composes) == before + 1
    finally:
        KeyFooter.compose = original
