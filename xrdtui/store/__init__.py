"""The HDF5 store: layout (store/layout.py), the single SWMR writer, a live reader, records."""

from xrdtui.store.reader import StoreReader
from xrdtui.store.records import (
    Failure,
    LandscapeMinimum,
    LandscapePath,
    LandscapeRecord,
    MatchRow,
    Progress,
    StoreInfo,
    StructureInfo,
    TaskInfo,
    TaskRecord,
    TaskResult,
    TaskRow,
)
from xrdtui.store.writer import StoreWriter, append_landscape

__all__ = [
    "Failure",
    "LandscapeMinimum",
    "LandscapePath",
    "LandscapeRecord",
    "MatchRow",
    "Progress",
    "StoreInfo",
    "StoreReader",
    "StoreWriter",
    "StructureInfo",
    "TaskInfo",
    "TaskRecord",
    "TaskResult",
    "TaskRow",
    "append_landscape",
]
