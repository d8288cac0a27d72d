"""`xrdtui report` on a small real store: every claim row present, its numbers equal to those computed here
straight from the HDF5 file with h5py, the HTML self-contained and parseable, bad input one line."""

from __future__ import annotations

import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import h5py
import numpy as np
import pytest

from xrdtui.cli.main import main

REPORT_TOML = """
name = "report-test"
seed = 11
structures = ["U2Ti", "Au2S"]
distortions = 6
methods = ["none", "cosine", "mse", "entropy", "chgnet"]
modes = ["free", "projected"]

[noise]
lattice = [0.02, 0.08]
coords = [0.05]

[optimizer]
max_steps = 25

[chgnet]
members = 3
steps = 10
"""

CLAIM_IDS = ["C1", "C2", "C3", "C4", "C5", "C6", "C7", "E1", "E2"]


def cli(*args) -> int:
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    return exc.value.code


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    import torch

    from xrdtui.jobs.campaign import run_campaign
    from xrdtui.jobs.config import parse_config

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("report")
    store = run_campaign(parse_config(REPORT_TOML), store_path=root / "campaign.h5", scheduler="inline")
    land = root / "land.h5"
    assert cli("landscape", "U2Ti", "--params", "a,c", "--points", "41", "--no-paths", "-o", land, "-q") == 0
    return store, land


@pytest.fixture(scope="module")
def report(stores, tmp_path_factory):
    store, land = stores
    out = tmp_path_factory.mktemp("out") / "report"
    assert cli("report", store, "--landscapes", land, "-o", out) == 0
    return out


def _members(path: Path) -> dict:
    """(structure, noise, level, method, mode) -> {matched, final_similarity, ...} read with plain h5py."""
    out = {}
    with h5py.File(path, "r") as f:
        ids = [t.decode() for t in f["tasks/task_id"][:]]
        status = f["progress/status"][:]

        def visit(name, obj):
            if isinstance(obj, h5py.Group) and "task_id" in obj.attrs:
                tid = obj.attrs["task_id"]
                tid = tid.decode() if isinstance(tid, bytes) else str(tid)
                if status[ids.index(tid)] != 2:
                    return
                s, noise, level, method, mode = tid.split("/")
                out[(s, noise, float(level), method, mode)] = {k: obj[k][:] for k in ("matched", "recovered", "final_similarity")}

        f["runs"].visititems(visit)
    return out


def _claims(report: Path) -> dict:
    return {c["id"]: c for c in json.loads((report / "claims.json").read_text())["claims"]}


def test_every_claim_row_and_files(report):
    claims = _claims(report)
    assert list(claims) == CLAIM_IDS
    for c in claims.values():
        assert c["verdict"] in ("supported", "not supported", "inconclusive", "measured")
        assert c["rule"] and c["paper"] and c["numbers"]
    for stem in ("figure_1", "figure_7a", "figure_c7", "figure_2"):
        assert (report / f"{stem}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert b"<svg" in (report / f"{stem}.svg").read_bytes()[:2000]
    md = (report / "report.md").read_text()
    for cid in CLAIM_IDS:
        assert f"| {cid} |" in md
    assert "![" in md and "(figure_1.png)" in md


def test_c2_c6_e1_e2_equal_an_independent_count(stores, report):
    store, _ = stores
    m = _members(store)
    claims = _claims(report)
    # C2: projected − free over the same lattice members, losses and levels pooled
    diffs = []
    for (s, noise, level, method, mode), r in m.items():
        if noise == "lattice" and method in ("cosine", "mse", "entropy") and mode == "projected":
            free = m[(s, noise, level, method, "free")]
            diffs.append(r["matched"].astype(float) - free["matched"].astype(float))
    diffs = np.concatenate(diffs)
    assert claims["C2"]["values"]["pairs"] == diffs.size == 2 * 2 * 3 * 6
    assert claims["C2"]["values"]["difference"] == pytest.approx(diffs.mean(), abs=1e-12)
    # C6: free unmatched at a higher cosine than a matched projected member of the same distortion
    cases = compared = 0
    for (s, noise, level, method, mode), r in m.items():
        if noise == "lattice" and method == "cosine" and mode == "free":
            p = m[(s, noise, level, "cosine", "projected")]
            compared += r["matched"].size
            cases += int(np.sum(~r["matched"] & p["matched"] & (r["final_similarity"] > p["final_similarity"])))
    assert (claims["C6"]["values"]["cases"], claims["C6"]["values"]["compared"]) == (cases, compared)
    # E1: share of baseline starts that already match, per condition
    for (s, noise, level, method, mode), _ in m.items():
        if method != "none":
            continue
        rows = [r for k, r in m.items() if k[1:] == (noise, level, "none", "start")]
        k = sum(int(r["matched"].sum()) for r in rows)
        n = sum(r["matched"].size for r in rows)
        assert claims["E1"]["values"][f"{noise}:{level:g}"]["matched"] == pytest.approx(k / n)
        assert claims["E1"]["values"][f"{noise}:{level:g}"]["n"] == n
    # E2: matching starts that cosine-free descent loses
    lost = start_ok = 0
    for (s, noise, level, method, mode), r in m.items():
        if method == "cosine" and mode == "free":
            b = m[(s, noise, level, "none", "start")]["matched"]
            lost += int(np.sum(b & ~r["matched"]))
            start_ok += int(b.sum())
    assert claims["E2"]["values"]["cosine:free"]["lost"] == lost
    assert claims["E2"]["values"]["cosine:free"]["matching_starts"] == start_ok


def test_c3_c4_equal_an_independent_count(stores, report):
    store, _ = stores
    m = _members(store)
    claims = _claims(report)
    from scipy.stats import beta

    x = np.concatenate([r["matched"] for k, r in sorted(m.items()) if k[3] == "cosine"]).astype(float)
    y = np.concatenate([m[(*k[:3], "mse", k[4])]["matched"] for k in sorted(m) if k[3] == "cosine"]).astype(float)
    assert claims["C3"]["values"]["cosine-mse"]["difference"] == pytest.approx((x - y).mean(), abs=1e-12)
    for key, v in claims["C4"]["values"].items():
        noise, level = key.split(":")
        rows = [r for k, r in m.items() if k[1] == noise and k[2] == float(level) and k[3] == "chgnet"]
        k, n = sum(int(r["matched"].sum()) for r in rows), sum(r["matched"].size for r in rows)
        assert n == 2 * 3  # two structures x three relaxed members
        assert v["rate"] == pytest.approx(k / n)
        # Jeffreys: Beta(k + 1/2, n - k + 1/2) quantiles, 0 / 1 at the ends
        lo = 0.0 if k == 0 else beta.ppf(0.025, k + 0.5, n - k + 0.5)
        assert v["lo"] == pytest.approx(lo, abs=1e-9)


def test_c1_c5_from_the_data(stores, report):
    store, land = stores
    claims = _claims(report)
    m = _members(store)
    for mode in ("free", "projected"):
        rates = []
        for level in (0.02, 0.08):
            rows = [r for k, r in m.items() if k[1:3] == ("lattice", level) and k[4] == mode
                    and k[3] in ("cosine", "mse", "entropy")]
            rates.append(sum(r["matched"].sum() for r in rows) / sum(r["matched"].size for r in rows))
        assert claims["C1"]["values"][mode]["drop"] == pytest.approx(rates[0] - rates[1], abs=1e-12)
    with h5py.File(land, "r") as f:
        assert "landscapes/U2Ti/cosine/a-c" in f
    assert claims["C5"]["values"]["stored"] >= 1
    assert claims["C5"]["verdict"] in ("supported", "not supported")


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.tags, self.cells, self.external = [], [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        for key in ("src", "href"):
            value = attrs.get(key, "")
            if tag in ("img", "script", "link") and value and not value.startswith("data:"):
                self.external.append(value)

    def handle_data(self, data):
        self.cells.append(data)


def test_html_is_self_contained_and_parses(report):
    text = (report / "report.html").read_text()
    page = _Page()
    page.feed(text)
    page.close()
    assert page.tags.count("table") >= 4
    assert len(page.images) == 4 and all(src.startswith("data:image/png;base64,") for src in page.images)
    assert page.external == []
    words = " ".join(page.cells)
    for cid in CLAIM_IDS:
        assert cid in words
    assert "strain" in words and "profile" in words  # the conventions table


def test_headless_browser_renders_it(report, tmp_path):
    browser = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
    if browser is None:
        pytest.skip("no headless browser installed")
    shot = tmp_path / "page.png"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}",
                    "--window-size=1200,3000", (report / "report.html").as_uri()], capture_output=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 20_000  # a rendered page, not a blank one


def test_partial_store_says_what_is_missing(tmp_path, capsys):
    from xrdtui.jobs.campaign import run_campaign
    from xrdtui.jobs.config import parse_config

    toml = REPORT_TOML.replace('"none", "cosine", "mse", "entropy", "chgnet"', '"cosine", "chgnet"')
    store = run_campaign(parse_config(toml), store_path=tmp_path / "p.h5", scheduler="inline",
                         only="U2Ti/lattice/*/cosine/*")
    capsys.readouterr()
    assert cli("report", store, "-o", tmp_path / "r", "--json") == 0
    out = json.loads(capsys.readouterr().out)
    missing = " ".join(out["missing"])
    assert "tasks not finished" in missing and "no no-optimisation baseline" in missing
    claims = {c["id"]: c for c in out["claims"]}
    assert claims["C4"]["verdict"] == "inconclusive" and claims["E1"]["verdict"] == "inconclusive"


def test_bad_input_one_line(stores, tmp_path, capsys):
    store, land = stores
    assert cli("report", land, "-o", tmp_path / "a") == 5
    assert "landscapes only" in capsys.readouterr().err
    assert cli("report", tmp_path / "nope.h5", "-o", tmp_path / "b") == 5
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert cli("report", store, "-o", blocker / "sub") == 2
    assert cli("report", store, "-o", blocker) == 2
