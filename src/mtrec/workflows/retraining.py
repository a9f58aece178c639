"""One retraining cycle, as the library functions its pipeline steps call, and a replay of many
on the data's own timeline.

A cycle takes the next window of new interactions after the ledger's watermark, validates the
data up to the window's end, scores the production model on the window and measures the
window's data drift against production's training data. It retrains when the schedule says so
(``retrain.every_windows``) or drift is detected (``retrain.on_drift``): a training run whose
test split, and so whose promotion gate, is the window itself, so candidate and production are
compared on data neither was trained on. The ledger then records the window.

Each stage is one function here, taking and returning the cycle's typed record:
:func:`plan_cycle` (the ledger: which window, or waiting / already ingested),
:func:`check_window` (validation: refused, or running), :func:`score_production`,
:func:`measure_drift`, :func:`decide_retraining` and :func:`record_cycle` (the training run's
outcome, and the ledger). The ZenML retraining pipeline (``pipelines/retraining.py``) runs
each as a step; :func:`retrain_cycle` runs the same sequence in plain Python, with the registry
and the training runs behind :class:`RetrainingRegistry` (tests fake it). ZenML's local
orchestrator has no schedules: cron or a systemd timer runs ``make retrain``
(docs/operations.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pandas as pd

from mtrec.config import EventFunnel, RunConfig
from mtrec.data.prepare import index_interactions
from mtrec.data.sources import load_raw
from mtrec.data.validation import ValidationResult, repair_interactions, validate_interactions
from mtrec.models.serialization import TrainedModel
from mtrec.reports.drift import run_drift_report
from mtrec.retrain.monitor import production_on_window
from mtrec.retrain.windows import (
    DAY,
    REFUSED_BY_TRAINING,
    REFUSED_BY_VALIDATION,
    CycleDrift,
    CycleKind,
    CycleRecord,
    GateFigures,
    Ledger,
    Window,
    cycle_run_config,
    in_window,
    initial_cutoff,
    numeric_timestamps,
    retrain_due,
    window_after,
)
from mtrec.workflows.runs import TrainingRun

RUNNING = "running"
"""The status of a cycle's record while the cycle goes on (it ends ``done`` or refused)."""


class RetrainingRegistry(Protocol):
    """What :func:`retrain_cycle` needs from the model registry and the training runs."""

    def production(self, model_name: str) -> tuple[str, TrainedModel] | None:
        """The production version's name and its evaluated model, or None when there is none."""

    def train(self, config: RunConfig) -> tuple[int, TrainingRun | None]:
        """Train, register and gate a candidate on ``config``: the exit status, and the
        finished run."""


def ledger_path(config: RunConfig) -> Path:
    return config.retrain.ledger_dir / f"{config.registry.model_name}.json"


@dataclass(frozen=True)
class CyclePlan:
    """What the ledger says the next cycle is, before any of its data is validated."""

    kind: CycleKind
    window: Window
    record: CycleRecord
    """``running`` for a cycle to run; otherwise the whole record of a cycle with nothing to do
    (waiting for its window to complete, or already ingested)."""
    retrain_due: bool = False
    """The schedule says retrain (always, for the initial model)."""
    train_ends: dict[str, int] = field(default_factory=dict)
    """Each model version the ledger's cycles trained -> where its training data ends."""

    @property
    def runs(self) -> bool:
        return self.record.status == RUNNING

    def train_end(self, version: str | None) -> int:
        """Where ``version``'s training data ends, as the cycle that trained it recorded; a
        version from outside the ledger is taken to know everything before the window."""
        return self.train_ends.get(version or "", self.window.start)


def plan_cycle(
    config: RunConfig,
    ledger: Ledger,
    interactions: pd.DataFrame,
    window_start: int | None = None,
) -> CyclePlan:
    """The next cycle after the ledger's watermark on the source's ``interactions`` (the
    initial model when the ledger is empty). ``window_start``: redo the window starting
    there; one already in the ledger is planned as its record, marked already ingested."""
    days = config.retrain.window_days
    if ledger.watermark is None:
        cutoff = config.retrain.initial_cutoff or initial_cutoff(
            interactions, config.retrain.initial_share
        )
        # The initial model is tested on the window just before the cutoff, like every cycle.
        window = window_after(cutoff - round(days * DAY), days)
        record = CycleRecord.for_window(window, RUNNING).replace(kind="initial")
        return CyclePlan("initial", window, record, retrain_due=True)
    window = window_after(ledger.watermark if window_start is None else window_start, days)
    done = ledger.cycle_for(window)
    if done is not None:
        return CyclePlan(done.kind, window, done.replace(status="already ingested: nothing done"))
    newest = int(numeric_timestamps(interactions).max())
    if window.end > newest + 1 and not config.retrain.allow_partial_window:
        status = (
            f"waiting: the window ends {pd.Timestamp(window.end, unit='s')} but the newest "
            f"interaction is from {pd.Timestamp(newest, unit='s')}"
        )
        return CyclePlan("window", window, CycleRecord.for_window(window, status))
    # In ledger order, so a version trained twice keeps its newest cycle's end.
    train_ends = {
        cycle.candidate_version: cycle.train_until
        for cycle in ledger.cycles
        if cycle.candidate_version is not None and cycle.train_until is not None
    }
    return CyclePlan(
        "window",
        window,
        CycleRecord.for_window(window, RUNNING),
        retrain_due=retrain_due(ledger, config.retrain.every_windows),
        train_ends=train_ends,
    )


def check_window(plan: CyclePlan, validation: ValidationResult) -> CycleRecord:
    """The cycle's record after validating the data up to the window's end: refused, naming
    each failed expectation, or still running (a window's record keeps the repairs)."""
    if not validation.success:
        # The watermark stays: the window is taken again once its data is fixed at the source.
        failed = "; ".join(
            f"{f.expectation} on {f.column or 'the table'}: {f.observed}"
            for f in validation.failures()
        )
        status = f"refused: the data failed validation: {failed}"
        return CycleRecord.for_window(plan.window, status).replace(
            kind=plan.kind,
            refused=REFUSED_BY_VALIDATION,
        )
    if plan.kind == "initial":
        return plan.record
    return plan.record.replace(repairs=dict(validation.repairs))


def score_production(
    record: CycleRecord,
    production: tuple[str, TrainedModel] | None,
    repaired: pd.DataFrame,
    items: pd.DataFrame,
    users: pd.DataFrame,
    funnel: EventFunnel | None = None,
) -> CycleRecord:
    """The record with production's score on the window (unchanged when there is no
    production version): ``repaired`` is the validated data up to the window's end."""
    if production is None:
        return record
    version, trained = production
    window = Window(record.window_start, record.window_end)
    indexed = index_interactions(repaired, items, users, funnel)
    score = production_on_window(trained, indexed, window)
    return record.replace(
        production_version=version,
        window_interactions=score.window_interactions,
        window_users=score.window_users,
        scored_users=score.scored_users,
        production_metric=score.metric,
        production_score=score.value,
    )


def measure_drift(
    config: RunConfig,
    plan: CyclePlan,
    record: CycleRecord,
    repaired: pd.DataFrame,
    items: pd.DataFrame,
    users: pd.DataFrame,
) -> tuple[str | None, CycleRecord]:
    """The window's drift page (None when too few rows to test) and the record with the
    window's data drift against the data production was trained on; the page is also written
    to ``reports/retrain/window-<dates>/drift.html``."""
    reference = repaired[numeric_timestamps(repaired) < plan.train_end(record.production_version)]
    current = in_window(repaired, plan.window)
    if reference.empty or current.empty:
        status = f"not tested: {len(reference)} reference, {len(current)} window rows"
        return None, record.replace(drift=CycleDrift(status=status))
    html, summary = run_drift_report(reference, current, items, users, config.drift)
    folder = config.reports_dir / "retrain" / f"window-{plan.window.label()}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "drift.html").write_text(html, encoding="utf-8")
    drift = CycleDrift(
        drifted_share=summary.drifted_share,
        drift_detected=bool(summary.drift_detected),
        n_drifted=summary.n_drifted,
        n_columns=summary.n_columns,
        page=str(folder / "drift.html"),
    )
    return html, record.replace(drift=drift)


def decide_retraining(config: RunConfig, plan: CyclePlan, record: CycleRecord) -> CycleRecord:
    """The record with whether the cycle trains a candidate and why: the initial model, the
    schedule, or drift (when ``retrain.on_drift``)."""
    if plan.kind == "initial":
        return record.replace(retrained=True, trigger="initial")
    drifted = record.drift is not None and record.drift.detected and config.retrain.on_drift
    return record.replace(
        retrained=plan.retrain_due or drifted,
        trigger="schedule" if plan.retrain_due else ("drift" if drifted else "none"),
    )


def refused_by_training(record: CycleRecord, status: int) -> CycleRecord:
    """A cycle whose training failed: production is unchanged (the pipeline never promotes on
    failure) and the watermark stays, so the next ``make retrain`` takes the window again."""
    what = "the initial training" if record.kind == "initial" else "the training pipeline"
    return record.replace(
        refused=REFUSED_BY_TRAINING, status=f"refused: {what} failed (exit {status})"
    )


def record_cycle(
    config: RunConfig, record: CycleRecord, run: TrainingRun | None, seconds: float
) -> CycleRecord:
    """The cycle's final record. A running cycle is done, with its training ``run``'s outcome
    when it trained, and the ledger records it (moving the watermark past its window); a
    waiting, ingested or refused cycle is returned as it is and the ledger is left alone."""
    if record.status != RUNNING:
        return record
    if run is not None:
        window = Window(record.window_start, record.window_end)
        record = _with_training_outcome(record, run, cycle_run_config(config, window))
    record = record.replace(seconds=round(seconds, 1), status="done")
    Ledger.load(ledger_path(config)).record(record, record.window_end)
    return record


def retrain_cycle(
    config: RunConfig, registry: RetrainingRegistry, window_start: int | None = None
) -> CycleRecord:
    """Run the next cycle (or the initial model when the ledger is empty) in plain Python,
    the retraining pipeline's sequence, and return its record. ``window_start``: redo the
    window starting there; one already in the ledger is returned as it is, without training or
    recording anything (idempotent)."""
    ledger = Ledger.load(ledger_path(config))
    plan = plan_cycle(config, ledger, load_raw(config.data).interactions, window_start)
    if not plan.runs:
        return plan.record
    started = time.perf_counter()
    cycle_config = cycle_run_config(config, plan.window)
    raw = load_raw(cycle_config.data)  # the interactions that arrived before the window's end
    funnel = cycle_config.data.funnel
    repaired, repairs = repair_interactions(raw.interactions, cycle_config.validation, funnel)
    validation = validate_interactions(
        repaired,
        raw.items,
        cycle_config.validation,
        repairs=repairs,
        label_columns=cycle_config.label_columns(),
        funnel=funnel,
    )
    record = check_window(plan, validation)
    if record.refused is not None:
        return record
    if plan.kind == "window":
        production = registry.production(config.registry.model_name)
        record = score_production(record, production, repaired, raw.items, raw.users, funnel)
        _, record = measure_drift(config, plan, record, repaired, raw.items, raw.users)
    record = decide_retraining(config, plan, record)
    run = None
    if record.retrained:
        status, run = registry.train(cycle_config)
        if status != 0 or run is None:
            return refused_by_training(record, status)
    return record_cycle(config, record, run, time.perf_counter() - started)


def _with_training_outcome(record: CycleRecord, run: TrainingRun, config: RunConfig) -> CycleRecord:
    metric = config.registry.promotion.key
    return record.replace(
        candidate_version=run.version,
        train_until=config.split.valid_start,
        candidate_metric=metric,
        # On every window user it can rank; the gate's "candidate" is on production's users.
        candidate_score=run.test.get(metric),
        promoted=run.promoted,
        reason=run.reason,
        gate=GateFigures.from_json(run.gate),
        run=run.name,
        run_dir=str(run.run_dir),
    )


def describe_cycle(record: CycleRecord) -> str:
    """One line per cycle: its window, status, production's score, drift and decision."""
    parts = [f"window {record.window}: {record.status}"]
    if record.production_score is not None:
        parts.append(
            f"production {record.production_metric} {record.production_score:.4f} on "
            f"{record.scored_users} users"
        )
    drift = record.drift
    if drift is not None and drift.drifted_share is not None:
        parts.append(f"drifted share {drift.drifted_share:.2f} (detected={drift.detected})")
    if record.retrained and record.refused is None:
        parts.append(
            f"retrained ({record.trigger}): candidate {record.candidate_version} "
            f"promoted={record.promoted} - {record.reason}"
        )
    elif record.retrained is False:
        parts.append("not retrained (no drift, not scheduled)")
    return "; ".join(parts)


def replay(
    config: RunConfig,
    cycle: Callable[[RunConfig], CycleRecord | None],
    windows: int,
    fresh: bool,
    report: Callable[[CycleRecord], None] = lambda record: None,
) -> Ledger:
    """The initial model, then ``windows`` cycles on the data's own timeline (a backtest): each
    ``cycle(config)`` runs the next one (the retraining pipeline, or :func:`retrain_cycle`) and
    its record is passed to ``report``. Stops early at a cycle that is not done (waiting for
    data, refused) or that failed without a record (None). ``fresh`` starts from no ledger."""
    path = ledger_path(config)
    if fresh:
        path.unlink(missing_ok=True)
    while len(Ledger.load(path).cycles) < windows + 1:  # the initial model, then the windows
        record = cycle(config)
        if record is None:
            break
        report(record)
        if not record.done:
            break
    return Ledger.load(path)
