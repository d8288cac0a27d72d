"""Dispatch order and the ETA's cost model: every method probed first, then longest first; the time left
from per-method seconds per unit of cost (store.progress.cost_eta), checked on cases worked by hand."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from xrdtui.jobs.campaign import dispatch_order
from xrdtui.methods import get_method
from xrdtui.store.progress import cost_eta

PENDING, RUNNING, DONE, FAILED = 0, 1, 2, 3


def item(name: str, method: str, cost: float):
    return SimpleNamespace(name=name, cost=cost, info=SimpleNamespace(method=method, task_id=name))


def names(items) -> list[str]:
    return [it.name for it in items]


def test_the_largest_task_of_every_method_goes_first_then_longest_first():
    items = [item("c1", "cosine", 5), item("m1", "multistart", 80), item("c2", "cosine", 9),
             item("m2", "multistart", 90), item("n1", "none", 1), item("x1", "xcorr", 7), item("x2", "xcorr", 3)]
    order = dispatch_order(items, cost=lambda it: it.cost)
    assert names(order) == ["m2", "c2", "x1", "n1", "m1", "c1", "x2"]


def test_a_resume_probes_only_the_methods_with_nothing_finished():
    items = [item("c1", "cosine", 5), item("m1", "multistart", 80), item("c2", "cosine", 9), item("x1", "xcorr", 2)]
    order = dispatch_order(items, learned={"cosine", "multistart"}, cost=lambda it: it.cost)
    assert names(order) == ["x1", "m1", "c2", "c1"]
    assert names(dispatch_order([], cost=lambda it: it.cost)) == []


def test_small_cells_cost_more_per_site_than_large_ones():
    cosine = get_method("cosine")
    per_site_small = cosine.task_cost(10, 2, 999) / 2
    per_site_large = cosine.task_cost(10, 24, 999) / 24
    assert per_site_small / per_site_large == pytest.approx((6 / 2) / (28 / 24))
    assert cosine.task_cost(20, 6, 999) == pytest.approx(2 * cosine.task_cost(10, 6, 999))
    assert get_method("multistart").task_cost(10, 6, 999) > cosine.task_cost(10, 6, 999)


def test_chgnet_lattice_tasks_cost_the_primitive_cell_it_relaxes():
    """PbF2's lattice tasks run in its 12-site conventional cell; CHGNet relaxes the 3-site primitive cell
    (RelaxSettings.supercells = "reduce"), so its cost counts 3 sites, as its coordinate-noise tasks do;
    with supercells = "keep" it counts 12. Descent works on the 12 sites either way."""
    from xrdtui.jobs.campaign import _cost
    from xrdtui.jobs.config import parse_config
    from xrdtui.jobs.tasks import build_work

    def costs(tail=""):
        cfg = parse_config('name = "x"\nstructures = ["PbF2"]\nmethods = ["cosine", "chgnet"]\ndistortions = 4\n'
                           '[noise]\nlattice = [0.05]\ncoords = [0.05]\n' + tail)
        work = build_work(cfg, {"PbF2": 12, ("PbF2", "conventional"): 12, ("PbF2", "primitive"): 3})
        return {(it.info.noise, it.info.method, it.info.mode): (it.info.n_sites, _cost(it)) for it in work}

    reduced, kept = costs(), costs('[chgnet]\nsupercells = "keep"\n')
    chgnet = get_method("chgnet")
    assert reduced[("lattice", "chgnet", "relax")] == (12, chgnet.task_cost(4, 3, 500))  # arrays: 12 sites
    assert reduced[("lattice", "chgnet", "relax")][1] == reduced[("coords", "chgnet", "relax")][1]
    assert kept[("lattice", "chgnet", "relax")] == (12, chgnet.task_cost(4, 12, 500))
    assert reduced[("lattice", "cosine", "free")] == kept[("lattice", "cosine", "free")]
    assert reduced[("lattice", "cosine", "free")][1] == get_method("cosine").task_cost(4, 12, 1000)


def test_a_lattice_only_campaign_still_costs_chgnet_by_the_primitive_cell():
    """No task of a lattice-only campaign uses the primitive cell, so the store holds none; the site counts
    the scheduler gets still carry it (PbF2: 12 conventional sites, pymatgen's primitive cell 3)."""
    from xrdtui.jobs.campaign import _cost, site_counts, structure_infos
    from xrdtui.jobs.config import parse_config
    from xrdtui.jobs.tasks import build_work, structure_for

    cfg = parse_config('name = "x"\nstructures = ["PbF2"]\nmethods = ["chgnet"]\ndistortions = 4\n'
                       '[noise]\nlattice = [0.05]\n')
    infos = structure_infos(cfg)
    assert set(infos[0].cells) == set()  # nothing but the conventional cell is stored
    truth = structure_for("PbF2")
    n_prim = len(truth.get_primitive_structure(tolerance=1e-4))
    assert (len(truth), n_prim) == (12, 3)
    counts = site_counts(infos)
    assert counts[("PbF2", "primitive")] == n_prim
    (item,) = build_work(cfg, counts)
    assert item.cost_sites == n_prim
    assert _cost(item) == get_method("chgnet").task_cost(4, n_prim, 500)


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
