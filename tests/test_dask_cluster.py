"""A real Dask cluster on 127.0.0.1, started the way the README tells users (`dask scheduler`, `dask worker`):
a campaign through `--scheduler tcp://...` gives the local pool's results, and survives a killed worker."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("distributed")
psutil = pytest.importorskip("psutil")

from xrdtui.store.reader import StoreReader  # noqa: E402

TOML = """
name = "dask"
seed = 9
structures = ["U2Ti", "Au2S"]
distortions = 8
methods = ["none", "cosine", "chgnet"]
modes = ["free", "projected"]
[noise]
lattice = [0.03, 0.08]
[optimizer]
max_steps = 60
[chgnet]
members = 4
steps = 15
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """`dask scheduler` + N single-threaded `dask worker` processes on 127.0.0.1."""

    def __init__(self, n_workers: int, tmp: Path):
        if shutil.which("dask") is None:
            pytest.skip("the dask command is not installed")
        self.port = _free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        log = open(tmp / "dask.log", "w")
        self.scheduler = subprocess.Popen(["dask", "scheduler", "--host", "127.0.0.1", "--port", str(self.port),
                                           "--no-dashboard"], stdout=log, stderr=log, env=env)
        self.workers = [subprocess.Popen(["dask", "worker", self.address, "--nworkers", "1", "--nthreads", "1",
                                          "--no-dashboard", "--memory-limit", "0"], stdout=log, stderr=log, env=env)
                        for _ in range(n_workers)]
        self._wait(n_workers)

    def _wait(self, n: int, timeout: float = 120) -> None:
        from distributed import Client

        deadline = time.monotonic() + timeout
        with Client(self.address, timeout="30s") as client:
            while len(client.scheduler_info()["workers"]) < n:
                assert time.monotonic() < deadline, "dask workers did not connect"
                time.sleep(0.5)

    def worker_processes(self) -> list:
        """The processes that run tasks (each `dask worker` runs its worker in a child process)."""
        out = []
        for w in self.workers:
            kids = psutil.Process(w.pid).children(recursive=True)
            out += [k for k in kids if "python" in k.name().lower() or "dask" in " ".join(k.cmdline())] or [psutil.Process(w.pid)]
        return out

    def close(self) -> None:
        for p in [*self.workers, self.scheduler]:
            try:
                for k in psutil.Process(p.pid).children(recursive=True):
                    k.kill()
            except psutil.Error:
                pass
            p.kill()
            p.wait(timeout=30)


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(2, tmp_path)
    yield c
    c.close()


def _run(args, **kw):
    return subprocess.run([sys.executable, "-m", "xrdtui", "run", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, **kw)


def _members(path: Path) -> dict:
    out = {}
    with StoreReader.open(path) as r:
        for t in r.tasks():
            m = r.members(t.task_id, ("matched", "recovered", "final_lattice", "n_steps"))
            out[t.task_id] = m
    return out


@pytest.mark.slow  # ~95 s: a scheduler and two workers; the default run keeps the local Dask cluster test
def test_a_real_cluster_gives_the_local_pools_results(cluster, tmp_path):
    cfg = tmp_path / "dask.toml"
    cfg.write_text(TOML)
    local = _run([cfg, "--store", tmp_path / "local.h5", "--workers", "2", "-q"], timeout=900)
    assert local.returncode == 0, local.stderr
    remote = _run([cfg, "--store", tmp_path / "dask.h5", "--scheduler", cluster.address, "-q"], timeout=900)
    assert remote.returncode == 0, remote.stderr
    a, b = _members(tmp_path / "local.h5"), _members(tmp_path / "dask.h5")
    assert a.keys() == b.keys() and len(a) == 2 * 2 * 4
    for tid in a:
        for key in ("matched", "recovered", "n_steps"):
            np.testing.assert_array_equal(a[tid][key], b[tid][key], err_msg=f"{tid}:{key}")
        np.testing.assert_allclose(a[tid]["final_lattice"], b[tid]["final_lattice"], atol=1e-5, err_msg=tid)


@pytest.mark.slow
def test_a_killed_dask_worker_is_survived(cluster, tmp_path):
    cfg = tmp_path / "dask.toml"
    cfg.write_text(TOML.replace("max_steps = 60", "max_steps = 400\ntol = 0"))
    store = tmp_path / "killed.h5"
    proc = subprocess.Popen([sys.executable, "-m", "xrdtui", "run", str(cfg), "--store", str(store), "--scheduler",
                             cluster.address, "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # wait until tasks are under way
        if store.exists():
            with StoreReader.open(store) as r:
                if r.progress().running:
                    break
        time.sleep(0.5)
    victim = cluster.workers[0]
    for k in psutil.Process(victim.pid).children(recursive=True):
        k.kill()
    victim.kill()
    out, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err[-2000:]
    with StoreReader.open(store) as r:
        prog = r.progress()
        assert prog.finished and prog.done == prog.total == 16 and prog.failed == 0
