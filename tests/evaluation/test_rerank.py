"""Re-ranking (MMR, DPP, calibrated) on planted candidates and against slow references."""

import math

import pytest
import torch

from mtrec.evaluation.rerank import (
    RERANK_METHODS,
    calibration_kl,
    dpp_kernel,
    normalised_relevance,
    rerank,
    top_candidates,
)

DIVERSE = ("mmr", "dpp", "calibrated")


def _random_case(n_users: int, n_cand: int, seed: int) -> dict[str, torch.Tensor]:
    """Random scores over shuffled candidates of a 30-item catalogue, 8-d vectors, 3 topics."""
    gen = torch.Generator().manual_seed(seed)
    n_items, n_topics = 30, 3
    candidates = torch.stack(
        [torch.randperm(n_items, generator=gen)[:n_cand] for _ in range(n_users)]
    )
    topics = torch.randint(0, n_topics, (n_items,), generator=gen)
    return {
        "scores": torch.randn(n_users, n_cand, generator=gen),
        "candidates": candidates,
        "item_vectors": torch.randn(n_items, 8, generator=gen),
        "target_shares": torch.softmax(torch.randn(n_users, n_topics, generator=gen), 1),
        "item_topics": torch.nn.functional.one_hot(topics, n_topics).float(),
    }


def _run(case: dict[str, torch.Tensor], k: int, method: str, lam: float, **kw) -> torch.Tensor:
    return rerank(
        case["scores"],
        case["candidates"],
        case["item_vectors"],
        k,
        method,  # type: ignore[arg-type]
        lam,
        case["target_shares"],
        case["item_topics"],
        **kw,
    )


def _planted_duplicates() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Catalogue items 10 and 11 share a vector and hold the two best scores; 12 is orthogonal
    and scores a little lower; 13 is orthogonal too but scores far lower."""
    vectors = torch.zeros(14, 3)
    vectors[10] = vectors[11] = torch.tensor([1.0, 0.0, 0.0])
    vectors[12] = torch.tensor([0.0, 2.0, 0.0])  # unnormalised on purpose
    vectors[13] = torch.tensor([0.0, 0.0, 1.0])
    scores = torch.tensor([[1.0, 0.95, 0.9, 0.0]])
    return scores, torch.tensor([[10, 11, 12, 13]]), vectors


def test_top_candidates_are_the_best_scored_items_best_first() -> None:
    full = torch.tensor([[0.1, 0.9, 0.5, 0.7], [3.0, 1.0, 2.0, 0.0]])
    scores, candidates = top_candidates(full, 3)
    assert candidates.tolist() == [[1, 3, 2], [0, 2, 1]]
    assert torch.allclose(scores, torch.tensor([[0.9, 0.7, 0.5], [3.0, 2.0, 1.0]]))
    with pytest.raises(ValueError, match="n must be in"):
        top_candidates(full, 5)


def test_normalised_relevance_scales_each_user_to_unit_range() -> None:
    scores = torch.tensor([[2.0, 4.0, 3.0], [-1.0, -torch.inf, 1.0], [5.0, 5.0, 5.0]])
    rel = normalised_relevance(scores)
    expected = torch.tensor([[0.0, 1.0, 0.5], [0.0, -1.0, 1.0], [0.0, 0.0, 0.0]])
    assert torch.allclose(rel, expected)


@pytest.mark.parametrize("method", RERANK_METHODS)
def test_lam_zero_returns_the_top_k_by_score(method: str) -> None:
    case = _random_case(n_users=6, n_cand=10, seed=0)
    expected = case["candidates"].gather(1, torch.topk(case["scores"], 4, dim=1).indices)
    assert torch.equal(_run(case, 4, method, 0.0), expected)


def test_none_ignores_lam() -> None:
    case = _random_case(n_users=3, n_cand=6, seed=1)
    assert torch.equal(_run(case, 3, "none", 0.8), _run(case, 3, "none", 0.0))


def test_mmr_skips_the_near_duplicate_once_lam_weighs_diversity() -> None:
    scores, candidates, vectors = _planted_duplicates()
    # Step 2 at lam 0.5: item 11 scores 0.5 * 0.95 - 0.5 * 1 < 0, item 12 0.5 * 0.9 - 0 > 0.
    assert rerank(scores, candidates, vectors, 2, "mmr", 0.5).tolist() == [[10, 12]]
    assert rerank(scores, candidates, vectors, 2, "mmr", 0.0).tolist() == [[10, 11]]
    # A small lam keeps the duplicate: 0.95 * 0.99 - 0.01 > 0.9 * 0.99.
    assert rerank(scores, candidates, vectors, 2, "mmr", 0.01).tolist() == [[10, 11]]
    assert rerank(scores, candidates, vectors, 4, "mmr", 0.5).tolist() == [[10, 12, 13, 11]]


def _mmr_reference(rel: torch.Tensor, cosine: torch.Tensor, k: int, lam: float) -> list[int]:
    picked: list[int] = [int(rel.argmax())]
    while len(picked) < k:
        rest = [i for i in range(len(rel)) if i not in picked]
        gains = [(1 - lam) * rel[i] - lam * max(cosine[i, j] for j in picked) for i in rest]
        picked.append(rest[max(range(len(rest)), key=lambda n: gains[n])])
    return picked


def _dpp_reference(kernel: torch.Tensor, rel: torch.Tensor, k: int) -> list[int]:
    """Greedy MAP by brute force: each step adds the item maximising log det(L_Y); like rerank,
    the first pick is the most relevant (the same item unless lam = 1 ties every L_ii)."""
    picked: list[int] = [int(rel.argmax())]
    while len(picked) < k:
        rest = [i for i in range(len(kernel)) if i not in picked]
        dets = [torch.logdet(kernel[picked + [i]][:, picked + [i]]) for i in rest]
        picked.append(rest[int(torch.stack(dets).argmax())])
    return picked


@pytest.mark.parametrize("lam", [0.3, 0.7, 1.0])
def test_mmr_matches_a_loop_over_users(lam: float) -> None:
    case = _random_case(n_users=5, n_cand=9, seed=2)
    unit = torch.nn.functional.normalize(case["item_vectors"], dim=1)
    result = _run(case, 5, "mmr", lam)
    for user in range(5):
        rel = normalised_relevance(case["scores"][user : user + 1])[0].double()
        vectors = unit[case["candidates"][user]].double()
        columns = _mmr_reference(rel, vectors @ vectors.T, 5, lam)
        assert result[user].tolist() == case["candidates"][user, columns].tolist()


def test_dpp_kernel_is_symmetric_positive_semi_definite() -> None:
    gen = torch.Generator().manual_seed(3)
    scores = torch.randn(4, 12, generator=gen)
    candidates = torch.stack([torch.randperm(40, generator=gen)[:12] for _ in range(4)])
    vectors = torch.randn(40, 16, generator=gen)
    for lam in (0.1, 0.5, 1.0):
        kernel = dpp_kernel(scores, candidates, vectors, lam)
        assert kernel.shape == (4, 12, 12)
        assert torch.allclose(kernel, kernel.transpose(1, 2))
        assert torch.linalg.eigvalsh(kernel.double()).min() >= -1e-5
    # lam = 1: every quality is 1, so the diagonal is |v|^2 + jitter = 1 + 1e-4.
    diagonal = torch.diagonal(dpp_kernel(scores, candidates, vectors, 1.0), dim1=1, dim2=2)
    assert torch.allclose(diagonal, torch.full((4, 12), 1.0001))
    with pytest.raises(ValueError, match="no DPP kernel"):
        dpp_kernel(scores, candidates, vectors, 0.0)


@pytest.mark.parametrize("lam", [0.2, 0.6, 1.0])
def test_fast_dpp_matches_brute_force_greedy_log_det(lam: float) -> None:
    case = _random_case(n_users=5, n_cand=8, seed=4)
    kernel = dpp_kernel(case["scores"], case["candidates"], case["item_vectors"], lam).double()
    result = _run(case, 4, "dpp", lam)
    for user in range(5):
        rel = normalised_relevance(case["scores"][user : user + 1])[0]
        columns = _dpp_reference(kernel[user], rel, 4)
        assert result[user].tolist() == case["candidates"][user, columns].tolist()


def test_dpp_skips_the_near_duplicate_like_mmr() -> None:
    scores, candidates, vectors = _planted_duplicates()
    for lam in (0.5, 0.9):
        assert rerank(scores, candidates, vectors, 2, "dpp", lam).tolist() == [[10, 12]]
    assert rerank(scores, candidates, vectors, 2, "dpp", 0.0).tolist() == [[10, 11]]
    # Once the orthogonal items are in, the duplicate adds only the jitter's volume: last.
    assert rerank(scores, candidates, vectors, 4, "dpp", 0.9).tolist() == [[10, 12, 13, 11]]


@pytest.mark.parametrize("method", DIVERSE)
@pytest.mark.parametrize("lam", [0.05, 0.5, 1.0])
def test_lists_hold_k_distinct_candidates(method: str, lam: float) -> None:
    case = _random_case(n_users=20, n_cand=12, seed=5)
    result = _run(case, 7, method, lam)
    assert result.shape == (20, 7) and result.dtype == torch.int64
    for user in range(20):
        assert len(set(result[user].tolist())) == 7
        assert set(result[user].tolist()) <= set(case["candidates"][user].tolist())


@pytest.mark.parametrize("method", RERANK_METHODS)
def test_masked_candidates_come_last(method: str) -> None:
    case = _random_case(n_users=1, n_cand=4, seed=6)
    case["scores"] = torch.tensor([[0.2, -torch.inf, 0.9, -torch.inf]])
    result = _run(case, 4, method, 0.7)[0].tolist()
    cands = case["candidates"][0].tolist()
    assert set(result[:2]) == {cands[0], cands[2]} and set(result[2:]) == {cands[1], cands[3]}


@pytest.mark.parametrize("method", DIVERSE)
def test_batched_equals_each_user_alone(method: str) -> None:
    case = _random_case(n_users=40, n_cand=10, seed=7)  # 40 users: over one 32-user matmul
    batched = _run(case, 5, method, 0.6)
    assert torch.equal(_run(case, 5, method, 0.6, user_chunk=7), batched)
    for user in range(40):
        alone = {name: value[user : user + 1] for name, value in case.items()}
        alone["item_vectors"], alone["item_topics"] = case["item_vectors"], case["item_topics"]
        assert torch.equal(_run(alone, 5, method, 0.6), batched[user : user + 1])


def _two_topic_catalogue() -> dict[str, torch.Tensor]:
    """Items 0-3 are topic A and hold the four best scores, items 4-7 topic B; target 50/50."""
    return {
        "scores": torch.tensor([[1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3]]),
        "candidates": torch.arange(8).unsqueeze(0),
        "item_vectors": torch.randn(8, 4, generator=torch.Generator().manual_seed(8)),
        "target_shares": torch.tensor([[0.5, 0.5]]),
        "item_topics": torch.tensor([[1.0, 0.0]] * 4 + [[0.0, 1.0]] * 4),
    }


def test_calibrated_list_matches_the_target_shares() -> None:
    case = _two_topic_catalogue()
    top = _run(case, 4, "calibrated", 0.0)
    calibrated = _run(case, 4, "calibrated", 0.9)
    assert top.tolist() == [[0, 1, 2, 3]]
    # Steps 1 and 3 tie on KL so relevance decides; steps 2 and 4 restore the 50/50 split.
    assert calibrated.tolist() == [[0, 4, 1, 5]]
    kl_top = calibration_kl(case["target_shares"], top, case["item_topics"])
    kl_calibrated = calibration_kl(case["target_shares"], calibrated, case["item_topics"])
    # All topic A: q~ = (0.995, 0.005).
    expected = 0.5 * math.log(0.5 / 0.995) + 0.5 * math.log(0.5 / 0.005)
    assert kl_top.item() == pytest.approx(expected, rel=1e-5)
    assert kl_calibrated.item() == pytest.approx(0.0, abs=1e-6)


def test_calibrated_keeps_relevance_when_lam_is_small() -> None:
    # Step 2 swaps in topic B only if lam * 1.9585 > (1 - lam) * (0.857 - 0.429): lam > 0.18.
    case = _two_topic_catalogue()
    assert _run(case, 2, "calibrated", 0.1).tolist() == [[0, 1]]
    assert _run(case, 2, "calibrated", 0.3).tolist() == [[0, 4]]


def test_calibration_kl_on_soft_topics() -> None:
    item_topics = torch.tensor([[0.5, 0.5, 0.0], [0.0, 0.5, 0.5], [1.0, 0.0, 0.0]])
    target = torch.tensor([[0.2, 0.8, 0.0], [1 / 3, 1 / 3, 1 / 3]])
    lists = torch.tensor([[0, 1], [0, 2]])
    kl = calibration_kl(target, lists, item_topics, alpha=0.0)
    # User 0: q = (0.25, 0.5, 0.25); the zero target share adds nothing.
    first = 0.2 * math.log(0.2 / 0.25) + 0.8 * math.log(0.8 / 0.5)
    # User 1: q = (0.75, 0.25, 0), smoothed by alpha = 0 it leaves topic 3 at zero: infinite.
    assert kl[0].item() == pytest.approx(first, rel=1e-5)
    assert kl[1].item() == math.inf
    smoothed = calibration_kl(target, lists, item_topics)  # alpha 0.01 keeps it finite
    q = [0.99 * s + 0.01 / 3 for s in (0.75, 0.25, 0.0)]
    assert smoothed[1].item() == pytest.approx(sum(math.log((1 / 3) / v) / 3 for v in q), rel=1e-5)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"method": "random"}, "unknown method"),
        ({"lam": 1.5}, "lam must be in"),
        ({"lam": -0.1}, "lam must be in"),
        ({"k": 7}, "k must be in"),
        ({"k": 0}, "k must be in"),
        ({"scores": torch.zeros(2, 5)}, "must both be"),
        ({"candidates": torch.zeros(2, 6)}, "integer item indices"),
        ({"candidates": torch.full((2, 6), 30)}, "must index the 30"),
        ({"scores": torch.full((2, 6), torch.nan)}, "NaN"),
        ({"item_vectors": torch.zeros(30)}, "item_vectors must be"),
        ({"method": "calibrated", "target_shares": None}, "needs target_shares"),
        ({"method": "calibrated", "item_topics": torch.ones(30, 4) / 4}, "has 3 topics"),
        ({"method": "calibrated", "target_shares": torch.ones(3, 3) / 3}, "needs 2 rows"),
        ({"method": "calibrated", "target_shares": -torch.ones(2, 3)}, "non-negative"),
    ],
)
def test_invalid_inputs_raise(change: dict[str, object], message: str) -> None:
    case = _random_case(n_users=2, n_cand=6, seed=9)
    arguments: dict[str, object] = {**case, "k": 3, "method": "mmr", "lam": 0.5, **change}
    with pytest.raises(ValueError, match=message):
        rerank(**arguments)  # type: ignore[arg-type]
