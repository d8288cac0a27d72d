"""``xrdtui report``: the paper's claims against a campaign store's numbers, as a self-contained report.

- data.py     what the report reads from a store (and recomputes: the start points' similarities)
- stats.py    intervals and association measures (Newcombe, paired bootstrap, Spearman, mutual information)
- claims.py   one function per claim, each with the rule that makes its verdict
- figures.py  the report's figures; render.py HTML / Markdown / JSON writers; build.py puts it together
"""

from xrdtui.report.build import ReportOutcome, build_report

__all__ = ["ReportOutcome", "build_report"]
