"""CHGNet's crystal graph of a structure, built with array operations: the same tensors, element for element,
as ``CrystalGraphConverter`` (chgnet 0.3-0.4, its "fast" algorithm) gives, in a quarter of the time.

CHGNet's converter takes pymatgen's neighbour list within the atom-graph cutoff (6 Å), pairs each directed
edge i -> j (image t) with its reverse j -> i (image -t) into one undirected bond (chgnet's C code, one
Python object per edge), then lists the angles of the bond graph in a Python loop over every bond and every
edge of its end atoms (bonds and edges shorter than the bond-graph cutoff, 3 Å). In a lockstep relaxation that
is 15-17 % of a step (benchmarks/chgnet_profile.py). Here the same rules act on arrays:

- the edges are pymatgen's, in pymatgen's order (the same call, ``Structure.get_neighbor_list``);
- a directed edge whose reverse came earlier joins that edge's bond; any other opens the next bond, so bond u's
  first edge is ``undirected2directed[u]`` and bonds are numbered in the order their first edges appear;
- an atom's edges are visited grouped by neighbour, neighbours in order of first appearance, edges in order
  (chgnet's per-atom hash map iterates in insertion order);
- the angle rows [atom, bond u, edge of u at atom, bond of e, edge e] run over bonds u with length <= 3 Å, each
  end of u in turn (the first edge's centre, then its neighbour), and the end atom's edges e != u's edge with
  length < 3 Å, in the order above.

Where the generic rules would not hold (an edge without a reverse, a repeated edge, an isolated atom, an index
too large to pack) the structure goes to chgnet's own converter, which raises or warns as it does. The tensors
are checked equal to chgnet's on the benchmark structures and random distortions (tests/test_chgnet_graph.py),
and once per converter at run time (:func:`graph_of` falls back for good if they ever differ).
"""

from __future__ import annotations

import weakref

import numpy as np

_AGREES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# an edge (centre, neighbour, image) packs into one int64: 10 + 10 bits of atom index, 3 x 12 of image offset
_ATOM_LIMIT = 1 << 10
_IMAGE_SPAN = 1 << 12


def graph_of(converter, structure):
    """The CrystalGraph of ``structure`` for ``converter`` (a chgnet ``CrystalGraphConverter``): the vectorised
    build when it reproduces chgnet's on this installation (checked once per converter), else chgnet's."""
    agrees = _AGREES.get(converter)
    if agrees is None:
        agrees = _AGREES[converter] = _agrees_with_chgnet(converter)
    if agrees:
        graph = crystal_graph(converter, structure)
        if graph is not None:
            return graph
    return converter(structure)


def crystal_graph(converter, structure):
    """The vectorised CrystalGraph, or None where chgnet's own converter must decide (see the module text)."""
    import torch
    from chgnet.graph.converter import TORCH_DTYPE
    from chgnet.graph.crystalgraph import CrystalGraph

    n_atoms = len(structure)
    center, neighbor, image, distance = structure.get_neighbor_list(
        r=converter.atom_graph_cutoff, sites=structure.sites, numerical_tol=1e-8
    )
    edges = _edges(n_atoms, np.asarray(center, dtype=np.int64), np.asarray(neighbor, dtype=np.int64),
                   np.asarray(image, dtype=np.int64), np.asarray(distance, dtype=np.float64),
                   float(converter.bond_graph_cutoff))
    if edges is None:
        return None
    atom_graph, directed2undirected, undirected2directed, bond_graph = edges
    return CrystalGraph(
        atomic_number=torch.tensor([site.specie.Z for site in structure], dtype=torch.int32, requires_grad=False),
        atom_frac_coord=torch.tensor(structure.frac_coords, dtype=TORCH_DTYPE, requires_grad=True),
        atom_graph=torch.from_numpy(atom_graph.astype(np.int32)),
        neighbor_image=torch.tensor(np.asarray(image), dtype=TORCH_DTYPE),
        directed2undirected=torch.from_numpy(directed2undirected.astype(np.int32)),
        undirected2directed=torch.from_numpy(undirected2directed.astype(np.int32)),
        bond_graph=torch.from_numpy(bond_graph.astype(np.int32)),
        lattice=torch.tensor(structure.lattice.matrix, dtype=TORCH_DTYPE, requires_grad=True),
        graph_id=None,
        mp_id=None,
        composition=structure.composition.formula,
        atom_graph_cutoff=converter.atom_graph_cutoff,
        bond_graph_cutoff=converter.bond_graph_cutoff,
    )


def _edges(n_atoms, center, neighbor, image, distance, bond_cutoff):
    """(atom_graph [E, 2], directed2undirected [E], undirected2directed [U], bond_graph [A, 5] or [0]) as chgnet
    builds them from this neighbour list, or None when the generic rules do not apply."""
    n_edges = len(center)
    if n_edges == 0 or len(np.unique(center)) != n_atoms:  # an isolated atom: chgnet raises or warns
        return None
    if n_atoms >= _ATOM_LIMIT or np.abs(image).max() >= _IMAGE_SPAN // 2:
        return None
    key = _pack(center, neighbor, image)
    order = np.argsort(key, kind="stable")
    sorted_keys = key[order]
    if np.any(sorted_keys[1:] == sorted_keys[:-1]):  # a repeated edge: chgnet's pairing differs
        return None
    reverse_key = _pack(neighbor, center, -image)
    at = np.searchsorted(sorted_keys, reverse_key)
    at = np.minimum(at, n_edges - 1)
    if np.any(sorted_keys[at] != reverse_key):  # an edge without its reverse: chgnet raises
        return None
    reverse = order[at]
    index = np.arange(n_edges)
    opens = reverse > index  # the first of its pair: opens a bond
    bond_of_opening = np.cumsum(opens) - 1
    directed2undirected = np.where(opens, bond_of_opening, bond_of_opening[reverse])
    undirected2directed = index[opens]
    second = reverse[undirected2directed]  # each bond's other edge
    atom_graph = np.stack([center, neighbor], axis=1)

    # each atom's edges grouped by neighbour (first appearance), in order within a group
    pair = center * n_atoms + neighbor
    _, first, inverse = np.unique(pair, return_index=True, return_inverse=True)
    visit = np.lexsort((index, first[inverse], center))
    short = distance[visit] < bond_cutoff
    visit_short = visit[short]
    centers_short = center[visit_short]
    starts = np.searchsorted(centers_short, np.arange(n_atoms + 1))

    rows = []
    bond_ok = distance[undirected2directed] <= bond_cutoff
    for u in np.flatnonzero(bond_ok):
        own_first, own_second = undirected2directed[u], second[u]
        for atom, own in ((center[own_first], own_first), (neighbor[own_first], own_second)):
            others = visit_short[starts[atom]:starts[atom + 1]]
            others = others[others != own]
            if len(others):
                block = np.empty((len(others), 5), dtype=np.int64)
                block[:, 0], block[:, 1], block[:, 2] = atom, u, own
                block[:, 3], block[:, 4] = directed2undirected[others], others
                rows.append(block)
    bond_graph = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    return atom_graph, directed2undirected, undirected2directed, bond_graph


def _pack(a, b, image):
    """One int64 per directed edge (centre, neighbour, image); equal keys = equal edges."""
    span = _IMAGE_SPAN
    shifted = image + span // 2
    return (((a * _ATOM_LIMIT + b) * span + shifted[:, 0]) * span + shifted[:, 1]) * span + shifted[:, 2]


def _agrees_with_chgnet(converter) -> bool:
    """Whether crystal_graph reproduces this chgnet's converter on small probe structures (tensor for tensor)."""
    from xrdtui.engine.chgnet_internals import probe_structures

    try:
        return all(same_graph(crystal_graph(converter, p), converter(p)) for p in probe_structures())
    except Exception:
        return False


GRAPH_FIELDS = ("atomic_number", "atom_frac_coord", "atom_graph", "neighbor_image", "directed2undirected",
                "undirected2directed", "bond_graph", "lattice")


def same_graph(mine, theirs) -> bool:
    """Every tensor of two CrystalGraphs equal in dtype, shape and value, and the same composition and cutoffs."""
    if mine is None or theirs is None:
        return False
    for name in GRAPH_FIELDS:
        a, b = getattr(mine, name), getattr(theirs, name)
        if a.dtype != b.dtype or a.shape != b.shape or a.requires_grad != b.requires_grad or not bool((a == b).all()):
            return False
    return (mine.composition == theirs.composition and mine.atom_graph_cutoff == theirs.atom_graph_cutoff
            and mine.bond_graph_cutoff == theirs.bond_graph_cutoff)


ATOM_GRAPH_CUTOFF = 6.0  # Å, CHGNet 0.3.0's atom graph (its converter's atom_graph_cutoff)
BOND_GRAPH_CUTOFF = 3.0  # Å, its bond graph (bond_graph_cutoff)
ANGLE_WEIGHT = 1 / 6  # what an angle costs against an edge in one member-step (fit below)
EDGES_PER_COST_UNIT = 10.0  # the cost model's unit of per-member work


def graph_cost_size(structure) -> float:
    """Per-member work of one CHGNet step, for the scheduler's cost model (dimensionless):

        size = (E + A / 6) / 10

    E: directed edges of the atom graph (neighbour pairs within 6 Å, periodic images included), A: rows of
    the bond graph (at each atom with b bonds shorter than 3 Å, b (b - 1) ordered bond pairs) — the counts
    CHGNet's message passing runs over, from pymatgen's neighbour list without building the graph. One
    lockstep member-step (model call and FIRE step) took 0.069-0.083 ms per unit of E + A/6 on U2Ti (E 162,
    A 42), Au2S (212, 32), ErPt3 (216, 528), BPO4 (544, 336) and Na3MnCoNiO6 (972, 816) primitive cells
    (12, 15, 22, 46 and 92 ms; benchmarks/chgnet_profile.py), where sites + 4 spread 1.5-5.8 ms per unit."""
    center, _neighbour, _image, distance = structure.get_neighbor_list(ATOM_GRAPH_CUTOFF, numerical_tol=1e-8)[:4]
    center = np.asarray(center)
    short = np.bincount(center[np.asarray(distance) < BOND_GRAPH_CUTOFF], minlength=len(structure))
    angles = float(np.sum(short * (short - 1)))
    return (len(center) + ANGLE_WEIGHT * angles) / EDGES_PER_COST_UNIT
