"""xrdtui: recover crystal structures from powder XRD by gradient descent, and watch it happen.

Heavy libraries (torch, pymatgen, chgnet) are imported lazily inside the modules that need them so
that ``xrdtui --help`` and the TUI's first screen start in well under a second.
"""

__version__ = "0.1.0"
