"""A full disk ends a sweep in one line (exit 5) with the store in its last good state, and --resume
finishes it once there is room. Runs on a small tmpfs (needs root and mount, as on CI); skipped elsewhere."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest

from xrdtui.store.reader import StoreReader

CONFIG = """
name = "disk"
seed = 7
structures = ["U2Ti"]
distortions = 4
methods = ["cosine"]
modes = ["free"]

[noise]
lattice = [0.03, 0.1]

[optimizer]
max_steps = 15
"""


@pytest.fixture()
def small_disk(tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=40k", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _resize(mnt, size: str) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size}", str(mnt)], check=True, capture_output=True)


def _run(config, store, *extra):
    return subprocess.run([sys.executable, "-m", "xrdtui", "run", str(config), "--store", str(store), "--workers",
                           "1", "-q", *extra], capture_output=True, text=True, timeout=300)


def _error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.strip() and not line[:4].isdigit()]  # not batch-log lines


def test_a_full_disk_stops_cleanly_and_resume_finishes(small_disk, tmp_path):
    config = tmp_path / "disk.toml"
    config.write_text(CONFIG)
    store = small_disk / "d.h5"

    # 1. no room for the store itself: nothing is left behind
    out = _run(config, store)
    assert out.returncode == 5, out.stderr
    (line,) = _error_lines(out.stderr)
    assert "the disk is nearly full" in line and "to create" in line
    assert "Traceback" not in out.stderr and "Exception ignored" not in out.stderr
    assert list(small_disk.iterdir()) == []

    # 2. the disk fills while the sweep runs: it stops before writing a result, the store closes cleanly
    _resize(small_disk, "40m")
    proc = subprocess.Popen([sys.executable, "-m", "xrdtui", "run", str(config), "--store", str(store), "--workers",
                             "1", "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not store.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    (small_disk / "filler").write_bytes(b"\0" * (shutil.disk_usage(small_disk).free - 1_000_000))
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 5, err
    (line,) = _error_lines(err)
    assert "disk is nearly full" in line and "--resume" in line and "Traceback" not in err
    assert sorted(p.name for p in small_disk.iterdir()) == ["d.h5", "filler"]  # no lock or temporary left
    with StoreReader.open(store) as r:
        prog = r.progress()
        assert prog.done < prog.total == 2 and not prog.live and not prog.finished
    (small_disk / "filler").unlink()

    # 3. room again: --resume finishes it and every checksum holds
    _resize(small_disk, "40m")
    out = _run(config, store, "--resume")
    assert out.returncode == 0, out.stderr
    with StoreReader.open(store) as r:
        prog = r.progress()
        assert prog.finished and prog.done == 2
    verify = subprocess.run([sys.executable, "-m", "xrdtui", "verify", str(store)], capture_output=True, text=True,
                            timeout=120)
    assert verify.returncode == 0 and "0 damaged" in verify.stdout
