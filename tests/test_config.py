"""Experiment TOML validation: good files parse, every mistake is one ConfigError line naming the key."""

from pathlib import Path

import pytest

from xrdtui.errors import ConfigError
from xrdtui.jobs.config import load_config, parse_config

PRESETS = Path(__file__).resolve().parents[1] / "xrdtui" / "jobs" / "presets"

GOOD = """
name = "t"
seed = 3
structures = ["U2Ti", "au2s"]
distortions = 4
methods = ["cosine", "chgnet"]
modes = ["free", "projected"]
[noise]
lattice = [0.02, 0.05]
[optimizer]
method = "gd"
max_steps = 20
[chgnet]
members = 2
steps = 50
"""


def test_good_config_parses_and_normalises_names():
    cfg = parse_config(GOOD)
    assert cfg.structures == ("U2Ti", "Au2S")
    assert cfg.noise == {"lattice": (0.02, 0.05)}
    assert cfg.xrd_methods == ("cosine",)
    assert cfg.optimizer == {"method": "gd", "max_steps": 20}
    assert cfg.chgnet == {"members": 2, "steps": 50}
    assert cfg.store_path == Path("store/t.h5")


def test_content_hash_ignores_store_and_workers_but_not_seed():
    a = parse_config(GOOD)
    b = parse_config(GOOD.replace('name = "t"', 'name = "t"\nstore = "x.h5"\nworkers = 2\nnice = 5'))
    c = parse_config(GOOD.replace("seed = 3", "seed = 4"))
    assert a.content_hash == b.content_hash
    assert (a.nice, b.nice) == (None, 5)
    assert a.content_hash != c.content_hash


@pytest.mark.parametrize(
    "edit, fragment",
    [
        (('distortions = 4', 'distortions = 0'), "distortions"),
        (('seed = 3', 'seed = "x"'), "seed"),
        (('methods = ["cosine", "chgnet"]', 'methods = ["cosine", "l1"]'), "unknown method 'l1'"),
        (('modes = ["free", "projected"]', 'modes = ["sideways"]'), "unknown mode"),
        (('lattice = [0.02, 0.05]', 'lattice = [0.02, -1]'), "noise.lattice"),
        (('lattice = [0.02, 0.05]', 'shear = [0.1]'), "unknown noise type 'shear'"),
        (('lattice = [0.02, 0.05]', 'lattice = [0.02]\nstrain = "sideways"'), "noise.strain"),
        (('lattice = [0.02, 0.05]', 'lattice = [0.02]\ncell = "supercell"'), "noise.cell"),
        (('[optimizer]', '[pattern]\nprofile = "lorentz"\n[optimizer]'), "pattern: unknown peak profile"),
        (('[optimizer]', '[matcher]\nltoll = 0.2\n[optimizer]'), "unknown key 'ltoll'"),
        (('[optimizer]', '[strict]\nstol = -1\n[optimizer]'), "strict: stol must be a positive number"),
        (('method = "gd"', 'method = "lbfgs"'), "optimizer"),
        (('max_steps = 20', 'max_stepz = 20'), "unknown key 'max_stepz'"),
        (('members = 2', 'members = 9'), "chgnet.members"),
        (('name = "t"', 'name = "t"\ncolour = "red"'), "unknown key 'colour'"),
        (('name = "t"', 'name = "t"\nnice = 20'), "nice: must be an integer from 0 to 19, got 20"),
        (('name = "t"', 'name = "t"\nnice = -1'), "nice: must be an integer from 0 to 19, got -1"),
        (('[noise]', '[noise'), "not valid TOML"),
    ],
)
def test_bad_config_is_one_line_config_error(edit, fragment):
    text = GOOD.replace(*edit)
    assert text != GOOD
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message


def test_a_missing_structure_is_bad_structure_input_as_for_landscape():
    from xrdtui.errors import InputError

    with pytest.raises(InputError, match="neither a benchmark") as info:
        parse_config(GOOD.replace('structures = ["U2Ti", "au2s"]', 'structures = ["Unobtainium"]'))
    assert info.value.exit_code == 3 and "\n" not in str(info.value)


def test_missing_file_is_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")


def test_presets_are_valid_and_quick_is_small():
    quick = load_config(PRESETS / "quick.toml")
    paper = load_config(PRESETS / "paper.toml")
    assert "chgnet" in quick.methods and len(quick.structures) >= 3
    assert len(paper.structures) == 10 and paper.distortions == 50
    assert set(paper.xrd_methods) == {"cosine", "mse", "entropy"}
    assert min(paper.noise["lattice"]) <= 0.01 and max(paper.noise["lattice"]) >= 0.1
    assert min(paper.noise["coords"]) <= 0.01 and max(paper.noise["coords"]) >= 0.1


def test_no_update_rule_named_means_the_papers_plain_gd_with_calibrated_steps():
    from xrdtui.jobs.defaults import CALIBRATED_STEPS

    base = 'name = "x"\nstructures = ["U2Ti"]\nmethods = ["cosine", "mse", "chgnet"]\n[noise]\nlattice = [0.05]\n'
    cfg = parse_config(base + "[optimizer]\nmax_steps = 30\n")
    mse = cfg.settings("mse")["optimizer"]
    assert (mse.method, mse.schedule, mse.convergence, mse.tol, mse.patience) == ("gd", "constant", "window", 1e-4, 20)
    assert (mse.lr_length, mse.lr_angle, mse.lr_coords) == (3.1623e-05, 0.01, 0.00017783)
    assert mse.max_steps == 30  # the file's keys win over the layer
    assert cfg.settings("cosine")["optimizer"].lr_length == CALIBRATED_STEPS["cosine"]["lr_length"]
    adam = parse_config(base + '[optimizer]\nmethod = "adam"\n').settings("cosine")["optimizer"]
    assert (adam.method, adam.lr_length, adam.schedule) == ("adam", 0.03, "cosine")  # the engine's Adam defaults
    # the layer is part of the content hash: a store made before it cannot be resumed into it silently
    assert parse_config(base).content_hash != parse_config(base + '[optimizer]\nmethod = "adam"\n').content_hash


def test_chgnet_forces_are_first_order_and_supercells_reduced_by_default_both_checked_keys():
    def cfg(methods, tail=""):
        return parse_config(f'name = "x"\nstructures = ["U2Ti"]\nmethods = {methods}\n[noise]\nlattice = [0.05]\n'
                            + tail)

    for method in ("chgnet", "xrd-then-chgnet", "xrd-energy"):
        assert cfg(f'["cosine", "{method}"]').calls_chgnet
    assert not cfg('["cosine"]').calls_chgnet
    relax = cfg('["chgnet"]')
    assert relax.settings("chgnet")["chgnet"].second_order is False
    assert relax.conventions()["chgnet"]["second_order"] is False  # stored with the campaign
    exact = cfg('["chgnet"]', "[chgnet]\nsecond_order = true\n")
    assert exact.settings("chgnet")["chgnet"].second_order is True
    assert exact.content_hash != relax.content_hash
    with pytest.raises(ConfigError, match="second_order"):
        cfg('["chgnet"]', '[chgnet]\nsecond_order = "yes"\n')
    assert relax.conventions()["chgnet"]["supercells"] == "reduce"  # primitive cells relaxed, and recorded
    kept = cfg('["chgnet"]', '[chgnet]\nsupercells = "keep"\n')
    assert kept.settings("chgnet")["chgnet"].supercells == "keep" and kept.content_hash != relax.content_hash
    with pytest.raises(ConfigError, match="supercells"):
        cfg('["chgnet"]', '[chgnet]\nsupercells = "primitive"\n')


EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.parametrize("preset", sorted(p.stem for p in EXAMPLES.glob("*.toml") if p.stem != "paper-adam"))
def test_presets_repeat_the_calibrated_steps(preset):
    from xrdtui.jobs.config import load_config
    from xrdtui.jobs.defaults import calibrated_steps

    cfg = load_config(EXAMPLES / f"{preset}.toml")
    for method in cfg.xrd_methods:
        opt = cfg.settings(method)["optimizer"]
        want = calibrated_steps(method)
        assert opt.method == "gd"
        assert (opt.lr_length, opt.lr_angle, opt.lr_coords) == (want["lr_length"], want["lr_angle"], want["lr_coords"])
