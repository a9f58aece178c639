"""Windows, the retraining ledger, the schedule and the time-windowed view of the data."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from mtrec.config import RunConfig, ValidationConfig
from mtrec.data.sources import arrived_before
from mtrec.data.validation import repair_interactions
from mtrec.retrain.windows import (
    DAY,
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


def test_the_ledger_is_written_atomically_and_a_damaged_one_is_refused(tmp_path):
    path = tmp_path / "ledger" / "model.json"
    ledger = Ledger.load(path)
    assert ledger.watermark is None and ledger.cycles == []
    window = Window(0, DAY)
    ledger.record({"window_start": 0, "retrained": True}, DAY)
    ledger.record({"window_start": DAY, "retrained": False}, 2 * DAY)
    again = Ledger.load(path)
    assert again.watermark == 2 * DAY and len(again.cycles) == 2
    assert again.cycle_for(window) == {"window_start": 0, "retrained": True}
    assert not list(path.parent.glob("*.tmp"))
    path.write_text('{"watermark": 5, "cyc')
    with pytest.raises(ValueError, match="ledger .* is damaged"):
        Ledger.load(path)
    path.write_text(json.dumps({"watermark": 5}))
    with pytest.raises(ValueError, match="damaged"):
        Ledger.load(path)


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
    ledger = Ledger(tmp_path / "l.json", 0, [{"retrained": r} for r in retrained])
    assert retrain_due(ledger, every) is due
