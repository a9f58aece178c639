"""User interests over item topics: what a user watches, what changed lately, and why an item
is recommended.

- ``fit_topics``: cosine k-means (k-means++ seeding, several restarts) over L2-normalised item
  text embeddings; each topic is named c-TF-IDF style (Grootendorst, "BERTopic: Neural topic
  modeling with a class-based TF-IDF procedure", 2022): a topic's items form one document of
  genre tokens and title words (each counted once per item), and term ``t`` weighs
  ``tf_{t,c} * log(1 + A / f_t)`` in topic ``c``, with ``A`` the mean number of tokens per
  topic and ``f_t`` the count of ``t`` over all topics; terms shared by two or more of the
  topic's items rank first. A label joins the top two genres and top two title words,
  ``"Drama, Romance · love, story"``, with more words where two labels would clash.
- ``topic_shares`` / ``interest_shares`` / ``interest_profiles``: per-user topic shares over the
  whole history and over a recent window, and their Jensen-Shannon divergence (``shift``).
- ``latent_interests``: topics read off a learned user representation, by the mean dot product
  between the user vector and the vectors of the topic's items.
- ``explain``: one reason per recommended item, from the user's recent share of its topic.
- ``interest_forecast``: how well next-period topic shares are predicted (the ``interest``
  task's output) against two baselines, "the same as the whole history" and "the same as the
  recent history", each mixed with the catalogue-wide shares by a weight chosen on valid
  (an unsmoothed share of 0 would make KL infinite).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

SECONDS_PER_DAY = 86_400
LABEL_SEPARATOR = " · "
_GENRE_WORDS = 2
_TITLE_WORDS = 2
_MAX_EXTRA_WORDS = 4
_TOP_IN_PROFILE = 3
_MIN_WORD_LENGTH = 3
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")
_GENRE_SPLIT = re.compile(r"[|,]")
_NOT_GENRES = frozenset({"", "unknown", "(no genres listed)"})
_NOT_TEXT = frozenset({"item_id", "item_idx", "genres", "year"})
# English function words plus the articles of the foreign titles MovieLens carries.
_STOP_TEXT = """
    a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers him his how i if in into is it its itself just
    me more most my no nor not now of off on once only or other our out over own part same she
    should so some such than that the their them then there these they this those through to
    too under until up very was we were what when where which while who whom why will with
    would you your yours iii les los las der die das und del della une des dans
"""
_STOP_WORDS = frozenset(_STOP_TEXT.split())


@dataclass(frozen=True, eq=False)
class Topics:
    """Item topics. Topic 0 is the largest; ties go to the topic holding the lowest item index.

    ``assignment`` (I,) topic of each catalogue item; ``centroids`` (k, D) unit-norm mean
    directions; ``labels`` (k,) readable names; ``sizes`` (k,) items per topic."""

    assignment: np.ndarray
    centroids: np.ndarray
    labels: tuple[str, ...]
    sizes: np.ndarray

    @property
    def n_topics(self) -> int:
        return len(self.labels)

    @property
    def n_items(self) -> int:
        return len(self.assignment)

    def shares_matrix(self) -> np.ndarray:
        """(I, k) one-hot membership, float64."""
        one_hot = np.zeros((self.n_items, self.n_topics))
        one_hot[np.arange(self.n_items), self.assignment] = 1.0
        return one_hot


@dataclass(frozen=True, eq=False)
class InterestShares:
    """Per-user topic shares, row ``u`` for user ``u`` (users without history: zero rows).

    ``long_term`` / ``recent`` (U, k) rows sum to 1; ``shift`` (U,) Jensen-Shannon divergence
    between them (base 2, NaN without history); ``n_interactions`` / ``n_recent`` (U,)."""

    long_term: np.ndarray
    recent: np.ndarray
    shift: np.ndarray
    n_interactions: np.ndarray
    n_recent: np.ndarray


@dataclass(frozen=True, eq=False)
class LatentInterests:
    """``top`` (U, top) topic indices, best first; ``distribution`` (U, k) softmax of
    ``scores`` (U, k), the mean dot product between a user and the topic's item vectors."""

    top: np.ndarray
    distribution: np.ndarray
    scores: np.ndarray


def fit_topics(
    item_embeddings: np.ndarray, items: pd.DataFrame, k: int, seed: int, n_init: int = 10
) -> Topics:
    """Cluster the (I, D) item embeddings into ``k`` topics and name them from ``items``.

    ``items`` holds ``item_idx`` (else rows are taken in catalogue order) and any of ``title``
    and ``genres`` (``|``- or comma-separated); without a title, words come from its other text
    columns. Raises ``ValueError`` for a bad ``k``, ``n_init`` or embedding matrix."""
    from sklearn.cluster import KMeans

    embeddings = np.asarray(item_embeddings, dtype=np.float64)
    if embeddings.ndim != 2 or embeddings.shape[0] == 0:
        raise ValueError(f"item_embeddings must be a non-empty (I, D) matrix: {embeddings.shape}")
    if not np.isfinite(embeddings).all():
        raise ValueError("item_embeddings hold NaN or infinite values")
    n_items = embeddings.shape[0]
    if isinstance(k, bool) or not isinstance(k, int | np.integer):
        raise ValueError(f"k must be an integer, got {k!r}")
    if not 1 <= k <= n_items:
        raise ValueError(f"k must lie in [1, {n_items}] (the number of items), got {k}")
    if n_init < 1:
        raise ValueError(f"n_init must be at least 1, got {n_init}")
    unit = _normalise_rows(embeddings)  # (I, D)
    # On unit vectors squared Euclidean distance is 2 - 2 cos, so Lloyd's k-means here
    # clusters by cosine; centroids are re-normalised afterwards into mean directions.
    model = KMeans(n_clusters=int(k), init="k-means++", n_init=n_init, random_state=seed)
    raw = model.fit_predict(unit)  # (I,)
    assignment = _order_by_size(raw, int(k))
    sizes = np.bincount(assignment, minlength=k)
    sums = np.zeros((k, embeddings.shape[1]))
    np.add.at(sums, assignment, unit)
    centroids = _normalise_rows(sums).astype(np.float32)  # (k, D)
    labels = _topic_labels(_item_frame(items, n_items), assignment, int(k))
    return Topics(assignment=assignment, centroids=centroids, labels=labels, sizes=sizes)


def topics_frame(topics: Topics) -> pd.DataFrame:
    """The topic table people read: ``topic``, ``label`` and ``size`` (items), largest first."""
    return pd.DataFrame(
        {"topic": np.arange(topics.n_topics), "label": list(topics.labels), "size": topics.sizes}
    )


def topic_shares(
    interactions: pd.DataFrame,
    topics: Topics,
    n_users: int,
    last_n: int | None = None,
    last_days: float | None = None,
) -> np.ndarray:
    """(U, k) share of each user's interactions per topic; rows sum to 1, zero rows for users
    without interactions. ``last_n`` keeps each user's latest ``last_n`` interactions and
    ``last_days`` those less than ``last_days`` days before the user's last one (both limits
    apply when both are given; ties in time keep the frame's order)."""
    window = recent_window(interactions, last_n=last_n, last_days=last_days)
    users = window["user_idx"].to_numpy(np.int64)
    item_ids = window["item_idx"].to_numpy(np.int64)
    if len(users) and (users.min() < 0 or users.max() >= n_users):
        raise ValueError(f"user_idx must lie in [0, {n_users}), got {users.min()}..{users.max()}")
    if len(item_ids) and (item_ids.min() < 0 or item_ids.max() >= topics.n_items):
        raise ValueError(f"item_idx must lie in [0, {topics.n_items}) as in the topics")
    counts = np.zeros((n_users, topics.n_topics))
    np.add.at(counts, (users, topics.assignment[item_ids]), 1.0)
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)


def recent_window(
    interactions: pd.DataFrame, last_n: int | None = None, last_days: float | None = None
) -> pd.DataFrame:
    """Each user's recent interactions, as ``topic_shares`` defines them (a new frame)."""
    if last_n is None and last_days is None:
        return interactions
    if last_n is not None and last_n < 1:
        raise ValueError(f"last_n must be at least 1, got {last_n}")
    if last_days is not None and not last_days > 0:
        raise ValueError(f"last_days must be positive, got {last_days}")
    if "timestamp" not in interactions:
        raise ValueError("a recent window needs a timestamp column")
    ordered = interactions.sort_values(["user_idx", "timestamp"], kind="stable")
    if last_days is not None:
        latest = ordered.groupby("user_idx")["timestamp"].transform("max")
        ordered = ordered[ordered["timestamp"] > latest - last_days * SECONDS_PER_DAY]
    if last_n is not None:
        ordered = ordered.groupby("user_idx", sort=False).tail(last_n)
    return ordered


def interest_shares(
    interactions: pd.DataFrame,
    topics: Topics,
    recent_n: int,
    recent_days: float | None = None,
    n_users: int | None = None,
) -> InterestShares:
    """Long-term and recent topic shares of every user and their shift. The recent window is
    the last ``recent_n`` interactions, or the last ``recent_days`` days when that is given.
    ``n_users`` defaults to the largest ``user_idx`` plus one."""
    if recent_n < 1:
        raise ValueError(f"recent_n must be at least 1, got {recent_n}")
    users = interactions["user_idx"].to_numpy(np.int64)
    if n_users is None:
        n_users = int(users.max()) + 1 if len(users) else 0
    recent_rows = recent_window(
        interactions,
        last_n=recent_n if recent_days is None else None,
        last_days=recent_days,
    )
    long_term = topic_shares(interactions, topics, n_users)
    recent = topic_shares(recent_rows, topics, n_users)
    return InterestShares(
        long_term=long_term,
        recent=recent,
        shift=js_divergence(long_term, recent),
        n_interactions=np.bincount(users, minlength=n_users),
        n_recent=np.bincount(recent_rows["user_idx"].to_numpy(np.int64), minlength=n_users),
    )


def interest_profiles(
    interactions: pd.DataFrame, topics: Topics, recent_n: int, recent_days: float | None = None
) -> pd.DataFrame:
    """One row per user with interactions, ready for CSV: ``user_idx``, ``n_interactions``,
    ``n_recent``, ``long_term_top`` and ``recent_top`` (the top three topics as
    ``"label (40%)"`` joined by ``"; "``) and ``shift`` (Jensen-Shannon divergence, base 2, in
    [0, 1]). The arrays behind it come from ``interest_shares``."""
    shares = interest_shares(interactions, topics, recent_n, recent_days)
    users = np.flatnonzero(shares.n_interactions > 0)
    return pd.DataFrame(
        {
            "user_idx": users,
            "n_interactions": shares.n_interactions[users],
            "n_recent": shares.n_recent[users],
            "long_term_top": _top_topics(shares.long_term[users], topics.labels),
            "recent_top": _top_topics(shares.recent[users], topics.labels),
            "shift": shares.shift[users],
        }
    )


def latent_interests(
    user_vectors: np.ndarray,
    item_vectors: np.ndarray,
    topics: Topics,
    top: int = 3,
    temperature: float = 1.0,
) -> LatentInterests:
    """Topics a learned (U, H) user representation leans to: topic ``c`` scores the mean dot
    product between the user and the (I, H) item vectors of ``c``'s items; the distribution is
    a softmax of the scores over ``temperature`` (empty topics get 0). ``top`` is capped at k."""
    if top < 1:
        raise ValueError(f"top must be at least 1, got {top}")
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    users = np.asarray(user_vectors, dtype=np.float64)
    item_matrix = np.asarray(item_vectors, dtype=np.float64)
    if users.ndim != 2 or item_matrix.ndim != 2 or users.shape[1] != item_matrix.shape[1]:
        raise ValueError(f"need (U, H) and (I, H) vectors, got {users.shape}, {item_matrix.shape}")
    if item_matrix.shape[0] != topics.n_items:
        raise ValueError(f"{item_matrix.shape[0]} item vectors for {topics.n_items} topic items")
    sums = np.zeros((topics.n_topics, item_matrix.shape[1]))
    np.add.at(sums, topics.assignment, item_matrix)
    sizes = np.bincount(topics.assignment, minlength=topics.n_topics)
    means = sums / np.maximum(sizes, 1)[:, None]  # (k, H)
    # The mean of dot products equals the dot product with the mean item vector.
    return latent_from_topic_scores(users @ means.T, sizes, top, temperature)


def latent_from_topic_scores(
    scores: np.ndarray, sizes: np.ndarray, top: int = 3, temperature: float = 1.0
) -> LatentInterests:
    """:class:`LatentInterests` from (U, k) topic scores (a user's mean score over each
    topic's items, whatever the model's head) and the (k,) topic sizes; empty topics get 0."""
    if top < 1:
        raise ValueError(f"top must be at least 1, got {top}")
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    scores = np.array(scores, dtype=np.float64)
    scores[:, np.asarray(sizes) == 0] = -np.inf
    logits = scores / temperature
    logits -= logits.max(axis=1, keepdims=True)
    weights = np.exp(logits)
    distribution = weights / weights.sum(axis=1, keepdims=True)
    order = np.argsort(-scores, axis=1, kind="stable")[:, : min(top, scores.shape[1])]
    return LatentInterests(top=order, distribution=distribution, scores=scores)


def with_model_interests(
    profiles: pd.DataFrame,
    topics: Topics,
    latent: np.ndarray,
    predicted: np.ndarray | None = None,
) -> pd.DataFrame:
    """``profiles`` (:func:`interest_profiles`, one row per ``user_idx``) with the learned
    interests beside the counted ones: ``latent_top``, the top topics of the (U, k) latent
    distribution (:func:`latent_interests`), and with an interest task ``predicted_top``, the
    top topics of the (U, k) next-period shares it predicts; ``"label (40%)"`` as the other
    columns."""
    users = profiles["user_idx"].to_numpy(np.int64)
    out = profiles.copy()
    out["latent_top"] = _top_topics(np.asarray(latent)[users], topics.labels)
    if predicted is not None:
        out["predicted_top"] = _top_topics(np.asarray(predicted)[users], topics.labels)
    return out


SMOOTHING_GRID = (0.0, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
"""Weights of the catalogue-wide shares tried for every predictor on the tuning period (a
baseline's 0 is skipped where a user lacks a topic the period holds: KL would be infinite)."""


BLEND_HEAD_WEIGHTS = (1.0, 0.0, 0.2, 0.4, 0.6, 0.8, 1.2)
BLEND_RANKING_WEIGHTS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
BLEND_TEMPERATURES = (0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5)
"""The grid of an interest forecast's blend with the ranking task (``InterestBlend``); the
head alone (1, 0) comes first and keeps ties."""


@dataclass(frozen=True)
class BlendChoice:
    """The blend with the lowest mean KL on the tuning users, and the head's alone."""

    head: float
    ranking: float
    temperature: float
    kl: float
    head_kl: float


def choose_blend(
    target: np.ndarray,
    head_shares: np.ndarray,
    expected: np.ndarray,
    temperatures: tuple[float, ...] = BLEND_TEMPERATURES,
    head_weights: tuple[float, ...] = BLEND_HEAD_WEIGHTS,
    ranking_weights: tuple[float, ...] = BLEND_RANKING_WEIGHTS,
) -> BlendChoice:
    """The weights ``(a, b)`` and temperature ``t`` of ``softmax(a log h + b log r_t)`` with
    the lowest mean KL(target || it) over the rows of ``target`` (U, T) with mass: ``h``
    the head's shares (U, T), ``r_t`` = ``expected[i]`` (U, T) the ranking task's expected
    topic shares at ``temperatures[i]``. A grid search, the first of equals kept: at a
    few thousand users it takes well under a second, and it cannot do worse on them than
    the head alone, which it tries first."""
    target = np.asarray(target, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if expected.shape != (len(temperatures), *target.shape):
        raise ValueError(f"expected shares {expected.shape} for {len(temperatures)} temperatures")
    rows = target.sum(axis=1) > 0
    if not rows.any():
        raise ValueError("no tuning user has a target share")
    p = target[rows] / target[rows].sum(axis=1, keepdims=True)
    entropy = (p * np.log(np.where(p > 0, p, 1.0))).sum(axis=1)  # sum p log p
    log_head = np.log(np.clip(np.asarray(head_shares, dtype=np.float64)[rows], 1e-12, None))
    log_expected = np.log(np.clip(expected[:, rows], 1e-12, None))

    def kl(logits: np.ndarray) -> float:
        top = logits.max(axis=1, keepdims=True)
        log_z = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
        return float((entropy - (p * logits).sum(axis=1) + log_z).mean())

    head_kl = kl(log_head)
    best = BlendChoice(1.0, 0.0, 1.0, head_kl, head_kl)
    for a in head_weights:
        for b in ranking_weights:
            for t, temperature in enumerate(temperatures if b > 0 else temperatures[:1]):
                value = kl(a * log_head + b * log_expected[t])
                if value < best.kl:
                    best = BlendChoice(a, b, temperature if b > 0 else 1.0, value, head_kl)
    return best


@dataclass(frozen=True, eq=False)
class ForecastPeriod:
    """A period to forecast: each user's ``history`` (what predictions read), the ``target``
    interactions whose topic shares are predicted, and the model's (U, k) predicted shares."""

    history: pd.DataFrame
    target: pd.DataFrame
    model_shares: np.ndarray


@dataclass(frozen=True)
class InterestForecast:
    """Mean KL(next-period shares || predicted shares), in nats, over the users with
    interactions in the scored period: the model's and each baseline's, each with the weight
    of the catalogue-wide shares it got on the tuning period."""

    kl: dict[str, float]
    smoothing: dict[str, float]
    users: int

    @property
    def best_baseline(self) -> str:
        return min((name for name in self.kl if name != "model"), key=self.kl.__getitem__)

    @property
    def reduction(self) -> float:
        """1 - model KL / the better baseline's KL: 0.1 is 10% below it."""
        best = self.kl[self.best_baseline]
        return 1.0 - self.kl["model"] / best if best > 0 else float("nan")

    def to_dict(self) -> dict[str, object]:
        return {
            "kl": dict(self.kl),
            "smoothing": dict(self.smoothing),
            "users": self.users,
            "best_baseline": self.best_baseline,
            "reduction": self.reduction,
        }


def mean_kl(target: np.ndarray, predicted: np.ndarray) -> float:
    """Mean over rows with mass of KL(target || predicted), nats, 0 log 0 = 0; infinite
    where ``predicted`` is 0 and ``target`` is not."""
    target = np.asarray(target, dtype=np.float64)
    predicted = np.asarray(predicted, dtype=np.float64)
    if target.shape != predicted.shape or target.ndim != 2:
        raise ValueError(f"need two (U, k) matrices, got {target.shape} and {predicted.shape}")
    rows = target.sum(axis=1) > 0
    if not rows.any():
        return float("nan")
    p, q = target[rows], predicted[rows]
    if ((p > 0) & (q <= 0)).any():
        return float("inf")
    ratio = np.divide(p, q, out=np.ones_like(p), where=p > 0)
    return float((p * np.log(ratio)).sum(axis=1).mean())


def smoothed(shares: np.ndarray, prior: np.ndarray, weight: float) -> np.ndarray:
    """``(1 - weight) * shares + weight * prior``; a row without shares is the prior."""
    shares = np.asarray(shares, dtype=np.float64)
    empty = shares.sum(axis=1, keepdims=True) == 0
    return np.where(empty, prior, (1.0 - weight) * shares + weight * prior)


def catalogue_shares(interactions: pd.DataFrame, topics: Topics) -> np.ndarray:
    """(k,) topic shares of all ``interactions`` with one added to every count, so every
    topic stays possible."""
    items = interactions["item_idx"].to_numpy(np.int64)
    counts = np.bincount(topics.assignment[items], minlength=topics.n_topics) + 1.0
    return counts / counts.sum()


def interest_forecast(
    topics: Topics,
    n_users: int,
    recent_n: int,
    recent_days: float | None,
    tuning: ForecastPeriod,
    scored: ForecastPeriod,
) -> InterestForecast:
    """Score the model's next-period topic shares on ``scored`` beside two baselines read off
    the period's history: "the same as the whole history" and "the same as the recent
    history" (:func:`interest_shares`). Every predictor, the model included, is mixed with
    the history's catalogue-wide shares (:func:`smoothed`) by the weight of
    :data:`SMOOTHING_GRID` that gives it the lowest KL on ``tuning`` (say history train,
    target valid); without tuning users, the middle of the grid."""

    def predictors(period: ForecastPeriod) -> dict[str, np.ndarray]:
        shares = interest_shares(period.history, topics, recent_n, recent_days, n_users)
        return {
            "whole_history": shares.long_term,
            "recent_history": shares.recent,
            "model": np.asarray(period.model_shares, dtype=np.float64),
        }

    tuning_target = topic_shares(tuning.target, topics, n_users)
    scored_target = topic_shares(scored.target, topics, n_users)
    tuning_prior = catalogue_shares(tuning.history, topics)
    scored_prior = catalogue_shares(scored.history, topics)
    kl, smoothing = {}, {}
    scored_predictors = predictors(scored)
    for name, prediction in predictors(tuning).items():
        if (tuning_target.sum(axis=1) > 0).any():
            weight = min(
                SMOOTHING_GRID,
                key=lambda w: mean_kl(tuning_target, smoothed(prediction, tuning_prior, w)),
            )
        else:
            weight = SMOOTHING_GRID[len(SMOOTHING_GRID) // 2]
        smoothing[name] = weight
        kl[name] = mean_kl(scored_target, smoothed(scored_predictors[name], scored_prior, weight))
    users = int((scored_target.sum(axis=1) > 0).sum())
    return InterestForecast(kl=kl, smoothing=smoothing, users=users)


def explain(recommended: np.ndarray, recent_shares: np.ndarray, topics: Topics) -> list[list[str]]:
    """One reason per recommended item of the (U, K) lists, from row ``u`` of the (U, k)
    recent shares: ``"<topic>: 40% of your recent history"``, or ``"new for you: <topic>"``
    when the user has none of that topic lately."""
    recommended = np.asarray(recommended)
    shares = np.asarray(recent_shares, dtype=np.float64)
    if recommended.ndim != 2 or shares.shape != (recommended.shape[0], topics.n_topics):
        raise ValueError(
            f"need (U, K) items and (U, {topics.n_topics}) shares, "
            f"got {recommended.shape} and {shares.shape}"
        )
    if recommended.size and (recommended.min() < 0 or recommended.max() >= topics.n_items):
        raise ValueError(f"recommended items must lie in [0, {topics.n_items})")
    reasons = []
    for row, user_shares in zip(recommended, shares, strict=True):
        line = []
        for topic in topics.assignment[row]:
            label, share = topics.labels[topic], user_shares[topic]
            if share > 0:
                line.append(f"{label}: {_percent(share)} of your recent history")
            else:
                line.append(f"new for you: {label}")
        reasons.append(line)
    return reasons


def js_divergence(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen-Shannon divergence, base 2 (in [0, 1]), between matching rows of ``p`` and ``q``
    (shape ``p.shape[:-1]``). Rows are normalised to sum 1; a row without mass gives NaN."""
    p_rows = np.asarray(p, dtype=np.float64)
    q_rows = np.asarray(q, dtype=np.float64)
    if p_rows.shape != q_rows.shape or p_rows.ndim == 0:
        raise ValueError(f"p and q must share a shape, got {p_rows.shape} and {q_rows.shape}")
    if (p_rows < 0).any() or (q_rows < 0).any():
        raise ValueError("distributions must be non-negative")
    p_mass = p_rows.sum(axis=-1, keepdims=True)
    q_mass = q_rows.sum(axis=-1, keepdims=True)
    valid = (p_mass > 0) & (q_mass > 0)
    p_rows = np.divide(p_rows, p_mass, out=np.zeros_like(p_rows), where=p_mass > 0)
    q_rows = np.divide(q_rows, q_mass, out=np.zeros_like(q_rows), where=q_mass > 0)
    middle = (p_rows + q_rows) / 2
    divergence = (_kl_to(p_rows, middle) + _kl_to(q_rows, middle)) / 2
    return np.where(valid[..., 0], np.clip(divergence, 0.0, 1.0), np.nan)


def _kl_to(p: np.ndarray, m: np.ndarray) -> np.ndarray:
    """KL(p || m) in bits, with 0 log 0 = 0 (m > 0 wherever p > 0 here)."""
    ratio = np.divide(p, m, out=np.ones_like(p), where=p > 0)
    return (p * np.log2(ratio)).sum(axis=-1)


def _normalise_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.maximum(norms, 1e-12)


def _order_by_size(raw: np.ndarray, k: int) -> np.ndarray:
    """Renumber clusters by size, largest first, ties by lowest member index."""
    sizes = np.bincount(raw, minlength=k)
    first = np.full(k, len(raw))
    np.minimum.at(first, raw, np.arange(len(raw)))
    order = np.lexsort((first, -sizes))  # new topic j is old cluster order[j]
    rank = np.empty(k, dtype=np.int64)
    rank[order] = np.arange(k)
    return rank[raw]


def _item_frame(items: pd.DataFrame, n_items: int) -> pd.DataFrame:
    """``items`` aligned to catalogue positions 0..I-1 (missing items: empty rows)."""
    if "item_idx" not in items:
        if len(items) != n_items:
            raise ValueError(f"items has {len(items)} rows and no item_idx for {n_items} items")
        return items.reset_index(drop=True)
    index = items["item_idx"].to_numpy(np.int64)
    if len(index) and (index.min() < 0 or index.max() >= n_items):
        raise ValueError(f"items.item_idx must lie in [0, {n_items})")
    return items.drop_duplicates("item_idx").set_index("item_idx").reindex(range(n_items))


def _word_columns(items: pd.DataFrame) -> list[str]:
    if "title" in items:
        return ["title"]
    return [
        column
        for column in items.columns
        if column not in _NOT_TEXT
        and (pd.api.types.is_string_dtype(items[column]) or items[column].dtype == object)
    ]


def _genre_tokens(value: object) -> list[str]:
    if not isinstance(value, str):
        return []
    tokens = (token.strip() for token in _GENRE_SPLIT.split(value))
    return [token for token in tokens if token.lower() not in _NOT_GENRES]


def _title_words(values: list[object]) -> list[str]:
    words = []
    for value in values:
        if isinstance(value, str):
            words.extend(_WORD.findall(value.lower()))
    return [w for w in words if len(w) >= _MIN_WORD_LENGTH and w not in _STOP_WORDS]


def _ranked_terms(tokens: list[list[str]], assignment: np.ndarray, k: int) -> list[list[str]]:
    """Each topic's terms by c-TF-IDF weight, best first (ties by term). A term counts once
    per item, and terms found in two or more of the topic's items rank before the rest, so one
    title such as "Red Firecracker, Green Firecracker" cannot name a whole topic."""
    pairs = [
        (int(topic), token)
        for topic, item_tokens in zip(assignment, tokens, strict=True)
        for token in dict.fromkeys(item_tokens)
    ]
    if not pairs:
        return [[] for _ in range(k)]
    frame = pd.DataFrame(pairs, columns=["topic", "term"])
    tf = frame.groupby(["topic", "term"]).size().rename("tf").reset_index()
    term_total = tf.groupby("term")["tf"].transform("sum")  # f_t
    average = len(frame) / k  # A
    tf["weight"] = tf["tf"] * np.log1p(average / term_total)
    tf["shared"] = tf["tf"] >= 2
    tf = tf.sort_values(["topic", "shared", "weight", "term"], ascending=[True, False, False, True])
    ranked = tf.groupby("topic")["term"].agg(list)
    return [ranked.get(topic, []) for topic in range(k)]


def _topic_labels(items: pd.DataFrame, assignment: np.ndarray, k: int) -> tuple[str, ...]:
    genres = items["genres"] if "genres" in items else pd.Series([None] * len(items))
    genre_terms = _ranked_terms([_genre_tokens(v) for v in genres], assignment, k)
    columns = _word_columns(items)
    records = items[columns].to_numpy(object).tolist() if columns else [[]] * len(items)
    word_terms = _ranked_terms([_title_words(r) for r in records], assignment, k)

    def label(topic: int, n_words: int) -> str:
        parts = [
            ", ".join(genre_terms[topic][:_GENRE_WORDS]),
            ", ".join(word_terms[topic][:n_words]),
        ]
        text = LABEL_SEPARATOR.join(part for part in parts if part)
        return text or f"untitled topic {topic + 1}"

    n_words = [_TITLE_WORDS] * k
    labels = [label(topic, n_words[topic]) for topic in range(k)]
    # Colliding labels take more title words until they differ, then a number.
    for _ in range(_MAX_EXTRA_WORDS):
        clashing = _clashing(labels)
        if not clashing:
            break
        for topic in clashing:
            n_words[topic] += 1
            labels[topic] = label(topic, n_words[topic])
    seen: dict[str, int] = {}
    for topic in range(k):
        seen[labels[topic]] = seen.get(labels[topic], 0) + 1
        if seen[labels[topic]] > 1:
            labels[topic] = f"{labels[topic]} ({seen[labels[topic]]})"
    return tuple(labels)


def _clashing(labels: list[str]) -> list[int]:
    counts = pd.Series(labels).value_counts()
    return [i for i, text in enumerate(labels) if counts[text] > 1]


def _percent(share: float) -> str:
    percent = round(100 * share)
    return "<1%" if percent == 0 else f"{percent}%"


def _top_topics(shares: np.ndarray, labels: tuple[str, ...]) -> list[str]:
    order = np.argsort(-shares, axis=1, kind="stable")[:, :_TOP_IN_PROFILE]
    return [
        "; ".join(f"{labels[c]} ({_percent(row[c])})" for c in top if row[c] > 0)
        for row, top in zip(shares, order, strict=True)
    ]
