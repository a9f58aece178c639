"""Labels of the declared tasks (:class:`mtrec.config.TaskConfig`), derived from interactions.

``influence`` is the seed's "social influence analysis" task on data without a friendship
graph: a user's influence is measured from temporal co-adoption. For each interaction (u, i, t)
we count the other users who interacted with item i in (t, t + window]; a user's influence is
``log1p`` of the mean count over their interactions. It only reads the frame it is given, so
labels for training come from the training split alone.

``topics`` (the ``interest`` task) is the seed's "interest output" made a distribution: for a
training interaction, the topic shares of the user's next ``horizon`` interactions from it on
(itself included, in time order), which is what the user side, reading only the interactions
before it, learns to predict.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from mtrec.config import TaskConfig, event_stage
from mtrec.data.prepare import history_columns

DAY_SECONDS = 86_400


def influence_scores(frame: pd.DataFrame, n_users: int, window_days: float) -> np.ndarray:
    """(n_users,) float32 ``log1p(mean followers per interaction)``; 0 for users without rows.

    Vectorised: rows are sorted by (item, time) and two ``searchsorted`` calls over a combined
    (item, time) key count, for every row, the later rows of the same item within the window.
    A user who interacts twice with an item within the window counts as a follower of the
    first; that is rare and left in.
    """
    if frame.empty:
        return np.zeros(n_users, dtype=np.float32)
    items = frame["item_idx"].to_numpy(np.int64)
    times = frame["timestamp"].to_numpy(np.int64)
    users = frame["user_idx"].to_numpy(np.int64)
    span = int(times.max() - times.min()) + int(window_days * DAY_SECONDS) + 2
    key = items * span + (times - times.min())  # orders by item, then time
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    after = np.searchsorted(sorted_key, key, side="right")
    until = np.searchsorted(sorted_key, key + int(window_days * DAY_SECONDS), side="right")
    followers = (until - after).astype(np.float64)
    totals = np.bincount(users, weights=followers, minlength=n_users)
    counts = np.bincount(users, minlength=n_users)
    mean = np.divide(totals, counts, out=np.zeros(n_users), where=counts > 0)
    return np.log1p(mean).astype(np.float32)


def next_topic_shares(
    frame: pd.DataFrame, item_topics: np.ndarray, n_topics: int, horizon: int
) -> np.ndarray:
    """(len(frame), n_topics) float32, row ``r``: the topic shares of its user's interactions
    from ``r`` on, the newest ``horizon`` at most (each row sums to 1). Time order is the
    model history's (``MultiTaskRecommender.set_history``: by user, then time, ties in row
    order), so a row's label starts exactly where the history its user side reads ends.

    Counted one offset at a time into the output itself: memory is the output and a few
    row-long index arrays (running topic counts in float64 took seven times the output, 4 GB
    transient at 8M training rows), time is rows x horizon."""
    users, items, times = history_columns(frame)
    order = np.lexsort((np.arange(len(users)), times, users))
    sorted_users, topics = users[order], np.asarray(item_topics)[items[order]]
    labels = np.zeros((len(order), n_topics), dtype=np.float32)
    lengths = np.zeros(len(order), dtype=np.float32)
    rows = np.arange(len(order))
    for offset in range(horizon):
        rows = rows[rows + offset < len(order)]
        rows = rows[sorted_users[rows + offset] == sorted_users[rows]]  # still its user
        if not len(rows):
            break
        labels[order[rows], topics[rows + offset]] += 1.0  # one row once per offset
        lengths[order[rows]] += 1.0
    # Exact small-integer counts divided in float32 equal float64's quotients rounded once.
    labels /= np.maximum(lengths, 1.0)[:, None]
    return labels


def interaction_labels(
    frame: pd.DataFrame, tasks: Mapping[str, TaskConfig], n_users: int
) -> dict[str, np.ndarray]:
    """Per-row float32 labels of every non-ranking task for the interactions in ``frame``.

    A ranking task's label is 1 for every observed interaction and 0 for sampled negatives,
    so the trainer builds it; user-level tasks give each row its user's value. An
    ``event:<stage>`` label (binary and funnel tasks) is its 0/1 column: 1 where the pair
    reached the stage or a later one; a funnel task's sampled negatives get 0 in the trainer.
    """
    labels: dict[str, np.ndarray] = {}
    users = frame["user_idx"].to_numpy(np.int64)
    for name, task in tasks.items():
        if task.kind in ("ranking", "link", "interest"):  # built where their inputs are
            continue
        if task.label == "influence":
            labels[name] = influence_scores(frame, n_users, task.window_days)[users]
            continue
        if event_stage(task.label) is not None and task.label not in frame.columns:
            raise ValueError(
                f"task {name!r} reads {task.label!r}, the 0/1 column of pairs that reached "
                f"that stage, which index_interactions adds when given the event funnel "
                f"(data.event_column, data.events); columns: {sorted(map(str, frame.columns))}"
            )
        if task.label not in frame.columns:
            raise ValueError(
                f"task {name!r} reads column {task.label!r}, which the interactions lack "
                f"(columns: {sorted(frame.columns)})"
            )
        values = pd.to_numeric(frame[task.label], errors="coerce").to_numpy(np.float64)
        if np.isnan(values).any():
            bad = frame[task.label][np.isnan(values)].iloc[0]
            raise ValueError(f"task {name!r}: column {task.label!r} has non-numeric {bad!r}")
        if task.kind == "binary" and task.threshold is not None:
            values = (values >= task.threshold).astype(np.float64)
        labels[name] = values.astype(np.float32)
    return labels


def held_out_edges(edges: pd.DataFrame, share: float = 0.1) -> np.ndarray:
    """Boolean mask of the edges kept out of training to score ``link`` tasks: a fixed hash of
    the unordered pair, so both directions of an edge fall on the same side and every caller
    (training, evaluation, a rerun) agrees without passing the split around."""
    a = edges["user_idx"].to_numpy(np.int64)
    b = edges["friend_idx"].to_numpy(np.int64)
    low, high = np.minimum(a, b).astype(np.uint64), np.maximum(a, b).astype(np.uint64)
    mixed = (low * np.uint64(0x9E3779B97F4A7C15)) ^ (high * np.uint64(0xC2B2AE3D27D4EB4F))
    mixed ^= mixed >> np.uint64(31)
    return (mixed % np.uint64(1000)).astype(np.int64) < int(share * 1000)


def social_edges(edges: pd.DataFrame | None, tasks: Mapping[str, TaskConfig]) -> pd.DataFrame:
    """The edges a model may read (social input, link training): all of them, less the
    held-out ones when a ``link`` task is scored on those."""
    if edges is None or edges.empty:
        none = np.array([], np.int64)
        return pd.DataFrame({"user_idx": none, "friend_idx": none})
    if any(task.kind == "link" for task in tasks.values()):
        return edges[~held_out_edges(edges)].reset_index(drop=True)
    return edges.reset_index(drop=True)
