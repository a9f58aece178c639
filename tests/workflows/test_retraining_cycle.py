"""The retraining cycle's library side, without ZenML: the plan the ledger gives, the verdicts
of validation, the schedule and drift, the ledger written only by a finished cycle, and whole
cycles run by :func:`retrain_cycle` against a fake registry (the pipeline end to end:
tests/pipelines/test_retraining.py)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from conftest import make_interactions

from mtrec.config import RunConfig
from mtrec.data.validation import ExpectationOutcome, ValidationResult
from mtrec.retrain.windows import (
    DAY,
    REFUSED_BY_TRAINING,
    REFUSED_BY_VALIDATION,
    CycleDrift,
    CycleRecord,
    Ledger,
    Window,
    initial_cutoff,
)
from mtrec.workflows.retraining import (
    RUNNING,
    CyclePlan,
    check_window,
    decide_retraining,
    describe_cycle,
    ledger_path,
    plan_cycle,
    record_cycle,
    replay,
    retrain_cycle,
)
from mtrec.workflows.runs import TrainingRun


def _config(tmp_path: Path, **retrain: object) -> RunConfig:
    """A generic-source config on tiny data written to ``tmp_path`` (timestamps from 880M to
    890M seconds), with 14-day windows."""
    interactions, items, users = make_interactions(n_users=40, n_items=40, per_user=20)
    data: dict[str, object] = {"source": "generic", "root": str(tmp_path)}
    for name, frame in {"interactions": interactions, "items": items, "users": users}.items():
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
        data[name] = str(tmp_path / f"{name}.csv")
    return RunConfig.model_validate(
        {
            "data": {**data, "cache_dir": str(tmp_path / "cache")},
            "validation": {"min_interactions_per_user": 5},
            "encoder": {"store_dir": str(tmp_path / "embeddings")},
            "drift": {"max_rows": 100},
            "registry": {"model_name": "fake"},
            "reports_dir": str(tmp_path / "reports"),
            "retrain": {
                "window_days": 14,
                "valid_days": 14,
                "initial_share": 0.6,
                "every_windows": 2,
                "on_drift": False,
                "ledger_dir": str(tmp_path / "retrain"),
                **retrain,
            },
        }
    )


class FakeRegistry:
    """No production version; each training run returns a promoted candidate ``v<n>`` (or
    fails with ``status``), and the configs it was given are kept."""

    def __init__(self, status: int = 0) -> None:
        self.status = status
        self.trained: list[RunConfig] = []

    def production(self, _name: str) -> None:
        return None

    def train(self, config: RunConfig) -> tuple[int, TrainingRun | None]:
        self.trained.append(config)
        if self.status != 0:
            return self.status, None
        n = len(self.trained)
        run = TrainingRun(
            name=f"run-{n}",
            run_dir=Path(f"reports/run-{n}"),
            version=f"v{n}",
            promoted=True,
            reason="first version",
            stage="production",
            test={"ndcg@10": 0.25 + n / 100},
            gate={"users": 12, "mean_difference": 0.01},
        )
        return 0, run


def _frame(timestamps: list[int]) -> pd.DataFrame:
    return pd.DataFrame({"user_id": "u1", "item_id": "i1", "rating": 4.0, "timestamp": timestamps})


def _failed(expectation: str, column: str | None, observed: str) -> ExpectationOutcome:
    return ExpectationOutcome(expectation, column, False, observed, 1, ())


def test_the_plan_follows_the_ledger(tmp_path):
    config = _config(tmp_path, allow_partial_window=False)
    frame = _frame([100 * DAY + 5, 110 * DAY, 120 * DAY, 130 * DAY + 7, 140 * DAY])
    ledger = Ledger(tmp_path / "ledger.json")

    initial = plan_cycle(config, ledger, frame)
    cutoff = initial_cutoff(frame, 0.6)
    assert initial.kind == "initial" and initial.runs and initial.retrain_due
    assert (initial.window.start, initial.window.end) == (cutoff - 14 * DAY, cutoff)
    assert initial.record.kind == "initial" and initial.record.status == RUNNING

    trained = CycleRecord.for_window(Window(96 * DAY, 110 * DAY), "done").replace(
        candidate_version="v1",
        train_until=82 * DAY,
        retrained=True,
    )
    ledger.record(trained, 110 * DAY)
    window = plan_cycle(config, ledger, frame)
    assert window.runs and (window.window.start, window.window.end) == (110 * DAY, 124 * DAY)
    assert window.retrain_due is False  # one window since the initial model, every 2
    assert window.train_end("v1") == 82 * DAY
    assert window.train_end("trained elsewhere") == window.train_end(None) == 110 * DAY

    again = plan_cycle(config, ledger, frame, window_start=96 * DAY)
    assert not again.runs and again.record.status == "already ingested: nothing done"
    assert again.record.candidate_version == "v1"

    waiting = plan_cycle(config, ledger, frame, window_start=130 * DAY)  # ends after 140 days
    assert not waiting.runs and waiting.record.status.startswith("waiting: the window ends")
    partial = _config(tmp_path, allow_partial_window=True)
    assert plan_cycle(partial, ledger, frame, window_start=130 * DAY).runs


def test_a_failed_validation_refuses_the_window_naming_each_expectation():
    window = Window(110 * DAY, 124 * DAY)
    plan = CyclePlan("window", window, CycleRecord.for_window(window, RUNNING))
    failures = (
        _failed("expect_column_values_to_be_between", "rating", "1 of 9 rows outside [1, 5]"),
        _failed("expect_table_row_count_to_be_between", None, "0 rows"),
    )
    refused = check_window(plan, ValidationResult(False, 9, failures))
    assert refused.refused == REFUSED_BY_VALIDATION and refused.retrained is None
    assert refused.status == (
        "refused: the data failed validation: expect_column_values_to_be_between on rating: "
        "1 of 9 rows outside [1, 5]; expect_table_row_count_to_be_between on the table: 0 rows"
    )

    passed = check_window(plan, ValidationResult(True, 9, (), {"duplicate_rows_dropped": 2}))
    assert passed.status == RUNNING and passed.refused is None
    assert passed.repairs == {"duplicate_rows_dropped": 2}


@pytest.mark.parametrize(
    ("due", "detected", "on_drift", "retrained", "trigger"),
    [
        (True, True, True, True, "schedule"),
        (False, True, True, True, "drift"),
        (False, True, False, False, "none"),
        (False, False, True, False, "none"),
    ],
)
def test_the_decision_follows_the_schedule_then_drift(
    tmp_path, due, detected, on_drift, retrained, trigger
):
    config = _config(tmp_path, on_drift=on_drift)
    window = Window(110 * DAY, 124 * DAY)
    record = CycleRecord.for_window(window, RUNNING).replace(
        drift=CycleDrift(drift_detected=detected)
    )
    plan = CyclePlan("window", window, record, retrain_due=due)
    decided = decide_retraining(config, plan, record)
    assert (decided.retrained, decided.trigger) == (retrained, trigger)


def test_only_a_running_cycle_is_recorded_in_the_ledger(tmp_path):
    config = _config(tmp_path)
    window = Window(110 * DAY, 124 * DAY)
    refused = CycleRecord.for_window(window, "refused: no").replace(refused=REFUSED_BY_TRAINING)
    assert record_cycle(config, refused, None, 3.0) == refused
    assert not ledger_path(config).exists()

    running = CycleRecord.for_window(window, RUNNING).replace(retrained=False, trigger="none")
    done = record_cycle(config, running, None, 3.04)
    assert done.status == "done" and done.seconds == 3.0
    ledger = Ledger.load(ledger_path(config))
    assert ledger.watermark == 124 * DAY and ledger.cycles == [done]


def test_a_replay_without_zenml_trains_the_initial_model_then_follows_the_schedule(tmp_path):
    config = _config(tmp_path)
    registry = FakeRegistry()
    reported: list[CycleRecord] = []

    ledger = replay(config, lambda c: retrain_cycle(c, registry), 2, True, reported.append)

    initial, monitored, scheduled = ledger.cycles
    assert reported == ledger.cycles
    assert (initial.kind, initial.trigger, initial.candidate_version) == (
        "initial",
        "initial",
        "v1",
    )
    assert initial.repairs is None and initial.drift is None
    first = registry.trained[0]
    assert (first.split.test_start, first.data.until) == (initial.window_start, initial.window_end)
    assert initial.train_until == first.split.valid_start == initial.window_start - 14 * DAY
    assert initial.candidate_score == pytest.approx(0.26) and initial.gate is not None
    assert initial.gate.users == 12

    # No production version: nothing scored, drift against everything before the window.
    assert monitored.window_start == initial.window_end
    assert monitored.production_version is None and monitored.production_score is None
    assert monitored.repairs == {"sparse_users_dropped": 0, "sparse_user_rows_dropped": 0}
    assert monitored.drift is not None and 0.0 <= (monitored.drift.drifted_share or 0.0) <= 1.0
    assert monitored.drift.page is not None and Path(monitored.drift.page).is_file()
    assert (monitored.retrained, monitored.trigger) == (False, "none")
    assert "not retrained (no drift, not scheduled)" in describe_cycle(monitored)

    assert len(registry.trained) == 2  # the initial model and the scheduled window
    assert (scheduled.retrained, scheduled.trigger) == (True, "schedule")
    assert registry.trained[1].split.test_start == scheduled.window_start
    assert scheduled.candidate_version == "v2" and scheduled.run == "run-2"
    assert ledger.watermark == scheduled.window_end

    # Redoing an ingested window changes nothing.
    again = retrain_cycle(config, registry, window_start=monitored.window_start)
    assert again.status == "already ingested: nothing done" and len(registry.trained) == 2


def test_a_failed_training_refuses_the_cycle_and_keeps_the_ledger(tmp_path):
    config = _config(tmp_path)
    record = retrain_cycle(config, FakeRegistry(status=1))
    assert record.refused == REFUSED_BY_TRAINING and record.kind == "initial"
    assert record.status == "refused: the initial training failed (exit 1)"
    assert describe_cycle(record) == f"window {record.window}: {record.status}"
    assert not ledger_path(config).exists()
