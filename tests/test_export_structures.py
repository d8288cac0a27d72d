"""``xrdtui export``: structures as CIF/POSCAR, trajectories with lattices and coordinates, the data
dictionary, objective columns split by unit, and a reason column that reads back as text.

The store is written with the real StoreWriter around pymatgen's own U2Ti; references are pymatgen
(CifParser, Poscar, StructureMatcher, SpacegroupAnalyzer on the original structure), pandas and the
arrays put into the store."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from xrdtui.cli.main import main
from xrdtui.store.records import StructureInfo, TaskInfo, TaskResult
from xrdtui.store.writer import StoreWriter

DOCS = Path(__file__).resolve().parents[1] / "docs" / "DATA.md"
ENERGIES = np.array([-10.071, -10.076])  # eV/atom: must stay apart in every output


def cli(*args) -> int:
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    return exc.value.code


def _truth():
    from xrdtui.engine.structures import benchmark_structure, frac_coords, lattice_params

    s = benchmark_structure("U2Ti")
    info = StructureInfo(
        name="U2Ti", species=[str(site.specie) for site in s], lattice=lattice_params(s), frac=frac_coords(s),
        spacegroup_symbol="P6/mmm", spacegroup_number=191, family="hexagonal",
        pattern=np.linspace(0, 1, 9000).astype("f4"), two_theta=np.arange(9000) * 0.01)
    return s, info


def _result(info: TaskInfo, truth: StructureInfo, *, loss, lattice, frac, final_loss, failed_last=False):
    b = info.n_members
    init = np.asarray(truth.lattice)[None] * np.array([1.03, 1.03, 0.97, 1.0, 1.0, 1.0])[None].repeat(b, 0)
    final = np.asarray(truth.lattice, float)[None].repeat(b, 0)
    final_frac = np.repeat(truth.frac[None], b, 0).astype(float)
    failed = np.zeros(b, bool)
    if failed_last:
        failed[-1] = True
        final[-1] = np.nan
    matched = ~failed
    steps = np.full(b, loss.shape[0] - 1, np.int32)
    return TaskResult(
        loss=loss, lattice=lattice, frac=frac, n_steps=steps, init_lattice=init,
        init_frac=np.repeat(truth.frac[None], b, 0), final_lattice=final, final_frac=final_frac,
        matched=matched, rms=np.where(matched, 0.001, np.nan), final_loss=final_loss,
        final_similarity=np.full(b, 0.99), converged=~failed, failed=failed,
        reasons=["NaN in lattice" if f else "" for f in failed],
        init_pattern=np.zeros((b, 900), "f2"), final_pattern=np.zeros((b, 900), "f2"), wall_s=1.0,
        worker="test:1", k=int(matched.sum()), n=b, lo=0.1, hi=0.9)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """U2Ti: cosine/projected (3 members, the last failed), chgnet/relax (2 members, energies 1 meV/atom
    apart), coords/cosine/free with per-step coordinates."""
    pmg, truth = _truth()
    n_sites = len(truth.species)
    xrd = TaskInfo.build("U2Ti", "lattice", 0.05, "cosine", "projected", n_members=3, n_sites=n_sites,
                         max_steps=4, traj_frac=False, seed=1)
    relax = TaskInfo.build("U2Ti", "lattice", 0.05, "chgnet", "relax", n_members=2, n_sites=n_sites,
                           max_steps=2, traj_frac=True, seed=1)
    coords = TaskInfo.build("U2Ti", "coords", 0.05, "cosine", "free", n_members=2, n_sites=n_sites,
                            max_steps=3, traj_frac=True, seed=1)
    path = tmp_path_factory.mktemp("export") / "u2ti.h5"
    rng = np.random.default_rng(0)
    w = StoreWriter.create(path, name="u2ti", tasks=[xrd, relax, coords], structures=[truth], config_hash="t",
                           seed=1)
    arrays = {}
    with w:
        for info in (xrd, relax, coords):
            rows, b = info.n_rows, info.n_members
            lattice = (np.asarray(truth.lattice)[None, None] * (1 + 0.01 * rng.random((rows, b, 6)))).astype("f4")
            frac = rng.random((rows, b, n_sites, 3)).astype("f4") if info.traj_frac else None
            if info.method == "chgnet":
                loss = np.stack([ENERGIES + 0.01 * (rows - 1 - t) for t in range(rows)]).astype("f4")
                final = ENERGIES
            else:
                loss = rng.random((rows, b)).astype("f4")
                final = loss[-1].astype(float)
            res = _result(info, truth, loss=loss, lattice=lattice, frac=frac, final_loss=final,
                          failed_last=info.task_id == xrd.task_id)
            w.mark_running(info.task_id)
            w.write_result(info.task_id, res)
            arrays[info.task_id] = res
        w.finish()
    return path, pmg, arrays, (xrd, relax, coords)


def test_cif_of_final_structures_matches_the_truth_with_its_symmetry(store, tmp_path, capsys):
    from pymatgen.analysis.structure_matcher import StructureMatcher
    from pymatgen.io.cif import CifParser
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    path, pmg, _, (xrd, _, _) = store
    out = tmp_path / "cif"
    # the level written as 0.05 (the store says 0.050): one parser reads both
    assert cli("export", path, "--cif", out, "--task", "U2Ti/lattice/0.05/cosine/*") == 0
    said = capsys.readouterr().out
    files = sorted(out.glob("*.cif"))
    assert [f.name for f in files] == [f"U2Ti_lattice_0.050_cosine_projected_m0{b}_final.cif" for b in (0, 1)]
    assert "skipped U2Ti/lattice/0.050/cosine/projected member 2" in said and "symprec 0.01" in said
    expected = SpacegroupAnalyzer(pmg, symprec=0.01).get_space_group_number()
    for f in files:
        text = f.read_text()
        assert text.startswith("# xrdtui export:") and f"symprec 0.01 Å: P6/mmm ({expected})" in text
        parsed = CifParser(str(f)).parse_structures(primitive=False)[0]
        assert StructureMatcher().fit(parsed, pmg)
        assert SpacegroupAnalyzer(parsed, symprec=0.01).get_space_group_number() == expected == 191


def test_cif_of_initial_cells_as_stored_and_of_the_truth(store, tmp_path):
    from pymatgen.io.cif import CifParser

    path, pmg, arrays, (xrd, _, _) = store
    out = tmp_path / "init"
    assert cli("export", path, "--cif", out, "--stage", "initial", "--member", "1", "--symprec", "0",
               "--task", xrd.task_id) == 0
    (f,) = out.glob("*.cif")
    parsed = CifParser(str(f)).parse_structures(primitive=False)[0]
    assert "P1 as stored" in f.read_text()
    np.testing.assert_allclose(parsed.lattice.parameters, arrays[xrd.task_id].init_lattice[1], rtol=1e-7)
    assert cli("export", path, "--cif", tmp_path / "truth", "--stage", "truth") == 0
    (t,) = (tmp_path / "truth").glob("*.cif")  # three tasks, one structure in one cell: one file
    assert t.name == "U2Ti_conventional_truth.cif"
    truth = CifParser(str(t)).parse_structures(primitive=False)[0]
    np.testing.assert_allclose(truth.lattice.abc, pmg.lattice.abc, rtol=1e-6)


def test_poscar_export(store, tmp_path):
    from pymatgen.io.vasp import Poscar

    path, pmg, _, (xrd, _, _) = store
    assert cli("export", path, "--cif", tmp_path, "--poscar", "--task", xrd.task_id, "--member", "0") == 0
    (f,) = tmp_path.glob("*.vasp")
    s = Poscar.from_file(str(f)).structure
    assert s.composition == pmg.composition
    np.testing.assert_allclose(s.lattice.abc, pmg.lattice.abc, rtol=1e-6)


def test_member_csv_splits_objectives_by_unit_and_reason_is_text(store, tmp_path):
    import pandas as pd

    path, _, arrays, (xrd, relax, _) = store
    out = tmp_path / "m.csv"
    assert cli("export", path, "-o", out) == 0
    df = pd.read_csv(out)
    assert pd.api.types.is_string_dtype(df["reason"]) and not df["reason"].isna().any()
    chg = df[df.method == "chgnet"].sort_values("member")
    assert chg["final_loss"].isna().all()
    np.testing.assert_allclose(chg["final_energy"], ENERGIES)
    cos = df[df.task == xrd.task_id].sort_values("member")
    assert cos["final_energy"].isna().all()
    np.testing.assert_allclose(cos["final_loss"], arrays[xrd.task_id].final_loss)
    assert list(cos["reason"]) == ["converged", "converged", "NaN in lattice"]
    assert set(df["similarity_measure"]) == {"cosine"}


def test_trajectories_carry_lattices_and_coordinates(store, tmp_path, capsys):
    import pandas as pd

    path, _, arrays, (_, relax, coords) = store
    out = tmp_path / "t.csv"
    assert cli("export", path, "-o", out, "--trajectories", "--coords") == 0
    assert "coordinate rows" in capsys.readouterr().out
    t = pd.read_csv(out)
    row = t[(t.task == relax.task_id) & (t.member == 1) & (t.step == 2)].iloc[0]
    np.testing.assert_allclose(row[["a", "b", "c", "alpha", "beta", "gamma"]].astype(float),
                               arrays[relax.task_id].lattice[2, 1], rtol=1e-6)
    assert np.isnan(row["loss"]) and row["energy"] == pytest.approx(ENERGIES[1], abs=1e-5)
    c = pd.read_csv(tmp_path / "t.coords.csv")
    frac = arrays[coords.task_id].frac
    site = c[(c.task == coords.task_id) & (c.member == 0) & (c.step == 3)].sort_values("site")
    np.testing.assert_allclose(site[["x", "y", "z"]].to_numpy(), frac[3, 0], rtol=1e-6)
    assert list(site["species"]) == [str(s.specie) for s in store[1]]
    # one row per site and step of every task that stores coordinates (relax: 2 x 3 steps; coords: 2 x 4)
    assert len(c) == 3 * (2 * 3 + 2 * 4)


def test_data_dictionary_describes_every_column_and_docs_repeat_it(store, tmp_path, capsys):
    from xrdtui.cli.export import TABLES, describe_markdown

    path = store[0]
    assert cli("export", "--describe") == 0
    text = capsys.readouterr().out
    for kind, (_, columns) in TABLES.items():
        for col in columns:
            assert re.search(rf"\| `{re.escape(col.name)}` \| {re.escape(col.unit or '–')} \|", text), col.name
    assert "| `final_energy` | eV/atom |" in text and "| `final_loss` | dimensionless |" in text
    assert describe_markdown() in DOCS.read_text(encoding="utf-8")
    # the header the writer emits is the dictionary's, in order
    for kind, flag in (("members", []), ("wide", ["--wide"]), ("trajectories", ["--trajectories"])):
        out = tmp_path / f"{kind}.csv"
        assert cli("export", path, "-o", out, *flag) == 0
        assert out.read_text().splitlines()[0].split(",") == [c.name for c in TABLES[kind][1]]
