"""Assemble the reproduction report of a campaign store: conventions, Figures 1 and 7a, the claims table
with the rule behind every verdict, the C7 analysis and the limitations, written as HTML, Markdown,
figures (PNG and SVG) and the claims as JSON."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from xrdtui.errors import StoreError
from xrdtui.report.claims import Claim, all_claims
from xrdtui.report.data import ReportData, load
from xrdtui.report.methods import REFERENCE, gains_table, method_gains
from xrdtui.report.render import Section, save_figures, stamp, write_html, write_json, write_markdown
from xrdtui.vocab import CampaignState

HTML_NAME, MARKDOWN_NAME, JSON_NAME = "report.html", "report.md", "claims.json"


@dataclass
class ReportOutcome:
    """What a report run wrote and found."""

    out: Path
    html: Path
    markdown: Path
    json: Path
    figures: dict[str, Path]
    claims: list[Claim]
    missing: list[str] = field(default_factory=list)  # what the store does not (yet) hold, in words
    seconds: float = 0.0


def build_report(store: Path | str, out: Path | str, landscapes=()) -> ReportOutcome:
    """Read ``store`` (and landscape stores), compute every claim and write the report into ``out``."""
    from xrdtui.store.reader import StoreReader

    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    landscapes = [Path(p) for p in landscapes]
    for path in landscapes:
        with StoreReader.open(path) as lr:
            if lr.info.is_campaign and not lr.landscapes():
                raise StoreError(f"{path} is a campaign store without landscapes; --landscapes takes landscape stores")
    with StoreReader.open(store) as reader:
        data = load(reader, landscapes)
        progress = reader.progress()
        figures = _figures(reader, data, landscapes)
        match_rows = reader.match_table(group_by=("noise", "level", "method", "mode"))
    claims = all_claims(data)
    gains = method_gains(data)
    missing = _missing(data, progress)
    images = save_figures(figures, out)
    sections = [
        _status_section(data, progress, missing),
        _conventions_section(data),
        _figure1_section(match_rows),
        Section("Figure 7a: XRD descent vs CHGNet on paired members",
                paragraphs=["Only the members the relaxation ran enter every bar of a condition, so the bars "
                            "compare the same distortions (the relaxation may judge fewer members per task)."],
                figures=[("figure_7a", "Figure 7a, paired members, paper metric")]),
        _claims_section(claims),
        _c7_section(claims),
        *([_methods_section(gains)] if gains else []),
        *([_landscape_section()] if "figure_2" in images else []),
        _limitations_section(data, progress),
    ]
    title = f"xrdtui reproduction report: {data.name}"
    meta = f"{data.path} · {progress.state} · generated {stamp()} · xrdtui {data.versions.get('xrdtui', '')}".strip()
    html_path, md_path, json_path = out / HTML_NAME, out / MARKDOWN_NAME, out / JSON_NAME
    write_html(html_path, title, meta, sections, images)
    write_markdown(md_path, title, meta, sections, images)
    write_json(json_path, claims, {"store": str(data.path), "campaign": data.name, "state": str(progress.state),
                                   "done": progress.done, "total": progress.total, "missing": missing,
                                   "methods": [g.as_dict() for g in gains]})
    return ReportOutcome(out, html_path, md_path, json_path, images, claims, missing, time.perf_counter() - t0)


def _figures(reader, data: ReportData, landscapes) -> dict:
    from xrdtui.report.figures import figure_1, figure_7a, figure_c7, figure_landscape

    figures = {"figure_1": figure_1(reader) if data.members else None, "figure_7a": figure_7a(data),
               "figure_c7": figure_c7(data)}
    if landscapes:
        figures["figure_2"] = figure_landscape(data, landscapes)
    return figures


def _missing(data: ReportData, progress) -> list[str]:
    """What is not in the store yet, in words (an empty list for a finished campaign)."""
    from xrdtui.methods import method_info
    from xrdtui.vocab import MethodKind

    out = []
    left = progress.total - progress.done - progress.failed
    if left:
        out.append(f"{left} of {progress.total} tasks not finished ({progress.running} running, {progress.pending} "
                   f"pending); every number below pools only the finished tasks")
    if progress.failed:
        out.append(f"{progress.failed} tasks failed (see Limitations)")
    methods = {r.method for r in data.rows}
    kinds = {method_info(m).kind for m in methods}
    if MethodKind.BASELINE not in kinds:
        out.append("no no-optimisation baseline (method none): E1 and E2 cannot be measured")
    if MethodKind.RELAXATION not in kinds:
        out.append("no CHGNet relaxation: Figure 7a and C4 cannot be measured")
    if "U2Ti/cosine/a-c" not in data.landscapes:
        out.append("no U2Ti (a, c) cosine landscape (pass --landscapes): C5 cannot be judged")
    return out


def _status_section(data: ReportData, progress, missing: list[str]) -> Section:
    state = progress.state
    words = {CampaignState.FINISHED: "finished", CampaignState.LIVE: "still running (a live store)",
             CampaignState.COMPLETE: "complete", CampaignState.STOPPED: "stopped before the end (resumable)",
             CampaignState.CREATED: "created, nothing run yet"}.get(state, str(state))
    paragraphs = [f"Campaign {data.name!r}: {progress.done} of {progress.total} tasks done, {progress.failed} failed; "
                  f"the campaign is {words}."]
    return Section("Status", paragraphs=paragraphs, items=missing or ["nothing missing: every task finished"])


def _conventions_section(data: ReportData) -> Section:
    rows = [[f"[{name}]", ", ".join(f"{k} = {v}" for k, v in values.items()) if isinstance(values, dict) else str(values)]
            for name, values in data.conventions.items()]
    if not rows:
        rows = [["–", "not recorded (a store written before conventions were stored)"]]
    rows.append(["seed", str(data.seed)])
    rows.append(["versions", ", ".join(f"{k} {v}" for k, v in sorted(data.versions.items()))])
    structures = [[name, f"{s.spacegroup_symbol} ({s.spacegroup_number})", s.family, str(s.n_sites), s.source or "–"]
                  for name, s in data.structures.items()]
    return Section("Conventions used (read from the store)",
                   paragraphs=["Every setting the campaign ran with, as stored beside its results, to be read "
                               "against the paper's section 2 and appendices A.2 and A.3."],
                   tables=[(["table", "settings"], rows),
                           (["structure", "space group", "family", "sites (conventional)", "source"], structures)])


def _figure1_section(match_rows) -> Section:
    rows = []
    for r in match_rows:
        noise, level, method, mode = r.key
        strict = f"{r.ks}/{r.ns} = {r.rate_s:.1%} [{r.lo_s:.2f}, {r.hi_s:.2f}]" if r.ns else "–"
        rows.append([str(noise), f"{level:g}", method, str(mode), f"{r.k}/{r.n} = {r.rate:.1%} [{r.lo:.2f}, {r.hi:.2f}]",
                     strict, str(r.tasks)])
    return Section("Figure 1: match rate against noise level",
                   paragraphs=["Pooled over the structures (k and n summed) with 95 % Jeffreys intervals; the "
                               "paper's metric (StructureMatcher) beside the strict recovery metric; the "
                               "no-optimisation baseline is the dotted grey series."],
                   tables=[(["noise", "level", "method", "mode", "paper metric", "strict metric", "tasks"], rows)],
                   figures=[("figure_1", "Figure 1a (lattice) and 1b (coordinates), both metrics")])


def _claims_section(claims: list[Claim]) -> Section:
    rows = [[c.id, c.words, c.numbers, c.verdict] for c in claims]
    rules = [f"{c.id}: {c.rule}" for c in claims]
    details = [f"{c.id}: {line}" for c in claims for line in c.details]
    return Section("Claims",
                   paragraphs=["Each verdict is computed by the rule listed under the table, never by hand. "
                               "'measured' rows are additions the paper does not state."],
                   tables=[(["claim", "the paper's words", "our numbers (95 % intervals)", "verdict"], rows),
                           (["rules"], [[r] for r in rules]),
                           (["details"], [[d] for d in details] or [["–"]])])


def _c7_section(claims: list[Claim]) -> Section:
    c7 = next(c for c in claims if c.id == "C7")
    return Section("C7: XRD similarity against structural similarity (our method)",
                   paragraphs=["The journal version's exact method is not public; ours: " + c7.rule,
                               "Result: " + c7.numbers],
                   items=c7.details,
                   figures=[("figure_c7", "XRD similarity against structural similarity, free (red) and projected "
                                          "(blue), start and final points")])


def _methods_section(gains) -> Section:
    header, rows = gains_table(gains)
    return Section(f"Every method against {REFERENCE[0]} descent on the same members",
                   paragraphs=[f"Each row pairs a series with the paper's method ({REFERENCE[0]} {REFERENCE[1]}; "
                               f"{REFERENCE[0]} free under coordinate noise, where descent is free only) member "
                               "by member (the same "
                               "seeded distortions); Δ is the paired difference of the rates in percentage "
                               "points with a 95 % percentile bootstrap interval over members; cost is worker "
                               "seconds per member over the reference's."],
                   tables=[(header, rows)])


def _landscape_section() -> Section:
    return Section("Figure 2: the U2Ti (a, c) cosine landscape", figures=[("figure_2", "U2Ti (a, c) cosine slice, minima marked")])


def _limitations_section(data: ReportData, progress) -> Section:
    from xrdtui.vocab import Noise

    items = []
    for noise in (Noise.LATTICE, Noise.COORDS):
        sizes = Counter()
        for key, arrays in data.members.items():
            if key[1] == noise:
                sizes[key[2]] = max(sizes[key[2]], len(arrays["matched"]))
        for level in sorted(sizes):
            structures = len({k[0] for k in data.members if k[1] == noise and k[2] == level})
            items.append(f"{noise} {level:g}: {structures} structures × up to {sizes[level]} members per task: an "
                         f"interval of a pooled rate is about ±{_half_width(structures * sizes[level]):.0%} at 50 %")
    if progress.total > progress.done + progress.failed:
        items.append(f"{progress.total - progress.done - progress.failed} tasks unfinished: conditions pool fewer "
                     "structures than the campaign names")
    reasons = Counter(" ".join(f.reason.split())[:160] for f in data.failures)
    whole = sum(1 for f in data.failures if f.member < 0)
    if data.failures:
        items.append(f"{whole} whole tasks and {len(data.failures) - whole} single members failed:")
        items += [f"{n} × {reason}" for reason, n in reasons.most_common(10)]
    else:
        items.append("no task or member failed")
    return Section("Limitations", items=items)


def _half_width(n: int) -> float:
    """Half-width of a 95 % interval of a proportion near 0.5 with n trials (normal approximation)."""
    return 1.96 * 0.5 / max(n, 1) ** 0.5
