"""Every method against a reference series on the same members (``xrdtui compare --paired`` and the
report's methods table), checked against the per-member verdicts read straight from the store."""

from __future__ import annotations

import json

import numpy as np
import pytest

from xrdtui.cli.main import main
from xrdtui.report.data import load
from xrdtui.report.methods import method_gains
from xrdtui.store.reader import StoreReader


def cli(*args) -> int:
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    return exc.value.code


def _by_hand(reader, noise, level, series, reference, field):
    """Pairs (series, reference) member by member, written without the report's helpers."""
    rows = {(t.structure, t.noise, float(t.level), t.method, t.mode): t.task_id for t in reader.tasks()
            if t.status == "done"}
    a, b = [], []
    for (structure, nz, lv, method, mode), tid in rows.items():
        if (nz, lv, (method, mode)) != (noise, level, series):
            continue
        ref = rows.get((structure, nz, lv, *reference))
        if ref is None:
            continue
        x, y = reader.members(tid, [field])[field], reader.members(ref, [field])[field]
        n = min(len(x), len(y))
        a += list(x[:n].astype(float))
        b += list(y[:n].astype(float))
    return np.array(a), np.array(b)


def test_paired_gains_equal_the_member_by_member_difference(tiny_store):
    with StoreReader.open(tiny_store) as r:
        gains = method_gains(load(r, starts=False))
        by_key = {(g.noise, g.level, g.method, str(g.mode)): g for g in gains}
        # every series but the reference, at every level: cosine free, mse x 2, chgnet
        assert {(k[2], k[3]) for k in by_key if k[0] == "lattice"} == {
            ("cosine", "free"), ("mse", "free"), ("mse", "projected"), ("chgnet", "relax")}
        assert {(k[2], k[3]) for k in by_key if k[0] == "coords"} == {("mse", "free"), ("chgnet", "relax")}
        for (noise, level, method, mode), g in by_key.items():
            # descent is free only under coordinate noise: cosine free is the reference there
            ref = ("cosine", "projected") if noise == "lattice" else ("cosine", "free")
            a, b = _by_hand(r, noise, level, (method, mode), ref, "matched")
            sa, sb = _by_hand(r, noise, level, (method, mode), ref, "recovered")
            assert g.n == a.size and g.k == int(a.sum()) and g.k_ref == int(b.sum()) and g.ks == int(sa.sum())
            assert g.gain.value == pytest.approx((a - b).mean())
            assert g.gain_strict.value == pytest.approx((sa - sb).mean())
            assert g.gain.lo <= g.gain.value <= g.gain.hi and -1 <= g.gain.lo and g.gain.hi <= 1
        chgnet = [g for g in gains if g.method == "chgnet"]
        assert chgnet and all(g.n == 2 for g in chgnet)  # 1 member per task x 2 structures, paired on member 0
        assert all(g.cost > 0 for g in gains)


def test_compare_paired_json_and_a_missing_reference(tiny_store, capsys):
    assert cli("compare", tiny_store, "--paired", "--json") == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and {"gain", "gain_strict", "members", "cost"} <= set(rows[0])
    assert cli("compare", tiny_store, "--paired", "--reference", "continuation/projected") == 2
    err = capsys.readouterr().err
    assert "no 'continuation/projected' series" in err and "cosine/projected" in err
