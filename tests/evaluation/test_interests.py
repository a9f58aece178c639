"""Item topics, interest profiles and explanations on planted clusters built in code."""

import io
import math

import numpy as np
import pandas as pd
import pytest

from mtrec.evaluation.interests import (
    SMOOTHING_GRID,
    ForecastPeriod,
    Topics,
    choose_blend,
    explain,
    fit_topics,
    interest_forecast,
    interest_profiles,
    interest_shares,
    js_divergence,
    latent_interests,
    mean_kl,
    recent_window,
    topic_shares,
)

# Three planted clusters of four items; "night" appears in two clusters, so c-TF-IDF should
# prefer the words that single out a cluster.
PLANTED = np.repeat([0, 1, 2], 4)
TITLES = [
    "Speed Racer",
    "The Speed of Night (1994)",
    "Night Speed",
    "Racer X",
    "Love Story",
    "Love Actually",
    "Story of Us",
    "Crazy Crazy Love",
    "Night of the Dead",
    "Dead Night",
    "House of Silence",
    "Silence House",
]
GENRES = ["Action|Thriller"] * 4 + ["Comedy, Romance"] * 4 + ["Horror"] * 4


def planted_embeddings(seed: int = 0, dim: int = 16) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, dim)) * 3
    return (centres[PLANTED] + rng.normal(scale=0.3, size=(12, dim))).astype(np.float32)


def planted_items() -> pd.DataFrame:
    # Rows deliberately out of catalogue order: labels must follow item_idx.
    frame = pd.DataFrame({"item_idx": np.arange(12), "title": TITLES, "genres": GENRES})
    return frame.iloc[::-1].reset_index(drop=True)


@pytest.fixture(scope="module")
def topics() -> Topics:
    return fit_topics(planted_embeddings(), planted_items(), k=3, seed=7)


def topic_of(topics: Topics, cluster: int) -> int:
    return int(topics.assignment[cluster * 4])


def test_fit_topics_recovers_the_planted_partition(topics: Topics) -> None:
    same_planted = PLANTED[:, None] == PLANTED[None, :]
    same_found = topics.assignment[:, None] == topics.assignment[None, :]
    np.testing.assert_array_equal(same_found, same_planted)
    np.testing.assert_array_equal(topics.sizes, [4, 4, 4])
    # Equal sizes: topics are numbered by their lowest item, so here they match the plant.
    np.testing.assert_array_equal(topics.assignment, PLANTED)
    assert topics.centroids.shape == (3, 16)
    np.testing.assert_allclose(np.linalg.norm(topics.centroids, axis=1), 1.0, rtol=1e-5)
    shares = topics.shares_matrix()
    assert shares.shape == (12, 3)
    np.testing.assert_array_equal(shares.sum(axis=1), np.ones(12))
    np.testing.assert_array_equal(shares.argmax(axis=1), topics.assignment)


def test_fit_topics_is_reproducible_for_a_seed() -> None:
    first = fit_topics(planted_embeddings(), planted_items(), k=3, seed=11)
    second = fit_topics(planted_embeddings(), planted_items(), k=3, seed=11)
    np.testing.assert_array_equal(first.assignment, second.assignment)
    np.testing.assert_array_equal(first.centroids, second.centroids)
    assert first.labels == second.labels


def test_labels_name_planted_genres_and_distinctive_title_words(topics: Topics) -> None:
    # Cluster 0: speed 3, racer 2, night 2 (shared with cluster 2, so weighted down).
    # Cluster 2: dead, house and silence 2 * log(1 + A / 2) each beat the shared night
    # 2 * log(1 + A / 4); their tie goes alphabetically. Cluster 1: "crazy" counts once per
    # title, so one title repeating it cannot outrank "story" from two titles.
    assert topics.labels[topic_of(topics, 0)] == "Action, Thriller · speed, racer"
    assert topics.labels[topic_of(topics, 1)] == "Comedy, Romance · love, story"
    assert topics.labels[topic_of(topics, 2)] == "Horror · dead, house"


def test_labels_use_whatever_text_columns_exist() -> None:
    embeddings = planted_embeddings()
    titles_only = pd.DataFrame({"title": TITLES})  # no item_idx: rows in catalogue order
    topics = fit_topics(embeddings, titles_only, k=3, seed=0)
    assert topics.labels[topics.assignment[4]] == "love, story"
    described = pd.DataFrame({"item_idx": np.arange(12), "blurb": TITLES, "year": "1999"})
    topics = fit_topics(embeddings, described, k=3, seed=0)
    assert topics.labels[topics.assignment[0]] == "speed, racer"
    nothing = pd.DataFrame({"item_idx": np.arange(12)})
    labels = fit_topics(embeddings, nothing, k=3, seed=0).labels
    assert len(set(labels)) == 3 and all(label.startswith("untitled topic") for label in labels)


def test_clashing_labels_take_more_words_until_they_differ() -> None:
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(2, 8)) * 3
    embeddings = centres[[0, 0, 0, 1, 1, 1]] + rng.normal(scale=0.1, size=(6, 8))
    # Per topic: love 3 * log(1 + 7/6) = 2.32 outweighs paris (or rome) log(1 + 7/1) = 2.08.
    titles = ["Love Story"] * 2 + ["Love Story in Paris"] + ["Love Story"] * 2 + ["Rome Love Story"]
    items = pd.DataFrame({"item_idx": range(6), "title": titles, "genres": ["Drama"] * 6})
    topics = fit_topics(embeddings, items, k=2, seed=0)
    assert sorted(topics.labels) == ["Drama · love, story, paris", "Drama · love, story, rome"]


@pytest.mark.parametrize("k", [0, -1, 13, 2.5, True])
def test_invalid_k_raises(k: object) -> None:
    with pytest.raises(ValueError, match="k must"):
        fit_topics(planted_embeddings(), planted_items(), k=k, seed=0)  # type: ignore[arg-type]


def test_invalid_embeddings_raise() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        fit_topics(np.zeros((0, 4)), planted_items(), k=1, seed=0)
    bad = planted_embeddings()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fit_topics(bad, planted_items(), k=3, seed=0)


def interactions(rows: list[tuple[int, int, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["user_idx", "item_idx", "timestamp"])


def test_topic_shares_are_exact_and_respect_the_recent_window(topics: Topics) -> None:
    frame = interactions(
        [(0, 0, 10), (0, 1, 20), (0, 4, 30), (0, 8, 40), (2, 9, 5), (0, 5, 50)]
    ).sample(frac=1.0, random_state=0)  # order in the frame must not matter
    shares = topic_shares(frame, topics, n_users=3)
    a, b, c = (topic_of(topics, cluster) for cluster in range(3))
    assert shares.shape == (3, 3)
    assert shares[0, a] == pytest.approx(2 / 5)
    assert shares[0, b] == pytest.approx(2 / 5)
    assert shares[0, c] == pytest.approx(1 / 5)
    np.testing.assert_array_equal(shares[1], np.zeros(3))  # no history
    assert shares[2, c] == 1.0
    np.testing.assert_allclose(shares[[0, 2]].sum(axis=1), 1.0)
    recent = topic_shares(frame, topics, n_users=3, last_n=2)  # items 8 and 5
    assert recent[0, b] == pytest.approx(0.5) and recent[0, c] == pytest.approx(0.5)
    days = interactions([(0, 0, 0), (0, 4, 3 * 86_400), (0, 5, 4 * 86_400)])
    within_two_days = topic_shares(days, topics, n_users=1, last_days=2)
    assert within_two_days[0, b] == 1.0
    assert len(recent_window(days, last_n=5, last_days=2)) == 2


def test_topic_shares_reject_out_of_range_indices(topics: Topics) -> None:
    with pytest.raises(ValueError, match="user_idx"):
        topic_shares(interactions([(3, 0, 1)]), topics, n_users=3)
    with pytest.raises(ValueError, match="item_idx"):
        topic_shares(interactions([(0, 12, 1)]), topics, n_users=3)


def test_shift_is_high_for_a_user_who_moved_and_zero_for_a_stable_one(topics: Topics) -> None:
    a, b = topic_of(topics, 0), topic_of(topics, 1)
    moved = [(0, t % 4, t) for t in range(60)] + [(0, 4, 100), (0, 5, 101)]
    stable = [(1, 8 + t % 4, t) for t in range(30)]
    shares = interest_shares(interactions(moved + stable), topics, recent_n=2)
    long_term, recent = np.zeros(3), np.zeros(3)
    long_term[[a, b]] = [60 / 62, 2 / 62]
    recent[b] = 1.0
    np.testing.assert_allclose(shares.long_term[0], long_term)
    np.testing.assert_allclose(shares.recent[0], recent)
    # KL(p || m) = 60/62 + 2/62 log2(1/16), KL(q || m) = log2(62/32), JS their mean.
    expected = (60 / 62 - 2 / 62 * 4 + math.log2(62 / 32)) / 2
    assert shares.shift[0] == pytest.approx(expected) and shares.shift[0] > 0.85
    assert shares.shift[1] == 0.0
    np.testing.assert_array_equal(shares.n_interactions, [62, 30])
    np.testing.assert_array_equal(shares.n_recent, [2, 2])


def test_interest_profiles_one_csv_friendly_row_per_active_user(topics: Topics) -> None:
    moved = [(0, 0, 1), (0, 1, 2), (0, 2, 3), (0, 4, 10 * 86_400)]
    stable = [(3, 8, 1), (3, 9, 2)]
    profiles = interest_profiles(interactions(moved + stable), topics, recent_n=2, recent_days=1)
    assert list(profiles.columns) == [
        "user_idx",
        "n_interactions",
        "n_recent",
        "long_term_top",
        "recent_top",
        "shift",
    ]
    assert profiles["user_idx"].tolist() == [0, 3]  # users 1 and 2 have no history
    assert profiles["n_interactions"].tolist() == [4, 2]
    assert profiles["n_recent"].tolist() == [1, 2]  # a day before the last: only item 4 for 0
    action, comedy, horror = topics.labels
    assert profiles["long_term_top"].tolist() == [
        f"{action} (75%); {comedy} (25%)",
        f"{horror} (100%)",
    ]
    assert profiles["recent_top"].tolist() == [f"{comedy} (100%)", f"{horror} (100%)"]
    assert profiles["shift"].iloc[1] == 0.0 and 0.5 < profiles["shift"].iloc[0] <= 1.0
    buffer = io.StringIO()
    profiles.to_csv(buffer, index=False)
    round_trip = pd.read_csv(io.StringIO(buffer.getvalue()))
    assert round_trip["long_term_top"].tolist() == profiles["long_term_top"].tolist()


def test_js_divergence_properties_and_a_hand_value() -> None:
    rng = np.random.default_rng(0)
    p, q = rng.random((5, 4)), rng.random((5, 4))
    np.testing.assert_allclose(js_divergence(p, q), js_divergence(q, p))
    np.testing.assert_allclose(js_divergence(p, p), np.zeros(5), atol=1e-12)
    assert np.all((js_divergence(p, q) >= 0) & (js_divergence(p, q) <= 1))
    assert js_divergence(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == pytest.approx(1.0)
    # m = (3/4, 1/4): KL(p || m) = log2(4/3), KL(q || m) = (log2(2/3) + 1) / 2.
    expected = (math.log2(4 / 3) + (math.log2(2 / 3) + 1) / 2) / 2
    hand = js_divergence(np.array([[2.0, 0.0]]), np.array([[1.0, 1.0]]))  # rows normalised
    assert hand[0] == pytest.approx(expected)
    assert np.isnan(js_divergence(np.zeros((1, 3)), np.ones((1, 3)))[0])
    with pytest.raises(ValueError, match="shape"):
        js_divergence(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="non-negative"):
        js_divergence(np.array([1.0, -1.0]), np.array([0.5, 0.5]))


def test_latent_interests_pick_the_planted_topic(topics: Topics) -> None:
    embeddings = planted_embeddings().astype(np.float64)
    centres = np.stack([embeddings[4 * c : 4 * c + 4].mean(axis=0) for c in range(3)])
    users = centres[[2, 0, 1]] / np.linalg.norm(centres[[2, 0, 1]], axis=1, keepdims=True)
    result = latent_interests(users, embeddings, topics, top=2)
    assert result.top.shape == (3, 2) and result.distribution.shape == (3, 3)
    assert result.top[:, 0].tolist() == [topic_of(topics, c) for c in (2, 0, 1)]
    np.testing.assert_allclose(result.distribution.sum(axis=1), 1.0)
    np.testing.assert_array_equal(result.distribution.argmax(axis=1), result.top[:, 0])
    # The score is the mean dot product over the topic's items.
    expected = users[0] @ embeddings[topics.assignment == result.top[0, 1]].T
    assert result.scores[0, result.top[0, 1]] == pytest.approx(expected.mean())
    assert latent_interests(users, embeddings, topics, top=10).top.shape == (3, 3)
    with pytest.raises(ValueError, match="item vectors"):
        latent_interests(users, embeddings[:5], topics)


def test_explain_quotes_the_recent_share_or_calls_the_topic_new(topics: Topics) -> None:
    a, b, c = (topic_of(topics, cluster) for cluster in range(3))
    recent = np.zeros((2, 3))
    recent[0, [a, b]] = [0.4, 0.6]
    recent[1, c] = 1.0
    reasons = explain(np.array([[0, 5, 9], [10, 1, 2]]), recent, topics)
    assert reasons[0] == [
        f"{topics.labels[a]}: 40% of your recent history",
        f"{topics.labels[b]}: 60% of your recent history",
        f"new for you: {topics.labels[c]}",
    ]
    assert reasons[1][0] == f"{topics.labels[c]}: 100% of your recent history"
    assert reasons[1][1:] == [f"new for you: {topics.labels[a]}"] * 2
    with pytest.raises(ValueError, match="shares"):
        explain(np.array([[0]]), recent, topics)


def test_mean_kl_hand_values_and_infinity() -> None:
    target = np.array([[0.5, 0.5, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    predicted = np.array([[0.25, 0.75, 0.0], [1.0, 0.0, 0.0], [0.5, 0.25, 0.25]])
    # The empty row does not count; 0 log 0 = 0 where the target has no mass.
    expected = (0.5 * math.log(2) + 0.5 * math.log(0.5 / 0.75) + math.log(2)) / 2
    assert mean_kl(target, predicted) == pytest.approx(expected, rel=1e-12)
    assert mean_kl(np.array([[0.0, 1.0]]), np.array([[1.0, 0.0]])) == math.inf


def test_interest_forecast_scores_a_model_that_knows_the_next_period(topics: Topics) -> None:
    """Two users move to a new topic in each period; a model that predicts the move beats
    both "same as before" baselines, and each predictor's smoothing is chosen on tuning."""
    a, b, c = 0, 4, 8  # the first item of each planted cluster (items a + 1, b + 1 too)
    history = interactions([(0, a, 1), (0, a + 1, 2), (1, b, 1), (1, b + 1, 2)])
    tuning_target = interactions([(0, b, 3), (1, c, 3)])
    scored_history = pd.concat([history, tuning_target], ignore_index=True)
    scored_target = interactions([(0, c, 4), (1, a, 4)])

    def knowing(target: pd.DataFrame) -> np.ndarray:  # the next period's own shares
        return topic_shares(target, topics, 2)

    forecast = interest_forecast(
        topics,
        2,
        recent_n=1,
        recent_days=None,
        tuning=ForecastPeriod(history, tuning_target, knowing(tuning_target)),
        scored=ForecastPeriod(scored_history, scored_target, knowing(scored_target)),
    )
    assert forecast.users == 2
    assert forecast.smoothing["model"] == 0.0 and forecast.kl["model"] == 0.0
    assert forecast.reduction == 1.0
    # The baselines never hold the next topic: their smoothing is the largest weight tried.
    assert forecast.smoothing["recent_history"] == max(SMOOTHING_GRID)
    assert forecast.kl["whole_history"] > 0.5 and forecast.kl["recent_history"] > 0.5
    assert forecast.best_baseline in ("whole_history", "recent_history")
    assert forecast.to_dict()["kl"] == forecast.kl


def _rows(matrix: np.ndarray) -> np.ndarray:
    return matrix / matrix.sum(axis=1, keepdims=True)


def test_choose_blend_finds_the_ranking_temperature_that_reproduces_the_target() -> None:
    rng = np.random.default_rng(0)
    temperatures = (0.2, 0.5, 1.0)
    expected = np.stack([_rows(rng.random((30, 4)) + 0.05) for _ in temperatures])
    target = expected[1].copy()
    target[3] = 0.0  # a user without a target period counts for nothing
    head = _rows(rng.random((30, 4)) + 0.05)  # a head that knows nothing
    choice = choose_blend(target, head, expected, temperatures)
    assert (choice.head, choice.ranking, choice.temperature) == (0.0, 1.0, 0.5)
    assert choice.kl == pytest.approx(0.0, abs=1e-12)
    rows = np.arange(30) != 3
    assert choice.head_kl == pytest.approx(mean_kl(target[rows], head[rows]))


def test_choose_blend_keeps_the_head_alone_where_the_ranking_adds_nothing() -> None:
    rng = np.random.default_rng(1)
    head = _rows(rng.random((20, 3)) + 0.1)
    target = head.copy()
    expected = np.stack([_rows(rng.random((20, 3)) + 0.1) for _ in range(2)])
    choice = choose_blend(target, head, expected, (0.5, 1.0))
    assert (choice.head, choice.ranking, choice.temperature) == (1.0, 0.0, 1.0)
    assert choice.kl == choice.head_kl == pytest.approx(0.0, abs=1e-12)


def test_choose_blend_mixes_two_half_right_predictors() -> None:
    # The target is the normalised geometric mean of head and ranking: a = b = 0.6 at t = 1.
    rng = np.random.default_rng(2)
    head, ranking = _rows(rng.random((40, 5)) + 0.05), _rows(rng.random((40, 5)) + 0.05)
    target = _rows(head**0.6 * ranking**0.6)
    choice = choose_blend(target, head, ranking[None], (1.0,))
    assert (choice.head, choice.ranking) == (0.6, 0.6)
    assert choice.kl < 1e-12 < choice.head_kl


def test_choose_blend_rejects_mismatched_shapes_and_empty_targets() -> None:
    with pytest.raises(ValueError, match="temperatures"):
        choose_blend(np.ones((2, 3)), np.ones((2, 3)) / 3, np.ones((1, 2, 3)) / 3, (0.5, 1.0))
    with pytest.raises(ValueError, match="no tuning user"):
        choose_blend(np.zeros((2, 3)), np.ones((2, 3)) / 3, np.ones((1, 2, 3)) / 3, (1.0,))
