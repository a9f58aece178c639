"""One retraining cycle, and a replay of many on the data's own timeline.

A cycle takes the next window of new interactions after the ledger's watermark, validates the
data up to the window's end, scores the production model on the window and measures the
window's data drift against production's training data. It retrains when the schedule says so
(``retrain.every_windows``) or drift is detected (``retrain.on_drift``): a training run whose
test split, and so whose promotion gate, is the window itself, so candidate and production are
compared on data neither was trained on. The ledger then records the window.

The registry and the training runs are behind :class:`RetrainingRegistry`: the ZenML side
(``mtrec_cli.retraining``) implements it, tests can fake it. ZenML's local orchestrator has no
schedules: cron or a systemd timer runs ``make retrain`` (docs/operations.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Protocol

import pandas as pd

from mtrec.config import RunConfig
from mtrec.data.prepare import index_interactions
from mtrec.data.sources import RawData, load_raw
from mtrec.data.validation import repair_interactions, validate_interactions
from mtrec.models.serialization import TrainedModel
from mtrec.reports.drift import run_drift_report
from mtrec.retrain.monitor import production_on_window
from mtrec.retrain.windows import (
    REFUSED_BY_TRAINING,
    REFUSED_BY_VALIDATION,
    CycleDrift,
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


class RetrainingRegistry(Protocol):
    """What a cycle needs from the model registry and the pipelines."""

    def production(self, model_name: str) -> tuple[str, TrainedModel] | None:
        """The production version's name and its evaluated model, or None when there is none."""

    def train(self, config: RunConfig) -> tuple[int, TrainingRun | None]:
        """Run the training pipeline (which registers and gates the candidate): the exit
        status, and the finished run."""


def ledger_path(config: RunConfig) -> Path:
    return config.retrain.ledger_dir / f"{config.registry.model_name}.json"


def retrain_cycle(
    config: RunConfig, registry: RetrainingRegistry, window_start: int | None = None
) -> CycleRecord:
    """Run the next cycle (or the initial model when the ledger is empty) and return its
    record. ``window_start``: redo the window starting there; one already in the ledger is
    returned as it is, without training or recording anything (idempotent)."""
    ledger = Ledger.load(ledger_path(config))
    raw = load_raw(config.data)
    timestamps = numeric_timestamps(raw.interactions)
    newest = int(timestamps.max())
    if ledger.watermark is None:
        return _initial(config, registry, ledger, raw.interactions)
    window = window_after(
        ledger.watermark if window_start is None else window_start, config.retrain.window_days
    )
    done = ledger.cycle_for(window)
    if done is not None:
        return replace(done, status="already ingested: nothing done")
    if window.end > newest + 1 and not config.retrain.allow_partial_window:
        return CycleRecord.for_window(
            window,
            status=(
                f"waiting: the window ends {pd.Timestamp(window.end, unit='s')} but the newest "
                f"interaction is from {pd.Timestamp(newest, unit='s')}"
            ),
        )
    started = time.perf_counter()
    cycle_config = cycle_run_config(config, window)
    arrived = raw.interactions[timestamps < window.end]
    funnel = cycle_config.data.funnel
    repaired, repairs = repair_interactions(arrived, cycle_config.validation, funnel)
    validation = validate_interactions(
        repaired,
        raw.items,
        cycle_config.validation,
        repairs=repairs,
        label_columns=cycle_config.label_columns(),
        funnel=funnel,
    )
    if not validation.success:
        # The watermark stays: the window is taken again once its data is fixed at the source.
        failed = "; ".join(
            f"{f.expectation} on {f.column or 'the table'}: {f.observed}"
            for f in validation.failures()
        )
        return replace(
            CycleRecord.for_window(window, f"refused: the data failed validation: {failed}"),
            refused=REFUSED_BY_VALIDATION,
        )
    indexed = index_interactions(repaired, raw.items, raw.users, funnel)
    record = replace(CycleRecord.for_window(window, "running"), repairs=repairs)
    production = registry.production(config.registry.model_name)
    if production is not None:
        version, trained = production
        score = production_on_window(trained, indexed, window)
        record = replace(
            record,
            production_version=version,
            window_interactions=score.window_interactions,
            window_users=score.window_users,
            scored_users=score.scored_users,
            production_metric=score.metric,
            production_score=score.value,
        )
    reference_end = _production_train_end(ledger, record.production_version, window)
    reference = repaired[numeric_timestamps(repaired) < reference_end]
    current = in_window(repaired, window)
    drift = _drift(config, reference, current, raw, window)
    scheduled = retrain_due(ledger, config.retrain.every_windows)
    drifted = drift.detected and config.retrain.on_drift
    record = replace(
        record,
        drift=drift,
        retrained=scheduled or drifted,
        trigger="schedule" if scheduled else ("drift" if drifted else "none"),
    )
    if record.retrained:
        status, run = registry.train(cycle_config)
        if status != 0 or run is None:
            # Production is unchanged (the pipeline never promotes on failure); the watermark
            # stays, so the next `make retrain` takes this window again.
            return replace(
                record,
                refused=REFUSED_BY_TRAINING,
                status=f"refused: the training pipeline failed (exit {status})",
            )
        record = _with_training_outcome(record, run, cycle_config)
    record = replace(record, seconds=round(time.perf_counter() - started, 1), status="done")
    ledger.record(record, window.end)
    return record


def _initial(
    config: RunConfig, registry: RetrainingRegistry, ledger: Ledger, interactions: pd.DataFrame
) -> CycleRecord:
    cutoff = config.retrain.initial_cutoff or initial_cutoff(
        interactions, config.retrain.initial_share
    )
    # The initial model is tested on the window just before the cutoff, like every cycle.
    window = window_after(
        cutoff - round(config.retrain.window_days * 86_400), config.retrain.window_days
    )
    started = time.perf_counter()
    cycle_config = cycle_run_config(config, window)
    status, run = registry.train(cycle_config)
    if status != 0 or run is None:
        status_line = f"refused: the initial training failed (exit {status})"
        return replace(CycleRecord.for_window(window, status_line), refused=REFUSED_BY_TRAINING)
    record = replace(
        CycleRecord.for_window(window, "running"),
        kind="initial",
        retrained=True,
        trigger="initial",
    )
    record = _with_training_outcome(record, run, cycle_config)
    record = replace(record, seconds=round(time.perf_counter() - started, 1), status="done")
    ledger.record(record, window.end)
    return record


def _with_training_outcome(record: CycleRecord, run: TrainingRun, config: RunConfig) -> CycleRecord:
    metric = config.registry.promotion.key
    return replace(
        record,
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


def _production_train_end(ledger: Ledger, version: str | None, window: Window) -> int:
    """Production's training data ends where the cycle that trained it said; a production
    version from outside the ledger is taken to know everything before the window."""
    for cycle in reversed(ledger.cycles):
        matches = version is not None and cycle.candidate_version == version
        if matches and cycle.train_until is not None:
            return cycle.train_until
    return window.start


def _drift(
    config: RunConfig,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    raw: RawData,
    window: Window,
) -> CycleDrift:
    if reference.empty or current.empty:
        return CycleDrift(
            status=f"not tested: {len(reference)} reference, {len(current)} window rows"
        )
    html, summary = run_drift_report(reference, current, raw.items, raw.users, config.drift)
    folder = config.reports_dir / "retrain" / f"window-{window.label()}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "drift.html").write_text(html, encoding="utf-8")
    return CycleDrift(
        drifted_share=summary.drifted_share,
        drift_detected=bool(summary.drift_detected),
        n_drifted=summary.n_drifted,
        n_columns=summary.n_columns,
        page=str(folder / "drift.html"),
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
    if record.retrained:
        parts.append(
            f"retrained ({record.trigger}): candidate {record.candidate_version} "
            f"promoted={record.promoted} - {record.reason}"
        )
    elif record.retrained is not None:
        parts.append("not retrained (no drift, not scheduled)")
    return "; ".join(parts)


def replay(
    config: RunConfig,
    registry: RetrainingRegistry,
    windows: int,
    fresh: bool,
    report: Callable[[CycleRecord], None] = lambda record: None,
) -> Ledger:
    """The initial model, then ``windows`` cycles on the data's own timeline (a backtest),
    each record passed to ``report`` as it is done; stops early at a cycle that is not done
    (waiting for data, refused). ``fresh`` starts from no ledger."""
    path = ledger_path(config)
    if fresh:
        path.unlink(missing_ok=True)
    while len(Ledger.load(path).cycles) < windows + 1:  # the initial model, then the windows
        record = retrain_cycle(config, registry)
        report(record)
        if not record.done:
            break
    return Ledger.load(path)
