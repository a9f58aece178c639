"""What the serving tests share: a model trained on a planted genre switch (once per
session), served models built in code, a model source whose version a test can change, and a
tiny HTTP client. Not a conftest: ``from conftest import`` elsewhere must find the top one."""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
import torch

from mtrec.config import InterestsConfig, ModelConfig, RerankConfig, TaskConfig, TrainingConfig
from mtrec.models.serialization import TrainedModel
from mtrec.registry.recommend import Recommender, served_topics
from mtrec.serving.api import ServedModel
from mtrec.workflows.fit import fit_recommender
from mtrec.workflows.inputs import ModelInputs

N_USERS, GENRE_ITEMS = 60, 50
TEXT_DIM = 8


def genre_data(n_users: int = N_USERS, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Two genres of 50 items each (i0-i49, i50-i99); every user watches runs of 4 to 8 items
    of one genre, then switches: the next item's genre is the recent history's. The item text
    says the genre; the user text says nothing."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(n_users):
        genre, left = user % 2, int(rng.integers(4, 9))
        for step in range(16):
            if left == 0:
                genre, left = 1 - genre, int(rng.integers(4, 9))
            rows.append(
                (
                    f"u{user}",
                    f"i{genre * GENRE_ITEMS + int(rng.integers(GENRE_ITEMS))}",
                    1_000 * step + user,
                    user,
                )
            )
            left -= 1
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp", "user_idx"])
    frame = frame.drop_duplicates(["user_id", "item_id"]).reset_index(drop=True)
    frame["item_idx"] = frame["item_id"].str[1:].astype(int)
    frame["rating"] = 4.0
    text = np.zeros((2 * GENRE_ITEMS, TEXT_DIM), dtype=np.float32)
    text[:GENRE_ITEMS, 0] = text[GENRE_ITEMS:, 1] = 1.0
    text += rng.normal(0, 0.05, text.shape).astype(np.float32)
    return frame, text


@dataclass(frozen=True)
class Planted:
    """A model trained on the first 12 interactions of each user (``history``), which reads
    its 8 newest; ``movers``: users whose newest known item is genre 0."""

    trained: TrainedModel
    history: pd.DataFrame
    items: pd.DataFrame
    movers: tuple[str, ...]


def train_planted(seed: int = 0, epochs: int = 25) -> Planted:
    frame, item_text = genre_data()
    train = frame.groupby("user_idx").head(12)
    valid = frame.drop(train.index).groupby("user_idx").head(2)
    model = ModelConfig(
        architecture="shared_bottom",
        embedding_dim=16,
        hidden_dims=(32,),
        tower_dims=(8,),
        dropout=0.0,
        history_length=8,
        item_id_shrinkage=0.0,
        tasks={"watch": TaskConfig(kind="ranking")},
    )
    training = TrainingConfig(
        epochs=epochs,
        batch_size=256,
        learning_rate=0.01,
        patience=epochs,
        negatives_per_positive=4,
        seed=seed,
    )
    user_ids = pd.Series([f"u{u}" for u in range(N_USERS)])
    item_ids = pd.Series([f"i{i}" for i in range(2 * GENRE_ITEMS)])
    user_text = np.zeros((N_USERS, TEXT_DIM), dtype=np.float32)
    trained, _ = fit_recommender(
        train, valid, ModelInputs(item_text, user_text, user_ids, item_ids), model, training
    )
    last = train.sort_values("timestamp").groupby("user_id").tail(1)
    movers = tuple(last.loc[last["item_idx"] < GENRE_ITEMS, "user_id"])
    items = pd.DataFrame(
        {"item_id": item_ids, "genres": ["Comedy"] * GENRE_ITEMS + ["Horror"] * GENRE_ITEMS}
    )
    return Planted(
        trained, train[["user_id", "item_id", "timestamp"]].reset_index(drop=True), items, movers
    )


@cache
def planted_model() -> Planted:
    """:func:`train_planted` once per test session (a few seconds)."""
    return train_planted()


def fake_encode(text: str) -> np.ndarray:
    """A deterministic profile embedding of the planted model's width."""
    seed = sum(text.encode()) % 1000
    return np.random.default_rng(seed).normal(size=TEXT_DIM).astype(np.float32)


DEFAULT_RERANK = RerankConfig(method="calibrated", lam=0.4, candidates=30)


def served(
    planted: Planted,
    version: str = "v1",
    trained: TrainedModel | None = None,
    rerank: RerankConfig = DEFAULT_RERANK,
) -> ServedModel:
    trained = trained or planted.trained
    topics = served_topics(trained, planted.items, InterestsConfig(topics=2, seed=0))
    return ServedModel(
        version=version,
        key=f"key-{version}",
        recommender=Recommender(trained, planted.history, topics),
        rerank=rerank,
        encode=fake_encode,
    )


class SwitchableSource:
    """A model source over prepared versions; ``key`` says which is current, ``failing``
    makes loads raise."""

    def __init__(self, *models: ServedModel) -> None:
        self.models = {m.key: m for m in models}
        self.key: str | None = models[0].key
        self.failing = False
        self.loads = 0

    def current_key(self) -> str | None:
        return self.key

    def load(self, key: str) -> ServedModel:
        self.loads += 1
        if self.failing:
            raise RuntimeError("the store is down")
        return self.models[key]


def perturbed(trained: TrainedModel, seed: int) -> TrainedModel:
    """The same model with its ranking head's weights moved: another version's lists."""
    generator = torch.Generator().manual_seed(seed)
    state = {
        name: value + 0.5 * torch.randn(value.shape, generator=generator)
        if name.startswith("user_net") and value.is_floating_point()
        else value
        for name, value in trained.state_dict.items()
    }
    return TrainedModel(trained.spec, state, trained.user_ids, trained.item_ids)


def request(
    url: str,
    method: str = "GET",
    body: bytes | dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """``(status, decoded JSON body)`` of one HTTP request."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    sent = {"Content-Type": "application/json", **(headers or {})}
    try:
        connection.request(method, parts.path, body=data, headers=sent)
        response = connection.getresponse()
        raw = response.read()
    finally:
        connection.close()
    return response.status, json.loads(raw) if raw else None
