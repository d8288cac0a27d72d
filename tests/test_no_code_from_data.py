"""Data never causes code to be imported or run: a structure JSON naming a module in its site properties
(monty's "@module"/"@class") loads as plain data, in the engine, in `xrdtui landscape` and in `xrdtui figure`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from xrdtui.engine.structures import benchmark_structure, load_structure
from xrdtui.store import layout as L

ROOT = Path(__file__).resolve().parents[1]


def _malicious(tmp_path: Path) -> Path:
    d = benchmark_structure("U2Ti").as_dict()
    for site in d["sites"]:
        site["properties"] = {"note": {"@module": "tests._payload", "@class": "Marker", "x": 1}}
    d["properties"] = {"also": {"@module": "tests._payload", "@class": "Marker"}}
    path = tmp_path / "evil.json"
    path.write_text(json.dumps(d))
    return path


def test_loading_imports_nothing_the_file_names(tmp_path):
    path = _malicious(tmp_path)
    sys.modules.pop("tests._payload", None)
    s = load_structure(path)
    assert "tests._payload" not in sys.modules
    assert len(s) == 3 and s.composition.reduced_formula == "U2Ti"
    from xrdtui.engine.structures import structure_from_dict

    raw = structure_from_dict(json.loads(path.read_text()))  # (load_structure standardises the cell)
    assert raw[0].properties["note"] == {"x": 1} and "tests._payload" not in sys.modules  # plain data


def test_landscape_and_its_figure_import_nothing(tmp_path):
    path = _malicious(tmp_path)
    marker = tmp_path / "marker"
    env = {**os.environ, "XRDTUI_PAYLOAD_MARKER": str(marker), "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    store = tmp_path / "land.h5"
    run = subprocess.run([sys.executable, "-m", "xrdtui", "landscape", str(path), "--params", "a,c", "--points", "9",
                          "--no-paths", "-o", str(store), "-q"], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    import h5py

    with h5py.File(store, "r+") as f:  # a store whose stored structure names the module itself
        group = f["landscapes/evil/cosine/a-c"]
        group.attrs[L.LA_SETTINGS_PREFIX + "structure_json"] = path.read_text()
    fig = subprocess.run([sys.executable, "-m", "xrdtui", "figure", "landscape", str(store), "-o",
                          str(tmp_path / "f.png")], capture_output=True, text=True, env=env, timeout=300)
    assert fig.returncode == 0, fig.stderr
    assert not marker.exists()
