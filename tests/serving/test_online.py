"""The serving library: one ranking function for batch and online lists, request checks, the
model slot and the bind rules. No HTTP here (see test_http.py)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from pydantic import ValidationError

from mtrec.config import InterestsConfig, RerankConfig
from mtrec.evaluation.diversity import final_lists
from mtrec.models.networks import build_network
from mtrec.models.serialization import TrainedModel
from mtrec.models.spec import ModelSpec
from mtrec.registry.recommend import Query, Recommender, recommend, served_topics
from mtrec.serving.api import (
    RecommendRequest,
    RequestError,
    RerankOverride,
    ServedModel,
    answer,
    rerank_for,
)
from mtrec.serving.settings import ServeSettings, is_loopback
from mtrec.serving.slot import ModelSlot

N_USERS, N_ITEMS = 5, 40


def _trained(seed: int = 0, **spec_fields: object) -> TrainedModel:
    """A random model reading a history window and a long-term profile, with a social input."""
    torch.manual_seed(seed)
    fields = dict(
        n_users=N_USERS,
        n_items=N_ITEMS,
        user_text_dim=4,
        item_text_dim=6,
        embedding_dim=4,
        hidden_dims=(8,),
        tower_dims=(4,),
        history_length=3,
        profile_length=4,
        ranking_interaction="dot",
        n_friend_links=2,
    )
    spec = ModelSpec(**{**fields, **spec_fields})  # type: ignore[arg-type]
    friends = torch.tensor([[0, 1], [1, 0]])[: spec.n_friend_links]
    network = build_network(
        spec,
        torch.randn(N_USERS, 4),
        torch.randn(N_ITEMS, 6),
        user_seen=torch.tensor([1.0, 1.0, 1.0, 1.0, 0.0]),
        friends=friends,
    )
    return TrainedModel(
        spec,
        dict(network.state_dict()),
        tuple(f"u{u}" for u in range(N_USERS)),
        tuple(f"i{i}" for i in range(N_ITEMS)),
    )


def _history(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = [
        (f"u{u}", f"i{i}", int(t))
        for u in range(4)
        for t, i in enumerate(rng.choice(N_ITEMS, size=6, replace=False))
    ]
    rows.append(("stranger", "i3", 0))  # a user the model does not know, with a known item
    return pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])


def _indices(items: list[str]) -> np.ndarray:
    return np.array([int(item[1:]) for item in items], dtype=np.int64)


@pytest.mark.parametrize(
    "spec_fields",
    [
        {},
        {"history_pooling": "mean", "n_friend_links": 0},
        {"profile_length": 0},
        {"history_length": 0},
    ],
)
def test_recent_items_rank_as_if_they_were_in_the_history(spec_fields) -> None:
    """A query's newer interactions give the list a history holding them would give: the
    online path and ``make recommend --events`` agree."""
    trained = _trained(**spec_fields)
    history = _history()
    recent = {"u0": ["i7", "i9", "i11"], "u1": ["i20"], "u2": []}
    events = pd.DataFrame(
        [(u, i, 100 + n) for u, items in recent.items() for n, i in enumerate(items)],
        columns=["user_id", "item_id", "timestamp"],
    )
    online = Recommender(trained, history)
    batch = Recommender(trained, pd.concat([history, events], ignore_index=True))
    queries = [Query(u, recent=_indices(items)) for u, items in recent.items()]
    got = online.rank(queries, 8)
    expected = batch.rank([Query(u) for u in recent], 8)
    for mine, theirs in zip(got, expected, strict=True):
        assert mine.source == theirs.source == "model"
        assert mine.items.tolist() == theirs.items.tolist()
        np.testing.assert_allclose(mine.scores, theirs.scores, rtol=1e-5, atol=1e-6)
    # ... and that list is the network's own score, read with the events in its history.
    model = trained.build()
    full = pd.concat([history, events], ignore_index=True)
    known = full[full["user_id"].isin(trained.user_ids)]
    model.set_history(
        known["user_id"].str[1:].astype(int).to_numpy(),
        known["item_id"].str[1:].astype(int).to_numpy(),
        known["timestamp"].to_numpy(),
    )
    with torch.no_grad():
        scores = model.score_items(torch.tensor([0])).float()[0]
    scores[_indices(full.loc[full["user_id"] == "u0", "item_id"].tolist())] = -torch.inf
    assert got[0].items.tolist() == torch.topk(scores, 8).indices.tolist()
    # Newer interactions are never recommended; without exclusion they may be.
    assert not set(got[0].items) & set(_indices(recent["u0"]))
    kept = online.rank([Query("u0", recent=_indices(recent["u0"]), exclude_seen=False)], N_ITEMS)
    assert set(_indices(recent["u0"])) <= set(kept[0].items.tolist())


def test_profiles_score_like_the_models_text_path_and_others_get_unseen_popular_items() -> None:
    trained = _trained()
    recommender = Recommender(trained, _history())
    profile = np.random.default_rng(1).normal(size=4).astype(np.float32)
    lists = recommender.rank(
        [Query("newbie", profile=profile), Query("stranger", recent=np.array([5]))], 4
    )
    assert [ranked.source for ranked in lists] == ["profile", "popularity"]
    with torch.no_grad():
        expected = trained.build().score_text_users(torch.from_numpy(profile[None]))[0]
    np.testing.assert_allclose(lists[0].scores, torch.topk(expected, 4).values.numpy(), rtol=1e-5)
    # Popularity leaves out what the stranger saw: i3 (history) and i5 (this request).
    popular = recommender.rank([Query("stranger", exclude_seen=False)], N_ITEMS)[0]
    assert {3, 5} <= set(popular.items[:N_ITEMS].tolist())
    assert not {3, 5} & set(lists[1].items.tolist())
    assert list(lists[1].scores) == sorted(lists[1].scores, reverse=True)


@pytest.mark.parametrize("method", ["mmr", "dpp", "calibrated"])
def test_reranking_reads_only_the_candidates_and_gives_final_lists_own_lists(method) -> None:
    trained = _trained()
    history = _history()
    topics = served_topics(trained, None, InterestsConfig(topics=4, seed=0))
    config = RerankConfig(method=method, lam=0.6, candidates=12)
    recommender = Recommender(trained, history, topics)
    users = ["u0", "u1", "u2", "u3"]
    got = recommender.rank([Query(u) for u in users], 5, config)
    # The reference: final_lists over the whole catalogue, as evaluation calls it.
    plain = recommender.rank([Query(u) for u in users], N_ITEMS)
    scores = torch.full((len(users), N_ITEMS), -torch.inf)
    for row, ranked in enumerate(plain):
        finite = np.isfinite(ranked.scores)
        scores[row, torch.from_numpy(ranked.items[finite])] = torch.from_numpy(
            ranked.scores[finite]
        ).float()
    seen = [np.bincount(topics.assignment[recommender.history_of(u)], minlength=4) for u in users]
    targets = np.stack(seen) / np.stack(seen).sum(1, keepdims=True)
    vectors = trained.state_dict["item_text"].float()
    expected = final_lists(scores, 5, config, vectors, topics, targets).numpy()
    assert np.stack([ranked.items for ranked in got]).tolist() == expected.tolist()
    # The batch command ranks with the same function.
    frame = recommend(trained, history, 5, users, rerank=config, topics=topics)
    assert frame["item_id"].tolist() == [f"i{i}" for i in expected.reshape(-1)]


def _served(**fields: object) -> ServedModel:
    trained = _trained()
    topics = served_topics(trained, None, InterestsConfig(topics=4, seed=0))
    base = ServedModel(
        version="v1",
        key="k1",
        recommender=Recommender(trained, _history(), topics),
        rerank=RerankConfig(method="calibrated", lam=0.4, candidates=12),
        encode=lambda text: np.ones(4, np.float32),
    )
    return replace(base, **fields)  # type: ignore[arg-type]


def test_answer_checks_what_the_model_cannot_answer() -> None:
    served = _served()
    ok = answer(served, RecommendRequest(user_id="u0", recent_items=["i1"], k=5), max_k=10)
    assert ok.source == "model" and ok.model_version == "v1" and len(ok.items) == 5
    assert all(item.source == "model" for item in ok.items) and "i1" not in {
        item.item_id for item in ok.items
    }
    with pytest.raises(RequestError, match="at most 10"):
        answer(served, RecommendRequest(user_id="u0", k=11), max_k=10)
    with pytest.raises(RequestError, match="'nope', 'i999'"):
        answer(served, RecommendRequest(user_id="u0", recent_items=["i1", "nope", "i999"]), 10)
    with pytest.raises(RequestError, match="no text encoder"):
        answer(_served(encode=None), RecommendRequest(user_id="new", profile="hi"), 10)
    # A known user's profile is ignored; an unknown user's is encoded.
    assert (
        answer(_served(encode=None), RecommendRequest(user_id="u0", profile="x"), 10).source
        == "model"
    )
    assert answer(served, RecommendRequest(user_id="new", profile="hi"), 10).source == "profile"
    # Seen items never pad a list with -inf scores: the answer is shorter instead.
    everything = [f"i{i}" for i in range(N_ITEMS - 2)]
    short = answer(served, RecommendRequest(user_id="new", recent_items=everything, k=5), 10)
    assert short.source == "popularity" and len(short.items) == 2


def test_requests_and_rerank_overrides_are_validated() -> None:
    with pytest.raises(ValidationError, match="extra"):
        RecommendRequest.model_validate({"user_id": "u0", "colour": "red"})
    for bad in (
        {"user_id": "u0", "k": 0},
        {"user_id": ""},
        {"k": 3},
        {"user_id": "u0", "rerank": {"lambda": 1.5}},
        {"user_id": "u0", "rerank": {"method": "magic"}},
    ):
        with pytest.raises(ValidationError):
            RecommendRequest.model_validate(bad)
    base = RerankConfig(method="calibrated", lam=0.4)
    assert rerank_for(base, None) is base
    changed = rerank_for(base, RerankOverride.model_validate({"method": "mmr", "lambda": 0.2}))
    assert (changed.method, changed.lam, changed.candidates) == ("mmr", 0.2, base.candidates)
    served = _served(recommender=Recommender(_trained(), _history()))  # no topics
    with pytest.raises(RequestError, match="topics"):
        answer(served, RecommendRequest(user_id="u0"), 10)


class _Source:
    def __init__(self, *models: ServedModel) -> None:
        self.models = {m.key: m for m in models}
        self.key: str | None = models[0].key
        self.error: Exception | None = None

    def current_key(self) -> str | None:
        if self.error is not None:
            raise self.error
        return self.key

    def load(self, key: str) -> ServedModel:
        return self.models[key]


def test_the_slot_swaps_versions_and_keeps_serving_through_failures() -> None:
    first, second = _served(), _served(version="v2", key="k2")
    source = _Source(first, second)
    slot = ModelSlot(source, poll_seconds=60)
    with pytest.raises(RuntimeError, match="no model"):
        slot.current  # noqa: B018
    assert slot.load_initial() is first
    assert slot.check() is False and slot.current is first
    source.key = "k2"
    assert slot.check() is True and slot.current is second and slot.status().swaps == 1
    source.error = OSError("database is locked")
    assert slot.check() is False and slot.current is second
    assert "database is locked" in str(slot.status().last_error)
    source.error, source.key = None, None
    assert slot.check() is False and slot.current is second
    assert "names no version" in str(slot.status().last_error)
    source.key = "k2"
    slot.check()
    assert slot.status().last_error is None
    with pytest.raises(LookupError):
        ModelSlot(_NoVersion()).load_initial()
    with pytest.raises(ValueError):
        ModelSlot(source, poll_seconds=0)


class _NoVersion:
    def current_key(self) -> None:
        return None

    def load(self, key: str) -> ServedModel:
        raise AssertionError("nothing to load")


def test_binding_beyond_loopback_needs_a_long_enough_token() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.com")
    ServeSettings(host="127.0.0.1")
    with pytest.raises(ValidationError, match="MTREC_SERVE_TOKEN"):
        ServeSettings(host="0.0.0.0")
    with pytest.raises(ValidationError, match="at least 16"):
        ServeSettings(host="0.0.0.0", token="short")
    settings = ServeSettings(host="0.0.0.0", token="x" * 16, port=9000)
    assert "x" * 16 not in repr(settings)  # the token never shows in logs
    with pytest.raises(ValidationError):
        ServeSettings(max_k=0)


def test_concurrent_requests_ranked_together_get_the_answers_they_get_alone() -> None:
    from mtrec.serving.api import answer_many, prepare

    served = _served()
    requests = [
        RecommendRequest.model_validate(body)
        for body in (
            {"user_id": "u0", "recent_items": ["i4", "i8"]},
            {"user_id": "u1", "k": 3},
            {"user_id": "u2", "rerank": {"method": "mmr", "lambda": 0.5}},
            {"user_id": "newbie", "profile": "hello"},
            {"user_id": "stranger", "recent_items": ["i3"], "exclude_seen": False},
            {"user_id": "u3", "recent_items": ["i1"], "rerank": {"method": "none"}, "k": 7},
            {"user_id": "u0"},
        )
    ]
    together = answer_many(served, requests, [prepare(served, r, 10) for r in requests])
    for request, result in zip(requests, together, strict=True):
        alone = answer(served, request, 10)
        assert result.source == alone.source and result.user_id == request.user_id
        assert [i.item_id for i in result.items] == [i.item_id for i in alone.items]
        assert [i.score for i in result.items] == pytest.approx(
            [i.score for i in alone.items], rel=1e-5
        )
    assert [len(r.items) for r in together] == [10, 3, 10, 10, 10, 7, 10]


def test_the_batcher_answers_queued_requests_together_and_isolates_failures() -> None:
    import time

    from mtrec.serving.api import prepare
    from mtrec.serving.batching import Batcher

    class Slow(Recommender):
        calls = 0

        def rank(self, queries, k, rerank=None):  # type: ignore[no-untyped-def]
            Slow.calls += 1
            if Slow.calls == 1:
                time.sleep(0.3)  # the first batch is slow: the rest queue up meanwhile
            return super().rank(queries, k, rerank)

    trained = _trained()
    topics = served_topics(trained, None, InterestsConfig(topics=4, seed=0))
    served = _served(recommender=Slow(trained, _history(), topics))
    bodies = [{"user_id": f"u{n % 4}", "recent_items": [f"i{n}"]} for n in range(12)]
    bodies.append({"user_id": "u1", "rerank": {"method": "calibrated"}})
    untopical = _served(recommender=Recommender(trained, _history()))  # no topics
    batcher = Batcher(max_batch=8)
    with pytest.raises(RuntimeError, match="not running"):
        batcher.submit(
            served,
            RecommendRequest(user_id="u0"),
            prepare(served, RecommendRequest(user_id="u0"), 10),
        )
    batcher.start()
    try:
        futures = []
        for body in bodies:
            request = RecommendRequest.model_validate(body)
            futures.append(batcher.submit(served, request, prepare(served, request, 10)))
        bad = RecommendRequest(user_id="u2")
        failing = batcher.submit(untopical, bad, prepare(untopical, bad, 10))
        results = [future.result(timeout=30) for future in futures]
        with pytest.raises(RequestError, match="topics"):
            failing.result(timeout=30)
    finally:
        batcher.stop()
    for body, result in zip(bodies, results, strict=True):
        alone = answer(served, RecommendRequest.model_validate(body), 10)
        assert [i.item_id for i in result.items] == [i.item_id for i in alone.items]
    assert batcher.answered == len(bodies) + 1
    assert batcher.batches < batcher.answered  # the queued requests were ranked together


def test_a_profile_encoded_alone_matches_the_batch_commands_vector(tiny_encoder_path) -> None:
    """The service encodes each profile unpacked in a batch of one (a packed call has 1,024
    tokens, whatever it holds): the vector is the one the batch commands' packed calls give."""
    from mtrec.features.encoder import TextEncoder

    texts = ["a comedy night", "war and love in the old city", "sci-fi star day", "drama"]
    batch = TextEncoder(tiny_encoder_path, 16, 128, "auto").encode(texts)
    single = TextEncoder(tiny_encoder_path, 16, 1, "auto", pack_tokens=0)
    alone = np.stack([single.encode([text])[0] for text in texts])
    np.testing.assert_allclose(alone, batch, atol=2e-3)
    assert (alone * batch).sum(1).min() > 0.9999
