"""Open a store file read-only and check it is ours, turning every failure into a one-line StoreError.

Readers always open with ``swmr=True``: that works on a file being written in SWMR mode, on one whose
writer crashed (plain read-only mode would refuse: "already open for write"), and on a closed file.
Nothing here ever writes to the file.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import h5py

from xrdtui.errors import StoreError
from xrdtui.store import layout as L


HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def open_checked(path: str | Path) -> h5py.File:
    """Open ``path`` read-only and verify format and schema; StoreError otherwise.

    A file flagged open by a writer (a live SWMR sweep, or one killed mid-run) is opened with
    ``swmr=True``; a cleanly closed file plainly (HDF5 then checks that it is complete). A truncated
    file must never reach SWMR mode: HDF5 skips its end-of-file check there and reading then hangs
    forever, so the superblock's end-of-file address is checked against the size on disk first.
    """
    p = Path(path)
    if not p.exists():
        raise StoreError(f"no such store: {p}")
    if p.is_dir():
        raise StoreError(f"{p} is a directory, not a store file")
    try:
        sb = read_superblock(p)
    except OSError as exc:
        raise StoreError(f"cannot read {p}: {exc.strerror or exc}") from None
    if sb is None:
        raise StoreError(f"{p} is not an HDF5 file (not an xrdtui store)")
    writer_flagged = sb.get("flags", 0) & 0x05  # bit 0: open for write, bit 2: SWMR write
    try:
        if writer_flagged:
            _check_complete(p)
            f = h5py.File(str(p), "r", swmr=True)
        else:
            f = h5py.File(str(p), "r")
    except OSError as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise StoreError(f"cannot open {p}: corrupt or truncated HDF5 file ({msg})") from None
    try:
        check_root(f, p)
    except BaseException:
        f.close()
        raise
    return f


def read_superblock(p: Path) -> dict | None:
    """Version, consistency flags and absolute end-of-file address of an HDF5 file (None if the
    signature is absent). Flags and EOF are parsed for superblock versions 2 and 3 only."""
    size = p.stat().st_size
    with open(p, "rb") as fh:
        base = 0
        while base + 8 <= size:  # the signature sits at 0, 512, 1024, 2048, ... (after a user block)
            fh.seek(base)
            if fh.read(8) == HDF5_SIGNATURE:
                head = fh.read(40)
                if len(head) < 1:
                    return {"version": -1}
                out = {"version": head[0], "offset": base}
                if head[0] in (2, 3) and len(head) >= 28 and head[1] == 8:
                    out["flags"] = head[3]
                    out["eof"] = int.from_bytes(head[4:12], "little") + int.from_bytes(head[20:28], "little")
                return out
            base = 512 if base == 0 else base * 2
    return None


def _check_complete(p: Path, attempts: int = 5) -> None:
    """StoreError if the file is shorter than its superblock says (a live writer may be between writing
    the superblock and extending the file: look again a few times before calling it truncated)."""
    for attempt in range(attempts):
        sb = read_superblock(p) or {}
        eof, size = sb.get("eof"), p.stat().st_size
        if eof is None or size >= eof:
            return
        if attempt < attempts - 1:
            time.sleep(0.1)
    raise StoreError(f"cannot open {p}: truncated HDF5 file ({size} bytes, superblock says {eof})")


def check_root(f: h5py.File, p: Path) -> dict:
    """Root attributes as a dict after checking format and schema."""
    try:
        attrs = {k: _plain(v) for k, v in f.attrs.items()}
    except (OSError, RuntimeError, KeyError) as exc:
        raise StoreError(f"cannot read {p}: corrupt store ({exc})") from None
    if attrs.get(L.A_FORMAT) != L.FORMAT:
        raise StoreError(f"{p} is not an xrdtui store (HDF5 file without format={L.FORMAT!r})")
    schema = attrs.get(L.A_SCHEMA)
    try:
        schema = int(schema)
    except (TypeError, ValueError):
        raise StoreError(f"{p}: invalid schema attribute {schema!r}") from None
    if schema > L.SCHEMA:
        raise StoreError(
            f"{p} has store schema {schema}, newer than this xrdtui supports ({L.SCHEMA}); upgrade xrdtui"
        )
    if schema < 1:
        raise StoreError(f"{p}: invalid schema {schema}")
    return attrs


def _plain(v):
    """h5py attribute value -> plain Python (str for bytes, int/float for numpy scalars)."""
    if isinstance(v, bytes):
        return v.decode("utf-8", errors="replace")
    if hasattr(v, "item") and getattr(v, "shape", None) == ():
        return v.item()
    return v


def versions_of(attrs: dict) -> dict[str, str]:
    raw = attrs.get(L.A_VERSIONS, "{}")
    try:
        out = json.loads(raw)
    except (TypeError, ValueError):
        return {}
    return {str(k): str(v) for k, v in out.items()} if isinstance(out, dict) else {}


def fsync_path(path: str | Path) -> None:
    """fsync a file (its data reaches the disk before a rename publishes it)."""
    fd = os.open(str(path), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: str | Path) -> None:
    """fsync the directory holding ``path`` so a rename inside it is durable."""
    try:
        fd = os.open(str(Path(path).parent), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
