"""The TUI's rough edges (issue 15), driven with Pilot on the synthetic stores of test_views_support:
focus, expand-all, enter on a one-task filter, filtered rates, the footer at 80x24, labelled workers,
energies to 1 meV/atom, the Figure-1 legend and ticks, and the resume hint of a stopped store."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from textual.widgets import DataTable, Static, Tree
from textual.widgets._footer import FooterKey

from tests.test_views_app import cell, plain, quiet_app, settle, sync
from tests.test_views_support import add_landscapes, make_store
from xrdtui.store.reader import StoreReader
from xrdtui.views.screens.detail import DetailScreen


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("edges") / "store"
    add_landscapes(make_store(folder / "demo.h5", running=2, finish=False))
    return folder


def _nodes(tree: Tree):
    out = []

    def walk(node):
        for child in node.children:
            out.append(child)
            walk(child)

    walk(tree.root)
    return out


@sync
async def test_tree_has_the_first_focus_and_e_expands_everything(folder):
    app = quiet_app(folder)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        tree = app.screen.query_one("#tree", Tree)
        assert app.focused is tree
        groups = [n for n in _nodes(tree) if n.allow_expand and getattr(n.data, "key", None)]
        assert groups and not all(n.is_expanded for n in groups)
        await pilot.press("e")
        groups = [n for n in _nodes(tree) if n.allow_expand and getattr(n.data, "key", None)]
        assert all(n.is_expanded for n in groups)
        with StoreReader.open(folder / "demo.h5") as r:
            n_tasks = len(r.tasks())
        assert sum(1 for n in _nodes(tree) if getattr(n.data, "is_leaf", False)) == n_tasks
        await pilot.press("e")  # again: everything collapses
        assert not any(n.is_expanded for n in tree.root.children)


@sync
async def test_groups_get_their_children_when_first_opened(folder):
    """The tree makes a group's children when it is first expanded; they then carry the counts of
    their tasks read straight from the store."""
    with StoreReader.open(folder / "demo.h5") as r:
        rows = r.tasks()
    app = quiet_app(folder)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        tree = app.screen.query_one("#tree", Tree)
        first = tree.root.children[0]
        name = first.label.plain.split()[0]
        assert first.allow_expand and not first.is_expanded and list(first.children) == []
        tree.move_cursor(first)
        await pilot.press("space")
        await settle(pilot)
        assert first.is_expanded
        noises = [c.label.plain.split()[0] for c in first.children]
        mine = [r for r in rows if r.structure == name]
        assert noises == list(dict.fromkeys(r.noise for r in mine))
        for child, noise in zip(first.children, noises):
            sub = [r for r in mine if r.noise == noise]
            done = sum(r.status == "done" for r in sub)
            assert f"{done}/{len(sub)}" in child.label.plain
            assert list(child.children) == []  # one level at a time


@sync
async def test_enter_on_a_filter_that_leaves_one_task_opens_it(folder):
    app = quiet_app(folder)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"au2s lattice 0.080 mse projected", "enter")
        await settle(pilot)
        assert isinstance(app.screen, DetailScreen) and app.screen.task_id == "Au2S/lattice/0.080/mse/projected"
        await pilot.press("escape")
        await pilot.press("slash", *" ", "backspace")  # two tasks left: enter only filters
        await pilot.press("ctrl+a", "ctrl+k", *"au2s lattice 0.080 mse", "enter")
        await settle(pilot)
        assert not isinstance(app.screen, DetailScreen)
        assert app.screen.query_one("#filter").value == "au2s lattice 0.080 mse"
        leaves = [n for n in _nodes(app.screen.query_one("#tree", Tree)) if getattr(n.data, "is_leaf", False)]
        assert [n.data.task_id for n in leaves] == ["Au2S/lattice/0.080/mse/free", "Au2S/lattice/0.080/mse/projected"]


@sync
async def test_rates_beside_filtered_counts_are_the_filtered_tasks(folder):
    from xrdtui.engine.matching import jeffreys_interval
    from xrdtui.store.records import pooled

    with StoreReader.open(folder / "demo.h5") as r:
        rows = [t for t in r.tasks() if t.structure == "U2Ti" and t.method == "cosine"]
        everything = [t for t in r.tasks() if t.structure == "U2Ti"]
    k, n = pooled(rows)
    lo, hi = jeffreys_interval(k, n)
    k_all, n_all = pooled(everything)
    assert (k, n) != (k_all, n_all)
    app = quiet_app(folder)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"u2ti cosine", "enter")
        await settle(pilot)
        tree = app.screen.query_one("#tree", Tree)
        label = tree.root.children[0].label.plain
        done = sum(t.status == "done" for t in rows)
        assert label.startswith("U2Ti") and f"{done}/{len(rows)}" in label
        assert f"{k / n:.2f} [{lo:.2f},{hi:.2f}]" in label  # recomputed for the filter, interval included
        await pilot.press("escape")
        await pilot.pause(0.3)  # the filter box applies its text after a short debounce
        await settle(pilot)
        lo_all, hi_all = jeffreys_interval(k_all, n_all)
        assert f"{k_all / n_all:.2f} [{lo_all:.2f},{hi_all:.2f}]" in tree.root.children[0].label.plain


def _quit_key_visible(app, width: int) -> bool:
    keys = [k for k in app.screen.query(FooterKey) if k.action in ("quit", "app.quit")]
    return bool(keys) and all(k.region.width > 0 and k.region.right <= width for k in keys)


async def _footer_laid_out(pilot, width: int, timeout: float = 20.0) -> bool:
    """Whether Quit shows within ``width``, once the footer has been laid out: a pushed screen composes its
    footer keys after mounting and sizes them on a later refresh, which a loaded machine can delay."""
    deadline = time.monotonic() + timeout
    while not _quit_key_visible(pilot.app, width) and time.monotonic() < deadline:
        await pilot.pause(0.05)
    return _quit_key_visible(pilot.app, width)


@sync
async def test_footer_keeps_quit_at_80x24(folder):
    app = quiet_app(folder)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for key in ("b", "m", "t"):
            await pilot.press(key)
            await settle(pilot)
            assert await _footer_laid_out(pilot, 80), key
        app.push_screen(DetailScreen(app.store, "U2Ti/lattice/0.080/cosine/free"))
        await settle(pilot)
        assert await _footer_laid_out(pilot, 80)


@sync
async def test_detail_labels_the_worker_and_shows_energies_to_a_mev(folder):
    with StoreReader.open(folder / "demo.h5") as r:
        rec = r.task("U2Ti/lattice/0.020/chgnet/relax")
    app = quiet_app(folder)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        app.push_screen(DetailScreen(app.store, "U2Ti/lattice/0.020/chgnet/relax"))
        await settle(pilot)
        head = plain(app.screen.query_one("#detail-head", Static))
        assert f"worker {rec.result.worker}" in head
        members = app.screen.query_one("#members", DataTable)
        for b, energy in enumerate(rec.result.final_loss):
            assert cell(members, str(b), "loss") == f"{energy:.3f}"
        note = plain(app.screen.query_one("#member-note", Static))
        assert f"final energy {rec.result.final_loss[0]:.3f} eV/atom" in note


def test_energies_one_mev_apart_read_differently():
    from xrdtui.views.fmt import fmt_num, fmt_objective

    assert fmt_num(-10.071, 3) == fmt_num(-10.076, 3) == "-10.1"  # what the table showed before
    assert (fmt_objective(-10.071, "eV/atom", 3), fmt_objective(-10.076, "eV/atom", 3)) == ("-10.071", "-10.076")
    assert fmt_objective(0.0176934, "dimensionless", 3) == "0.0177"


@sync
async def test_figure1_legend_beside_the_plot_and_round_ticks(folder):
    app = quiet_app(folder)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("t")
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        legend = plain(app.screen.query_one("#figure1-legend", Static))
        for label in ("cosine/free", "cosine/projected", "mse/free", "mse/projected", "chgnet/relax"):
            assert label in legend
        plot = app.screen.query_one("#figure1")
        drawn = plot.plt.build()
        assert "cosine/free" not in drawn  # no legend drawn over the data
        for tick in ("0.25", "0.5", "0.75", "0.02", "0.08"):
            assert tick in drawn


def test_nice_ticks_are_round():
    from xrdtui.views.widgets.charts import nice_ticks, tick_text

    assert nice_ticks(0.0, 38.0, integer=True) == [0.0, 10.0, 20.0, 30.0]
    assert nice_ticks(0.018, 0.55, log=True) == [0.02, 0.05, 0.1, 0.2, 0.5]
    assert nice_ticks(0.0, 89.99) == [0.0, 25.0, 50.0, 75.0]
    assert [tick_text(v) for v in nice_ticks(-10.5, -10.0)] == ["-10.4", "-10.2", "-10"]
    assert all(len(tick_text(v)) <= 6 for v in nice_ticks(0.0079257853, 0.0813))


@sync
async def test_a_stopped_store_says_how_to_resume_it(folder):
    app = quiet_app(folder / "demo.h5")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("m")
        await settle(pilot)
        summary = " ".join(plain(app.screen.query_one("#summary", Static)).split())
        assert "stopped" in summary
        assert f"resume: xrdtui run CONFIG.toml --store {folder / 'demo.h5'} --resume" in summary


def test_resume_command_names_the_preset():
    from xrdtui.views.fmt import resume_command

    assert resume_command("quick", "store/quick.h5") == "xrdtui run quick --store store/quick.h5 --resume"
    assert resume_command("mine", "a.h5") == "xrdtui run CONFIG.toml --store a.h5 --resume"
