"""The retraining timeline: one row per window, what production scored, drift, decisions."""

from __future__ import annotations

import html
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mtrec.reports.evaluation import STYLE, line_chart


def _num(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}" if isinstance(value, float) else html.escape(str(value))


def _link(target: Any, text: str, base: Path) -> str:
    if not target:
        return html.escape(text)
    relative = os.path.relpath(Path(target), base)
    return f"<a href='{html.escape(relative)}'>{html.escape(text)}</a>"


def render_timeline_html(
    cycles: Sequence[dict[str, Any]], title: str, notes: Sequence[str], base: Path,
    metric: str = "ndcg@10",
) -> str:  # fmt: skip
    """``cycles`` are ledger records; links are made relative to ``base`` (the page's folder)."""
    rows = []
    for cycle in cycles:
        drift = cycle.get("drift") or {}
        share = drift.get("drifted_share")
        drift_cell = (_link(drift.get("page"), f"{share:.2f}", base) if share is not None
                      else html.escape(str(drift.get("status", "–"))))  # fmt: skip
        if drift.get("drift_detected"):
            drift_cell += " <span class='badge no'>drift</span>"
        promoted = cycle.get("promoted")
        decision = ("–" if not cycle.get("retrained") else
                    "<span class='badge yes'>promoted</span>" if promoted else
                    "<span class='badge no'>refused</span>")  # fmt: skip
        gate = cycle.get("gate") or {}
        shared = _candidate_on_shared_users(cycle, metric)
        run_dir = cycle.get("run_dir")
        evaluation = Path(run_dir) / "evaluation.html" if run_dir else None
        rows.append(
            "<tr>"
            f"<td>{html.escape(str(cycle.get('window')))}</td>"
            f"<td>{_num(cycle.get('window_interactions'))}</td>"
            f"<td>{_num(cycle.get('scored_users'))}</td>"
            f"<td>{_num(cycle.get(f'production_{metric}'))}</td>"
            f"<td>{drift_cell}</td>"
            f"<td>{html.escape(str(cycle.get('trigger', '–')))}</td>"
            f"<td>{_num(shared)}</td>"
            f"<td>{_num(gate.get('low'))} … {_num(gate.get('high'))}</td>"
            f"<td>{_num(cycle.get(f'candidate_{metric}'))}</td>"
            f"<td>{decision}</td>"
            f"<td style='text-align:left'>"
            f"{_link(evaluation, str(cycle.get('reason') or ''), base)}</td>"
            "</tr>"
        )
    header = "".join(
        f"<th>{h}</th>"
        for h in (
            "window",
            "interactions",
            "users production knows",
            f"production {metric}",
            "drifted share",
            "retrain trigger",
            f"candidate {metric}, same users",
            "95% interval of the difference",
            f"candidate {metric}, all window users",
            "decision",
            "reason",
        )  # fmt: skip
    )
    chart = line_chart(
        {
            f"production {metric}": [_float(c.get(f"production_{metric}")) for c in cycles],
            f"candidate {metric}": [_candidate_on_shared_users(c, metric) for c in cycles],
            "drifted share": [_float((c.get("drift") or {}).get("drifted_share")) for c in cycles],
        },
        f"{metric} on each new window, and its drifted share (x: cycle)",
        width=640,
        x_label="cycle",
    )
    notes_html = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><ul>{notes_html}</ul>"
        f"<div class='charts'>{chart}</div>"
        f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        "</body></html>"
    )


def _float(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else math.nan


def _candidate_on_shared_users(cycle: dict[str, Any], metric: str) -> float:
    """The candidate on the users production knows, as the gate compared them (records made
    before the gate's means were kept: production's value plus the mean difference)."""
    gate = cycle.get("gate") or {}
    if "candidate" in gate:
        return _float(gate["candidate"])
    if "mean_difference" in gate:
        return _float(cycle.get(f"production_{metric}")) + float(gate["mean_difference"])
    return math.nan
