"""The key footer: Textual's Footer, rebuilt only when the keys it shows change."""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer


class KeyFooter(Footer):
    """Textual's Footer, recomposed only when the keys it shows change.

    Footer rebuilds (and restyles) one widget per key on every bindings update of its screen, and a screen
    publishes several while it mounts and takes focus: five rebuilds of a dozen keys before the runs browser
    settles, ~0.3 s of the first screen over SSH (benchmarks/tui_start.sh). The keys shown are a function of the
    screen's active bindings, so an update that leaves them equal is skipped.
    """

    _shown: tuple | None = None

    @staticmethod
    def _keys(screen: Screen) -> tuple:
        return tuple((b.key, b.action, b.description, enabled, tooltip)
                     for _, b, enabled, tooltip in screen.active_bindings.values() if b.show)

    def bindings_changed(self, screen: Screen) -> None:
        if self.is_attached and screen is self.screen and screen.app.app_focus:
            keys = self._keys(screen)
            if keys == self._shown:
                return
            self._shown = keys
        super().bindings_changed(screen)
