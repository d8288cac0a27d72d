"""Consistent answers from the headless commands: exit codes by the kind of mistake (2 usage, 5 store),
one reading of noise levels, landscapes stores named as such, counts beside every compared rate, the
version, listing the folder one stands in, and the TUI commands failing without a terminal."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_views_support import landscape, make_store
from xrdtui import __version__
from xrdtui.cli.main import main
from xrdtui.store.reader import StoreReader
from xrdtui.store.writer import append_landscape


def cli(*args) -> int:
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    return exc.value.code


@pytest.fixture(scope="module")
def stores(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("cli")
    make_store(folder / "camp.h5", running=2, finish=False)  # stopped: two tasks left running
    append_landscape(folder / "land.h5", landscape("U2Ti", "cosine", "a", "c"))
    return folder


def test_version(capsys):
    assert cli("--version") == 0
    assert capsys.readouterr().out.strip() == f"xrdtui {__version__}"


def test_ls_inside_a_folder_of_stores_lists_it(stores, monkeypatch, capsys):
    monkeypatch.chdir(stores)  # no ./store here, but stores
    assert cli("ls") == 0
    out = capsys.readouterr().out
    assert "camp.h5" in out and "land.h5" in out and "landscapes" in out


def test_ls_with_nothing_to_list_says_how_to_start(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli("ls") == 5
    err = capsys.readouterr().err
    assert "no store folder ./store" in err and "xrdtui run" in err and len(err.strip().splitlines()) == 1


def test_show_reads_levels_as_the_figures_do(stores, capsys):
    for level in ("0.08", "0.080", "8e-2"):
        assert cli("show", stores / "camp.h5", f"U2Ti/lattice/{level}/cosine/free", "--json") == 0
        assert '"task": "U2Ti/lattice/0.080/cosine/free"' in capsys.readouterr().out
    assert cli("show", stores / "camp.h5", "U2Ti/lattice/0.08", "--json") == 0  # a prefix too
    out = capsys.readouterr().out
    assert out.count('"task_id": "U2Ti/lattice/0.080/') == 5  # cosine, mse x free, projected + chgnet


@pytest.mark.parametrize("command", ["status", "compare", "export"])
def test_campaign_commands_on_a_landscapes_store_say_what_it_is(stores, command, capsys):
    extra = ["-o", stores / "x.csv"] if command == "export" else []
    assert cli(command, stores / "land.h5", *extra) == 5
    err = capsys.readouterr().err
    assert "is a landscapes store (1 slice, e.g. U2Ti/cosine/a-c)" in err
    assert "xrdtui figure landscape" in err and len(err.strip().splitlines()) == 1
    assert not (stores / "x.csv").exists()


def test_compare_with_an_unknown_loss_is_a_usage_error(stores, capsys):
    assert cli("compare", stores / "camp.h5", "--loss", "foo") == 2
    err = capsys.readouterr().err
    assert "no 'foo' descent runs" in err and "cosine, mse" in err


def test_compare_gives_counts_and_says_when_they_differ(stores, capsys):
    with StoreReader.open(stores / "camp.h5") as r:
        rows = {m.key: m for m in r.match_table(group_by=("noise", "level", "method", "mode"))}
    assert cli("compare", stores / "camp.h5") == 0
    out = capsys.readouterr().out
    for key in (("lattice", 0.02, "cosine", "free"), ("lattice", 0.02, "chgnet", "relax")):
        m = rows[key]
        assert f"{m.k}/{m.n} " in out
    # CHGNet relaxed 2 members per structure and level, XRD descent 6: the table says so
    assert rows[("lattice", 0.02, "chgnet", "relax")].n != rows[("lattice", 0.02, "cosine", "free")].n
    assert "Columns judge different numbers of members" in " ".join(out.split())


def test_status_of_a_stopped_store_says_how_to_resume(stores, capsys):
    assert cli("status", stores / "camp.h5") == 0
    out = " ".join(capsys.readouterr().out.split())
    assert f"resume with xrdtui run CONFIG.toml --store {stores / 'camp.h5'} --resume" in out


@pytest.mark.parametrize("command", ["open", "watch"])
def test_tui_commands_without_a_terminal_fail_with_the_hint(stores, command, capsys):
    assert cli(command, stores / "camp.h5") == 1
    err = capsys.readouterr().err
    assert "no terminal attached" in err and f"xrdtui status {stores / 'camp.h5'}" in err


def test_export_needs_an_output_or_a_folder(stores, capsys):
    assert cli("export", stores / "camp.h5") == 2
    assert "--output" in capsys.readouterr().err


def test_figure_member_without_a_task_is_a_usage_error(stores, capsys):
    code = cli("figure", "member", str(stores / "camp.h5"), "-o", str(stores / "m.png"))
    assert code == 2
    assert "--task" in capsys.readouterr().err
    assert not (stores / "m.png").exists()


def test_ls_of_a_store_lists_every_task_in_aligned_columns(stores, capsys):
    """One line per task with its status, k/n and the interval the store holds for it, the right-aligned
    columns ending where their headers end, no task id wrapped."""
    with StoreReader.open(stores / "camp.h5") as r:
        tasks = r.tasks()
    assert cli("ls", stores / "camp.h5") == 0
    lines = capsys.readouterr().out.splitlines()
    header = next(line for line in lines if line.startswith("task"))
    body = lines[lines.index(header) + 2:]
    assert len(body) == len(tasks)
    end_matched = header.index("matched") + len("matched")
    for t, line in zip(tasks, body):
        assert line.startswith(t.task_id + " ") and line.split()[1] == t.status
        if t.status != "done":
            continue
        assert line[:end_matched].endswith(f" {t.k}/{t.n}")
        assert f"{100 * t.k / t.n:5.1f}%  [{t.lo:.2f}, {t.hi:.2f}]" in line
    assert {t.status for t in tasks} >= {"done", "running"}
