"""Read a store (live, while the writer runs): progress, task table, results, landscapes."""

from __future__ import annotations

from pathlib import Path

from xrdtui.store.records import (
    Failure,
    LandscapeRecord,
    MatchRow,
    Progress,
    StoreInfo,
    StructureInfo,
    TaskRecord,
    TaskRow,
)


class StoreReader:
    """Read-only view of a store, opened with ``swmr=True``; call :meth:`refresh` to see new data.

    Raises ``StoreError`` (one line) for missing, non-HDF5, corrupt, foreign or newer-schema files and
    never modifies the file.
    """

    @classmethod
    def open(cls, path: str | Path) -> StoreReader:
        raise NotImplementedError

    def refresh(self) -> None:
        raise NotImplementedError

    @property
    def info(self) -> StoreInfo:
        raise NotImplementedError

    def progress(self) -> Progress:
        raise NotImplementedError

    def tasks(self) -> list[TaskRow]:
        raise NotImplementedError

    def task(self, task_id: str) -> TaskRecord:
        raise NotImplementedError

    def structures(self) -> dict[str, StructureInfo]:
        raise NotImplementedError

    def match_table(self, group_by=("structure", "noise", "level", "method", "mode")) -> list[MatchRow]:
        raise NotImplementedError

    def failures(self) -> list[Failure]:
        raise NotImplementedError

    def landscapes(self) -> list[str]:
        raise NotImplementedError

    def landscape(self, key: str) -> LandscapeRecord:
        raise NotImplementedError

    def tree(self) -> dict:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> StoreReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
