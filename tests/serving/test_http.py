"""The real service over HTTP (uvicorn in a thread, on a free port): answers, the planted
genre switch, bad requests, the token, concurrent clients and a model swap under load."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd
import pytest

from mtrec.config import InterestsConfig
from mtrec.registry.recommend import recommend, served_topics
from mtrec.serving.api import RecommendRequest, answer
from mtrec.serving.settings import ServeSettings
from mtrec.serving.slot import ModelSlot
from serving.server import BackgroundServer
from tests.serving.servingkit import (
    DEFAULT_RERANK,
    GENRE_ITEMS,
    Planted,
    SwitchableSource,
    fake_encode,
    perturbed,
    planted_model,
    request,
    served,
)

MAX_K = 50
TOKEN = "a-bearer-token-for-tests"


@contextmanager
def running(source: SwitchableSource, **settings: object) -> Iterator[str]:
    poll_seconds = float(settings.pop("poll_seconds", 0.1))  # type: ignore[arg-type]
    slot = ModelSlot(source, poll_seconds=poll_seconds)
    slot.load_initial()
    config = ServeSettings(port=0, max_k=MAX_K, **settings)  # type: ignore[arg-type]
    with BackgroundServer(slot, config) as server:
        yield server.url


@pytest.fixture(scope="module")
def planted() -> Planted:
    return planted_model()


@pytest.fixture(scope="module")
def url(planted: Planted) -> Iterator[str]:
    with running(SwitchableSource(served(planted))) as address:
        yield address


def _genre_share(items: list[dict]) -> float:
    return float(np.mean([int(item["item_id"][1:]) >= GENRE_ITEMS for item in items]))


def test_a_known_user_gets_the_batch_list_of_unseen_items(url: str, planted: Planted) -> None:
    status, body = request(url + "/recommend", "POST", {"user_id": "u3", "k": 10})
    assert status == 200, body
    assert body["user_id"] == "u3" and body["source"] == "model"
    assert body["model_version"] == "v1" and len(body["items"]) == 10
    assert {item["source"] for item in body["items"]} == {"model"}
    seen = set(planted.history.loc[planted.history["user_id"] == "u3", "item_id"])
    assert not seen & {item["item_id"] for item in body["items"]}
    topics = served_topics(planted.trained, planted.items, InterestsConfig(topics=2, seed=0))
    batch = recommend(
        planted.trained, planted.history, 10, ["u3"], rerank=DEFAULT_RERANK, topics=topics
    )
    assert [item["item_id"] for item in body["items"]] == batch["item_id"].tolist()
    assert [item["score"] for item in body["items"]] == pytest.approx(batch["score"].tolist())
    status, health = request(url + "/health")
    assert status == 200 and health["model_version"] == "v1" and health["uptime_s"] > 0
    assert health["status"] == "ok" and health["last_error"] is None


def test_recent_items_in_one_genre_move_the_top_10_without_retraining(
    url: str, planted: Planted
) -> None:
    """Users whose newest known item is genre 0 send eight genre-1 items as recent_items:
    genre 1's share of their top 10 rises, as it did in the batch command with --events."""
    rng = np.random.default_rng(1)
    shares: dict[str, list[float]] = {"before": [], "after": [], "calibrated": []}
    for user in planted.movers:
        recent = [f"i{GENRE_ITEMS + int(rng.integers(GENRE_ITEMS))}" for _ in range(8)]
        plain = {"method": "none"}
        _, before = request(url + "/recommend", "POST", {"user_id": user, "rerank": plain})
        _, after = request(
            url + "/recommend", "POST", {"user_id": user, "recent_items": recent, "rerank": plain}
        )
        _, calibrated = request(
            url + "/recommend", "POST", {"user_id": user, "recent_items": recent}
        )
        shares["before"].append(_genre_share(before["items"]))
        shares["after"].append(_genre_share(after["items"]))
        shares["calibrated"].append(_genre_share(calibrated["items"]))
        assert not set(recent) & {item["item_id"] for item in after["items"]}
        if user == planted.movers[0]:  # the online list is the batch list with these events
            events = pd.DataFrame(
                {"user_id": user, "item_id": recent, "timestamp": 10**6 + np.arange(8)}
            )
            batch = recommend(planted.trained, pd.concat([planted.history, events]), 10, [user])
            assert [item["item_id"] for item in after["items"]] == batch["item_id"].tolist()
    before, after = np.mean(shares["before"]), np.mean(shares["after"])
    calibrated = np.mean(shares["calibrated"])
    print(
        f"genre-1 share of the top 10 over {len(planted.movers)} users: {before:.2f} -> "
        f"{after:.2f} (calibrated re-ranking, the served default: {calibrated:.2f})"
    )
    assert len(planted.movers) >= 10
    assert before < 0.3 and after > before + 0.4, (before, after)
    assert calibrated > before + 0.2, (before, calibrated)


def test_unknown_users_get_their_profile_or_popular_unseen_items(
    url: str, planted: Planted
) -> None:
    text = "likes horror"
    status, body = request(
        url + "/recommend", "POST", {"user_id": "newbie", "profile": text, "k": 5}
    )
    assert status == 200 and body["source"] == "profile"
    topics = served_topics(planted.trained, planted.items, InterestsConfig(topics=2, seed=0))
    batch = recommend(
        planted.trained,
        planted.history,
        5,
        ["newbie"],
        profiles={"newbie": fake_encode(text)},
        rerank=DEFAULT_RERANK,
        topics=topics,
    )
    assert [item["item_id"] for item in body["items"]] == batch["item_id"].tolist()
    status, body = request(url + "/recommend", "POST", {"user_id": "stranger", "k": 5})
    counts = planted.history["item_id"].value_counts(sort=False)
    top = counts.sort_values(ascending=False, kind="stable")
    assert status == 200 and body["source"] == "popularity"
    assert [item["score"] for item in body["items"]] == top.iloc[:5].tolist()
    first = body["items"][0]["item_id"]
    _, again = request(
        url + "/recommend", "POST", {"user_id": "stranger", "k": 5, "recent_items": [first]}
    )
    assert first not in {item["item_id"] for item in again["items"]}
    _, kept = request(
        url + "/recommend",
        "POST",
        {"user_id": "stranger", "k": 5, "recent_items": [first], "exclude_seen": False},
    )
    assert kept["items"][0]["item_id"] == first


BAD_REQUESTS = [
    (b'{"user_id": "u1", "k": 10', 400, "malformed JSON"),
    (b"not json at all", 400, "malformed JSON"),
    (b'{"user_id": "u1", "colour": "red"}', 422, "unknown field 'colour'"),
    (b'{"user_id": "u1", "rerank": {"lambda": 0.3, "x": 1}}', 422, "unknown field 'rerank.x'"),
    (b'{"k": 10}', 422, "missing field 'user_id'"),
    (b'{"user_id": "u1", "k": 0}', 422, "k: Input should be greater than or equal to 1"),
    (b'{"user_id": "u1", "k": -3}', 422, "k: Input should be greater than or equal to 1"),
    (b'{"user_id": "u1", "k": 51}', 422, "k must be at most 50"),
    (b'{"user_id": "u1", "k": "ten"}', 422, "k: Input should be a valid integer"),
    (b'{"user_id": "u1", "recent_items": ["i1", "i404"]}', 422, "not in the model's catalogue"),
    (b'{"user_id": "u1", "recent_items": "i1"}', 422, "recent_items: Input should be a valid list"),
    (b'{"user_id": "u1", "rerank": {"lambda": 2}}', 422, "rerank.lambda: Input should be less"),
    (b'{"user_id": "u1", "rerank": {"method": "magic"}}', 422, "rerank.method: Input should be"),
    (b"[1, 2, 3]", 422, "Input should be a valid dictionary"),
    (b'{"user_id": ""}', 422, "user_id: String should have at least 1 character"),
]


@pytest.mark.parametrize(("body", "status", "message"), BAD_REQUESTS)
def test_bad_requests_get_a_clear_4xx(url: str, body: bytes, status: int, message: str) -> None:
    got, answer_ = request(url + "/recommend", "POST", body)
    assert got == status, answer_
    assert message in answer_["error"], answer_
    assert request(url + "/health")[0] == 200  # the server is still up


def test_oversized_bodies_and_wrong_routes_are_refused(url: str) -> None:
    huge = b'{"user_id": "u1", "profile": "' + b"x" * 1_200_000 + b'"}'
    status, body = request(url + "/recommend", "POST", huge)
    assert status == 413 and "over" in body["error"]
    assert request(url + "/nowhere")[0] == 404
    assert request(url + "/recommend", "GET")[0] == 405
    assert request(url + "/recommend", "POST", {"user_id": "u1"})[0] == 200


def test_with_a_token_every_request_needs_it(planted: Planted) -> None:
    with running(SwitchableSource(served(planted)), token=TOKEN) as address:
        for headers in (
            {},
            {"Authorization": "Bearer wrong-token-wrong-token"},
            {"Authorization": TOKEN},
        ):
            status, body = request(address + "/recommend", "POST", {"user_id": "u1"}, headers)
            assert status == 401 and "bearer token" in body["error"]
            assert request(address + "/health", headers=headers)[0] == 401
        good = {"Authorization": f"Bearer {TOKEN}"}
        assert request(address + "/recommend", "POST", {"user_id": "u1"}, good)[0] == 200
        assert request(address + "/health", headers=good)[0] == 200
        assert request(address + "/docs")[0] == 404  # no schema pages behind a token


def _requests(planted: Planted, n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    users = [*planted.movers, "u1", "u2", "newcomer"]
    return [
        {
            "user_id": str(rng.choice(users)),
            "k": int(rng.integers(1, 20)),
            "recent_items": [f"i{int(i)}" for i in rng.choice(100, size=int(rng.integers(0, 5)))],
        }
        for _ in range(n)
    ]


Results = list[list[tuple[float, dict, int, dict]]]


def _clients(
    url: str, bodies: list[list[dict]], stop: threading.Event | None = None
) -> tuple[Results, list[threading.Thread]]:
    """Each client thread sends its bodies in turn (again and again until ``stop``, when
    given); (start time, body, status, answer) per request, per client, and the threads
    (joined here unless ``stop`` is given)."""
    results: Results = [[] for _ in bodies]

    def client(n: int) -> None:
        while True:
            for body in bodies[n]:
                started = time.monotonic()
                status, answer_ = request(url + "/recommend", "POST", body)
                results[n].append((started, body, status, answer_))
            if stop is None or stop.is_set():
                return

    threads = [threading.Thread(target=client, args=(n,)) for n in range(len(bodies))]
    for thread in threads:
        thread.start()
    if stop is None:
        for thread in threads:
            thread.join(timeout=120)
    return results, threads


def _expected(served_model, body: dict) -> list[str]:  # type: ignore[no-untyped-def]
    result = answer(served_model, RecommendRequest.model_validate(body), MAX_K)
    return [item.item_id for item in result.items]


def test_concurrent_clients_each_get_their_own_answer(url: str, planted: Planted) -> None:
    bodies = [_requests(planted, 15, seed) for seed in range(8)]
    results, _ = _clients(url, bodies)
    reference = served(planted)
    assert sum(len(r) for r in results) == 8 * 15
    for per_client in results:
        for _, body, status, answer_ in per_client:
            assert status == 200, answer_
            assert [item["item_id"] for item in answer_["items"]] == _expected(reference, body)


def test_a_new_version_is_swapped_in_under_load_without_failing_a_request(
    planted: Planted,
) -> None:
    first = served(planted, "v1")
    second = served(planted, "v2", trained=perturbed(planted.trained, seed=3))
    source = SwitchableSource(first, second)
    bodies = [_requests(planted, 10, seed) for seed in range(6)]
    assert any(_expected(first, b) != _expected(second, b) for b in bodies[0])
    stop = threading.Event()
    with running(source, poll_seconds=0.05) as address:
        results, clients = _clients(address, bodies, stop)
        time.sleep(1.0)
        source.key = second.key  # the registry's production moves
        deadline = time.monotonic() + 10
        while request(address + "/health")[1]["model_version"] != "v2":
            assert time.monotonic() < deadline, "the new version was never served"
            time.sleep(0.02)
        swapped = time.monotonic()
        time.sleep(1.0)
        stop.set()
        for thread in clients:
            thread.join(timeout=60)
        health = request(address + "/health")[1]
    answers = [r for per_client in results for r in per_client]
    assert answers and all(status == 200 for _, _, status, _ in answers)
    versions = {a["model_version"] for _, _, _, a in answers}
    assert versions == {"v1", "v2"}
    for started, body, _, answer_ in answers:
        model = first if answer_["model_version"] == "v1" else second
        assert [item["item_id"] for item in answer_["items"]] == _expected(model, body)
        if started > swapped:
            assert answer_["model_version"] == "v2"
    assert health["swaps"] == 1 and health["model_version"] == "v2"
    print(f"{len(answers)} requests during the swap, none failed")


def test_an_internal_error_is_a_500_and_a_failed_check_keeps_the_model(planted: Planted) -> None:
    from dataclasses import replace

    from mtrec.registry.recommend import Recommender

    class Broken(Recommender):
        def rank(self, queries, k, rerank=None):  # type: ignore[no-untyped-def]
            if any(query.user_id == "u13" for query in queries):
                raise RuntimeError("a bug")
            return super().rank(queries, k, rerank)

    base = served(planted)
    broken = replace(
        base, recommender=Broken(planted.trained, planted.history, base.recommender.topics)
    )
    source = SwitchableSource(broken, served(planted, "v2"))
    with running(source, poll_seconds=0.05) as address:
        status, body = request(address + "/recommend", "POST", {"user_id": "u13"})
        assert status == 500 and body == {"error": "internal error"}
        assert request(address + "/recommend", "POST", {"user_id": "u12"})[0] == 200
        source.failing, source.key = True, "key-v2"  # the registry errs: v1 goes on serving
        deadline = time.monotonic() + 10
        while (health := request(address + "/health")[1])["last_error"] is None:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert "the store is down" in health["last_error"] and health["model_version"] == "v1"
        assert (
            request(address + "/recommend", "POST", {"user_id": "u12"})[1]["model_version"] == "v1"
        )
        source.failing = False
        while request(address + "/health")[1]["model_version"] != "v2":
            assert time.monotonic() < deadline + 10
            time.sleep(0.02)
        assert request(address + "/health")[1]["last_error"] is None
