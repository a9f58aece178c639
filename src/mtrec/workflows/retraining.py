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
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from mtrec.config import RunConfig
from mtrec.data.prepare import index_interactions
from mtrec.data.sources import RawData, load_raw
from mtrec.data.validation import repair_interactions, validate_interactions
from mtrec.models.serialization import TrainedModel
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
from mtrec.workflows.runs import TrainingRun

REFUSED_BY_VALIDATION = "validation"
REFUSED_BY_TRAINING = "training"
"""A refused cycle's ``refused`` value: its data failed validation, or its training run failed."""


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
) -> dict[str, Any]:
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
        return {**done, "status": "already ingested: nothing done"}
    if window.end > newest + 1 and not config.retrain.allow_partial_window:
        return as_record(
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
        return as_record(
            window,
            refused=REFUSED_BY_VALIDATION,
            status=f"refused: the data failed validation: {failed}",
        )
    indexed = index_interactions(repaired, raw.items, raw.users, funnel)
    record: dict[str, Any] = as_record(window, repairs=repairs)
    production = registry.production(config.registry.model_name)
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
        status, run = registry.train(cycle_config)
        if status != 0 or run is None:
            # Production is unchanged (the pipeline never promotes on failure); the watermark
            # stays, so the next `make retrain` takes this window again.
            return {
                **record,
                "refused": REFUSED_BY_TRAINING,
                "status": f"refused: the training pipeline failed (exit {status})",
            }
        record |= _training_outcome(run, cycle_config)
    record["seconds"] = round(time.perf_counter() - started, 1)
    record["status"] = "done"
    ledger.record(record, window.end)
    return record


def _initial(
    config: RunConfig, registry: RetrainingRegistry, ledger: Ledger, interactions: pd.DataFrame
) -> dict[str, Any]:
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
        return as_record(window, refused=REFUSED_BY_TRAINING, status=status_line)
    record = as_record(
        window,
        kind="initial",
        retrained=True,
        trigger="initial",
        **_training_outcome(run, cycle_config),
    )
    record["seconds"] = round(time.perf_counter() - started, 1)
    record["status"] = "done"
    ledger.record(record, window.end)
    return record


def _training_outcome(run: TrainingRun, config: RunConfig) -> dict[str, Any]:
    metric = config.registry.promotion.key
    return {
        "candidate_version": run.version,
        "train_until": config.split.valid_start,
        # On every window user it can rank; the gate's "candidate" is on production's users.
        f"candidate_{metric}": run.test.get(metric),
        "promoted": run.promoted,
        "reason": run.reason,
        "gate": dict(run.gate),
        "run": run.name,
        "run_dir": str(run.run_dir),
    }


def _production_train_end(ledger: Ledger, version: str | None, window: Window) -> int:
    """Production's training data ends where the cycle that trained it said; a production
    version from outside the ledger is taken to know everything before the window."""
    for cycle in reversed(ledger.cycles):
        if version is not None and cycle.get("candidate_version") == version:
            return int(cycle["train_until"])
    return window.start


def _drift(
    config: RunConfig,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    raw: RawData,
    window: Window,
) -> dict[str, Any]:
    if reference.empty or current.empty:
        return {"status": f"not tested: {len(reference)} reference, {len(current)} window rows"}
    html, summary = run_drift_report(reference, current, raw.items, raw.users, config.drift)
    folder = config.reports_dir / "retrain" / f"window-{window.label()}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "drift.html").write_text(html, encoding="utf-8")
    result = summary.to_dict()
    return {
        "drifted_share": result.get("drifted_share"),
        "drift_detected": bool(result.get("drift_detected")),
        "n_drifted": result.get("n_drifted"),
        "n_columns": result.get("n_columns"),
        "page": str(folder / "drift.html"),
    }


def describe_cycle(record: dict[str, Any]) -> str:
    """One line per cycle: its window, status, production's score, drift and decision."""
    parts = [f"window {record.get('window')}: {record.get('status')}"]
    if "production_ndcg@10" in record:
        parts.append(
            f"production ndcg@10 {record['production_ndcg@10']:.4f} on "
            f"{record.get('scored_users')} users"
        )
    drift = record.get("drift") or {}
    if "drifted_share" in drift:
        parts.append(
            f"drifted share {drift['drifted_share']:.2f} (detected={drift['drift_detected']})"
        )
    if record.get("retrained"):
        parts.append(
            f"retrained ({record.get('trigger')}): candidate {record.get('candidate_version')} "
            f"promoted={record.get('promoted')} - {record.get('reason')}"
        )
    elif "retrained" in record:
        parts.append("not retrained (no drift, not scheduled)")
    return "; ".join(parts)


def replay(
    config: RunConfig,
    registry: RetrainingRegistry,
    windows: int,
    fresh: bool,
    report: Callable[[dict[str, Any]], None] = lambda record: None,
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
        if record.get("status") != "done":
            break
    return Ledger.load(path)
