"""Time left in a campaign from a cost model, not from tasks per minute (tasks differ in cost ~100-fold).

Each task carries an expected relative cost c_i (methods.registry.Method.task_cost: method weight x steps x
(step overhead + members x member size), written by the campaign). Finished tasks say how many worker seconds
a unit of cost takes, per method m and noise type n:

    s_mn = sum(wall_i) / sum(c_i)          over finished tasks of method m under noise n (wall = worker seconds)

and for a group with none finished yet the method's own s_m over all its noise types, else the pooled
s = sum(wall) / sum(c) over all finished tasks. A task is expected to take t_i = c_i * s_{m(i)n(i)} worker
seconds; one that is running is the further along of its
members done and its time so far, f_i = max(members_done_i / n_i, running_s_i / t_i), capped at 95 % (an
overrunning task still has some left). The work left is  W = sum_i t_i * (1 - f_i)  over unfinished tasks, and

    ETA = W / workers          (seconds; NaN until a task has finished or when no worker is known)

Pure numpy, no HDF5: the reader (``xrdtui status``, the TUI) and the running sweep (its batch log) use the
same :func:`summarise`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from xrdtui.store import layout as L
from xrdtui.store.records import DONE, FAILED, PENDING, RUNNING, Progress


RUNNING_CAP = 0.95  # the most of its expected time a running task is taken to have done


def cost_eta(status: np.ndarray, cost: np.ndarray, wall_s: np.ndarray, method: np.ndarray,
             members_done: np.ndarray, n_members: np.ndarray, workers: int, done_code: int = 2,
             failed_code: int = 3, running_s: np.ndarray | None = None, noise: np.ndarray | None = None) -> float:
    """Seconds left (see the module docstring); NaN without a finished task, finite costs or workers.
    ``running_s``: seconds each task has been running (NaN or 0 where it is not), None when unknown;
    ``noise``: each task's noise type (None: rates per method only)."""
    status = np.asarray(status)
    cost = np.asarray(cost, dtype=np.float64)
    wall = np.asarray(wall_s, dtype=np.float64)
    method = np.asarray(method)
    ended = (status == done_code) | (status == failed_code)
    if ended.all():
        return 0.0
    learned = (status == done_code) & np.isfinite(cost) & (cost > 0) & np.isfinite(wall)
    if workers < 1 or not learned.any() or not np.isfinite(cost[~ended]).all():
        return float("nan")
    def rate_of(sel: np.ndarray) -> float:
        return wall[sel].sum() / cost[sel].sum()

    noise = np.full(len(status), "") if noise is None else np.asarray(noise)
    pooled = rate_of(learned)
    per_method = {m: rate_of(learned & (method == m)) for m in np.unique(method[learned])}
    per_group = {(m, n): rate_of(learned & (method == m) & (noise == n))
                 for m, n in set(zip(method[learned], noise[learned]))}
    left = ~ended
    rate = np.array([per_group.get((m, n), per_method.get(m, pooled)) for m, n in zip(method[left], noise[left])],
                    dtype=np.float64)
    expected = cost[left] * rate
    done = np.clip(np.asarray(members_done, dtype=np.float64) / np.maximum(np.asarray(n_members), 1), 0, 1)[left]
    if running_s is not None:
        ran = np.nan_to_num(np.asarray(running_s, dtype=np.float64)[left], nan=0.0)
        by_time = np.divide(np.maximum(ran, 0.0), expected, out=np.zeros_like(expected), where=expected > 0)
        done = np.maximum(done, np.minimum(by_time, RUNNING_CAP))
    return float(np.sum(expected * (1.0 - done)) / workers)


def summarise(columns: Mapping[str, np.ndarray], clock: Mapping[str, object], methods: np.ndarray,
              n_members: np.ndarray, now: float, live: bool, noises: np.ndarray | None = None) -> Progress:
    """Progress from the /progress columns (status, wall_s, cost, members_done, started_at when there) and
    clock of a store; ``methods``, ``noises``, ``n_members``: each task's, from its task table."""
    status = np.asarray(columns[L.P_STATUS])
    counts = {code: int(np.count_nonzero(status == code)) for code in (PENDING, RUNNING, DONE, FAILED)}
    heartbeat = float(clock[L.C_HEARTBEAT])
    ended = counts[DONE] + counts[FAILED]
    session_done = ended - int(clock[L.C_SESSION_DONE0])
    end = now if live else heartbeat
    elapsed = end - float(clock[L.C_SESSION_STARTED])
    rate = session_done / elapsed * 60.0 if elapsed > 0 and session_done > 0 else float("nan")
    remaining = len(status) - ended
    members_done = np.asarray(columns[L.P_MEMBERS_DONE])
    running = status == RUNNING
    basis = "tasks per minute"
    if remaining == 0:
        eta = 0.0
    elif not live:
        eta = float("nan")
    else:
        eta = remaining / rate * 60.0 if rate > 0 else float("nan")
        cost = np.asarray(columns[L.P_COST], dtype=np.float64)
        if np.isfinite(cost).all():
            started = columns.get(L.P_STARTED_AT)
            running_s = None if started is None else np.where(running, now - np.asarray(started, np.float64), 0.0)
            by_cost = cost_eta(status, cost, columns[L.P_WALL_S], methods, np.where(status == DONE, 0, members_done),
                               n_members, int(clock.get(L.C_WORKERS, 0)), DONE, FAILED, running_s, noises)
            if np.isfinite(by_cost):
                eta, basis = by_cost, "cost model"
    return Progress(
        total=len(status), done=counts[DONE], failed=counts[FAILED], running=counts[RUNNING],
        pending=counts[PENDING], started=float(clock[L.C_STARTED]), last_update=heartbeat, live=live,
        finished=int(clock[L.C_WRITER_STATE]) == L.WS_FINISHED, tasks_per_minute=rate, eta_s=eta,
        eta_basis=basis, running_members=(int(members_done[running].sum()), int(np.asarray(n_members)[running].sum())),
    )
