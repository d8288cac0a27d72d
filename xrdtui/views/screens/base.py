"""The base of every store-reading screen: loads in thread workers, shows errors in a banner."""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.screen import Screen
from textual.widgets import Static
from textual.worker import Worker, get_current_worker

from xrdtui.views.messages import Loaded, LoadFailed


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

    def load(self, loader: str, *args, message: type[Loaded], group: str = "load") -> Worker:
        """Run the loader ``loader`` of :mod:`xrdtui.views.workers` as ``loader(app.pool, *args)`` in a thread
        worker and post its result to this screen as ``message(result)`` (or :class:`LoadFailed` with a
        one-line reason), unless a newer load of the same ``group`` replaced it. The workers module (numpy,
        h5py) is imported in the thread, after the first screen has painted."""
        app = self.app

        def job() -> None:
            worker = get_current_worker()
            # The workers module's imports (numpy, h5py: ~0.4 s holding the GIL) wait for the first
            # paint, so they do not slow it down (at most a second, should that paint never come).
            app.first_paint.wait(1.0)
            try:
                from xrdtui.views import workers

                result: object = message(getattr(workers, loader)(app.pool, *args))
            except Exception as exc:  # every store problem ends as a message, never a crash
                from xrdtui.views.workers import describe

                result = LoadFailed(group, describe(exc))
            if not worker.is_cancelled:
                self.post_message(result)

        return self.run_worker(job, thread=True, exclusive=True, group=group, exit_on_error=False)

    @on(LoadFailed)
    def _load_failed(self, message: LoadFailed) -> None:
        self.load_failed(message.group, message.text)

    def load_failed(self, group: str, text: str) -> None:
        """A load of ``group`` failed: by default the reason goes in the banner."""
        self.show_error(text)

    def show_error(self, message: str) -> None:
        self.query_one(Banner).say(message, "error")
