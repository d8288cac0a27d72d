"""Writing a report: one self-contained HTML page (figures embedded), the same content as Markdown (figures
beside it), every figure as PNG and SVG, and the claims table as JSON."""

from __future__ import annotations

import base64
import html
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

VERDICT_COLOURS = {"supported": "#1a7f37", "not supported": "#cf222e", "inconclusive": "#9a6700",
                   "measured": "#57606a"}


@dataclass
class Section:
    """A titled part of the report: paragraphs, tables (header, rows) and figures (file stem, caption)."""

    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[tuple[list[str], list[list[str]]]] = field(default_factory=list)
    figures: list[tuple[str, str]] = field(default_factory=list)
    items: list[str] = field(default_factory=list)


def save_figures(figures: dict, out: Path) -> dict[str, Path]:
    """Each matplotlib figure as ``<stem>.png`` and ``<stem>.svg`` in ``out``; returns stem -> PNG path."""
    from xrdtui.figures.style import save_figure

    written = {}
    for stem, fig in figures.items():
        if fig is None:
            continue
        written[stem] = save_figure(fig, out / f"{stem}.png")
        save_figure(fig, out / f"{stem}.svg")
    return written


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for cell in row:
            colour = VERDICT_COLOURS.get(cell)
            text = html.escape(cell).replace("\n", "<br>")
            cells.append(f'<td><b style="color:{colour}">{text}</b></td>' if colour else f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


CSS = """
body { font-family: system-ui, -apple-system, Segoe UI, sans-serif; max-width: 1100px; margin: 2em auto;
       padding: 0 1em; color: #1f2328; line-height: 1.45; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #d0d7de; padding-bottom: .2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: .8em 0; font-size: .88em; width: 100%; }
th, td { border: 1px solid #d0d7de; padding: .35em .5em; vertical-align: top; text-align: left; }
th { background: #f6f8fa; } figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: .85em; color: #57606a; } .meta { color: #57606a; font-size: .9em; }
li { margin: .15em 0; }
"""


def write_html(path: Path, title: str, meta: str, sections: list[Section], images: dict[str, Path]) -> None:
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1><p class='meta'>{html.escape(meta)}</p>"]
    for s in sections:
        parts.append(f"<h2>{html.escape(s.title)}</h2>")
        parts += [f"<p>{html.escape(p)}</p>" for p in s.paragraphs]
        parts += [_html_table(h, r) for h, r in s.tables]
        if s.items:
            parts.append("<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in s.items) + "</ul>")
        for stem, caption in s.figures:
            if stem not in images:
                continue
            data = base64.b64encode(images[stem].read_bytes()).decode("ascii")
            parts.append(f"<figure><img alt='{html.escape(caption)}' src='data:image/png;base64,{data}'>"
                         f"<figcaption>{html.escape(caption)} (also <a href='{stem}.svg'>{stem}.svg</a>)</figcaption></figure>")
    parts.append("</body></html>")
    path.write_text("\n".join(parts), encoding="utf-8")


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>")


def write_markdown(path: Path, title: str, meta: str, sections: list[Section], images: dict[str, Path]) -> None:
    lines = [f"# {title}", "", f"_{meta}_", ""]
    for s in sections:
        lines += [f"## {s.title}", ""]
        for p in s.paragraphs:
            lines += [p, ""]
        for header, rows in s.tables:
            lines.append("| " + " | ".join(_md_cell(h) for h in header) + " |")
            lines.append("|" + "---|" * len(header))
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
            lines.append("")
        lines += [f"- {i}" for i in s.items] + ([""] if s.items else [])
        for stem, caption in s.figures:
            if stem in images:
                lines += [f"![{caption}]({stem}.png)", "", f"_{caption}_ ({stem}.svg)", ""]
    path.write_text("\n".join(lines), encoding="utf-8")


def write_json(path: Path, claims, meta: dict) -> None:
    path.write_text(json.dumps({**meta, "claims": [claim_dict(c) for c in claims]}, indent=2, default=_plain),
                    encoding="utf-8")


def claim_dict(c) -> dict:
    return {"id": c.id, "paper": c.words, "numbers": c.numbers, "verdict": c.verdict, "rule": c.rule,
            "details": c.details, "values": c.values}


def _plain(v):
    if hasattr(v, "item"):
        return v.item()
    return str(v)


def stamp() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime())
