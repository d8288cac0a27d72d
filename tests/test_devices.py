"""``--device``: names checked at configuration time, a CUDA request on a machine without one stops with
one line before anything is written, and (where torch sees a GPU) a sweep on CUDA gives the CPU's results."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xrdtui.cli.main import main
from xrdtui.engine.devices import check_device_name, require_device
from xrdtui.errors import ConfigError
from xrdtui.jobs.campaign import run_campaign
from xrdtui.jobs.config import parse_config
from xrdtui.store.reader import StoreReader

HAS_CUDA = torch.cuda.is_available()

SMALL = """
name = "dev"
seed = 3
structures = ["U2Ti"]
distortions = 3
methods = ["none", "cosine"]
modes = ["projected"]
[noise]
lattice = [0.05]
[optimizer]
max_steps = 20
"""


def cli(*args) -> int:
    try:
        return main([str(a) for a in args]) or 0
    except SystemExit as exc:
        return int(exc.code or 0)


@pytest.mark.parametrize("name, want", [("cpu", "cpu"), ("CUDA", "cuda"), ("cuda:1", "cuda:1"), (" cpu ", "cpu")])
def test_device_names_are_normalised(name, want):
    assert check_device_name(name) == want


@pytest.mark.parametrize("name", ["tpu", "cuda:", "cuda:x", "gpu", "", "mps"])
def test_unknown_device_names_are_config_errors(name):
    with pytest.raises(ConfigError, match="expected cpu, cuda or cuda:N"):
        check_device_name(name)


def test_a_device_in_the_experiment_file_is_checked_and_kept_out_of_the_hash():
    plain = parse_config(SMALL)
    on_cpu = parse_config(SMALL.replace('seed = 3', 'seed = 3\ndevice = "cpu"'))
    assert on_cpu.device == "cpu" and plain.device is None
    assert on_cpu.content_hash == plain.content_hash  # where it ran is not what it computed
    with pytest.raises(ConfigError, match="device"):
        parse_config(SMALL.replace('seed = 3', 'seed = 3\ndevice = "tpu"'))


@pytest.mark.skipif(HAS_CUDA, reason="this machine has CUDA")
def test_cuda_without_a_gpu_is_one_line_and_writes_nothing(tmp_path, capsys):
    config = tmp_path / "dev.toml"
    config.write_text(SMALL)
    store = tmp_path / "dev.h5"
    assert cli("run", config, "--store", store, "--device", "cuda", "--workers", "1") == ConfigError.exit_code
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "device cuda" in err[0] and "--device cpu" in err[0], err
    assert not store.exists()
    with pytest.raises(ConfigError, match="cannot use CUDA"):
        require_device("cuda:0")


def _run_both(tmp_path, device: str):
    """The small campaign on the default device and on ``device``: (default, other) final results per task."""
    cfg = parse_config(SMALL)
    a = run_campaign(cfg, store_path=tmp_path / "default.h5", scheduler="inline")
    b = run_campaign(cfg, store_path=tmp_path / f"{device}.h5", scheduler="inline", device=device)
    with StoreReader.open(a) as ra, StoreReader.open(b) as rb:
        return [(ra.task(t.task_id).result, rb.task(t.task_id).result) for t in ra.tasks()]


def test_an_explicit_cpu_device_gives_the_default_run(tmp_path):
    for x, y in _run_both(tmp_path, "cpu"):
        np.testing.assert_array_equal(x.final_lattice, y.final_lattice)
        assert x.k == y.k and " " not in y.worker  # host:pid, no device named on the CPU


@pytest.mark.skipif(not HAS_CUDA, reason="no CUDA device")
def test_a_sweep_on_cuda_gives_the_cpu_results(tmp_path):
    for x, y in _run_both(tmp_path, "cuda"):
        np.testing.assert_allclose(y.final_lattice, x.final_lattice, atol=1e-3)
        assert x.k == y.k and y.worker.endswith(" cuda")


@pytest.mark.skipif(HAS_CUDA, reason="this machine has CUDA")
def test_refine_on_cuda_without_a_gpu_stops_before_reading_or_writing(tmp_path):
    from xrdtui.refine.workflow import RefineOptions, refine

    store = tmp_path / "r.h5"
    with pytest.raises(ConfigError, match="device cuda:0: torch cannot use CUDA"):
        refine([tmp_path / "candidate.cif"], tmp_path / "target.cif", RefineOptions(store=store, device="cuda:0"))
    assert not store.exists()
