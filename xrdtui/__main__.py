"""``python -m xrdtui`` is the ``xrdtui`` command (used to start detached sweeps from the app)."""

from xrdtui.cli.entry import main

main()
