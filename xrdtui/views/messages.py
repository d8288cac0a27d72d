"""Messages the TUI's thread workers and screens post: each store read delivers its snapshot as a
message to the screen that asked for it (handled with ``@on(...)``), and screens ask the app for app-level
changes (open a landscape) the same way. Textual only; the payloads are plain records from
:mod:`xrdtui.views.workers`."""

from __future__ import annotations

from typing import Any

from textual.message import Message


class Loaded(Message):
    """A loader's result (``value``); subclasses say which loader it came from."""

    def __init__(self, value: Any) -> None:
        super().__init__()
        self.value = value


class CatalogueLoaded(Loaded):
    """``workers.scan``: the stores of the app's folder (a ``Catalogue``)."""


class CampaignLoaded(Loaded):
    """``workers.load_campaign``: one store's task table and progress (a ``CampaignData``)."""


class RatesLoaded(Loaded):
    """``workers.load_rates``: (path, match rates at every hierarchy depth)."""


class MatchesLoaded(Loaded):
    """``workers.load_matches``: the match table and Figure-1 rows (a ``MatchData``)."""


class MonitorLoaded(Loaded):
    """``workers.load_monitor``: one refresh of the live monitor (a ``MonitorData``)."""


class DetailLoaded(Loaded):
    """``workers.load_detail``: one task with its ground truth (a ``DetailData``)."""


class LandscapeIndexLoaded(Loaded):
    """``workers.landscape_index``: landscape key -> store file."""


class LandscapeLoaded(Loaded):
    """``workers.load_landscape``: one slice (a ``LandscapeRecord``)."""


class LoadFailed(Message):
    """A loader failed; ``text`` is one line, ``group`` the worker group that asked."""

    def __init__(self, group: str, text: str) -> None:
        super().__init__()
        self.group = group
        self.text = text


class OpenLandscape(Message):
    """Show the landscape ``key`` (a screen asks; the app switches to the landscape screen)."""

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key
