"""One scheduled retraining cycle, and a replay of many on the data's own timeline.

A cycle takes the next window of new interactions after the ledger's watermark, validates the
data up to the window's end, scores the production model on the window and measures the
window's data drift against production's training data. It retrains when the schedule says so
(``retrain.every_windows``) or drift is detected (``retrain.on_drift``): a training-pipeline
run whose test split, and so whose promotion gate, is the window itself, so candidate and
production are compared on data neither was trained on. The ledger then records the window.

ZenML's local orchestrator has no schedules: cron or a systemd timer runs ``make retrain``
(see the README); orchestrators with schedules run the same command from their scheduler.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from mtrec.config import RunConfig
from mtrec.data.prepare import index_interactions
from mtrec.data.sources import load_raw
from mtrec.data.validation import repair_interactions, validate_interactions
from mtrec.reports.drift import run_drift_report
from mtrec.retrain.monitor import production_on_window
from mtrec.retrain.windows import (
    Ledger,
    Window,
    as_record,
    cycle_run_config,
    in_window,
    initial_cutoff,
    numeric_timestamps,
    retrain_due,
    window_after,
)

TrainFn = Callable[[RunConfig], tuple[int, dict[str, Any] | None]]
REFUSED_BY_VALIDATION = "validation"
REFUSED_BY_TRAINING = "training"
"""A refused cycle's ``refused`` value: its data failed validation, or its training run failed."""


def ledger_path(config: RunConfig) -> Path:
    return config.retrain.ledger_dir / f"{config.registry.model_name}.json"


def retrain_cycle(config: RunConfig, train: TrainFn, window_start: int | None = None) -> dict:
    """Run the next cycle (or the initial model when the ledger is empty) and return its
    record. ``window_start``: redo the window starting there; one already in the ledger is
    returned as it is, without training or recording anything (idempotent)."""
    ledger = Ledger.load(ledger_path(config))
    raw = load_raw(config.data)
    timestamps = numeric_timestamps(raw.interactions)
    newest = int(timestamps.max())
    if ledger.watermark is None:
        return _initial(config, train, ledger, raw.interactions)
    window = window_after(
        ledger.watermark if window_start is None else window_start, config.retrain.window_days
    )
    done = ledger.cycle_for(window)
    if done is not None:
        return {**done, "status": "already ingested: nothing done"}
    if window.end > newest + 1 and not config.retrain.allow_partial_window:
        return as_record(window, status=(
            f"waiting: the window ends {pd.Timestamp(window.end, unit='s')} but the newest "
            f"interaction is from {pd.Timestamp(newest, unit='s')}"))  # fmt: skip
    started = time.perf_counter()
    cycle_config = cycle_run_config(config, window)
    arrived = raw.interactions[timestamps < window.end]
    funnel = cycle_config.data.funnel
    repaired, repairs = repair_interactions(arrived, cycle_config.validation, funnel)
    validation = validate_interactions(
        repaired, raw.items, cycle_config.validation, repairs=repairs,
        label_columns=cycle_config.label_columns(), funnel=funnel,
    )  # fmt: skip
    if not validation.success:
        # The watermark stays: the window is taken again once its data is fixed at the source.
        failed = "; ".join(f"{f.expectation} on {f.column or 'the table'}: {f.observed}"
                           for f in validation.failures())  # fmt: skip
        return as_record(window, refused=REFUSED_BY_VALIDATION,
                         status=f"refused: the data failed validation: {failed}")  # fmt: skip
    indexed = index_interactions(repaired, raw.items, raw.users, funnel)
    record: dict[str, Any] = as_record(window, repairs=repairs)
    production = _production(config)
    if production is not None:
        version, trained = production
        record["production_version"] = version
        record |= production_on_window(trained, indexed, window)
    reference_end = _production_train_end(ledger, record.get("production_version"), window)
    reference = repaired[numeric_timestamps(repaired) < reference_end]
    current = in_window(repaired, window)
    drift = _drift(config, reference, current, raw, window)
    record["drift"] = drift
    scheduled = retrain_due(ledger, config.retrain.every_windows)
    drifted = bool(drift.get("drift_detected")) and config.retrain.on_drift
    record["retrained"] = scheduled or drifted
    record["trigger"] = "schedule" if scheduled else ("drift" if drifted else "none")
    if record["retrained"]:
        status, report = train(cycle_config)
        if status != 0 or report is None:
            # Production is unchanged (the pipeline never promotes on failure); the watermark
            # stays, so the next `make retrain` takes this window again.
            return {**record, "refused": REFUSED_BY_TRAINING,
                    "status": f"refused: the training pipeline failed (exit {status})"}  # fmt: skip
        record |= _training_outcome(report, cycle_config)
    record["seconds"] = round(time.perf_counter() - started, 1)
    record["status"] = "done"
    ledger.record(record, window.end)
    return record


def _initial(config: RunConfig, train: TrainFn, ledger: Ledger, interactions: pd.DataFrame):
    cutoff = config.retrain.initial_cutoff or initial_cutoff(
        interactions, config.retrain.initial_share
    )
    # The initial model is tested on the window just before the cutoff, like every cycle.
    window = window_after(cutoff - round(config.retrain.window_days * 86_400),
                          config.retrain.window_days)  # fmt: skip
    started = time.perf_counter()
    cycle_config = cycle_run_config(config, window)
    status, report = train(cycle_config)
    if status != 0 or report is None:
        status_line = f"refused: the initial training failed (exit {status})"
        return as_record(window, refused=REFUSED_BY_TRAINING, status=status_line)
    record = as_record(window, kind="initial", retrained=True, trigger="initial",
                       **_training_outcome(report, cycle_config))  # fmt: skip
    record["seconds"] = round(time.perf_counter() - started, 1)
    record["status"] = "done"
    ledger.record(record, window.end)
    return record


def _training_outcome(report: dict[str, Any], config: RunConfig) -> dict[str, Any]:
    decision = report.get("promotion", {})
    metric = config.registry.promotion_metric.partition(".")[2]
    evidence = decision.get("evidence") or {}
    bootstrap = evidence.get("bootstrap") or {}
    return {
        "candidate_version": decision.get("version"),
        "train_until": config.split.valid_start,
        # On every window user it can rank; the gate's "candidate" is on production's users.
        f"candidate_{metric}": report.get("test", {}).get(metric),
        "promoted": bool(decision.get("promote")),
        "reason": decision.get("reason"),
        "gate": {
            k: bootstrap.get(k)
            for k in ("users", "candidate", "production", "mean_difference", "low", "high")
            if k in bootstrap
        },  # fmt: skip
        "run": report.get("run", {}).get("name"),
        "run_dir": report.get("run_dir"),
    }


def _production(config: RunConfig) -> tuple[str, Any] | None:
    from zenml.client import Client
    from zenml.enums import ModelStages

    try:
        version = Client().get_model_version(config.registry.model_name, ModelStages.PRODUCTION)
    except KeyError:
        return None
    return str(version.name), version.get_artifact("recommender").load()


def _production_train_end(ledger: Ledger, version: str | None, window: Window) -> int:
    """Production's training data ends where the cycle that trained it said; a production
    version from outside the ledger is taken to know everything before the window."""
    for cycle in reversed(ledger.cycles):
        if version is not None and cycle.get("candidate_version") == version:
            return int(cycle["train_until"])
    return window.start


def _drift(config: RunConfig, reference: pd.DataFrame, current: pd.DataFrame, raw, window):
    if reference.empty or current.empty:
        return {"status": f"not tested: {len(reference)} reference, {len(current)} window rows"}
    html, summary = run_drift_report(reference, current, raw.items, raw.users, config.drift)
    folder = config.reports_dir / "retrain" / f"window-{window.label()}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "drift.html").write_text(html, encoding="utf-8")
    result = summary.to_dict()
    return {"drifted_share": result.get("drifted_share"),
            "drift_detected": bool(result.get("drift_detected")),
            "n_drifted": result.get("n_drifted"), "n_columns": result.get("n_columns"),
            "page": str(folder / "drift.html")}  # fmt: skip
