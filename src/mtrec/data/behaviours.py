"""Multi-behaviour logs: rows with an event type (view, click, purchase...) in a declared funnel.

A log may hold several rows for one (user, item) pair: a view, then a click, then a purchase.
The ranking task learns *which items a user interacts with*, and the splits hold interactions,
so :func:`collapse_events` turns each pair's rows into one interaction, once, before
splitting (``index_interactions`` calls it): its **furthest stage** (a pair viewed, clicked and
bought is a purchase) at its **first timestamp** (when the user met the item, which orders the
history and the time-ordered splits). One row per pair means a pair is never in train as a
click and in test as a purchase of the same item, and a purchase is never its own negative.

Reaching a stage implies every earlier one, so the collapsed row carries one 0/1 column per
declared stage, named like the task label that reads it (``event:click``, ``event:purchase``):
``event:click`` is 1 for click and purchase pairs. Labels, training and evaluation read those
columns and never need the funnel order again.

:func:`events_from_ratings` maps an explicit log (MovieLens) onto behaviours: each rating
becomes one row per stage whose threshold it reaches (rating >= 1 a click, >= 4 also a
purchase), the shape a multi-behaviour log has.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from mtrec.config import EVENT_LABEL_PREFIX, EventFunnel


def stage_column(stage: str) -> str:
    """The 0/1 column of pairs that reached ``stage``: the ``event:<stage>`` label's name."""
    return f"{EVENT_LABEL_PREFIX}{stage}"


def event_stages(events: pd.Series, funnel: EventFunnel) -> np.ndarray:
    """Each row's position in the funnel (0: the first stage); -1 for an undeclared label or
    a null (validation refuses both before this runs)."""
    positions = {stage: i for i, stage in enumerate(funnel.stages)}
    text = events.astype("string")
    return text.map(positions).fillna(-1).to_numpy(np.int64)


def collapse_events(interactions: pd.DataFrame, funnel: EventFunnel) -> pd.DataFrame:
    """One row per (user, item): the furthest stage its rows reached, at its first timestamp.

    The row kept is the pair's first row at its furthest stage (its other columns, a rating
    say, are that row's), with the pair's earliest ``timestamp`` and ``funnel.column`` holding
    the furthest stage's label; a 0/1 float column per declared stage (:func:`stage_column`)
    says which stages the pair reached. Rows keep the order of the pairs' first rows. Reads the
    ids (``user_id``, ``item_id``) so it works on raw and indexed frames alike; the input is
    not modified."""
    if funnel.column not in interactions.columns:
        raise ValueError(
            f"data.event_column {funnel.column!r} is not a column of the interactions "
            f"(columns: {sorted(map(str, interactions.columns))})"
        )
    stages = event_stages(interactions[funnel.column], funnel)
    if (stages < 0).any():
        bad = interactions[funnel.column][stages < 0].iloc[0]
        raise ValueError(
            f"column {funnel.column!r} holds {bad!r}, not one of data.events {list(funnel.stages)}"
        )
    pairs = interactions.groupby(["user_id", "item_id"], sort=False, dropna=False).ngroup()
    pair = pairs.to_numpy(np.int64)
    n_pairs = int(pair.max()) + 1 if len(pair) else 0
    furthest = np.full(n_pairs, -1, dtype=np.int64)
    np.maximum.at(furthest, pair, stages)
    # The kept row: the first (in row order) of each pair's rows at the pair's furthest stage.
    at_furthest = np.flatnonzero(stages == furthest[pair])
    _, first = np.unique(pair[at_furthest], return_index=True)
    kept_rows = at_furthest[first]  # (n_pairs,), ordered by pair number
    out = interactions.iloc[kept_rows].copy()
    if "timestamp" in out.columns:
        earliest = interactions["timestamp"].groupby(pair).min()
        out["timestamp"] = earliest.astype(interactions["timestamp"].dtype).to_numpy()
    out[funnel.column] = np.asarray(funnel.stages, dtype=object)[furthest]
    for position, stage in enumerate(funnel.stages):
        out[stage_column(stage)] = (furthest >= position).astype(np.float64)
    # Pairs are numbered in order of their first row: so are the collapsed rows.
    return out.reset_index(drop=True)


def events_from_ratings(
    interactions: pd.DataFrame,
    thresholds: Mapping[str, float],
    column: str = "event",
    rating: str = "rating",
) -> pd.DataFrame:
    """An explicit log as a multi-behaviour one: each row becomes one row per stage whose
    ``thresholds`` value its rating reaches, at the row's timestamp, with the stage in
    ``column``. ``{"click": 1, "purchase": 4}``: every rating is a click, ratings of 4 and 5
    are also purchases; declare ``data.events: [click, purchase]`` in the same order.
    Thresholds must increase with the stages; rows below the first threshold are dropped."""
    stages, values = list(thresholds), np.asarray(list(thresholds.values()), dtype=np.float64)
    if not stages or np.any(np.diff(values) <= 0):
        raise ValueError(f"thresholds must rise with the funnel's stages: {dict(thresholds)}")
    if column in interactions.columns:
        raise ValueError(f"the interactions already have a column {column!r}")
    ratings = interactions[rating].to_numpy(np.float64)
    rows = [np.flatnonzero(ratings >= threshold) for threshold in values]
    position = np.concatenate(rows)
    stage = np.repeat(np.arange(len(stages)), [len(r) for r in rows])
    order = np.lexsort((stage, position))  # each source row's stages together, earliest first
    mapped = interactions.iloc[position[order]].reset_index(drop=True)
    mapped[column] = np.asarray(stages, dtype=object)[stage[order]]
    return mapped
