"""Dispatch order and the ETA's cost model: every method and noise type probed first, then longest first;
task costs (fixed per-step overhead, CHGNet sized by its graph); the time left from seconds per unit of cost
per method and noise type (store.progress.cost_eta), checked on cases worked by hand."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from xrdtui.jobs.campaign import dispatch_order
from xrdtui.methods import get_method
from xrdtui.store.progress import cost_eta

PENDING, RUNNING, DONE, FAILED = 0, 1, 2, 3


def item(name: str, method: str, cost: float, noise: str = "lattice"):
    return SimpleNamespace(name=name, cost=cost, info=SimpleNamespace(method=method, task_id=name, noise=noise))


def names(items) -> list[str]:
    return [it.name for it in items]


def test_the_largest_task_of_every_method_goes_first_then_longest_first():
    items = [item("c1", "cosine", 5), item("m1", "multistart", 80), item("c2", "cosine", 9),
             item("m2", "multistart", 90), item("n1", "none", 1), item("x1", "xcorr", 7), item("x2", "xcorr", 3)]
    order = dispatch_order(items, cost=lambda it: it.cost)
    assert names(order) == ["m2", "c2", "x1", "n1", "m1", "c1", "x2"]


def test_each_noise_type_of_a_method_is_probed_on_its_own():
    items = [item("cl", "cosine", 9), item("cc1", "cosine", 4, "coords"), item("cc2", "cosine", 6, "coords"),
             item("ml", "mse", 8), item("mc", "mse", 2, "coords"), item("cl2", "cosine", 7)]
    order = dispatch_order(items, cost=lambda it: it.cost)
    assert names(order) == ["cl", "ml", "cc2", "mc", "cl2", "cc1"]


def test_a_resume_probes_only_the_groups_with_nothing_finished():
    items = [item("c1", "cosine", 5), item("m1", "multistart", 80), item("c2", "cosine", 9), item("x1", "xcorr", 2),
             item("c3", "cosine", 1, "coords")]
    order = dispatch_order(items, learned={("cosine", "lattice"), ("multistart", "lattice")}, cost=lambda it: it.cost)
    assert names(order) == ["x1", "c3", "m1", "c2", "c1"]
    assert names(dispatch_order([], cost=lambda it: it.cost)) == []


def test_a_descent_step_costs_a_fixed_part_beyond_its_members():
    """cost x (1 + steps) x (overhead + members x (sites + 4)): by hand for cosine (weight 1), 10 members of
    2 sites, 999 steps; doubling the members doubles only the members' part; a relaxation has no overhead."""
    from xrdtui.methods.registry import DESCENT_STEP_OVERHEAD, SITE_OFFSET

    cosine, chgnet = get_method("cosine"), get_method("chgnet")
    assert SITE_OFFSET == 4 and DESCENT_STEP_OVERHEAD == 170.0
    assert cosine.member_size(2) == 6.0
    assert cosine.task_cost(10, 6.0, 999) == pytest.approx(1000 * (170 + 60))
    assert cosine.task_cost(20, 6.0, 999) - cosine.task_cost(10, 6.0, 999) == pytest.approx(1000 * 60)
    per_site_small = cosine.task_cost(10, cosine.member_size(2), 999) / 2
    per_site_large = cosine.task_cost(10, cosine.member_size(24), 999) / 24
    assert per_site_small / per_site_large == pytest.approx(((170 + 60) / 2) / ((170 + 280) / 24))
    assert chgnet.task_cost(10, 30.0, 500) == pytest.approx(chgnet.cost * 501 * 10 * 30.0)
    assert get_method("none").task_cost(10, 6.0, 0) == pytest.approx(get_method("none").cost * 60)
    assert get_method("multistart").task_cost(10, 6.0, 999) > cosine.task_cost(10, 6.0, 999)


def test_chgnet_members_are_sized_by_the_graph_others_by_their_sites():
    assert get_method("chgnet").member_size(3, 18.5) == 18.5
    assert get_method("chgnet").member_size(3, None) == 7.0  # no graph known: sites + 4
    assert get_method("cosine").member_size(3, 18.5) == 7.0


def _brute_force_graph_counts(structure, atom_cutoff=6.0, bond_cutoff=3.0):
    """Directed neighbour pairs within the atom-graph cutoff over periodic images, and at each atom b (b - 1)
    for its b neighbours within the bond cutoff: written here with a plain loop over image translations."""
    lattice = structure.lattice.matrix
    cart = structure.cart_coords
    reach = int(np.ceil(atom_cutoff / min(structure.lattice.abc))) + 1
    shifts = np.array([[i, j, k] for i in range(-reach, reach + 1) for j in range(-reach, reach + 1)
                       for k in range(-reach, reach + 1)], dtype=float) @ lattice
    edges, short = 0, np.zeros(len(structure), int)
    for a in range(len(structure)):
        for b in range(len(structure)):
            d = np.linalg.norm(cart[b] + shifts - cart[a], axis=1)
            ok = (d > 1e-8) & (d < atom_cutoff)
            edges += int(ok.sum())
            short[a] += int(((d > 1e-8) & (d < bond_cutoff)).sum())
    return edges, int((short * (short - 1)).sum())


@pytest.mark.parametrize("name, cell", [("PbF2", "primitive"), ("ErPt3", "conventional"), ("BPO4", "primitive")])
def test_graph_size_counts_what_chgnet_passes_messages_over(name, cell):
    from xrdtui.engine.chgnet_graph import graph_cost_size
    from xrdtui.engine.structures import benchmark_structure, in_cell

    structure = in_cell(benchmark_structure(name), cell)
    edges, angles = _brute_force_graph_counts(structure)
    assert graph_cost_size(structure) == pytest.approx((edges + angles / 6) / 10)
    # the same crystal in a cell twice the size: twice the graph
    assert graph_cost_size(structure * (2, 1, 1)) == pytest.approx(2 * graph_cost_size(structure))


def test_chgnet_lattice_tasks_cost_the_primitive_cell_it_relaxes():
    """PbF2's lattice tasks run in its 12-site conventional cell; CHGNet relaxes the 3-site primitive cell
    (RelaxSettings.supercells = "reduce"), so its cost sizes the primitive cell's graph, as its coordinate-
    noise tasks (in the primitive cell) do; with supercells = "keep" the conventional cell's, four times
    as large. Descent works on the 12 sites either way."""
    from xrdtui.jobs.campaign import _cost
    from xrdtui.jobs.config import parse_config
    from xrdtui.jobs.tasks import build_work

    sizes = {("PbF2", "conventional"): 74.0, ("PbF2", "primitive"): 18.5}

    def costs(tail=""):
        cfg = parse_config('name = "x"\nstructures = ["PbF2"]\nmethods = ["cosine", "chgnet"]\ndistortions = 4\n'
                           '[noise]\nlattice = [0.05]\ncoords = [0.05]\n' + tail)
        work = build_work(cfg, {"PbF2": 12, ("PbF2", "conventional"): 12, ("PbF2", "primitive"): 3}, "cpu", sizes)
        return {(it.info.noise, it.info.method, it.info.mode): (it.info.n_sites, _cost(it)) for it in work}

    reduced, kept = costs(), costs('[chgnet]\nsupercells = "keep"\n')
    chgnet, cosine = get_method("chgnet"), get_method("cosine")
    assert reduced[("lattice", "chgnet", "relax")] == (12, chgnet.task_cost(4, 18.5, 500))  # arrays: 12 sites
    assert reduced[("lattice", "chgnet", "relax")][1] == reduced[("coords", "chgnet", "relax")][1]
    assert kept[("lattice", "chgnet", "relax")] == (12, chgnet.task_cost(4, 74.0, 500))
    assert reduced[("lattice", "cosine", "free")] == kept[("lattice", "cosine", "free")]
    assert reduced[("lattice", "cosine", "free")][1] == cosine.task_cost(4, 16.0, 1000)
    assert reduced[("coords", "cosine", "free")][1] == cosine.task_cost(4, 7.0, 1000)


def test_a_lattice_only_campaign_still_costs_chgnet_by_the_primitive_cell():
    """No task of a lattice-only campaign uses the primitive cell, so the store holds none; the cells the
    scheduler sizes still include it (PbF2: 12 conventional sites, pymatgen's primitive cell 3)."""
    from xrdtui.engine.chgnet_graph import graph_cost_size
    from xrdtui.jobs.campaign import _cost, cell_structures, graph_sizes, site_counts, structure_infos
    from xrdtui.jobs.config import parse_config
    from xrdtui.jobs.tasks import build_work, structure_for

    cfg = parse_config('name = "x"\nstructures = ["PbF2"]\nmethods = ["chgnet"]\ndistortions = 4\n'
                       '[noise]\nlattice = [0.05]\n')
    infos = structure_infos(cfg)
    assert set(infos[0].cells) == set()  # nothing but the conventional cell is stored
    truth = structure_for("PbF2")
    primitive = truth.get_primitive_structure(tolerance=1e-4)
    assert (len(truth), len(primitive)) == (12, 3)
    cells = cell_structures(infos)
    counts, sizes = site_counts(infos, cells), graph_sizes(cfg, cells)
    assert counts[("PbF2", "primitive")] == 3
    assert sizes[("PbF2", "primitive")] == pytest.approx(graph_cost_size(primitive))
    (item,) = build_work(cfg, counts, "cpu", sizes)
    assert item.cost_size == pytest.approx(graph_cost_size(primitive))
    assert _cost(item) == pytest.approx(get_method("chgnet").task_cost(4, graph_cost_size(primitive), 500))
    no_graph = parse_config('name = "y"\nstructures = ["PbF2"]\nmethods = ["cosine"]\n[noise]\nlattice = [0.05]\n')
    assert graph_sizes(no_graph, cells) == {}  # no method sized by the graph: no neighbour lists built


def test_time_left_from_each_methods_own_rate_and_the_pooled_rate_for_the_rest():
    # finished: cosine 100 s for cost 50 (2 s/unit), multistart 300 s for cost 600 (0.5 s/unit)
    # left: cosine cost 30 (60 s), multistart cost 200 half done (50 s), xcorr cost 10 at the pooled
    # 400 s / 650 units; two workers share it.
    status = np.array([DONE, DONE, PENDING, RUNNING, PENDING])
    cost = np.array([50.0, 600.0, 30.0, 200.0, 10.0])
    wall = np.array([100.0, 300.0, np.nan, np.nan, np.nan])
    method = np.array(["cosine", "multistart", "cosine", "multistart", "xcorr"])
    members_done = np.array([0, 0, 0, 5, 0])
    n_members = np.array([10, 10, 10, 10, 10])
    eta = cost_eta(status, cost, wall, method, members_done, n_members, workers=2)
    assert eta == pytest.approx((60 + 50 + 10 * 400 / 650) / 2)


def test_no_eta_before_a_finished_task_and_zero_at_the_end():
    method = np.array(["cosine", "cosine"])
    args = (np.array([10.0, 10.0]), np.array([np.nan, np.nan]), method, np.zeros(2), np.ones(2))
    assert math.isnan(cost_eta(np.array([RUNNING, PENDING]), *args, workers=2))
    assert cost_eta(np.array([DONE, FAILED]), *args, workers=2) == 0.0
    assert math.isnan(cost_eta(np.array([DONE, PENDING]), np.array([10.0, 10.0]), np.array([5.0, np.nan]), method,
                               np.zeros(2), np.ones(2), workers=0))


def test_a_running_task_counts_the_time_it_has_run_but_never_all_of_it():
    # finished: 100 s for cost 50 (2 s/unit). Running: cost 30 (60 s expected) for 45 s with 2 of 10 members
    # done -> 75 % along by time, 15 s left; cost 10 (20 s expected) for 200 s -> capped, 5 % = 1 s left.
    status = np.array([DONE, RUNNING, RUNNING, PENDING])
    cost = np.array([50.0, 30.0, 10.0, 5.0])
    wall = np.array([100.0, np.nan, np.nan, np.nan])
    method = np.array(["cosine"] * 4)
    members_done = np.array([0, 2, 0, 0])
    n_members = np.array([10] * 4)
    running_s = np.array([0.0, 45.0, 200.0, np.nan])
    eta = cost_eta(status, cost, wall, method, members_done, n_members, workers=1, running_s=running_s)
    assert eta == pytest.approx(15 + 1 + 10)
    # without the clock only members count: 48 s + 20 s + 10 s
    assert cost_eta(status, cost, wall, method, members_done, n_members, workers=1) == pytest.approx(48 + 20 + 10)


def test_time_left_from_each_method_and_noise_types_own_rate():
    # finished: cosine lattice 100 s / cost 50 (2 s/unit), cosine coords 50 s / 10 (5 s/unit), mse lattice
    # 30 s / 30 (1 s/unit). Left: cosine coords cost 4 (20 s), cosine lattice cost 4 (8 s), mse coords cost 6
    # at mse's own 1 s/unit (6 s: no mse coords task finished yet), xcorr cost 9 at the pooled 180/90 (18 s).
    status = np.array([DONE, DONE, DONE, PENDING, PENDING, PENDING, PENDING])
    cost = np.array([50.0, 10.0, 30.0, 4.0, 4.0, 6.0, 9.0])
    wall = np.array([100.0, 50.0, 30.0, np.nan, np.nan, np.nan, np.nan])
    method = np.array(["cosine", "cosine", "mse", "cosine", "cosine", "mse", "xcorr"])
    noise = np.array(["lattice", "coords", "lattice", "coords", "lattice", "coords", "lattice"])
    zeros, ones = np.zeros(7), np.ones(7)
    eta = cost_eta(status, cost, wall, method, zeros, ones, workers=2, noise=noise)
    assert eta == pytest.approx((20 + 8 + 6 + 18) / 2)
    # without noise types every cosine task takes cosine's pooled 150 s / 60 units
    assert cost_eta(status, cost, wall, method, zeros, ones, workers=2) == pytest.approx(
        (8 * 150 / 60 + 6 + 18) / 2)
