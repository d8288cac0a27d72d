"""Export never leaves a half-written file and never a traceback: a directory in the way, a read-only or
full disk, another export's temporary are one line each (exit 1)."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.test_views_support import make_store
from xrdtui.cli.main import main


def cli(*args) -> int:
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    return exc.value.code


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("exp") / "camp.h5"
    make_store(path)
    return path


def test_a_directory_as_output_is_one_line(store, tmp_path, capsys):
    assert cli("export", store, "-o", tmp_path) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "is a directory" in err
    assert list(tmp_path.iterdir()) == []


def test_another_exports_temporary_is_left_alone(store, tmp_path, capsys):
    part = tmp_path / "r.csv.part"
    part.write_text("someone else's")
    assert cli("export", store, "-o", tmp_path / "r.csv") == 1
    assert "another export" in capsys.readouterr().err
    assert part.read_text() == "someone else's" and not (tmp_path / "r.csv").exists()


@pytest.fixture()
def tiny_disk(tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(mnt)],
                                           capture_output=True).returncode:
        pytest.skip("needs root and a tmpfs mount")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_a_full_disk_leaves_no_partial_file(store, tiny_disk, capsys):
    assert cli("export", store, "--trajectories", "-o", tiny_disk / "t.csv") == 1
    err = capsys.readouterr().err
    assert "No space left on device" in err and "Traceback" not in err
    assert [p.name for p in tiny_disk.iterdir()] == []
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_disk)], check=True)
    assert cli("export", store, "-o", tiny_disk / "x.csv") == 1
    assert "Read-only file system" in capsys.readouterr().err
