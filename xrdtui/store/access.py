"""Open a store file read-only and check it is ours, turning every failure into a one-line StoreError.

Readers always open with ``swmr=True``: that works on a file being written in SWMR mode, on one whose
writer crashed (plain read-only mode would refuse: "already open for write"), and on a closed file.
Nothing here ever writes to the file.
"""

from __future__ import annotations

import json
import os
import socket
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
    if schema > max(L.READABLE_SCHEMAS):
        raise StoreError(
            f"{p} has store schema {schema}, newer than this xrdtui supports ({L.SCHEMA}); upgrade xrdtui"
        )
    if schema < 1:
        raise StoreError(f"{p}: invalid schema {schema}")
    return attrs


def writer_liveness(progress: h5py.Group) -> tuple[bool, float]:
    """:func:`is_live` of the clock datasets in an open store's /progress group."""
    writer = progress[L.C_WRITER][0] if L.C_WRITER in progress else b""
    return is_live(int(progress[L.C_WRITER_STATE][0]), float(progress[L.C_HEARTBEAT][0]), writer)


def is_live(state: int, heartbeat: float, writer, now: float | None = None) -> tuple[bool, float]:
    """(live, heartbeat age in s): live while the writer state is "writing", its heartbeat is younger
    than LIVE_WINDOW_S and, when it runs on this host, its process still exists (so a killed sweep is
    seen as dead at once, not after the window)."""
    now = time.time() if now is None else now
    age = now - heartbeat
    if state != L.WS_WRITING or not age < L.LIVE_WINDOW_S:
        return False, age
    host, _, pid = L.decode(writer).rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False, age
        except PermissionError:
            pass
    return True, age


def _plain(v):
    """h5py attribute value -> plain Python (str for bytes, int/float for numpy scalars)."""
    if isinstance(v, bytes):
        return v.decode("utf-8", errors="replace")
    if hasattr(v, "item") and getattr(v, "shape", None) == ():
        return v.item()
    return v


def json_attr(attrs: dict, name: str) -> dict:
    """A JSON-object attribute as a dict ({} when absent or not an object)."""
    try:
        out = json.loads(attrs.get(name, "{}"))
    except (TypeError, ValueError):
        return {}
    return out if isinstance(out, dict) else {}


def versions_of(attrs: dict) -> dict[str, str]:
    return {str(k): str(v) for k, v in json_attr(attrs, L.A_VERSIONS).items()}


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
