"""Where commands look when no STORE is given (stdlib only: the entry point imports it)."""

from __future__ import annotations

from pathlib import Path

DEFAULT_STORE_DIR = Path("store")


def default_store_location() -> Path:
    """./store, or the current folder when it has no ./store but holds stores itself (a command run from
    inside a folder of stores lists that folder instead of saying "no such store: store")."""
    if not DEFAULT_STORE_DIR.exists() and any(p.is_file() for p in Path(".").glob("*.h5")):
        return Path(".")
    return DEFAULT_STORE_DIR
