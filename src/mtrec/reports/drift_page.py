"""The note at the top of Evidently's drift page, and the page's size.

Evidently's page shows its own counts; the note tells the reviewer what they were drawn from
(the sampling) and, when the page had to be drawn again to stay under the size cap, how it
differs from the drift summary, with the summary's verdicts for every column.
"""

from __future__ import annotations

import html

from mtrec.reports.drift_snapshot import DriftSummary

_NOTE_STYLE = (
    "font:14px/1.45 system-ui,sans-serif;color:#1f2933;background:#f0f4f8;"
    "border-bottom:1px solid #d9e2ec;padding:.6rem 1.2rem"
)


def _page_note(summary: DriftSummary, totals: tuple[int, int], seed: int, cap_mb: float) -> str:
    """What the reviewer must know before reading Evidently's page: the sampling and, when the
    page was redrawn to meet the cap, how it differs from the summary (with its verdicts)."""
    (ref_total, cur_total), esc = totals, html.escape
    sampled = (summary.reference_rows, summary.current_rows) != totals
    lines = [
        f"Rows: {summary.reference_rows:,} of {ref_total:,} reference interactions and "
        f"{summary.current_rows:,} of {cur_total:,} current ones, "
        + (f"sampled at random (seed {seed})." if sampled else "all of them.")
    ]
    if summary.page_rows is None and summary.page_columns is None:
        return f"<div style='{_NOTE_STYLE}'>{lines[0]}</div>"
    shown = []
    if summary.page_rows is not None:
        shown.append(
            f"a smaller sample ({summary.page_rows[0]:,} reference and "
            f"{summary.page_rows[1]:,} current rows)"
        )
    if summary.page_columns is not None:
        shown.append(f"{summary.page_columns} of the {summary.n_columns} columns (drifted first)")
    lines.append(
        f"To stay under the {cap_mb:g} MB cap, this page shows "
        f"{' and '.join(shown)}; Evidently's counts below cover only that. The drift summary "
        f"used the full sample and every column: <b>{summary.n_drifted} of "
        f"{summary.n_columns}</b> drifted (share {summary.drifted_share:.3f}, threshold "
        f"{summary.threshold:g}), drift detected <b>{'yes' if summary.drift_detected else 'no'}"
        "</b>."
    )
    rows = "".join(
        f"<tr><td>{esc(c.column)}</td><td>{esc(c.method)}</td><td>{c.score:.4g}</td>"
        f"<td>{'drifted' if c.drifted else ''}</td></tr>"
        for c in summary.columns
    )
    table = (
        "<details><summary>Every column's verdict in the summary</summary><table>"
        "<tr><th align=left>column</th><th align=left>test</th><th>score</th><th></th></tr>"
        f"{rows}</table></details>"
    )
    return f"<div style='{_NOTE_STYLE}'>{'<br>'.join(lines)}{table}</div>"


def annotate_page(
    page: str, summary: DriftSummary, totals: tuple[int, int], seed: int, cap_mb: float
) -> str:
    """Evidently's ``page`` with the note for ``summary`` at the top of its body.

    ``totals`` are the (reference, current) rows of the two periods before sampling.
    """
    note = _page_note(summary, totals, seed, cap_mb)
    # A data: icon, or the browser asks the server for /favicon.ico and logs a 404.
    page = page.replace("<head>", "<head><link rel='icon' href='data:,'>", 1)
    return page.replace("<body>", "<body>" + note, 1)


def page_mb(page: str) -> float:
    """The page's size in MB (10^6 bytes) of UTF-8, the unit of ``DriftConfig.max_html_mb``."""
    return len(page.encode("utf-8")) / 1e6
