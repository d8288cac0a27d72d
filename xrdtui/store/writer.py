"""The single writer of a campaign store (HDF5 SWMR) and the atomic landscape appender."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from xrdtui.store.records import LandscapeRecord, StructureInfo, TaskInfo, TaskResult


class StoreWriter:
    """Writes one campaign store; only one writer per file.

    :meth:`create` pre-creates every task's groups and datasets and all attributes, then switches the
    file to SWMR mode; afterwards only existing datasets are written (and flushed), so readers opening
    with ``swmr=True`` see progress live and a ``kill -9`` leaves a readable file holding every task that
    finished. The runner must call :meth:`heartbeat` at least every ~2 s while the campaign runs.
    """

    @classmethod
    def create(
        cls,
        path: str | Path,
        *,
        name: str,
        tasks: Sequence[TaskInfo],
        structures: Sequence[StructureInfo],
        config_text: str = "",
        config_hash: str = "",
        versions: Mapping[str, str] | None = None,
        seed: int = 0,
        preview_two_theta=None,
        overwrite: bool = False,
    ) -> StoreWriter:
        """Create a new store at ``path`` (StoreError if it exists and not ``overwrite``)."""
        raise NotImplementedError

    @classmethod
    def resume(
        cls,
        path: str | Path,
        *,
        tasks: Sequence[TaskInfo] | None = None,
        config_hash: str | None = None,
    ) -> tuple[StoreWriter, set[str]]:
        """Reopen an interrupted store: copy its done tasks into a fresh file with the same skeleton,
        fsync, atomically replace the old file (kept as ``<name>.h5.bak`` until success) and continue in
        SWMR mode. Returns ``(writer, done_task_ids)``. ``tasks`` / ``config_hash``, when given, must
        match the stored ones (ConfigError otherwise)."""
        raise NotImplementedError

    @property
    def path(self) -> Path:
        raise NotImplementedError

    @property
    def tasks(self) -> dict[str, TaskInfo]:
        """Task id -> TaskInfo, in store order."""
        raise NotImplementedError

    @property
    def done_ids(self) -> set[str]:
        """Ids of tasks whose result is written."""
        raise NotImplementedError

    def status(self, task_id: str) -> str:
        """"pending" | "running" | "done" | "failed"."""
        raise NotImplementedError

    def mark_running(self, task_id: str) -> None:
        raise NotImplementedError

    def write_partial_loss(self, task_id: str, rows_from: int, loss_rows) -> None:
        """Stream loss rows ``[t, B]`` of a running task into rows ``rows_from:rows_from+t``."""
        raise NotImplementedError

    def write_result(self, task_id: str, result: TaskResult) -> None:
        """Write a finished task's arrays, flush, then mark it done and flush again."""
        raise NotImplementedError

    def mark_failed(self, task_id: str, reason: str) -> None:
        raise NotImplementedError

    def heartbeat(self) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        """Mark the campaign finished (readers stop calling it live) and close."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def append_landscape(path: str | Path, record: LandscapeRecord, *, replace: bool = False) -> str:
    """Add a landscape to a closed store (copy to temp, write, fsync, atomic rename); create a store of
    kind "landscapes" when ``path`` does not exist. Returns the landscape key."""
    raise NotImplementedError
