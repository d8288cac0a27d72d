"""Detecting corruption in a store: every dataset carries HDF5's Fletcher-32 checksum (``layout.CHECKSUM``),
so a changed byte makes a read fail instead of returning a wrong number. This module reads a store chunk by
chunk and names what is damaged (``xrdtui verify``); the reader and the resume path use
:func:`is_corruption` to tell damage apart from other I/O errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import h5py

from xrdtui.store import layout as L

# What HDF5 says when a filter (Fletcher-32, gzip, shuffle) rejects a chunk's bytes.
_CORRUPTION_MARKERS = ("filter returned failure", "checksum", "data error", "inflate", "bad object header",
                       "wrong b-tree signature", "bad symbol table", "addr overflow")


def is_corruption(exc: BaseException) -> bool:
    """True when an h5py error means damaged bytes on disk (checksum, decompression or metadata failure)."""
    text = str(exc).lower()
    return isinstance(exc, (OSError, RuntimeError, KeyError)) and any(m in text for m in _CORRUPTION_MARKERS)


@dataclass
class Damage:
    """One damaged dataset: its HDF5 path, the task it belongs to (None outside /runs) and how many of its
    chunks fail to read."""

    dataset: str
    task_id: str | None
    bad_chunks: int
    chunks: int


@dataclass
class VerifyReport:
    path: str
    datasets: int = 0
    checksummed: int = 0
    bytes_read: int = 0
    damage: list[Damage] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.damage

    @property
    def damaged_tasks(self) -> list[str]:
        return sorted({d.task_id for d in self.damage if d.task_id})

    def as_dict(self) -> dict:
        return {
            "path": self.path, "ok": self.ok, "datasets": self.datasets, "checksummed": self.checksummed,
            "bytes_read": self.bytes_read, "damaged_tasks": self.damaged_tasks,
            "damage": [d.__dict__ for d in self.damage],
        }


def bad_chunks(ds: h5py.Dataset) -> tuple[int, int]:
    """(chunks that fail to read, chunks) of one dataset; a contiguous dataset counts as one chunk."""
    if ds.shape is None or ds.size == 0:
        return 0, 0
    if ds.chunks is None:
        try:
            ds[()]
            return 0, 1
        except OSError as exc:
            if is_corruption(exc):
                return 1, 1
            raise
    bad = total = 0
    for sel in ds.iter_chunks():
        total += 1
        try:
            ds[sel]
        except OSError as exc:
            if not is_corruption(exc):
                raise
            bad += 1
    return bad, total


def _task_of(ds: h5py.Dataset) -> str | None:
    parent = ds.parent
    value = parent.attrs.get(L.RA_TASK_ID) if ds.name.startswith(f"/{L.G_RUNS}/") else None
    return L.decode(value) if value is not None else None


def verify_file(f: h5py.File, path: str | Path) -> VerifyReport:
    """Read every dataset of an open store chunk by chunk; list what fails."""
    report = VerifyReport(path=str(path))
    datasets: list[h5py.Dataset] = []
    f.visititems(lambda _name, obj: datasets.append(obj) if isinstance(obj, h5py.Dataset) else None)
    for ds in datasets:
        report.datasets += 1
        report.checksummed += bool(ds.fletcher32)
        bad, total = bad_chunks(ds)
        report.bytes_read += int(ds.size) * ds.dtype.itemsize
        if bad:
            report.damage.append(Damage(ds.name, _task_of(ds), bad, total))
    return report

