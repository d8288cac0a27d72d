"""The base of every store-reading screen: loads in thread workers, shows errors in a banner."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual.screen import Screen
from textual.widgets import Static
from textual.worker import Worker, get_current_worker



class Banner(Static):
    """A one-line message above a screen's content (errors, empty stores); hidden when empty."""

    DEFAULT_CSS = """
    Banner { display: none; }
    Banner.-shown { display: block; }
    """

    def say(self, text: str, kind: str = "error") -> None:
        self.set_classes(f"-shown -{kind}" if text else "")
        self.update(text)

    def clear(self) -> None:
        self.say("")


class StoreScreen(Screen):
    """A screen that shows the app's current store (``follows_app_store``) or a fixed one.

    Subclasses implement :meth:`reload` and the hooks :meth:`setup`, :meth:`resumed`, :meth:`suspended`
    instead of ``on_mount`` / ``on_screen_resume`` / ``on_screen_suspend`` (Textual calls the handlers of
    every class in the MRO, so overriding them would run both)."""

    follows_app_store = True

    def on_mount(self) -> None:
        self._shown_store: Path | None = None
        if self.follows_app_store:
            self.watch(self.app, "store", self._store_changed, init=False)
        self.setup()

    def on_screen_resume(self) -> None:
        if self.follows_app_store and self.app.store != self._shown_store:
            self._shown_store = self.app.store
            self.reload()
        self.resumed()

    def on_screen_suspend(self) -> None:
        self.suspended()

    def _store_changed(self, store: Path | None) -> None:
        if self.is_current:
            self._shown_store = store
            self.reload()

    def setup(self) -> None:
        """Called once when mounted."""

    def resumed(self) -> None:
        """Called each time the screen becomes current."""

    def suspended(self) -> None:
        """Called each time another screen replaces it."""

    @property
    def store(self) -> Path | None:
        return self.app.store

    def reload(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def load(
        self,
        fn: Callable | str,
        *args,
        done: Callable,
        failed: Callable[[str], None] | None = None,
        group: str = "load",
    ) -> Worker:
        """Run ``fn(*args)`` in a thread worker; deliver its result to ``done`` (or a one-line error to
        ``failed``, default the screen banner) on the UI thread unless a newer load replaced it.

        ``fn`` may name a loader of :mod:`xrdtui.views.workers` (``"scan"``): it is then called as
        ``fn(app.pool, *args)`` and the module (numpy, h5py) is imported in the thread, so the first
        screen paints before any of that is loaded."""
        failed = failed or self.show_error
        app = self.app

        def job() -> None:
            worker = get_current_worker()
            try:
                if isinstance(fn, str):
                    from xrdtui.views import workers

                    result = getattr(workers, fn)(app.pool, *args)
                else:
                    result = fn(*args)
            except Exception as exc:  # every store problem ends as a message, never a crash
                from xrdtui.views.workers import describe

                message = describe(exc)
                if not worker.is_cancelled:
                    self._deliver(failed, message)
                return
            if not worker.is_cancelled:
                self._deliver(done, result)

        return self.run_worker(job, thread=True, exclusive=True, group=group, exit_on_error=False)

    def _deliver(self, fn: Callable, value) -> None:
        try:
            self.app.call_from_thread(fn, value)
        except RuntimeError:  # the app is shutting down
            pass

    def show_error(self, message: str) -> None:
        self.query_one(Banner).say(message, "error")
