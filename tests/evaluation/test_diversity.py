"""Final lists and the measured re-ranking trade-off, on tiny catalogues built in code."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, get_args

import numpy as np
import pandas as pd
import pytest
import torch

from mtrec.config import RerankConfig, RerankMethodName
from mtrec.evaluation.beyond import beyond_accuracy
from mtrec.evaluation.diversity import (
    TRADEOFF_METHODS,
    RerankTradeoff,
    TopCandidates,
    TradeoffPoint,
    best_within_budget,
    final_lists,
    mark_pareto_front,
    rerank_tradeoff,
    tradeoff_width,
)
from mtrec.evaluation.interests import Topics, topic_shares
from mtrec.evaluation.metrics import evaluate_ranking
from mtrec.evaluation.rerank import RERANK_METHODS, calibration_kl


def test_config_methods_are_the_rerankers() -> None:
    assert get_args(RerankMethodName) == RERANK_METHODS


def _two_topics(n_items: int = 8) -> Topics:
    """Items 0..3 are topic 0 (one direction), 4..7 topic 1 (an orthogonal one)."""
    assignment = np.repeat([0, 1], n_items // 2)
    return Topics(
        assignment=assignment,
        centroids=np.eye(2, dtype=np.float32),
        labels=("drama", "horror"),
        sizes=np.bincount(assignment),
    )


def _vectors(n_items: int = 8) -> np.ndarray:
    vectors = np.zeros((n_items, 2), dtype=np.float32)
    vectors[: n_items // 2, 0] = 1.0
    vectors[n_items // 2 :, 1] = 1.0
    return vectors


def test_none_is_the_top_k_by_score_whatever_lambda_and_candidates() -> None:
    scores = torch.tensor([[0.1, 0.9, -torch.inf, 0.5, 0.3], [1.0, 0.0, 0.2, 0.4, -torch.inf]])
    config = RerankConfig(method="none", lam=0.8, candidates=1)
    lists = final_lists(scores, 3, config)
    assert lists.tolist() == [[1, 3, 4], [0, 3, 2]]
    assert torch.equal(lists, torch.topk(scores, 3).indices)


def test_mmr_and_dpp_leave_the_dominant_topic_and_calibrated_follows_the_target() -> None:
    topics, vectors = _two_topics(), _vectors()
    # Topic 0 holds the four best scores; topic 1 scores a little lower.
    scores = torch.tensor([[1.0, 0.99, 0.98, 0.97, 0.9, 0.89, 0.88, 0.87]])
    top = final_lists(scores, 4, RerankConfig(method="none"))
    assert top.tolist() == [[0, 1, 2, 3]]
    for method in ("mmr", "dpp"):
        lists = final_lists(scores, 4, RerankConfig(method=method, lam=0.5), vectors)
        assert set(topics.assignment[lists[0].numpy()]) == {0, 1}, method
        assert lists[0, 0] == 0  # the most relevant item opens the list
    target = np.array([[0.5, 0.5]])
    calibrated = final_lists(
        scores, 4, RerankConfig(method="calibrated", lam=0.9), None, topics, target
    )
    assert np.bincount(topics.assignment[calibrated[0].numpy()], minlength=2).tolist() == [2, 2]


def test_missing_inputs_and_bad_k_raise() -> None:
    scores = torch.zeros(1, 8)
    with pytest.raises(ValueError, match="text embeddings"):
        final_lists(scores, 3, RerankConfig(method="mmr", lam=0.3))
    with pytest.raises(ValueError, match="topics"):
        final_lists(scores, 3, RerankConfig(method="calibrated", lam=0.3), _vectors())
    with pytest.raises(ValueError, match="k must be in"):
        final_lists(scores, 9, RerankConfig())


@dataclass(frozen=True)
class Case:
    """Six users, a 40-item catalogue in four text directions, fixed user-item scores."""

    scores: torch.Tensor  # (U, I)
    truth: pd.DataFrame
    history: pd.DataFrame
    embeddings: np.ndarray  # (I, D)
    topics: Topics

    def score_users(self, users: torch.Tensor) -> torch.Tensor:
        return self.scores[users]

    def ranking(self, **options: Any) -> tuple[dict, dict, np.ndarray | None]:
        """evaluate_ranking of these scores at 10, the history masked."""
        truth, history = self.truth, self.history
        return evaluate_ranking(
            self.score_users,
            N_ITEMS,
            truth["user_idx"].to_numpy(),
            truth["item_idx"].to_numpy(),
            history["user_idx"].to_numpy(),
            history["item_idx"].to_numpy(),
            (10,),
            **options,
        )

    def tradeoff(
        self, config: RerankConfig, keep_top: int = 0
    ) -> tuple[RerankTradeoff, np.ndarray | None]:
        counts = np.bincount(self.history["item_idx"], minlength=N_ITEMS)
        return rerank_tradeoff(
            self.score_users,
            N_ITEMS,
            self.truth,
            self.history,
            counts,
            N_USERS,
            self.embeddings,
            self.topics,
            config,
            keep_top=keep_top,
        )


N_USERS, N_ITEMS = 6, 40


def _case() -> Case:
    rng = np.random.default_rng(3)
    directions = rng.normal(size=(4, 8))
    cluster = np.arange(N_ITEMS) % 4
    embeddings = (directions[cluster] + 0.1 * rng.normal(size=(N_ITEMS, 8))).astype(np.float32)
    scores = torch.from_numpy(rng.normal(size=(N_USERS, N_ITEMS)).astype(np.float32))
    history = pd.DataFrame(
        {"user_idx": np.repeat(np.arange(N_USERS), 5), "item_idx": rng.integers(0, N_ITEMS, 30)}
    ).drop_duplicates()
    truth = pd.DataFrame(
        {"user_idx": [0, 0, 1, 2, 3, 4, 4, 5], "item_idx": [1, 2, 3, 4, 5, 6, 7, 8]}
    )
    truth = truth.merge(history, how="left", indicator=True)
    truth = truth[truth["_merge"] == "left_only"].drop(columns="_merge")
    topics = Topics(
        cluster, directions.astype(np.float32), ("a", "b", "c", "d"), np.bincount(cluster)
    )
    return Case(scores, truth, history, embeddings, topics)


def test_tradeoff_has_the_grid_rows_and_lambda_zero_is_the_unreranked_ranking() -> None:
    case = _case()
    config = RerankConfig(method="mmr", lam=0.3, candidates=15, grid=(0.0, 0.3, 0.9))
    tradeoff, lists = case.tradeoff(config, keep_top=5)
    assert [(p.method, p.lam) for p in tradeoff.points] == [
        (m, lam) for m in TRADEOFF_METHODS for lam in (0.0, 0.3, 0.9)
    ]
    assert tradeoff.k == 10 and tradeoff.candidates == 15

    history = case.history
    means, detail, top = case.ranking(keep_top=10)
    assert top is not None
    counts = np.bincount(history["item_idx"], minlength=N_ITEMS)
    beyond = beyond_accuracy(top, counts, N_USERS, case.embeddings)
    targets = topic_shares(history, case.topics, N_USERS)[detail["users"]]
    kl = calibration_kl(
        torch.from_numpy(targets).float(),
        torch.from_numpy(top),
        torch.from_numpy(case.topics.shares_matrix()).float(),
    ).mean()
    for point in (p for p in tradeoff.points if p.lam == 0.0):
        assert point.ndcg == pytest.approx(means["ndcg@10"])
        assert point.recall == pytest.approx(means["recall@10"])
        for name in ("coverage", "gini", "novelty", "popularity_lift", "intra_list_diversity"):
            assert getattr(point, name) == pytest.approx(beyond[name]), name
        assert point.calibration_kl == pytest.approx(float(kl), rel=1e-5)
    # Re-ranking moves the lists: at lambda 0.9 MMR is more diverse than the ranking itself.
    by_key = {(p.method, p.lam): p for p in tradeoff.points}
    assert by_key["mmr", 0.9].intra_list_diversity > by_key["mmr", 0.0].intra_list_diversity
    assert by_key["calibrated", 0.9].calibration_kl < by_key["calibrated", 0.0].calibration_kl
    # The kept lists are final_lists with the configured method (mmr at 0.3) for the users.
    assert lists is not None and lists.shape == (len(detail["users"]), 5)
    scores = case.scores[torch.from_numpy(detail["users"])].clone()
    seen = history[history["user_idx"].isin(detail["users"])]
    rows = np.searchsorted(detail["users"], seen["user_idx"].to_numpy())
    scores[rows, seen["item_idx"].to_numpy()] = -torch.inf
    expected = final_lists(scores, 5, config, case.embeddings, case.topics, targets)
    assert lists.tolist() == expected.tolist()
    assert tradeoff.configured_point() is by_key["mmr", 0.3]


def test_tradeoff_round_trips_through_its_dict() -> None:
    tradeoff, lists = _case().tradeoff(RerankConfig(method="none", lam=0.0, grid=(0.0, 0.5)))
    assert lists is None
    raw = tradeoff.to_dict()
    assert len(raw["rows"]) == 6 and set(raw["best"]) == set(TRADEOFF_METHODS)
    assert raw["goal"]["max_ndcg_loss"] == 0.02 and raw["method"] == "none"
    assert RerankTradeoff.from_dict(raw) == tradeoff
    # method none reads as lambda 0 of any method: the unre-ranked lists.
    configured = tradeoff.configured_point()
    assert configured is not None and configured.lam == 0.0


def test_the_grid_runs_on_a_seeded_sample_of_users_and_the_lists_cover_all() -> None:
    case = _case()
    grid = (0.0, 0.5)
    whole, whole_lists = case.tradeoff(RerankConfig(grid=grid, tradeoff_users=None), keep_top=5)
    test_users = np.unique(case.truth["user_idx"])
    assert whole.users == len(test_users) == 6
    # A budget at or above the users changes nothing.
    same, _ = case.tradeoff(RerankConfig(grid=grid, tradeoff_users=6), keep_top=5)
    assert same == whole
    sampled, lists = case.tradeoff(RerankConfig(grid=grid, tradeoff_users=3), keep_top=5)
    assert sampled.users == 3 and RerankTradeoff.from_dict(sampled.to_dict()) == sampled
    assert lists is not None and whole_lists is not None
    assert lists.tolist() == whole_lists.tolist()  # the served lists: every user
    # The sampled points are the whole computation on the sampled users' test rows.
    rows = np.sort(np.random.default_rng(0).choice(6, 3, replace=False))
    chosen = case.truth[case.truth["user_idx"].isin(test_users[rows])]
    alone, _ = Case(case.scores, chosen, case.history, case.embeddings, case.topics).tradeoff(
        RerankConfig(grid=grid, tradeoff_users=None)
    )
    for point, expected in zip(sampled.points, alone.points, strict=True):
        assert (point.method, point.lam) == (expected.method, expected.lam)
        assert point.ndcg == pytest.approx(expected.ndcg)
        assert point.calibration_kl == pytest.approx(expected.calibration_kl)
        assert point.coverage == pytest.approx(expected.coverage)


def _point(
    method: RerankMethodName, lam: float, ndcg: float, diversity: float, **kw: float
) -> TradeoffPoint:
    values = {
        "recall": 0.0,
        "coverage": 0.1,
        "gini": 0.5,
        "novelty": 1.0,
        "popularity_lift": 1.0,
        "calibration_kl": 1.0,
        **kw,
    }
    return TradeoffPoint(method, lam, ndcg, intra_list_diversity=diversity, **values)


def test_pareto_front_is_marked_per_method() -> None:
    points = [
        _point("mmr", 0.0, 0.30, 0.50),  # best NDCG: on the front
        _point("mmr", 0.1, 0.29, 0.60),  # on the front
        _point("mmr", 0.2, 0.28, 0.55),  # dominated by lambda 0.1
        _point("mmr", 0.3, 0.29, 0.60),  # ties lambda 0.1: nothing dominates it
        _point("mmr", 0.5, 0.20, 0.90),  # most diverse: on the front
        _point("dpp", 0.0, 0.10, 0.10),  # worse than every mmr point, alone in its method
    ]
    flags = [p.on_pareto_front for p in mark_pareto_front(points)]
    assert flags == [True, True, False, True, True, True]


def test_best_lambda_stays_within_two_percent_ndcg_and_reports_the_gains() -> None:
    points = [
        _point("mmr", 0.0, 0.300, 0.50, coverage=0.10),
        _point("mmr", 0.1, 0.297, 0.56, coverage=0.12),  # -1%: +12% diversity, +20% coverage
        _point("mmr", 0.2, 0.295, 0.60, coverage=0.14),  # -1.7%: +20%, +40%: meets the goal
        _point("mmr", 0.5, 0.250, 0.90, coverage=0.30),  # -17%: over the budget
        _point("calibrated", 0.0, 0.300, 0.5, calibration_kl=1.0),
        _point("calibrated", 0.3, 0.296, 0.5, calibration_kl=0.6),  # -40% KL within budget
        _point("calibrated", 0.7, 0.200, 0.5, calibration_kl=0.1),  # over the budget
    ]
    mmr = best_within_budget(points, "mmr")
    assert mmr.lam == 0.2 and mmr.meets_goal
    assert mmr.ndcg_change == pytest.approx(0.295 / 0.3 - 1)
    assert mmr.diversity_gain == pytest.approx(0.2) and mmr.coverage_gain == pytest.approx(0.4)
    calibrated = best_within_budget(points, "calibrated")
    assert calibrated.lam == 0.3 and calibrated.meets_goal
    assert calibrated.kl_change == pytest.approx(-0.4)
    # Nothing but lambda 0 within budget: lambda 0, goal not met.
    alone = best_within_budget([points[0], points[3]], "mmr")
    assert alone.lam == 0.0 and not alone.meets_goal and alone.diversity_gain == 0.0
    with pytest.raises(ValueError, match="lambda-0"):
        best_within_budget(points[1:3], "mmr")


@pytest.mark.parametrize("method", RERANK_METHODS)
@pytest.mark.parametrize(("candidates", "keep_top"), [(8, 12), (30, 3)])
def test_kept_lists_are_final_lists_for_every_method_and_width(
    method: RerankMethodName, candidates: int, keep_top: int
) -> None:
    """The trade-off keeps one top per user, as wide as the grid or the kept lists need, and
    re-ranks the kept lists from its prefix: the lists final_lists gives on the full scores."""
    case = _case()
    config = RerankConfig(method=method, lam=0.5, candidates=candidates, grid=(0.0, 0.5))
    _, lists = case.tradeoff(config, keep_top=keep_top)
    users = np.unique(case.truth["user_idx"].to_numpy())
    scores = case.scores[torch.from_numpy(users)].clone()
    seen = case.history[case.history["user_idx"].isin(users)]
    rows = np.searchsorted(users, seen["user_idx"].to_numpy())
    scores[rows, seen["item_idx"].to_numpy()] = -torch.inf
    targets = topic_shares(case.history, case.topics, N_USERS)[users]
    expected = final_lists(scores, keep_top, config, case.embeddings, case.topics, targets)
    assert lists is not None and lists.tolist() == expected.tolist()
    assert lists.shape == (len(users), keep_top)


def test_tradeoff_from_the_ranking_s_collected_tops_equals_its_own_scoring() -> None:
    """evaluate_ranking's on_scores feeds TopCandidates: the trade-off then scores nothing
    and measures exactly what it measures when it scores the users itself."""
    case = _case()
    config = RerankConfig(method="calibrated", lam=0.4, candidates=12, grid=(0.0, 0.4, 0.9))
    truth, history = case.truth, case.history
    tops = TopCandidates(tradeoff_width(config, keep_top=5), truth["user_idx"].nunique())
    case.ranking(batch_size=4, on_scores=tops)  # two batches of users
    assert tops.tensors()[1].shape == (len(np.unique(truth["user_idx"])), 12)
    expected, expected_lists = case.tradeoff(config, keep_top=5)
    counts = np.bincount(history["item_idx"], minlength=N_ITEMS)

    def never(users: torch.Tensor) -> torch.Tensor:
        raise AssertionError("the trade-off scored users it was given tops for")

    args = (N_ITEMS, truth, history, counts, N_USERS, case.embeddings, case.topics, config)
    tradeoff, lists = rerank_tradeoff(never, *args, keep_top=5, tops=tops)
    assert tradeoff == expected
    assert lists is not None and expected_lists is not None
    assert lists.tolist() == expected_lists.tolist()
    with pytest.raises(ValueError, match="needed"):  # too narrow for the kept lists' 30
        rerank_tradeoff(never, *args, keep_top=30, tops=tops)


def test_top_candidates_fill_their_users_in_order_and_refuse_more_or_fewer() -> None:
    scores = torch.tensor([[0.1, 0.9, 0.5], [0.7, -torch.inf, 0.2], [0.3, 0.4, 0.8]])
    tops = TopCandidates(5, 3)  # wider than the catalogue: every item, best first
    tops(scores[:2])
    with pytest.raises(ValueError, match="2 of 3"):
        tops.tensors()
    tops(scores[2:])
    values, items = tops.tensors()
    assert items.tolist() == [[1, 2, 0], [0, 2, 1], [2, 1, 0]]
    assert values[1].tolist() == pytest.approx([0.7, 0.2, -torch.inf])
    with pytest.raises(ValueError, match="sized for"):
        tops(scores[:1])
