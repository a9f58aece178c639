"""Multi-behaviour logs: the event config, collapsing pairs to their furthest stage, event
labels, the MovieLens mapping and the validation of event logs."""

import numpy as np
import pandas as pd
import pytest

from bench.synthetic_funnel import generate_funnel_log
from mtrec.config import EventFunnel, ModelConfig, RunConfig, ValidationConfig
from mtrec.data.behaviours import collapse_events, events_from_ratings, stage_column
from mtrec.data.labels import interaction_labels
from mtrec.data.prepare import index_interactions
from mtrec.data.validation import (
    DataValidationError,
    repair_interactions,
    validate_interactions,
)

FUNNEL = EventFunnel(column="event", stages=("view", "click", "purchase"))
DATA = {"event_column": "event", "events": ["view", "click", "purchase"]}
TASKS = {
    "watch": {"kind": "ranking"},
    "click": {"kind": "funnel", "label": "event:click", "after": "watch"},
    "purchase": {"kind": "funnel", "label": "event:purchase", "after": "click"},
    "purchase_independent": {"kind": "binary", "label": "event:purchase"},
}
NOW = 1_800_000_000
T0 = 1_700_000_000
SMALL = ValidationConfig(min_users=2, min_items=2, min_interactions=2, min_interactions_per_user=2)


def _run_config(data=DATA, tasks=TASKS, **sections) -> RunConfig:
    return RunConfig.model_validate({"data": data, "model": {"tasks": tasks}, **sections})


def _log() -> pd.DataFrame:
    """Two users: a's x viewed, clicked, bought (rows out of time order), a's y viewed; b's x
    viewed then clicked twice, b's z viewed."""
    return pd.DataFrame(
        {
            "user_id": ["a", "a", "a", "b", "a", "b", "b", "b"],
            "item_id": ["x", "x", "x", "x", "y", "x", "x", "z"],
            "event": ["click", "purchase", "view", "view", "view", "click", "click", "view"],
            "timestamp": [T0 + 60, T0 + 900, T0, T0 + 100, T0 + 200, T0 + 300, T0 + 400, T0 + 500],
            "dwell": [5.0, 9.0, 1.0, 2.0, 3.0, 4.0, 6.0, 7.0],
        }
    )


# --- config ---------------------------------------------------------------------------------


def test_event_tasks_and_their_config_are_read() -> None:
    config = _run_config()
    assert config.data.funnel == FUNNEL
    assert config.label_columns() == {"event": ("click", "purchase", "purchase_independent")}
    from mtrec.config import entire_space_tasks, funnel_chain

    assert funnel_chain(config.model.tasks, "purchase") == ("purchase", "click", "watch")
    assert entire_space_tasks(config.model.tasks) == ("click", "purchase")
    assert RunConfig().data.funnel is None


@pytest.mark.parametrize(
    ("data", "tasks", "message"),
    [
        ({"event_column": "event"}, {"watch": {}}, "event_column and data.events go together"),
        ({"events": ["click"]}, {"watch": {}}, "event_column and data.events go together"),
        (
            {"event_column": "event", "events": ["click", "click"]},
            {"watch": {}},
            r"unique labels, repeated: \['click'\]",
        ),
        (
            {},
            {"watch": {}, "p": {"kind": "binary", "label": "event:purchase"}},
            "declare data.event_column",
        ),
        (
            DATA,
            {"watch": {}, "p": {"kind": "binary", "label": "event:cart"}},
            r"'cart' is not in data.events \['view', 'click', 'purchase'\]",
        ),
        (
            DATA,
            {
                "watch": {},
                "c": {"kind": "funnel", "label": "event:click", "after": "p"},
                "p": {"kind": "funnel", "label": "event:purchase", "after": "watch"},
            },
            "its stage must come later",
        ),
        (
            DATA,
            {"watch": {}, "p": {"kind": "funnel", "label": "event:purchase"}},
            "needs label 'event:<stage>' and after",
        ),
        (
            DATA,
            {"watch": {}, "p": {"kind": "funnel", "label": "event:purchase", "after": "w"}},
            "after 'w' is not a task",
        ),
        (
            DATA,
            {
                "watch": {},
                "p": {"kind": "funnel", "label": "event:purchase", "after": "like"},
                "like": {},
            },
            "must be the ranking task or an event task",
        ),
        (
            DATA,
            {"watch": {}, "p": {"kind": "binary", "label": "event:purchase", "threshold": 1.0}},
            "is 0 or 1 already",
        ),
        (
            DATA,
            {"watch": {}, "p": {"kind": "regression", "label": "event:purchase"}},
            "needs kind binary or funnel",
        ),
        (
            DATA,
            {
                "watch": {},
                "p": {"kind": "binary", "label": "rating", "threshold": 4, "after": "watch"},
            },
            "'after' is for funnel tasks",
        ),
    ],
)
def test_event_configs_that_cannot_work_are_refused(data, tasks, message) -> None:
    with pytest.raises(ValueError, match=message):
        _run_config(data, tasks)


def test_entire_space_funnels_need_the_sampled_ranking_loss() -> None:
    with pytest.raises(ValueError, match="ranking_loss 'softmax' does not learn: use 'bce'"):
        _run_config(training={"ranking_loss": "softmax"})
    funnel_after_binary = {  # a funnel within the observed space needs no sampled negatives
        "watch": {},
        "c": {"kind": "binary", "label": "event:click"},
        "p": {"kind": "funnel", "label": "event:purchase", "after": "c"},
    }
    assert _run_config(tasks=funnel_after_binary, training={"ranking_loss": "softmax"})


def test_funnel_loops_are_refused() -> None:
    tasks = {
        "watch": {},
        "a": {"kind": "funnel", "label": "event:click", "after": "b"},
        "b": {"kind": "funnel", "label": "event:purchase", "after": "a"},
    }
    with pytest.raises(ValueError, match="funnel tasks loop: a -> b -> a"):
        ModelConfig.model_validate({"tasks": tasks})


# --- collapsing and labels ------------------------------------------------------------------


def test_collapse_keeps_one_row_per_pair_at_its_furthest_stage_and_first_time() -> None:
    log = _log()
    before = log.copy()
    out = collapse_events(log, FUNNEL)
    pd.testing.assert_frame_equal(log, before)  # the input is untouched
    assert list(zip(out["user_id"], out["item_id"], strict=True)) == [
        ("a", "x"),
        ("b", "x"),
        ("a", "y"),
        ("b", "z"),
    ]  # order of first rows
    assert out["event"].tolist() == ["purchase", "click", "view", "view"]
    assert out["timestamp"].tolist() == [T0, T0 + 100, T0 + 200, T0 + 500]
    # Other columns are the furthest stage's first row's: b's first click had dwell 4.
    assert out["dwell"].tolist() == [9.0, 4.0, 3.0, 7.0]
    # Reaching a stage implies the earlier ones.
    assert out[stage_column("view")].tolist() == [1.0, 1.0, 1.0, 1.0]
    assert out[stage_column("click")].tolist() == [1.0, 1.0, 0.0, 0.0]
    assert out[stage_column("purchase")].tolist() == [1.0, 0.0, 0.0, 0.0]


def test_collapse_refuses_undeclared_labels_and_a_missing_column() -> None:
    with pytest.raises(ValueError, match="holds 'cart', not one of data.events"):
        collapse_events(_log().replace({"event": {"click": "cart"}}), FUNNEL)
    with pytest.raises(ValueError, match="'event' is not a column of the interactions"):
        collapse_events(_log().drop(columns="event"), FUNNEL)


def test_indexing_collapses_before_any_split_and_labels_read_the_stages() -> None:
    items = pd.DataFrame({"item_id": ["x", "y", "z"], "title": ["X", "Y", "Z"]})
    data = index_interactions(_log(), items, pd.DataFrame({"user_id": []}), FUNNEL)
    inter = data.interactions
    assert len(inter) == 4 and not inter.duplicated(["user_idx", "item_idx"]).any()
    assert inter["item_idx"].tolist() == [0, 0, 1, 2] and inter["user_idx"].tolist() == [0, 1, 0, 1]
    tasks = _run_config().model.tasks
    labels = interaction_labels(inter, tasks, n_users=2)
    assert set(labels) == {"click", "purchase", "purchase_independent"}
    np.testing.assert_array_equal(labels["click"], [1, 1, 0, 0])
    np.testing.assert_array_equal(labels["purchase"], [1, 0, 0, 0])
    np.testing.assert_array_equal(labels["purchase_independent"], [1, 0, 0, 0])
    assert labels["purchase"].dtype == np.float32
    # Without the funnel, rows stay as they are and event labels cannot be read.
    raw = index_interactions(_log(), items, pd.DataFrame({"user_id": []}))
    assert len(raw.interactions) == 8
    with pytest.raises(ValueError, match="task 'click' reads 'event:click', the 0/1 column"):
        interaction_labels(raw.interactions, tasks, n_users=2)


# --- MovieLens mapped to behaviours ---------------------------------------------------------


def _ratings(n_users: int = 12, per_user: int = 6, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = [
        (f"u{u}", f"i{i}", float(rng.integers(1, 6)), 900_000_000 + 100 * u + i)
        for u in range(n_users)
        for i in rng.choice(20, per_user, replace=False)
    ]
    return pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])


def test_ratings_map_to_clicks_and_purchases() -> None:
    ratings = _ratings()
    events = events_from_ratings(ratings, {"click": 1.0, "purchase": 4.0})
    liked = int((ratings["rating"] >= 4).sum())
    assert len(events) == len(ratings) + liked
    assert (events["event"] == "purchase").sum() == liked
    # Each rating's stages together, earliest first, at the rating's timestamp.
    assert events.loc[0, "event"] == "click" and events["event"].iloc[-1] in ("click", "purchase")
    purchases = events[events["event"] == "purchase"]
    assert (purchases["rating"] >= 4).all()
    funnel = EventFunnel(column="event", stages=("click", "purchase"))
    items = pd.DataFrame({"item_id": [f"i{i}" for i in range(20)], "title": "t"})
    result = validate_interactions(events, items, SMALL, now=NOW, funnel=funnel)
    assert result.success, [f.observed for f in result.failures()]
    collapsed = index_interactions(events, items, pd.DataFrame({"user_id": []}), funnel)
    inter = collapsed.interactions
    pd.testing.assert_series_equal(
        inter["event:purchase"], (inter["rating"] >= 4).astype(float), check_names=False
    )
    assert len(inter) == len(ratings)  # one interaction per rating again
    with pytest.raises(ValueError, match="must rise with the funnel's stages"):
        events_from_ratings(ratings, {"click": 4.0, "purchase": 1.0})


# --- validation -----------------------------------------------------------------------------


def _items() -> pd.DataFrame:
    return pd.DataFrame({"item_id": ["x", "y", "z"], "title": ["X", "Y", "Z"]})


def _validate(frame: pd.DataFrame, label_columns=None):
    label_columns = _run_config().label_columns() if label_columns is None else label_columns
    return validate_interactions(
        frame, _items(), SMALL, now=NOW, label_columns=label_columns, funnel=FUNNEL
    )


def test_a_valid_event_log_passes_and_a_click_may_share_its_view_s_second() -> None:
    log = _log()
    log.loc[0, "timestamp"] = log.loc[2, "timestamp"]  # a's click of x in the second of its view
    result = _validate(log)
    assert result.success, [f.observed for f in result.failures()]
    names = {(o.expectation, o.column) for o in result.outcomes}
    assert ("expect_compound_columns_to_be_unique", "user_id,item_id,timestamp,event") in names
    assert ("expect_column_values_to_be_in_set", "event") in names
    # Interactions are pairs: a user with two items passes a minimum of two with five rows.
    counts = {o.column: o.observed for o in result.outcomes}
    assert counts["n_interactions"] == "0 of 2 users have fewer than 2 interactions"


def test_undeclared_event_labels_are_named_with_sample_rows() -> None:
    log = _log()
    log.loc[[1, 5], "event"] = ["cart", "favourite"]
    failures = _validate(log).failures()
    in_set = [f for f in failures if f.expectation == "expect_column_values_to_be_in_set"]
    assert len(in_set) == 1 and in_set[0].column == "event"
    assert "2 of 8 rows (25.0%) have an event label not declared in data.events " in (
        in_set[0].observed
    )
    assert in_set[0].observed.endswith("['view', 'click', 'purchase']: 'cart', 'favourite'")
    assert [row["event"] for row in in_set[0].sample] == ["cart", "favourite"]
    with pytest.raises(DataValidationError, match="expect_column_values_to_be_in_set on event"):
        raise DataValidationError(_validate(log))


def test_a_purchase_without_an_earlier_stage_is_refused() -> None:
    log = _log()
    log = log[~((log["user_id"] == "a") & (log["item_id"] == "x") & (log["event"] != "purchase"))]
    failures = _validate(log.reset_index(drop=True)).failures()
    assert len(failures) == 1, [f.observed for f in failures]
    funnel = failures[0]
    assert (funnel.expectation, funnel.column) == ("expect_column_values_to_be_between", "event")
    assert funnel.observed.startswith(
        "1 of 6 rows (16.7%) are a later stage of data.events (view -> click -> purchase) with "
        "no earlier-stage row for the same user_id and item_id (e.g. a purchase without a view)"
    )
    assert [(r["user_id"], r["item_id"], r["event"]) for r in funnel.sample] == [
        ("a", "x", "purchase")
    ]
    message = str(DataValidationError(_validate(log.reset_index(drop=True))))
    assert "on event:" in message and '"event": "purchase"' in message


def test_a_missing_event_column_names_the_tasks_that_read_it() -> None:
    failures = _validate(_log().drop(columns="event")).failures()
    assert len(failures) == 1
    assert (failures[0].expectation, failures[0].column) == ("expect_column_to_exist", "event")
    assert (
        "column 'event' is missing, declared as data.event_column, read by tasks click, "
        "purchase, purchase_independent (model.tasks)"
    ) in failures[0].observed
    # Declared but read by no task: still required, with nulls refused.
    log = _log()
    log.loc[7, "event"] = None  # b's view of z: no later stage needs it
    failures = _validate(log, label_columns={}).failures()
    assert [(f.expectation, f.column) for f in failures] == [
        ("expect_column_values_to_not_be_null", "event")
    ]
    assert "are null (declared as data.event_column)" in failures[0].observed


def test_sparse_users_are_counted_by_items_in_an_event_log() -> None:
    # b has five rows over two items: two interactions, below a minimum of three.
    config = SMALL.model_copy(update={"sparse_users": "drop", "min_interactions_per_user": 3})
    log = pd.concat(
        [_log(), _log().assign(user_id="c", item_id=["x", "x", "x", "y", "y", "z", "z", "z"])]
    )
    kept, repairs = repair_interactions(log, config, FUNNEL)
    assert sorted(kept["user_id"].unique()) == ["c"] and repairs["sparse_users_dropped"] == 2
    rows, _ = repair_interactions(log, config)  # counted by rows, a and b have enough
    assert sorted(rows["user_id"].unique()) == ["a", "b", "c"]


def test_the_generated_funnel_log_is_valid_and_collapses_to_its_views() -> None:
    log = generate_funnel_log(n_users=20, n_items=30, per_user=8, seed=3)
    result = validate_interactions(
        log.interactions,
        log.items,
        SMALL,
        now=NOW,
        funnel=FUNNEL,
        label_columns=_run_config().label_columns(),
    )
    assert result.success, [f.observed for f in result.failures()]
    data = index_interactions(log.interactions, log.items, pd.DataFrame({"user_id": []}), FUNNEL)
    inter = data.interactions
    assert len(inter) == 20 * 8 == (log.interactions["event"] == "view").sum()
    budget = log.item_budget[inter["item_idx"].to_numpy()]
    bought = inter["event:purchase"].to_numpy() > 0
    clicked = inter["event:click"].to_numpy() > 0
    assert (inter["event:click"] >= inter["event:purchase"]).all()
    # The planted effect: among clicks, budget items are bought far more often.
    assert bought[clicked & budget].mean() > 0.5 > 0.2 > bought[clicked & ~budget].mean()
