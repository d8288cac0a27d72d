"""Benchmark structures from facts: space groups, agreement with the reference CIFs, loading user files."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from xrdtui.engine import structures as st
from xrdtui.errors import ConfigError, InputError

SHARED = Path(__file__).parents[2] / "shared"
REFERENCE_DIR = SHARED / "data" / "mp20_selected"
pytestmark = pytest.mark.filterwarnings("ignore:Set OLD_ERROR_HANDLING:DeprecationWarning")  # spglib chatter
needs_shared = pytest.mark.skipif(not REFERENCE_DIR.is_dir(), reason="../shared reference data absent")


def _reference_cif(name: str) -> Path:
    (path,) = [p for p in REFERENCE_DIR.glob("*.cif") if f"_{name}_" in p.name or p.name.startswith(f"{name}_")]
    return path


def test_ten_benchmarks_with_distinct_space_groups():
    assert len(st.BENCHMARK_NAMES) == 10
    numbers = {spec.spacegroup_number for spec in st.BENCHMARKS.values()}
    assert numbers == {191, 224, 82, 8, 139, 225, 12, 194, 221, 6}


@pytest.mark.parametrize("name", st.BENCHMARK_NAMES)
def test_benchmark_has_its_space_group_and_family(name):
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    s = st.benchmark_structure(name)
    spec = st.BENCHMARKS[name]
    sga = SpacegroupAnalyzer(s, symprec=0.01)
    assert sga.get_space_group_number() == spec.spacegroup_number
    # already the conventional standard cell: analysing it again changes nothing
    conv = sga.get_conventional_standard_structure()
    assert len(conv) == len(s)
    np.testing.assert_allclose(conv.lattice.abc, s.lattice.abc, rtol=1e-6)
    np.testing.assert_allclose(st.lattice_params(s), spec.lattice, atol=1e-6)
    assert st.crystal_family(s) == spec.family


@needs_shared
@pytest.mark.parametrize("name", st.BENCHMARK_NAMES)
def test_benchmark_matches_reference_cif(name):
    from pymatgen.analysis.structure_matcher import StructureMatcher
    from pymatgen.core import Structure

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = Structure.from_file(_reference_cif(name))
    built = st.benchmark_structure(name)
    assert built.composition.reduced_composition == ref.composition.reduced_composition
    matcher = StructureMatcher(ltol=0.1, stol=0.2, angle_tol=5)
    assert matcher.fit(built, ref)
    rms, _ = matcher.get_rms_dist(built, ref)
    assert rms < 1e-3  # same structure, facts rounded to 5 decimals


@needs_shared
def test_load_structure_gives_conventional_standard_cell():
    # Na3MnCoNiO6's reference is a 12-site primitive P1 cell; loading converts it to the 24-site C-centred cell
    s = st.load_structure(_reference_cif("Na3MnCoNiO6"))
    assert len(s) == 24
    np.testing.assert_allclose(st.lattice_params(s), st.BENCHMARKS["Na3MnCoNiO6"].lattice, atol=2e-3)


def test_crystal_family_maps_trigonal_to_hexagonal():
    from pymatgen.core import Lattice, Structure

    # alpha-Al2O3 style R-3c corundum skeleton (trigonal) -> hexagonal family
    s = Structure.from_spacegroup(
        167, Lattice.hexagonal(4.76, 12.99), ["Al", "O"], [[0, 0, 0.352], [0.306, 0, 0.25]]
    )
    assert st.crystal_family(s) == "hexagonal"
    assert st.family_of_spacegroup(167) == "hexagonal"
    assert [st.family_of_spacegroup(n) for n in (1, 2, 3, 15, 16, 74, 75, 142, 143, 194, 195, 230)] == [
        "triclinic", "triclinic", "monoclinic", "monoclinic", "orthorhombic", "orthorhombic",
        "tetragonal", "tetragonal", "hexagonal", "hexagonal", "cubic", "cubic"]
    with pytest.raises(InputError):
        st.family_of_spacegroup(231)


def test_resolve_structure_names_and_paths(tmp_path):
    name, s = st.resolve_structure("u2ti")
    assert name == "U2Ti" and len(s) == 3
    path = tmp_path / "my_erpt3.json"
    path.write_text(json.dumps(st.benchmark_structure("ErPt3").as_dict()))
    name, s = st.resolve_structure(str(path))
    assert name == "my_erpt3" and s.composition.reduced_formula == "ErPt3"
    with pytest.raises(InputError, match="neither a named structure"):
        st.resolve_structure("NoSuchThing")
    assert "NaCl" not in st.BENCHMARK_NAMES and st.canonical_name("nacl") == "NaCl"  # held out, still named
    with pytest.raises(InputError):
        st.benchmark_structure("KBr")


def test_benchmark_returns_independent_copies():
    a = st.benchmark_structure("UC2")
    a.perturb(0.1)
    b = st.benchmark_structure("UC2")
    np.testing.assert_allclose(st.lattice_params(b), st.BENCHMARKS["UC2"].lattice, atol=1e-6)
    assert not np.allclose(a.frac_coords, b.frac_coords)


def test_with_params_and_accessors():
    s = st.benchmark_structure("Fe2SbTe3")
    frac = st.frac_coords(s)
    assert frac.shape == (6, 3) and np.all((frac >= 0) & (frac < 1))
    new = st.with_params(s, [5.0, 4.0, 6.0, 90, 95, 90], frac * 0.5)
    np.testing.assert_allclose(new.lattice.parameters, [5.0, 4.0, 6.0, 90, 95, 90], atol=1e-9)
    np.testing.assert_allclose(new.frac_coords, frac * 0.5, atol=1e-12)
    assert [site.species for site in new] == [site.species for site in s]
    with pytest.raises(InputError):
        st.with_params(s, [5.0, 4.0, np.nan, 90, 95, 90])
    with pytest.raises(InputError):
        st.with_params(s, [5.0, 4.0, 6.0, 10, 10, 170])  # angles that enclose no volume
    with pytest.raises(InputError):
        st.with_params(s, [5.0, 4.0, 6.0, 90, 95, 90], frac[:3])


_GOOD_CIF = """data_ErPt3
_symmetry_space_group_name_H-M   'P 1'
_cell_length_a   4.1029
_cell_length_b   4.1029
_cell_length_c   {c}
_cell_angle_alpha   90
_cell_angle_beta   90
_cell_angle_gamma   90
_symmetry_Int_Tables_number   1
loop_
 _symmetry_equiv_pos_site_id
 _symmetry_equiv_pos_as_xyz
  1  'x, y, z'
loop_
 _atom_site_type_symbol
 _atom_site_label
 _atom_site_fract_x
 _atom_site_fract_y
 _atom_site_fract_z
 _atom_site_occupancy
  {er}  Er0  0.0  0.0  0.0  1
  Pt  Pt1  0.0  0.5  0.5  1
  Pt  Pt2  0.5  0.0  0.5  1
  Pt  Pt3  0.5  0.5  {z}  1
"""


def test_load_structure_reads_a_valid_cif(tmp_path):
    path = tmp_path / "ok.cif"
    path.write_text(_GOOD_CIF.format(c="4.1029", er="Er", z="0.0"))
    s = st.load_structure(path)
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    assert SpacegroupAnalyzer(s, symprec=0.01).get_space_group_number() == 221


@pytest.mark.parametrize(
    "filename, text, message",
    [
        ("garbage.cif", "this is not a cif\n", "cannot parse CIF"),
        ("empty.cif", "", "cannot parse CIF"),
        ("unknown.cif", _GOOD_CIF.format(c="4.1029", er="Xx", z="0.0"), "unknown element"),
        ("zero.cif", _GOOD_CIF.format(c="0.0", er="Er", z="0.0"), "cannot parse CIF|volume"),
        ("nan.cif", _GOOD_CIF.format(c="4.1029", er="Er", z="nan"), "NaN|cannot parse CIF"),
        ("truncated.cif", _GOOD_CIF.format(c="4.1029", er="Er", z="0.0")[:80], "incomplete or truncated"),
        ("angles.cif", _GOOD_CIF.format(c="4.1029", er="Er", z="0.0").replace("90", "170"),
         "describe no cell"),
        ("bad.json", '{"lattice": ', "malformed JSON"),
        ("other.json", '{"a": 1}', "not a pymatgen Structure"),
    ],
)
def test_load_structure_rejects_broken_input(tmp_path, filename, text, message):
    path = tmp_path / filename
    path.write_text(text)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no pymatgen warning may leak to the user
        with pytest.raises(InputError, match=message) as info:
            st.load_structure(path)
    assert "\n" not in str(info.value)


def test_load_structure_rejects_degenerate_json(tmp_path):
    data = st.benchmark_structure("ErPt3").as_dict()
    data["lattice"]["matrix"] = [[4.1, 0, 0], [0, 4.1, 0], [0, 0, 0]]
    path = tmp_path / "flat.json"
    path.write_text(json.dumps(data))
    with pytest.raises(InputError, match="non-positive cell volume"):
        st.load_structure(path)
    data = st.benchmark_structure("ErPt3").as_dict()
    data["sites"][0]["abc"] = [float("nan"), 0.0, 0.0]
    path.write_text(json.dumps(data))
    with pytest.raises(InputError, match="NaN"):
        st.load_structure(path)
    with pytest.raises(InputError, match="not found"):
        st.load_structure(tmp_path / "missing.cif")


@needs_shared
@pytest.mark.parametrize("name", [n for n in st.BENCHMARK_NAMES if n != "BPO4"])  # BPO4's CIF is conventional
def test_primitive_cell_has_the_mp20_cells_metric(name):
    """The default cell of coordinate-noise tasks: the standard primitive cell, whose metric is the MP-20
    cell's up to the order and signs of the axes (so isotropic fractional noise has the same law)."""
    from pymatgen.core import Structure

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mp20 = Structure.from_file(_reference_cif(name))
    prim = st.in_cell(st.benchmark_structure(name), "primitive")
    assert len(prim) == len(mp20)

    def metric_invariants(lattice):
        lengths = np.asarray(lattice.abc)
        order = np.argsort(lengths, kind="stable")
        g = lattice.metric_tensor[np.ix_(order, order)]
        return lengths[order], np.abs(g[np.triu_indices(3, 1)])

    ours, theirs = metric_invariants(prim.lattice), metric_invariants(mp20.lattice)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=2e-4)
    np.testing.assert_allclose(ours[1], theirs[1], atol=2e-3 * max(theirs[0]) ** 2)


def test_cells_of_a_centred_structure():
    """PbF2 (Fm-3m): 12 sites conventional, 3 primitive; the Niggli cell is reduced; all the same crystal."""
    from pymatgen.analysis.structure_matcher import StructureMatcher

    conv = st.benchmark_structure("PbF2")
    prim, niggli = st.in_cell(conv, "primitive"), st.in_cell(conv, "niggli")
    assert (len(conv), len(prim), len(niggli)) == (12, 3, 3)
    assert niggli.lattice == niggli.lattice.get_niggli_reduced_lattice()
    np.testing.assert_allclose(prim.volume * 4, conv.volume, rtol=1e-9)
    matcher = StructureMatcher(ltol=0.01, stol=0.01, angle_tol=0.1, scale=False)
    assert matcher.fit(conv, prim) and matcher.fit(conv, niggli)
    assert len(st.in_cell(conv, "conventional")) == 12
    with pytest.raises(ConfigError, match="unknown cell"):
        st.in_cell(conv, "supercell")
