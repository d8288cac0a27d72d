"""The vocabulary and the methods registry: one entry per method, consulted by every layer."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from xrdtui.errors import ConfigError
from xrdtui.methods import METHODS, Method, get_method, method_info, register_method
from xrdtui.methods.batch import Outcome
from xrdtui.vocab import CampaignState, Mode, MethodKind

ROOT = Path(__file__).resolve().parents[1]


def test_builtin_methods_declare_kind_unit_and_modes():
    for loss in ("cosine", "mse", "entropy"):
        m = get_method(loss)
        assert m.kind == MethodKind.DESCENT and m.unit == "dimensionless" and m.similarity == loss
        assert m.task_modes(("free", "projected")) == ("free", "projected")
        assert not m.splittable
    chgnet = get_method("chgnet")
    assert chgnet.kind == MethodKind.RELAXATION and chgnet.unit == "eV/atom" and chgnet.splittable
    assert chgnet.task_modes(("free", "projected")) == (Mode.RELAX,)
    assert chgnet.tracks_coords("lattice") and not get_method("cosine").tracks_coords("lattice")
    with pytest.raises(ConfigError, match="unknown method 'l2'"):
        get_method("l2")
    # readers get a neutral stand-in for names this version does not know
    assert method_info("from-the-future").kind == MethodKind.DESCENT


def test_methods_command_lists_the_registry(capsys):
    from xrdtui.cli.main import main

    with pytest.raises(SystemExit) as exc:
        main(["methods", "--json"])
    assert exc.value.code == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert {"cosine", "mse", "entropy", "chgnet"} <= set(rows)
    assert rows["chgnet"]["kind"] == "relaxation" and rows["chgnet"]["tables"] == ["chgnet"]
    assert rows["cosine"]["modes"] == "configured descent modes" and rows["cosine"]["tables"] == ["optimizer"]


def _unchanged(batch) -> Outcome:
    """A toy method: every start is returned as it is (loss 0 per step)."""
    b = batch.n_members
    return Outcome(
        loss=np.zeros((1, b)), lattice=batch.init_lattice[None].copy(), frac=None,
        n_steps=np.zeros(b, dtype=int), final_lattice=batch.init_lattice.copy(), final_frac=batch.init_frac.copy(),
        final_loss=np.zeros(b), converged=np.ones(b, dtype=bool), failed=np.zeros(b, dtype=bool), reasons=[""] * b,
    )


def test_a_new_method_is_one_registry_entry(tmp_path):
    """Registering one entry makes a method usable by the config, the tasks, the store and the readers."""
    from xrdtui.jobs.campaign import run_campaign
    from xrdtui.jobs.config import parse_config
    from xrdtui.store.reader import StoreReader

    register_method(Method("as-given", MethodKind.BASELINE, "test: the start as it is", "nothing", "dimensionless",
                           "cosine", _unchanged, modes=(Mode.START,), label="as given", colour="#123456"))
    try:
        cfg = parse_config('name = "x"\nstructures = ["ErPt3"]\ndistortions = 3\nmethods = ["as-given"]\n'
                           "[noise]\nlattice = [0.001]\n")
        path = run_campaign(cfg, store_path=tmp_path / "x.h5", scheduler="inline")
        with StoreReader.open(path) as r:
            (row,) = r.tasks()
            assert row.task_id == "ErPt3/lattice/0.001/as-given/start" and row.status == "done"
            # a 0.1 % strain matches under StructureMatcher's 10 % length tolerance
            assert row.k == row.n == 3
            res = r.task(row.task_id).result
            np.testing.assert_array_equal(res.final_lattice, res.init_lattice)
            assert np.all(res.final_similarity > 0.9)  # the registry's similarity (cosine) was used
        from xrdtui.figures.style import method_colour

        assert method_colour("as-given") == "#123456" and method_info("as-given").display == "as given"
    finally:
        del METHODS["as-given"]


def test_simulator_gradients_survive_an_inference_mode_call():
    """Tables cached during a caller's inference_mode must not break later gradients (fixed autograd mode)."""
    import torch

    from xrdtui.engine.simulator import XRDSimulator
    from xrdtui.engine.structures import benchmark_structure

    structure = benchmark_structure("U2Ti")
    lattice = torch.tensor([[4.8, 4.75, 2.81, 90.0, 90.0, 120.0]], dtype=torch.float64)
    with torch.inference_mode():
        first = XRDSimulator(structure)
        first.pattern(lattice)
    fresh = XRDSimulator(structure)
    grads = []
    for sim in (first, fresh):
        x = lattice.clone().requires_grad_(True)
        sim.pattern(x).square().sum().backward()
        grads.append(x.grad)
    assert torch.isfinite(grads[0]).all() and grads[0].abs().sum() > 0
    torch.testing.assert_close(grads[0], grads[1])


def test_a_noise_level_the_engine_refuses_is_refused_by_the_config():
    from xrdtui.jobs.config import parse_config

    text = 'structures = ["U2Ti"]\n[noise]\nlattice = [{}]\n'
    assert parse_config(text.format("0.5")).noise == {"lattice": (0.5,)}
    with pytest.raises(ConfigError, match=r"noise.lattice: .*\[0, 1\)"):
        parse_config(text.format("1.0"))


def test_campaign_state_has_one_vocabulary():
    from xrdtui.store.records import Progress

    def progress(done=0, failed=0, running=0, total=4, live=False, finished=False):
        return Progress(total, done, failed, running, total - done - failed - running, 0.0, 0.0, live, finished,
                        math.nan, math.nan)

    assert progress().state == CampaignState.CREATED
    assert progress(done=1, live=True).state == CampaignState.LIVE
    assert progress(done=4, finished=True).state == CampaignState.FINISHED
    assert progress(done=3, failed=1).state == CampaignState.COMPLETE
    assert progress(done=1, running=1).state == CampaignState.STOPPED
    assert str(CampaignState.LIVE) == "live"


METHOD_LITERAL = re.compile(r"""(==|!=|\bin\b)\s*\(?\s*["'](chgnet|cosine|mse|entropy|relax|none)["']""")


def test_cli_views_and_figures_ask_the_registry_instead_of_comparing_names():
    offenders = []
    for folder in ("cli", "views", "figures"):
        for path in (ROOT / "xrdtui" / folder).rglob("*.py"):
            for n, line in enumerate(path.read_text().splitlines(), 1):
                if METHOD_LITERAL.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert offenders == []


def test_registry_and_vocabulary_import_nothing_heavy():
    code = ("import sys, xrdtui.vocab, xrdtui.methods; xrdtui.methods.all_methods(); "
            "print(sorted(m for m in ('numpy', 'torch', 'pymatgen', 'h5py') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
