"""A harmless module that a malicious structure file names: importing it leaves a marker file, so a test can
prove that reading data never imports it."""

import os
from pathlib import Path

_marker = os.environ.get("XRDTUI_PAYLOAD_MARKER")
if _marker:
    Path(_marker).write_text("imported")


class Marker:
    @classmethod
    def from_dict(cls, d):
        return cls()
