"""Property-based fuzzing of what users hand the tool: experiment TOML and structure files. Whatever the
input, the outcome is a parsed object or one XrdtuiError line; never another exception (a traceback).
1,200 cases in all (600 configurations, 600 CIF texts)."""

from __future__ import annotations

import json
import math
from collections import defaultdict

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from xrdtui.errors import XrdtuiError  # noqa: E402
from xrdtui.jobs.config import parse_config  # noqa: E402

FUZZ = settings(max_examples=int(__import__("os").environ.get("XRDTUI_FUZZ_EXAMPLES", 600)), deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

# ---- TOML -----------------------------------------------------------------------------------------
SCALARS = st.one_of(
    st.integers(min_value=-10**12, max_value=10**12),
    st.sampled_from([0, 1, -1, 2, 10**9, 10**18]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, 1.0, 0.999999, 1e-300, 1e300, -0.05, 0.05, 0.1]),
    st.text(max_size=12),
    st.sampled_from(["", "gd", "adam", "sgd", "cosine", "mse", "entropy", "chgnet", "none", "multistart",
                     "free", "projected", "free_projected_init", "U2Ti", "au2s", "xx", "tcp://x:1", "not a url",
                     "primitive", "conventional", "basis", "cartesian", "height", "area", "../../etc/passwd"]),
    st.booleans(),
)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4), max_leaves=6)

TOP_KEYS = ["name", "seed", "structures", "distortions", "methods", "modes", "workers", "scheduler", "store",
            "bogus"]
TABLE_KEYS = {
    "noise": ["lattice", "coords", "strain", "cell", "shear"],
    "optimizer": ["method", "max_steps", "lr_lattice", "lr_coords", "betas", "momentum", "eps", "tol", "patience"],
    "pattern": ["wavelength", "two_theta_min", "two_theta_max", "step", "profile", "U", "V", "W", "eta"],
    "chgnet": ["members", "steps", "fmax", "optimizer"],
    "matcher": ["ltol", "stol", "angle_tol"],
    "strict": ["stol", "ltol"],
    "multistart": ["starts", "box"],
}


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)  # a TOML basic string
    return "[" + ", ".join(_toml_value(x) for x in v) + "]"


BASE = {"": {"structures": ["U2Ti"], "methods": ["cosine"], "modes": ["free"], "distortions": 2},
        "noise": {"lattice": [0.05]}}


@st.composite
def configs(draw) -> str:
    """A valid configuration with 0-4 keys set to arbitrary values, added or removed, and now and then
    damaged text: most cases are near-valid, so validation is probed key by key."""
    tables = {name: dict(keys) for name, keys in BASE.items()}
    for _ in range(draw(st.integers(0, 4))):
        table = draw(st.sampled_from(["", *TABLE_KEYS]))
        key = draw(st.sampled_from(TOP_KEYS if table == "" else TABLE_KEYS[table]))
        entries = tables.setdefault(table, {})
        if draw(st.integers(0, 5)) == 0:
            entries.pop(key, None)
        else:
            entries[key] = draw(VALUES)
    lines = [f"{k} = {_toml_value(v)}" for k, v in tables.pop("").items()]
    for table, entries in tables.items():
        lines.append(f"[{table}]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in entries.items()]
    text = "\n".join(lines) + "\n"
    if draw(st.integers(0, 9)) == 0:  # now and then, damage the text itself
        cut = draw(st.integers(0, len(text)))
        text = text[:cut] + draw(st.text(max_size=4)) + text[cut + draw(st.integers(0, 3)):]
    return text


@FUZZ
@given(text=configs())
def test_any_configuration_parses_or_is_one_error_line(text):
    from xrdtui.jobs.tasks import build_work

    try:
        cfg = parse_config(text)
    except XrdtuiError as exc:
        assert "\n" not in str(exc) and str(exc)
        return
    try:
        build_work(cfg, defaultdict(lambda: 3))  # the task list a run would make
    except XrdtuiError as exc:
        assert "\n" not in str(exc)


# ---- CIF ------------------------------------------------------------------------------------------
CIF = """data_fuzz
_cell_length_a {a}
_cell_length_b {b}
_cell_length_c {c}
_cell_angle_alpha {al}
_cell_angle_beta {be}
_cell_angle_gamma {ga}
_symmetry_space_group_name_H-M '{sg}'
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
_atom_site_occupancy
{sites}
"""
NUMBERS = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr),
                    st.sampled_from(["4.1", "0", "-3", "1e9", "nan", "5.0(2)", "?", ".", "90", "120", "179.9",
                                     "0.0001", "x"]))
LENGTHS = st.one_of(st.floats(min_value=0.5, max_value=12.0).map(lambda x: f"{x:.4f}"), NUMBERS)
ANGLES = st.one_of(st.floats(min_value=30.0, max_value=150.0).map(lambda x: f"{x:.3f}"), NUMBERS)
ELEMENTS = st.sampled_from(["Na", "Cl", "U", "Ti", "O", "Xx", "D", "Na+", "O2-", "Fe3+", "", "H", "Og", "Q"])
SITE = st.tuples(ELEMENTS, NUMBERS, NUMBERS, NUMBERS, st.sampled_from(["1", "0.5", "0", "2", "-1", "nan"]))


@st.composite
def cif_texts(draw) -> str:
    sites = draw(st.lists(SITE, min_size=0, max_size=4))
    rows = "\n".join(f"{e or 'X'}{i} {e or '.'} {x} {y} {z} {o}" for i, (e, x, y, z, o) in enumerate(sites))
    text = CIF.format(a=draw(LENGTHS), b=draw(LENGTHS), c=draw(LENGTHS), al=draw(ANGLES), be=draw(ANGLES),
                      ga=draw(ANGLES), sg=draw(st.sampled_from(["P 1", "F m -3 m", "P 6/m m m", "bogus", ""])),
                      sites=rows)
    if draw(st.integers(0, 4)) == 0:
        text = text[:draw(st.integers(0, len(text)))]  # truncated
    return text


@pytest.fixture(autouse=True)
def _small_memory_budget(monkeypatch):
    monkeypatch.setenv("XRDTUI_MEMORY_GB", "0.2")  # huge random cells are refused fast


@FUZZ
@given(text=cif_texts())
def test_any_cif_text_loads_or_is_one_error_line(tmp_path_factory, text):
    from xrdtui.engine.simulator import XRDSimulator
    from xrdtui.engine.structures import load_structure

    path = tmp_path_factory.getbasetemp() / "fuzz.cif"
    path.write_text(text)
    try:
        structure = load_structure(path)
        sim = XRDSimulator(structure)
        pattern = sim.reference_pattern()
    except XrdtuiError as exc:
        assert "\n" not in str(exc) and str(exc)
        return
    assert pattern.shape == sim.two_theta.shape and math.isclose(float(pattern.max()), 1.0, rel_tol=1e-5) or \
        float(pattern.max()) == 0.0
