"""The retraining timeline: one row per window, what production scored, drift, decisions.

It renders :class:`mtrec.retrain.windows.CycleRecord` values. ``reports`` sits below
``retrain`` in the layer map, so it names what it reads of a record (:class:`TimelineCycle`,
a protocol the record satisfies) instead of importing the class.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from mtrec.reports.evaluation import line_chart
from mtrec.reports.pages import render_page


class TimelineDrift(Protocol):
    """A cycle's drift figures (``CycleDrift``)."""

    @property
    def status(self) -> str | None: ...
    @property
    def drifted_share(self) -> float | None: ...
    @property
    def detected(self) -> bool: ...
    @property
    def page(self) -> str | None: ...


class TimelineGate(Protocol):
    """The paired bootstrap's figures (``GateFigures``)."""

    @property
    def candidate(self) -> float | None: ...
    @property
    def mean_difference(self) -> float | None: ...
    @property
    def low(self) -> float | None: ...
    @property
    def high(self) -> float | None: ...


class TimelineCycle(Protocol):
    """What the timeline reads of a cycle record (``CycleRecord``)."""

    @property
    def window(self) -> str: ...
    @property
    def window_interactions(self) -> int | None: ...
    @property
    def scored_users(self) -> int | None: ...
    @property
    def production_metric(self) -> str | None: ...
    @property
    def production_score(self) -> float | None: ...
    @property
    def drift(self) -> TimelineDrift | None: ...
    @property
    def retrained(self) -> bool | None: ...
    @property
    def trigger(self) -> str | None: ...
    @property
    def candidate_metric(self) -> str | None: ...
    @property
    def candidate_score(self) -> float | None: ...
    @property
    def promoted(self) -> bool | None: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def gate(self) -> TimelineGate | None: ...
    @property
    def run_dir(self) -> str | None: ...


@dataclass(frozen=True)
class CycleRow:
    """One cycle's row of the timeline; links are relative to the page's folder."""

    window: str
    interactions: int | None
    scored_users: int | None
    production: float | None
    drifted_share: float | None
    drift_status: str
    drift_page: str | None
    drift_detected: bool
    trigger: str
    candidate_shared: float
    gate_low: float | None
    gate_high: float | None
    candidate: float | None
    decision: str
    """``promoted``, ``refused``, or ``none`` when the cycle did not retrain."""
    reason: str
    evaluation: str | None


def _relative(target: str | Path | None, base: Path) -> str | None:
    return os.path.relpath(Path(target), base) if target else None


def _row(cycle: TimelineCycle, base: Path) -> CycleRow:
    drift, gate = cycle.drift, cycle.gate
    decision = "none"
    if cycle.retrained:
        decision = "promoted" if cycle.promoted else "refused"
    return CycleRow(
        window=cycle.window,
        interactions=cycle.window_interactions,
        scored_users=cycle.scored_users,
        production=cycle.production_score,
        drifted_share=drift.drifted_share if drift else None,
        drift_status=(drift.status if drift else None) or "–",
        drift_page=_relative(drift.page if drift else None, base),
        drift_detected=drift.detected if drift else False,
        trigger=cycle.trigger or "–",
        candidate_shared=_candidate_on_shared_users(cycle),
        gate_low=gate.low if gate else None,
        gate_high=gate.high if gate else None,
        candidate=cycle.candidate_score,
        decision=decision,
        reason=cycle.reason or "",
        evaluation=_relative(
            Path(cycle.run_dir) / "evaluation.html" if cycle.run_dir else None, base
        ),
    )


def render_timeline_html(
    cycles: Sequence[TimelineCycle], title: str, notes: Sequence[str], base: Path
) -> str:
    """``cycles`` are ledger records; links are made relative to ``base`` (the page's folder).
    The columns are named after the records' metrics (production is scored on the monitor's
    metric, the candidate on the promotion metric; both are NDCG@10 unless configured)."""
    production = _metric_name(c.production_metric for c in cycles)
    candidate = _metric_name(c.candidate_metric for c in cycles)
    drift_shares = [_float(c.drift.drifted_share if c.drift else None) for c in cycles]
    chart = line_chart(
        {
            f"production {production}": [_float(c.production_score) for c in cycles],
            f"candidate {candidate}": [_candidate_on_shared_users(c) for c in cycles],
            "drifted share": drift_shares,
        },
        f"{production} on each new window, and its drifted share (x: cycle)",
        width=640,
        x_label="cycle",
    )
    rows = [_row(cycle, base) for cycle in cycles]
    return render_page(
        "timeline.html.j2",
        title=title,
        notes=notes,
        chart=chart,
        production_metric=production,
        candidate_metric=candidate,
        rows=rows,
    )


def _metric_name(names: Iterable[str | None]) -> str:
    """The newest metric name the records carry."""
    return next((name for name in reversed(list(names)) if name), "score")


def _float(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _candidate_on_shared_users(cycle: TimelineCycle) -> float:
    """The candidate on the users production knows, as the gate compared them (records made
    before the gate's means were kept: production's value plus the mean difference)."""
    gate = cycle.gate
    if gate is None:
        return math.nan
    if gate.candidate is not None:
        return gate.candidate
    if gate.mean_difference is not None:
        return _float(cycle.production_score) + gate.mean_difference
    return math.nan
