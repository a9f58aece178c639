import json

import numpy as np
import pandas as pd
import pytest

from mtrec.config import ValidationConfig
from mtrec.data.validation import (
    REQUIRED_COLUMNS,
    DataValidationError,
    ExpectationOutcome,
    ValidationResult,
    validate_interactions,
)
from mtrec.reports.validation import render_validation_html

NOW = 1_700_000_000
# The fixture below is four users, six items and twelve rows: the size minimums are lowered
# (the one-user test checks the defaults).
SMALL = {"min_users": 2, "min_items": 2, "min_interactions": 2}
CONFIG = ValidationConfig(min_interactions_per_user=3, sample_rows=5, **SMALL)
BETWEEN = "expect_column_values_to_be_between"
DISTINCT = "expect_column_unique_value_count_to_be_between"


def _interactions() -> pd.DataFrame:
    """Four users with three interactions each over items i1..i6, all valid."""
    users = ["u1"] * 3 + ["u2"] * 3 + ["u3"] * 3 + ["u4"] * 3
    items = ["i1", "i2", "i3", "i2", "i4", "i5", "i1", "i5", "i6", "i3", "i4", "i6"]
    return pd.DataFrame(
        {
            "user_id": pd.array(users, dtype="string"),
            "item_id": pd.array(items, dtype="string"),
            "rating": np.array([5, 3, 4, 1, 2, 5, 4, 4, 3, 2, 5, 1], dtype="int64"),
            "timestamp": np.arange(12, dtype="int64") * 1000 + 880_000_000,
            "source": "test",
        }
    )


def _items() -> pd.DataFrame:
    ids = [f"i{i}" for i in range(1, 7)]
    return pd.DataFrame(
        {"item_id": pd.array(ids, dtype="string"), "title": [f"Movie {i}" for i in ids]}
    )


RATING_TASKS = {"rating": ("like", "rating")}
"""What the default tasks read: ``ModelConfig().label_columns()``."""


def _validate(frame: pd.DataFrame, label_columns=RATING_TASKS) -> ValidationResult:
    return validate_interactions(frame, _items(), CONFIG, now=NOW, label_columns=label_columns)


def _only_failure(result: ValidationResult) -> ExpectationOutcome:
    failures = result.failures()
    assert len(failures) == 1, [(f.expectation, f.column, f.observed) for f in failures]
    return failures[0]


def test_valid_data_passes_every_expectation() -> None:
    frame = _interactions()
    before = frame.copy()

    result = _validate(frame)

    assert result.success
    assert result.n_rows == 12
    assert result.failures() == ()
    assert all(o.success and o.unexpected_count == 0 and o.sample == () for o in result.outcomes)
    names = {(o.expectation, o.column) for o in result.outcomes}
    assert {("expect_column_to_exist", c) for c in REQUIRED_COLUMNS} <= names
    assert {
        ("expect_column_values_to_be_in_type_list", "rating"),
        ("expect_column_values_to_be_in_type_list", "timestamp"),
        (BETWEEN, "rating"),
        (BETWEEN, "timestamp"),
        ("expect_compound_columns_to_be_unique", "user_id,item_id,timestamp"),
        ("expect_column_values_to_be_in_set", "item_id"),
        (BETWEEN, "n_interactions"),
        (DISTINCT, "user_id"),
        (DISTINCT, "item_id"),
    } <= names
    observed = {(o.expectation, o.column): o.observed for o in result.outcomes}
    assert observed[(DISTINCT, "user_id")] == "4 distinct users"
    assert observed[("expect_table_row_count_to_be_between", None)] == "12 rows"
    pd.testing.assert_frame_equal(frame, before)


def test_missing_rating_column_fails_existence_and_skips_rating_checks() -> None:
    frame = _interactions().drop(columns="rating")

    result = _validate(frame)

    outcome = _only_failure(result)
    assert (outcome.expectation, outcome.column) == ("expect_column_to_exist", "rating")
    assert "'rating' is missing, read by tasks like, rating (model.tasks)" in outcome.observed
    assert not any(
        o.column == "rating" and o.expectation != "expect_column_to_exist" for o in result.outcomes
    )


def test_an_implicit_log_passes_when_no_task_reads_a_rating() -> None:
    from mtrec.config import ModelConfig, TaskConfig

    assert ModelConfig().label_columns() == RATING_TASKS
    implicit = ModelConfig(tasks={"watch": TaskConfig(kind="ranking")})
    assert implicit.label_columns() == {}
    result = _validate(_interactions().drop(columns="rating"), implicit.label_columns())
    assert result.success and not any(o.column == "rating" for o in result.outcomes)
    # Another label column a task declares is required, numeric and non-null.
    frame = _interactions().assign(dwell=[1.5] * 11 + [np.nan])
    result = _validate(frame, {"dwell": ("dwell_time",)})
    outcome = _only_failure(result)
    assert outcome.column == "dwell" and "read by task dwell_time" in outcome.observed
    failure = _only_failure(_validate(_interactions(), {"dwell": ("dwell_time",)}))
    assert failure.expectation == "expect_column_to_exist" and failure.column == "dwell"


def test_out_of_range_and_missing_ratings_are_counted_with_sample_rows() -> None:
    frame = _interactions()
    frame["rating"] = frame["rating"].astype("float64")
    frame.loc[4, "rating"] = 7.0
    frame.loc[8, "rating"] = np.nan

    result = _validate(frame)

    failed = {(o.expectation, o.column): o for o in result.failures()}
    assert set(failed) == {
        (BETWEEN, "rating"),
        ("expect_column_values_to_not_be_null", "rating"),
    }
    between = failed[(BETWEEN, "rating")]
    assert between.unexpected_count == 1
    assert between.observed == "1 of 12 rows (8.3%) outside [1, 5], e.g. 7.0"
    assert between.sample == (
        {
            "user_id": "u2",
            "item_id": "i4",
            "rating": 7.0,
            "timestamp": 880_004_000,
            "source": "test",
        },
    )
    null = failed[("expect_column_values_to_not_be_null", "rating")]
    assert null.unexpected_count == 1
    assert null.sample[0]["rating"] is None
    assert null.sample[0]["item_id"] == "i6"


def test_string_rating_column_fails_type_check() -> None:
    frame = _interactions()
    frame["rating"] = frame["rating"].astype(str).astype("string")

    result = _validate(frame)

    outcome = _only_failure(result)
    assert (outcome.expectation, outcome.column) == (
        "expect_column_values_to_be_in_type_list",
        "rating",
    )
    assert outcome.observed.startswith("dtype string, expected a numeric dtype")
    assert outcome.sample[0]["rating"] == "5"
    # A non-numeric rating cannot be range-checked, so that check is skipped, not crashed.
    assert (BETWEEN, "rating") not in {(o.expectation, o.column) for o in result.outcomes}


def test_object_rating_column_counts_values_of_other_types() -> None:
    frame = _interactions()
    frame["rating"] = frame["rating"].astype(object)
    frame.loc[2, "rating"] = "four"

    outcome = _only_failure(_validate(frame))

    assert outcome.expectation == "expect_column_values_to_be_in_type_list"
    # Python ints in an object column are not numpy ints either: the whole column is flagged.
    assert outcome.unexpected_count == 12
    assert "dtype object" in outcome.observed


def test_float_timestamps_of_whole_seconds_are_accepted_fractional_ones_are_not() -> None:
    whole = _interactions()
    whole["timestamp"] = whole["timestamp"].astype("float64")
    assert _validate(whole).success

    fractional = whole.copy()
    fractional.loc[3, "timestamp"] += 0.5
    outcome = _only_failure(_validate(fractional))
    assert (outcome.expectation, outcome.column) == (
        "expect_column_values_to_be_in_type_list",
        "timestamp",
    )
    assert outcome.observed.startswith("dtype float64, expected an integer dtype")


def test_null_user_id_fails_not_null() -> None:
    frame = _interactions()
    frame.loc[0, "user_id"] = pd.NA

    result = _validate(frame)

    failed = {(o.expectation, o.column): o for o in result.failures()}
    null = failed[("expect_column_values_to_not_be_null", "user_id")]
    assert null.unexpected_count == 1
    assert null.observed == "1 of 12 rows (8.3%) are null"
    assert null.sample[0] == {
        "user_id": None,
        "item_id": "i1",
        "rating": 5,
        "timestamp": 880_000_000,
        "source": "test",
    }
    # u1 is left with two interactions, under the minimum of three.
    assert set(failed) == {
        ("expect_column_values_to_not_be_null", "user_id"),
        (BETWEEN, "n_interactions"),
    }


def test_duplicate_user_item_timestamp_rows_fail_compound_uniqueness() -> None:
    frame = _interactions()
    frame = pd.concat([frame, frame.iloc[[5]]], ignore_index=True)
    frame.loc[12, "rating"] = 1

    outcome = _only_failure(_validate(frame))

    assert outcome.expectation == "expect_compound_columns_to_be_unique"
    assert outcome.column == "user_id,item_id,timestamp"
    # Both copies of the duplicated key are reported.
    assert outcome.unexpected_count == 2
    assert [(r["user_id"], r["item_id"], r["rating"]) for r in outcome.sample] == [
        ("u2", "i5", 5),
        ("u2", "i5", 1),
    ]


def test_millisecond_timestamps_fail_as_future() -> None:
    frame = _interactions()
    frame["timestamp"] = frame["timestamp"] * 1000

    outcome = _only_failure(_validate(frame))

    assert (outcome.expectation, outcome.column) == (BETWEEN, "timestamp")
    assert outcome.unexpected_count == 12
    assert outcome.observed.startswith(
        "12 of 12 rows (100.0%) outside [631152000, 1700000000 (now)], e.g. 880000000000"
    )
    assert len(outcome.sample) == CONFIG.sample_rows


def test_configured_timestamp_max_replaces_now() -> None:
    config = ValidationConfig(min_interactions_per_user=3, timestamp_max=880_005_000, **SMALL)

    result = validate_interactions(_interactions(), _items(), config, now=NOW)

    outcome = _only_failure(result)
    assert outcome.column == "timestamp"
    assert outcome.unexpected_count == 6
    assert "outside [631152000, 880005000]" in outcome.observed


def test_unknown_item_fails_in_set_naming_the_item() -> None:
    frame = _interactions()
    frame.loc[7, "item_id"] = "i999"

    outcome = _only_failure(_validate(frame))

    assert (outcome.expectation, outcome.column) == ("expect_column_values_to_be_in_set", "item_id")
    assert outcome.unexpected_count == 1
    assert '"i999"' in outcome.observed
    assert outcome.sample[0]["item_id"] == "i999"
    assert outcome.sample[0]["user_id"] == "u3"


def test_user_under_minimum_interactions_fails_with_that_user_as_sample() -> None:
    frame = _interactions().drop(index=[9, 10]).reset_index(drop=True)

    outcome = _only_failure(_validate(frame))

    assert (outcome.expectation, outcome.column) == (BETWEEN, "n_interactions")
    assert outcome.unexpected_count == 1
    assert outcome.observed == "1 of 4 users (25.0%) have fewer than 3 interactions"
    assert outcome.sample == ({"user_id": "u4", "n_interactions": 1},)


def test_empty_frame_fails_row_count() -> None:
    failures = {
        (f.expectation, f.column): f.observed
        for f in _validate(_interactions().iloc[0:0]).failures()
    }

    assert failures == {
        ("expect_table_row_count_to_be_between", None): "the frame has no rows",
        (DISTINCT, "user_id"): "0 distinct users, fewer than the 2 required (validation.min_users)",
        (DISTINCT, "item_id"): "0 distinct items, fewer than the 2 required (validation.min_items)",
    }


def test_one_user_log_fails_the_size_expectations_naming_the_counts() -> None:
    """Sixty rows of one user over ten items: the defaults (10 users, 10 items, 100 rows) refuse
    it, and each failed expectation says what it saw and what it needs."""
    frame = pd.DataFrame(
        {
            "user_id": pd.array(["solo"] * 60, dtype="string"),
            "item_id": pd.array([f"i{i % 10}" for i in range(60)], dtype="string"),
            "rating": np.full(60, 4, dtype="int64"),
            "timestamp": np.arange(60, dtype="int64") + 880_000_000,
        }
    )
    items = pd.DataFrame({"item_id": pd.array([f"i{i}" for i in range(10)], dtype="string")})

    result = validate_interactions(frame, items, ValidationConfig(), now=NOW)

    assert not result.success
    failures = {(f.expectation, f.column): f.observed for f in result.failures()}
    assert failures == {
        (
            "expect_table_row_count_to_be_between",
            None,
        ): "60 rows, fewer than the 100 required (validation.min_interactions)",
        (
            DISTINCT,
            "user_id",
        ): "1 distinct users, fewer than the 10 required (validation.min_users)",
    }
    passed = {(o.expectation, o.column): o.observed for o in result.outcomes if o.success}
    assert passed[(DISTINCT, "item_id")] == "10 distinct items"
    message = str(DataValidationError(result))
    assert f"- {DISTINCT} on user_id: 1 distinct users, fewer than the 10 required" in message
    assert "- expect_table_row_count_to_be_between on the table: 60 rows, fewer" in message
    page = render_validation_html(result)
    assert DISTINCT in page and "1 distinct users, fewer than the 10 required" in page


def test_items_without_item_id_column_is_a_caller_error() -> None:
    with pytest.raises(ValueError, match="item_id"):
        validate_interactions(_interactions(), pd.DataFrame({"id": ["i1"]}), CONFIG, now=NOW)


def test_error_message_names_expectations_columns_and_sample_values() -> None:
    frame = _interactions()
    frame.loc[4, "rating"] = 9
    frame.loc[7, "item_id"] = "i999"
    result = _validate(frame)

    error = DataValidationError(result)

    assert isinstance(error, ValueError)
    assert error.result is result
    message = str(error)
    assert message.startswith("Interaction data failed validation: 2 of ")
    assert f"- {BETWEEN} on rating: 1 of 12 rows (8.3%) outside [1, 5], e.g. 9" in message
    assert "- expect_column_values_to_be_in_set on item_id:" in message
    assert '"rating": 9' in message
    assert '"item_id": "i999"' in message


def test_to_dict_is_json_serialisable() -> None:
    frame = _interactions()
    frame.loc[0, "user_id"] = pd.NA
    frame.loc[1, "rating"] = 0

    result = _validate(frame)
    summary = result.to_dict()

    assert summary["success"] is False
    assert summary["n_failed"] == 3
    decoded = json.loads(json.dumps(summary))
    assert decoded == summary
    # The retraining cycle reads its verdict back from the validation_summary artifact.
    back = ValidationResult.from_dict(decoded)
    assert back.to_dict() == summary
    assert [(o.expectation, o.column) for o in back.failures()] == [
        (o.expectation, o.column) for o in result.failures()
    ]
    assert back.failures()[0].sample == result.failures()[0].sample


def test_html_lists_every_expectation_and_escapes_values() -> None:
    frame = _interactions()
    frame.loc[2, "item_id"] = "<script>alert(1)</script>"
    result = _validate(frame)

    page = render_validation_html(result, title="Run <1>")

    assert "FAILED" in page and "Run &lt;1&gt;" in page
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    for outcome in result.outcomes:
        assert outcome.expectation in page
    assert page.count('class="badge fail"') == 1
    assert page.count('class="badge pass"') == len(result.outcomes) - 1
    assert '<table class="sample">' in page

    passed = render_validation_html(_validate(_interactions()))
    assert "PASSED" in passed and "FAILED" not in passed
    assert '<table class="sample">' not in passed


def test_hundred_thousand_valid_rows_pass() -> None:
    rng = np.random.default_rng(0)
    n_users, per_user = 2_000, 50
    n = n_users * per_user
    users = np.repeat(np.arange(n_users), per_user)
    frame = pd.DataFrame(
        {
            "user_id": pd.array(users.astype(str), dtype="string"),
            "item_id": pd.array(rng.integers(0, 1_000, n).astype(str), dtype="string"),
            "rating": rng.integers(1, 6, n),
            # Distinct timestamps keep every (user, item, timestamp) key unique.
            "timestamp": 880_000_000 + np.arange(n, dtype="int64"),
        }
    )
    items = pd.DataFrame({"item_id": pd.array(np.arange(1_000).astype(str), dtype="string")})

    result = validate_interactions(frame, items, ValidationConfig(), now=NOW)

    assert result.success, result.failures()
    assert result.n_rows == 100_000
