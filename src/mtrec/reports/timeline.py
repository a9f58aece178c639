"""The retraining timeline: one row per window, what production scored, drift, decisions."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mtrec.reports.evaluation import line_chart
from mtrec.reports.pages import render_page


@dataclass(frozen=True)
class CycleRow:
    """One cycle's row of the timeline; links are relative to the page's folder."""

    window: str
    interactions: Any
    scored_users: Any
    production: Any
    drifted_share: float | None
    drift_status: str
    drift_page: str | None
    drift_detected: bool
    trigger: str
    candidate_shared: float
    gate_low: Any
    gate_high: Any
    candidate: Any
    decision: str
    """``promoted``, ``refused``, or ``none`` when the cycle did not retrain."""
    reason: str
    evaluation: str | None


def _relative(target: Any, base: Path) -> str | None:
    return os.path.relpath(Path(target), base) if target else None


def _row(cycle: dict[str, Any], metric: str, base: Path) -> CycleRow:
    drift = cycle.get("drift") or {}
    gate = cycle.get("gate") or {}
    run_dir = cycle.get("run_dir")
    decision = "none"
    if cycle.get("retrained"):
        decision = "promoted" if cycle.get("promoted") else "refused"
    return CycleRow(
        window=str(cycle.get("window")),
        interactions=cycle.get("window_interactions"),
        scored_users=cycle.get("scored_users"),
        production=cycle.get(f"production_{metric}"),
        drifted_share=drift.get("drifted_share"),
        drift_status=str(drift.get("status", "–")),
        drift_page=_relative(drift.get("page"), base),
        drift_detected=bool(drift.get("drift_detected")),
        trigger=str(cycle.get("trigger", "–")),
        candidate_shared=_candidate_on_shared_users(cycle, metric),
        gate_low=gate.get("low"),
        gate_high=gate.get("high"),
        candidate=cycle.get(f"candidate_{metric}"),
        decision=decision,
        reason=str(cycle.get("reason") or ""),
        evaluation=_relative(Path(run_dir) / "evaluation.html" if run_dir else None, base),
    )


def render_timeline_html(
    cycles: Sequence[dict[str, Any]],
    title: str,
    notes: Sequence[str],
    base: Path,
    metric: str = "ndcg@10",
) -> str:
    """``cycles`` are ledger records; links are made relative to ``base`` (the page's folder)."""
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
    rows = [_row(cycle, metric, base) for cycle in cycles]
    return render_page(
        "timeline.html.j2", title=title, notes=notes, chart=chart, metric=metric, rows=rows
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
