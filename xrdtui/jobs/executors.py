"""Where tasks run: one interface, a local process pool by default, a Dask cluster on request.

The sweep's process is the only store writer; executors only run the pure ``run_task`` and hand results
back. Each worker uses one torch thread so that N workers use N cores without oversubscription.

Dask by hand (any machine that reaches the scheduler)::

    dask scheduler --port 8786                       # on the head node
    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 \
      dask worker tcp://HEAD:8786 --nworkers 16 --nthreads 1 --memory-limit 4GB   # on each compute node
    xrdtui run examples/paper.toml --scheduler tcp://HEAD:8786

Dask on SLURM (``pip install 'xrdtui[slurm]'``)::

    from dask_jobqueue import SLURMCluster
    cluster = SLURMCluster(cores=16, processes=16, memory="64GB", walltime="02:00:00")
    cluster.scale(jobs=4)
    print(cluster.scheduler_address)                 # pass it to --scheduler

Workers need xrdtui installed in the same environment as the sweep (same versions of torch/pymatgen).
"""

from __future__ import annotations

import contextlib
import os
import queue
import socket
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable, Iterable, Protocol

from xrdtui.errors import ConfigError


THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def single_threaded_env() -> None:
    """One BLAS/OpenMP thread for processes started from now on. Must be in the environment before numpy
    loads: idle OpenBLAS threads spinning in two workers made CHGNet relaxations ~9x slower here."""
    for var in THREAD_VARS:
        os.environ.setdefault(var, "1")


def tune_allocator() -> bool:
    """Process-wide, for worker processes: keep freed large buffers in glibc's heap instead of returning them to the OS.

    Each optimisation step allocates and frees several [B, 9000] float32 buffers (≈ 2 MB at B = 50);
    glibc serves those with mmap/munmap, so every step pays page faults for them (measured 10-20 % of a
    U2Ti step). Raising M_MMAP_THRESHOLD (32 MB) and M_TRIM_THRESHOLD (1 GB) keeps them mapped. Every sweep
    worker calls it at start-up (and so does benchmarks/simulator.py, to measure what sweeps run); returns
    False where glibc's mallopt is not available (nothing changed).
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
    return bool(mallopt(m_mmap_threshold, 32 << 20) and mallopt(m_trim_threshold, 1 << 30)
                and mallopt(m_top_pad, 64 << 20))



WORKER_NICE = 10  # default niceness of local workers: a sweep on every core leaves the shell and the TUI responsive


def check_nice(nice: int) -> int:
    """A worker niceness, 0 (the sweep's own priority) to 19 (only idle cores); ConfigError otherwise."""
    if isinstance(nice, bool) or not isinstance(nice, int) or not 0 <= nice <= 19:
        raise ConfigError(f"nice: must be an integer from 0 to 19, got {nice!r}")
    return nice


_NICED = 0  # the niceness this worker set itself to (0: it never changed its priority), for its task labels


def lower_priority(nice: int) -> int:
    """Raise this process's niceness to ``nice`` (never lowers it: that needs privileges and would undo a
    ``nice xrdtui run`` the user chose); returns the niceness now in force. Only the scheduler's share of
    contended cores changes: on idle cores a niced worker runs exactly as fast. Where the kernel shares CPU
    between sessions first (Linux autogroup) it weighs within the sweep's session: a program started in
    another terminal or tmux pane already gets its session's equal share."""
    global _NICED
    try:
        now = os.getpriority(os.PRIO_PROCESS, 0)
        if nice > now:
            os.setpriority(os.PRIO_PROCESS, 0, nice)
            _NICED = os.getpriority(os.PRIO_PROCESS, 0)
        return os.getpriority(os.PRIO_PROCESS, 0)
    except (AttributeError, OSError):  # not a POSIX system: nothing to change
        return 0


def worker_label(device: str = "cpu") -> str:
    """``host:pid``, then the device unless cpu and ``nice N`` if this worker lowered its priority: the
    store's record of where and how each task ran."""
    label = f"{socket.gethostname()}:{os.getpid()}" + ("" if device == "cpu" else f" {device}")
    return label + (f" nice {_NICED}" if _NICED else "")


_WORKER_QUEUE: Any = None  # a pool worker's live-progress queue, set by _init_worker


def _init_worker(threads: int = 1, live_queue: Any = None, parent: int | None = None, nice: int = 0) -> None:
    """Start-up of every pool worker: one thread, the allocator, its niceness, Ctrl+C left to the sweep's
    process (no worker traceback), and exit as soon as the sweep's process is gone (no orphans)."""
    global _WORKER_QUEUE
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _WORKER_QUEUE = live_queue
    if parent is not None:
        exit_with_parent(parent)
    lower_priority(nice)
    _configure_threads(threads)


def _configure_threads(threads: int = 1) -> None:
    """One BLAS / OpenMP / torch thread (any worker: pool, Dask), the allocator tuned (denormals: run_task)."""
    for var in THREAD_VARS:
        os.environ[var] = str(threads)
    tune_allocator()
    try:
        import torch

        torch.set_num_threads(threads)
    except Exception:  # torch missing in a worker is reported by the task itself
        pass


def exit_with_parent(parent: int) -> None:
    """End this process within about a second of ``parent`` dying: the kernel's parent-death signal on Linux,
    and a watchdog thread everywhere (the signal alone misses a parent that died before it was set)."""
    import signal
    import threading
    import time

    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os._exit(1)
            time.sleep(0.5)

    threading.Thread(target=watch, name="xrdtui-parent-watchdog", daemon=True).start()


def _worker_queue() -> Any:
    return _WORKER_QUEUE


class PoolQueue:
    """The live-progress queue of a process pool: a ``multiprocessing.Queue`` handed to each worker at
    start-up (no manager process to orphan). Sent to a worker as a task argument it unpickles to that
    worker's own end of the queue."""

    def __init__(self, q: Any):
        self._q = q

    def put(self, item: Any) -> None:
        self._q.put(item)

    def get_nowait(self) -> Any:
        return self._q.get_nowait()

    def __reduce__(self):
        return (_worker_queue, ())


class Executor(Protocol):
    """Runs ``fn(*args)`` somewhere and hands back futures (``concurrent.futures``-like)."""

    name: str
    workers: int

    def submit(self, fn: Callable, *args: Any) -> Any: ...

    def wait_any(self, futures: Iterable[Any], timeout: float) -> tuple[list[Any], list[Any]]:
        """Return (done, pending) after at most ``timeout`` seconds."""
        ...

    def progress_queue(self) -> Any | None:
        """A queue workers may put live progress messages on (None if unsupported)."""
        ...

    def lost(self, exc: BaseException) -> bool:
        """Whether ``exc`` from a future means the worker died (the task may be retried)."""
        ...

    def terminate(self) -> None:
        """Stop now, abandoning running tasks (interrupts)."""
        ...

    def close(self) -> None: ...


def default_workers() -> int:
    """Local worker count: the cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class LocalExecutor:
    """A process pool (spawn start method: no fork of a parent holding torch threads). A worker that dies
    (killed, out of memory) breaks the pool; :meth:`lost` recognises that and :meth:`submit` starts a
    fresh pool, so the campaign can retry the tasks that were in flight."""

    def __init__(self, workers: int | None = None, nice: int = WORKER_NICE):
        import multiprocessing as mp

        self.workers = workers or default_workers()
        self.nice = nice
        self.name = f"local process pool ({self.workers} workers{f', nice {nice}' if nice else ''})"
        single_threaded_env()  # inherited by the spawned workers
        self._ctx = mp.get_context("spawn")
        self._queue = self._ctx.Queue()
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=self.workers, mp_context=self._ctx, initializer=_init_worker,
                                   initargs=(1, self._queue, os.getpid(), self.nice))

    def submit(self, fn: Callable, *args: Any) -> Future:
        try:
            return self._pool.submit(fn, *args)
        except BrokenProcessPool:  # a worker died: the pool is unusable, start another
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
            return self._pool.submit(fn, *args)

    def lost(self, exc: BaseException) -> bool:
        """Whether a task failed because its worker process died (not because of the task)."""
        return isinstance(exc, BrokenProcessPool)

    def wait_any(self, futures, timeout):
        done, pending = wait(list(futures), timeout=timeout, return_when=FIRST_COMPLETED)
        return list(done), list(pending)

    def progress_queue(self):
        return PoolQueue(self._queue)

    def terminate(self) -> None:
        """Stop the workers now (Ctrl+C, SIGTERM): running tasks are abandoned (they stay resumable)."""
        processes = list(getattr(self._pool, "_processes", {}).values())  # stdlib internal, 3.8-3.13
        self._pool.shutdown(wait=False, cancel_futures=True)
        for proc in processes:
            with contextlib.suppress(Exception):
                proc.terminate()
        for proc in processes:
            with contextlib.suppress(Exception):
                proc.join(timeout=5)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        with contextlib.suppress(Exception):
            self._queue.close()
            self._queue.cancel_join_thread()


class DaskExecutor:
    """Tasks on a ``dask.distributed`` cluster; ``address`` may be ``"local"`` for a cluster on this machine
    (its workers niced like the local pool's; a remote cluster's priorities are its owner's business)."""

    def __init__(self, address: str, workers: int | None = None, nice: int = WORKER_NICE):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise ConfigError("--scheduler needs dask.distributed: pip install 'dask[distributed]'") from None
        self._cluster = None
        try:
            if address == "local":
                single_threaded_env()
                self._cluster = LocalCluster(
                    n_workers=workers or default_workers(), threads_per_worker=1, processes=True,
                    dashboard_address=None,
                )
                self._client = Client(self._cluster)
            else:
                self._client = Client(address, timeout="10s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise ConfigError(f"cannot reach Dask scheduler {address}: {' '.join(str(exc).split())}") from None
        self._client.run(_configure_threads, 1)
        if self._cluster is not None:
            self._client.run(lower_priority, nice)
        self.workers = len(self._client.scheduler_info().get("workers", {})) or 1
        self.name = f"dask {self._client.scheduler.address} ({self.workers} workers)"

    def submit(self, fn: Callable, *args: Any):
        return self._client.submit(fn, *args, pure=False)

    def wait_any(self, futures, timeout):
        from distributed import wait as dask_wait

        futures = list(futures)
        try:
            done, pending = dask_wait(futures, timeout=timeout, return_when="FIRST_COMPLETED")
        except TimeoutError:
            return [], futures
        return list(done), list(pending)

    def progress_queue(self):
        return None  # live loss curves stream only from the local pool

    def lost(self, exc: BaseException) -> bool:
        # the scheduler already re-ran the task elsewhere (allowed-failures) before giving up on it
        return type(exc).__name__ in ("KilledWorker", "CommClosedError", "FutureCancelledError")

    def terminate(self) -> None:
        """Cancel every task of this client, then close it (and a local cluster): nothing waits for them."""
        with contextlib.suppress(Exception):
            self._client.cancel(list(self._client.futures.values()), force=True)
        with contextlib.suppress(Exception):
            self.close()

    def close(self) -> None:
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()


class InlineExecutor:
    """Runs tasks one at a time on a single worker thread of this process (debugging, tests, single-core
    machines). A thread rather than a call inside ``submit`` so that the sweep's loop keeps beating the
    store's heartbeat while a long task runs; the thread is a daemon so Ctrl+C never waits for it."""

    name = "inline (this process)"
    workers = 1
    window = 1  # one task in flight, so "running" in the store means running

    def __init__(self) -> None:
        self._jobs: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._work, name="xrdtui-inline", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            future, fn, args = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # delivered through the future like a pool would
                future.set_exception(exc)

    def submit(self, fn: Callable, *args: Any) -> Future:
        future: Future = Future()
        self._jobs.put((future, fn, args))
        return future

    def wait_any(self, futures, timeout):
        done, pending = wait(list(futures), timeout=timeout, return_when=FIRST_COMPLETED)
        return list(done), list(pending)

    def progress_queue(self):
        return None

    def lost(self, exc: BaseException) -> bool:
        return False  # the task ran in this process: nothing else can die under it

    def terminate(self) -> None:
        self.close()  # the daemon thread dies with the process

    def close(self) -> None:
        self._jobs.put(None)


def make_executor(workers: int | None = None, scheduler: str | None = None, nice: int | None = None) -> Executor:
    """``scheduler``: None (local process pool), "inline" (this process), "local" (a local Dask cluster)
    or a Dask scheduler address. ``nice``: the local workers' niceness (default :data:`WORKER_NICE`); the
    inline executor runs in the sweep's own process and keeps its priority."""
    nice = WORKER_NICE if nice is None else check_nice(nice)
    if scheduler == "inline":
        return InlineExecutor()
    if scheduler:
        return DaskExecutor(scheduler, workers, nice)
    return LocalExecutor(workers, nice)


def drain(q: Any) -> list[Any]:
    """Everything currently on a progress queue, without blocking."""
    items = []
    if q is None:
        return items
    while True:
        try:
            items.append(q.get_nowait())
        except (queue.Empty, EOFError, OSError):
            return items
