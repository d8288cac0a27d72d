"""engine.chgnet_graph against chgnet's own CrystalGraphConverter: every tensor equal, element for element."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

pytest.importorskip("chgnet")

from pymatgen.core import Lattice, Structure  # noqa: E402

from xrdtui.engine import chgnet_graph  # noqa: E402
from xrdtui.engine.chgnet_graph import crystal_graph, graph_of, same_graph  # noqa: E402
from xrdtui.engine.noise import distort  # noqa: E402
from xrdtui.engine.structures import BENCHMARK_NAMES, benchmark_structure, in_cell, with_params  # noqa: E402


@pytest.fixture(scope="module")
def converter():
    """A converter like the model's own, with chgnet's default response to isolated atoms ("error"): the
    model's is switched to "warn" by every CHGNetCalculator made on it, so it depends on what ran before."""
    from xrdtui.engine.relax import load_model

    own = load_model().graph_converter
    assert (own.atom_graph_cutoff, own.bond_graph_cutoff, own.algorithm) == (6, 3, "fast")
    return type(own)(atom_graph_cutoff=6, bond_graph_cutoff=3, on_isolated_atoms="error")


@pytest.mark.parametrize("name", BENCHMARK_NAMES)
def test_benchmark_structures_and_their_distortions_give_chgnets_graph(converter, name):
    for cell in ("conventional", "primitive"):
        truth = in_cell(benchmark_structure(name), cell)
        starts = [truth]
        for noise in ("lattice", "coords"):
            d = distort(truth, name, noise, 0.1, 2, seed=11)
            starts += [with_params(truth, lat, fr) for lat, fr in zip(d.lattice, d.frac)]
        for s in starts:
            mine, theirs = crystal_graph(converter, s), converter(s)
            assert mine is not None and same_graph(mine, theirs)
            assert len(theirs.bond_graph) > 0 and len(theirs.atom_graph) > 10 * len(s)  # real graphs


_ELEMENTS = ["Na", "Cl", "O", "Ti", "Au", "S", "U", "Pt", "Fe", "Li"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lengths=st.tuples(*[st.floats(2.5, 7.0)] * 3),
    angles=st.tuples(*[st.floats(70.0, 110.0)] * 3),
    n=st.integers(1, 6),
    data=st.data(),
)
def test_random_cells_give_chgnets_graph(converter, lengths, angles, n, data):
    frac = data.draw(st.lists(st.tuples(*[st.floats(0, 1, exclude_max=True)] * 3), min_size=n, max_size=n))
    species = data.draw(st.lists(st.sampled_from(_ELEMENTS), min_size=n, max_size=n))
    try:
        lattice = Lattice.from_parameters(*lengths, *angles)
    except Exception:
        assume(False)
    assume(lattice.volume > 1.0)
    s = Structure(lattice, species, frac)
    if n > 1:
        assume(s.distance_matrix[np.triu_indices(n, 1)].min() > 0.8)
    mine = crystal_graph(converter, s)
    try:
        theirs = converter(s)
    except Exception as exc:  # chgnet refuses (an isolated atom): so does ours, with chgnet's error
        assert mine is None
        with pytest.raises(type(exc)):
            graph_of(converter, s)
        return
    assert same_graph(mine, theirs)


def test_an_isolated_atom_goes_to_chgnets_converter_whatever_its_response(converter):
    """chgnet's converter raises ("error", its default) or prints and goes on ("warn", what every
    CHGNetCalculator sets on the model it is given); graph_of hands such a structure to it either way."""
    s = Structure(Lattice.cubic(20.0), ["Na", "Cl", "Fe"], [[0, 0, 0], [0.1, 0, 0], [0.5, 0.5, 0.5]])
    assert crystal_graph(converter, s) is None
    strict = type(converter)(atom_graph_cutoff=6, bond_graph_cutoff=3, on_isolated_atoms="error")
    with pytest.raises(ValueError, match="isolated atom"):
        graph_of(strict, s)
    lenient = type(converter)(atom_graph_cutoff=6, bond_graph_cutoff=3, on_isolated_atoms="warn")
    graph = graph_of(lenient, s)
    assert same_graph(graph, lenient(s)) and len(graph.atomic_number) == 3


def test_same_graph_notices_a_changed_entry_and_the_runtime_check_falls_back(converter, monkeypatch):
    s = benchmark_structure("Au2S")
    good = crystal_graph(converter, s)
    bad = crystal_graph(converter, s)
    bad.bond_graph[0, 4] += 1
    assert same_graph(good, converter(s)) and not same_graph(bad, converter(s))

    original = chgnet_graph.crystal_graph

    def wrong(conv, structure):
        g = original(conv, structure)
        g.directed2undirected[0] += 1
        return g

    fresh = type(converter)(atom_graph_cutoff=converter.atom_graph_cutoff,
                            bond_graph_cutoff=converter.bond_graph_cutoff)
    monkeypatch.setattr(chgnet_graph, "crystal_graph", wrong)
    assert chgnet_graph._agrees_with_chgnet(fresh) is False
    out = graph_of(fresh, s)  # the check failed: chgnet's own graph, not the wrong one
    assert same_graph(out, converter(s))

