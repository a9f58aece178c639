"""Windows, the retraining ledger, the schedule and the time-windowed view of the data."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from mtrec.config import RunConfig, ValidationConfig
from mtrec.data.sources import arrived_before
from mtrec.data.validation import repair_interactions
from mtrec.retrain.windows import (
    DAY,
    REFUSED_BY_TRAINING,
    CycleDrift,
    CycleRecord,
    GateFigures,
    Ledger,
    Window,
    cycle_run_config,
    in_window,
    initial_cutoff,
    retrain_due,
    window_after,
)


def _frame(timestamps) -> pd.DataFrame:
    n = len(timestamps)
    return pd.DataFrame(
        {
            "user_id": [f"u{i % 3}" for i in range(n)],
            "item_id": "i1",
            "rating": 4.0,
            "timestamp": timestamps,
        }
    )


def test_initial_cutoff_is_the_midnight_before_the_share():
    timestamps = [10 * DAY + 5, 11 * DAY + 7, 12 * DAY + 100, 13 * DAY + 1, 14 * DAY + 9]
    assert initial_cutoff(_frame(timestamps), 0.5) == 12 * DAY
    with pytest.raises(ValueError, match="numeric timestamp"):
        initial_cutoff(_frame(["soon", "later"]), 0.5)


def test_windows_are_half_open_and_contiguous():
    first = window_after(100 * DAY, 7)
    second = window_after(first.end, 7)
    assert (first.start, first.end, second.start) == (100 * DAY, 107 * DAY, 107 * DAY)
    frame = _frame([first.start - 1, first.start, first.end - 1, first.end])
    assert in_window(frame, first)["timestamp"].tolist() == [first.start, first.end - 1]
    assert in_window(frame, second)["timestamp"].tolist() == [first.end]
    assert first.label() == "1970-04-11..1970-04-17"


def test_a_cycle_trains_before_its_validation_days_and_is_gated_on_its_window():
    window = Window(200 * DAY, 207 * DAY)
    config = cycle_run_config(RunConfig(), window)
    assert config.data.until == window.end
    assert config.split.strategy == "time"
    assert config.split.test_start == window.start
    assert config.split.valid_start == window.start - 7 * DAY
    assert config.registry.promotion_metric == "test.ndcg@10"
    assert config.validation.sparse_users == "drop"


def test_only_interactions_that_arrived_before_the_end_are_read_and_bad_ones_stay():
    frame = _frame(["5", "10", "15", "not a time"])
    kept = arrived_before(frame, 11)
    assert kept["timestamp"].tolist() == ["5", "10", "not a time"]  # validation names the last


def test_sparse_users_are_dropped_and_counted_only_when_configured():
    frame = pd.DataFrame(
        {
            "user_id": ["a"] * 5 + ["b"] * 2 + [None],
            "item_id": list("abcdefgh"),
            "rating": 3.0,
            "timestamp": range(8),
        }
    )
    config = ValidationConfig(min_interactions_per_user=5, sparse_users="drop")
    repaired, repairs = repair_interactions(frame, config)
    assert repaired["user_id"].tolist() == ["a"] * 5 + [None]  # the null id is left to validate
    assert repairs == {"sparse_users_dropped": 1, "sparse_user_rows_dropped": 2}
    untouched, none = repair_interactions(frame, ValidationConfig(min_interactions_per_user=5))
    assert len(untouched) == len(frame) and none == {}


def _cycle(start: int = 0, retrained: bool | None = None) -> CycleRecord:
    window = Window(start, start + DAY)
    return CycleRecord(
        window=window.label(),
        window_start=window.start,
        window_end=window.end,
        retrained=retrained,
        status="done",
    )


def test_the_ledger_is_written_atomically_and_a_damaged_one_is_refused(tmp_path):
    path = tmp_path / "ledger" / "model.json"
    ledger = Ledger.load(path)
    assert ledger.watermark is None and ledger.cycles == []
    window = Window(0, DAY)
    ledger.record(_cycle(0, retrained=True), DAY)
    ledger.record(_cycle(DAY, retrained=False), 2 * DAY)
    again = Ledger.load(path)
    assert again.watermark == 2 * DAY and len(again.cycles) == 2
    assert again.cycle_for(window) == _cycle(0, retrained=True)
    assert again.cycle_for(Window(5 * DAY, 6 * DAY)) is None
    assert not list(path.parent.glob("*.tmp"))
    path.write_text('{"watermark": 5, "cyc')
    with pytest.raises(ValueError, match="ledger .* is damaged"):
        Ledger.load(path)
    path.write_text(json.dumps({"watermark": 5}))
    with pytest.raises(ValueError, match="damaged"):
        Ledger.load(path)
    # A key no record knows would be lost when the ledger is rewritten: refused, not dropped.
    cycle = {**_cycle().to_json(), "window_note": "hand edited"}
    path.write_text(json.dumps({"watermark": 5, "cycles": [cycle]}))
    with pytest.raises(ValueError, match="damaged .*window_note"):
        Ledger.load(path)
    two_scores = {**_cycle().to_json(), "production_ndcg@10": 0.1, "production_hit@10": 0.5}
    path.write_text(json.dumps({"watermark": 5, "cycles": [two_scores]}))
    with pytest.raises(ValueError, match="more than one production_<metric>"):
        Ledger.load(path)
    path.write_text(json.dumps({"watermark": 5, "cycles": [{**_cycle().to_json(), "kind": "x"}]}))
    with pytest.raises(ValueError, match="damaged"):
        Ledger.load(path)


# Three cycles as the dict-based ledger wrote them (a real ledger of the pipeline test, paths
# shortened), and a window record whose drift was not tested, with no production, a null
# candidate score and a gate from before the gate's means were kept.
OLD_LEDGER = {
    "watermark": 889574400,
    "cycles": [
        {
            "window": "1998-01-14..1998-01-27",
            "window_start": 884736000,
            "window_end": 885945600,
            "kind": "initial",
            "retrained": True,
            "trigger": "initial",
            "candidate_version": "generic-f213dc7a46b4",
            "train_until": 883526400,
            "candidate_ndcg@10": 0.3158211651718432,
            "promoted": True,
            "reason": "no production version yet: the first is promoted",
            "gate": {},
            "run": "training_pipeline-2026_12_02-02_09_16_566034",
            "run_dir": "/reports/training_pipeline-2026_12_02-02_09_16_566034",
            "seconds": 23.1,
            "status": "done",
        },
        {
            "window": "1998-01-28..1998-02-10",
            "window_start": 885945600,
            "window_end": 887155200,
            "repairs": {"sparse_users_dropped": 0, "sparse_user_rows_dropped": 0},
            "production_version": "generic-f213dc7a46b4",
            "window_interactions": 83,
            "window_users": 34,
            "scored_users": 34,
            "production_ndcg@10": 0.36391678394726623,
            "drift": {
                "drifted_share": 0.36363636363636365,
                "drift_detected": False,
                "n_drifted": 4,
                "n_columns": 11,
                "page": "/reports/retrain/window-1998-01-28..1998-02-10/drift.html",
            },
            "retrained": False,
            "trigger": "none",
            "seconds": 1.0,
            "status": "done",
        },
        {
            "window": "1998-02-11..1998-02-24",
            "window_start": 887155200,
            "window_end": 888364800,
            "repairs": {"sparse_users_dropped": 1, "sparse_user_rows_dropped": 3},
            "production_version": "generic-f213dc7a46b4",
            "window_interactions": 96,
            "window_users": 38,
            "scored_users": 38,
            "production_ndcg@10": 0.34438711985862247,
            "drift": {
                "drifted_share": 0.2727272727272727,
                "drift_detected": False,
                "n_drifted": 3,
                "n_columns": 11,
                "page": "/reports/retrain/window-1998-02-11..1998-02-24/drift.html",
            },
            "retrained": True,
            "trigger": "schedule",
            "candidate_version": "generic-ad1d1ba74bdd",
            "train_until": 885945600,
            "candidate_ndcg@10": 0.4000686096572602,
            "promoted": False,
            "reason": "not confidently better than production version generic-f213dc7a46b4",
            "gate": {
                "users": 38,
                "candidate": 0.4000686096572602,
                "production": 0.34438711985862247,
                "mean_difference": 0.055681489798637705,
                "low": -0.006683031280860217,
                "high": 0.11941928315563631,
            },
            "run": "training_pipeline-2026_12_02-02_09_41_739965",
            "run_dir": "/reports/training_pipeline-2026_12_02-02_09_41_739965",
            "seconds": 22.3,
            "status": "done",
        },
        {
            "window": "1998-02-25..1998-03-10",
            "window_start": 888364800,
            "window_end": 889574400,
            "repairs": {},
            "drift": {"status": "not tested: 0 reference, 12 window rows"},
            "retrained": True,
            "trigger": "drift",
            "candidate_version": "generic-0123456789ab",
            "train_until": 887155200,
            "candidate_recall@20": None,
            "promoted": True,
            "reason": "better",
            "gate": {"users": 12, "mean_difference": 0.01, "low": 0.001, "high": 0.02},
            "run": "training_pipeline-2026_12_02-02_10_00_000000",
            "run_dir": "/reports/training_pipeline-2026_12_02-02_10_00_000000",
            "seconds": 9.5,
            "status": "done",
        },
    ],
}


def test_a_ledger_written_as_dicts_loads_into_records_and_round_trips(tmp_path):
    path = tmp_path / "model.json"
    path.write_text(json.dumps(OLD_LEDGER, indent=1))
    ledger = Ledger.load(path)
    assert ledger.watermark == 889574400
    initial, watched, retrained, untested = ledger.cycles
    assert initial.kind == "initial" and initial.trigger == "initial" and initial.retrained
    assert (initial.candidate_metric, initial.candidate_score) == ("ndcg@10", 0.3158211651718432)
    assert initial.gate == GateFigures() and initial.production_metric is None
    assert initial.drift is None and initial.repairs is None and initial.refused is None
    assert watched.kind == "window" and watched.retrained is False and watched.trigger == "none"
    assert (watched.production_metric, watched.production_score) == (
        "ndcg@10",
        0.36391678394726623,
    )
    assert (watched.window_interactions, watched.window_users, watched.scored_users) == (83, 34, 34)
    assert watched.drift == CycleDrift(
        drifted_share=0.36363636363636365,
        drift_detected=False,
        n_drifted=4,
        n_columns=11,
        page="/reports/retrain/window-1998-01-28..1998-02-10/drift.html",
    )
    assert watched.candidate_version is None and watched.gate is None
    assert retrained.repairs == {"sparse_users_dropped": 1, "sparse_user_rows_dropped": 3}
    assert retrained.gate is not None and retrained.gate.users == 38
    assert retrained.gate.low == -0.006683031280860217 and retrained.promoted is False
    assert retrained.train_until == 885945600 and retrained.candidate_score == 0.4000686096572602
    assert untested.drift == CycleDrift(status="not tested: 0 reference, 12 window rows")
    assert untested.drift.detected is False and untested.repairs == {}
    assert untested.production_version is None and untested.production_metric is None
    assert (untested.candidate_metric, untested.candidate_score) == ("recall@20", None)
    assert untested.gate == GateFigures(users=12, mean_difference=0.01, low=0.001, high=0.02)
    assert ledger.last_retrain_index() == 3
    assert ledger.cycle_for(Window(887155200, 888364800)) is retrained

    # Back to JSON: the same objects, keys in the same order, so a rewrite changes nothing.
    assert json.dumps([c.to_json() for c in ledger.cycles], indent=1) == json.dumps(
        OLD_LEDGER["cycles"], indent=1
    )
    ledger.record(_cycle(889574400, retrained=False), 889660800)
    rewritten = json.loads(path.read_text())
    assert rewritten["cycles"][:4] == OLD_LEDGER["cycles"]
    assert Ledger.load(path).cycles == [*ledger.cycles]


def test_a_record_keeps_a_nan_score_and_a_refusal_through_json():
    record = CycleRecord(
        window="w",
        window_start=0,
        window_end=DAY,
        production_metric="ndcg@10",
        production_score=math.nan,
        refused=REFUSED_BY_TRAINING,
        status="refused: the training pipeline failed (exit 1)",
    )
    raw = json.loads(json.dumps(record.to_json()))
    assert list(raw) == [
        "window",
        "window_start",
        "window_end",
        "production_ndcg@10",
        "refused",
        "status",
    ]
    back = CycleRecord.from_json(raw)
    assert math.isnan(back.production_score) and back.refused == "training"
    assert back.done is False and CycleRecord.for_window(Window(0, DAY), "done").done


@pytest.mark.parametrize(
    ("retrained", "every", "due"),
    [
        ([True], 1, True),
        ([True], 2, False),
        ([True, False], 2, True),
        ([True, False, True], 2, False),
        ([True, False, False], 3, True),
    ],
)
def test_the_schedule_counts_windows_since_the_last_training(tmp_path, retrained, every, due):
    cycles = [_cycle(i * DAY, retrained=r) for i, r in enumerate(retrained)]
    ledger = Ledger(tmp_path / "l.json", 0, cycles)
    assert retrain_due(ledger, every) is due
