"""Local workers run niced (default 10) so that a sweep on every core leaves the shell and the TUI
responsive; the niceness only ever rises, and the sweep's own process keeps its priority."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from xrdtui.errors import ConfigError
from xrdtui.jobs.executors import WORKER_NICE, check_nice, make_executor, worker_label


def own_nice() -> int:
    return os.getpriority(os.PRIO_PROCESS, 0)


def test_pool_workers_run_at_the_default_niceness_and_the_sweep_keeps_its_own():
    before = own_nice()
    assert WORKER_NICE == 10
    ex = make_executor(1)
    try:
        seen = {ex.submit(os.getpriority, os.PRIO_PROCESS, 0).result(timeout=300) for _ in range(2)}
        label = ex.submit(worker_label).result(timeout=60)
    finally:
        ex.close()
    assert seen == {max(10, before)}
    assert own_nice() == before
    if before < 10:  # the store's worker column says the task ran niced
        assert label.endswith(" nice 10") and label.count(":") == 1
    assert " nice" not in worker_label()  # this process never niced itself


def test_a_niced_process_is_never_raised_back():
    # in a child process (renicing pytest itself would slow every later test); asking a nice-15 process for
    # 5 or 0 changes nothing: lowering needs privileges and would undo a `nice xrdtui run` the user chose
    code = ("import os; from xrdtui.jobs.executors import lower_priority as lp; "
            "print(lp(15), lp(5), lp(0), os.getpriority(os.PRIO_PROCESS, 0))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    want = max(15, own_nice())
    assert out.stdout.split() == [str(want)] * 4


def test_inline_executor_runs_in_this_process_unniced():
    ex = make_executor(scheduler="inline", nice=19)
    try:
        assert ex.submit(os.getpriority, os.PRIO_PROCESS, 0).result(timeout=10) == own_nice()
    finally:
        ex.close()


@pytest.mark.parametrize("bad", [-1, 20, 2.5, True, "10"])
def test_a_bad_niceness_is_one_configuration_line(bad):
    with pytest.raises(ConfigError, match=r"^nice: must be an integer from 0 to 19, got .+$"):
        check_nice(bad)
    assert check_nice(0) == 0 and check_nice(19) == 19
