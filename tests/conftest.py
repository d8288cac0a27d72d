"""Shared fixtures. ``tiny_store`` is a store made by a tiny but real sweep (engine, CHGNet, store)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")

SHARED = Path(__file__).resolve().parents[2] / "shared"

TINY_TOML = """
name = "tiny"
seed = 7
structures = ["U2Ti", "Au2S"]
distortions = 4
methods = ["cosine", "mse", "chgnet"]
modes = ["free", "projected"]

[noise]
lattice = [0.03, 0.1]
coords = [0.05]

[optimizer]
max_steps = 30

[chgnet]
members = 1
steps = 20
"""


@pytest.fixture(scope="session")
def tiny_config_text() -> str:
    return TINY_TOML


@pytest.fixture(scope="session")
def tiny_store(tmp_path_factory) -> Path:
    """Path of a finished store from a real sweep: 2 structures x 3 levels x (2 losses x 2 modes + CHGNet)."""
    import torch

    from xrdtui.jobs.config import parse_config
    from xrdtui.jobs.campaign import run_campaign

    torch.set_num_threads(1)
    path = tmp_path_factory.mktemp("stores") / "tiny.h5"
    run_campaign(parse_config(TINY_TOML), store_path=path, scheduler="inline")
    return path
