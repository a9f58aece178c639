"""Shared fixtures: an isolated ZenML store, tiny data built in code, a tiny random encoder."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]

# Isolate every test session from the user's ZenML store and from the network, before any
# zenml or transformers import.
_ZENML_HOME = (
    Path(os.environ.get("PYTEST_ZENML_HOME", "")) if os.environ.get("PYTEST_ZENML_HOME") else None
)
if _ZENML_HOME is None:
    import tempfile

    _ZENML_HOME = Path(tempfile.mkdtemp(prefix="mtrec-zenml-"))
os.environ["ZENML_CONFIG_PATH"] = str(_ZENML_HOME)
os.environ["ZENML_ANALYTICS_OPT_IN"] = "false"
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["GX_ANALYTICS_ENABLED"] = "False"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

GENRES = ("Action", "Comedy", "Drama", "Horror", "Sci-Fi")
WORDS = ("the", "a", "of", "and", "night", "day", "love", "war", "star", "city", "old", "year")


@pytest.fixture(scope="session")
def tiny_encoder_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 2-layer BERT (hidden 32, vocab ~99) with its tokenizer, saved to disk."""
    from transformers import BertConfig, BertModel, BertTokenizer

    folder = tmp_path_factory.mktemp("tiny-bert")
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    words = sorted({w for g in GENRES for w in g.lower().replace("-", " ").split()} | set(WORDS))
    digits = [str(d) for d in range(10)]
    vocab = specials + words + digits + list("()-.,")
    vocab += [f"tok{i}" for i in range(99 - len(vocab))]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizer(vocab_file=str(folder / "vocab.txt"))
    tokenizer.save_pretrained(str(folder))
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        max_position_embeddings=128,
    )
    import torch

    torch.manual_seed(0)
    BertModel(config).save_pretrained(str(folder))
    return folder


def make_interactions(
    n_users: int = 30, n_items: int = 40, per_user: int = 12, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Tiny generic-schema frames: popularity-skewed interactions, item titles and genres."""
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.8
    popularity /= popularity.sum()
    rows = []
    for u in range(n_users):
        chosen = rng.choice(n_items, size=per_user, replace=False, p=popularity)
        times = np.sort(rng.integers(880_000_000, 890_000_000, size=per_user))
        for item, ts in zip(chosen, times, strict=True):
            rows.append((f"u{u}", f"i{item}", float(rng.integers(1, 6)), int(ts)))
    interactions = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])
    items = pd.DataFrame(
        {
            "item_id": [f"i{i}" for i in range(n_items)],
            "title": [
                f"{WORDS[i % len(WORDS)]} {WORDS[(3 * i) % len(WORDS)]}" for i in range(n_items)
            ],
            "year": [str(1980 + i % 20) for i in range(n_items)],
            "genres": ["|".join(GENRES[j] for j in {i % 5, (i * 7) % 5}) for i in range(n_items)],
        }
    )
    users = pd.DataFrame(
        {
            "user_id": [f"u{u}" for u in range(n_users)],
            "age": [18 + u % 40 for u in range(n_users)],
            "gender": ["M" if u % 2 else "F" for u in range(n_users)],
            "occupation": [("student", "engineer", "artist")[u % 3] for u in range(n_users)],
        }
    )
    return interactions, items, users


@pytest.fixture
def tiny_frames() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    return make_interactions()


def bare_spec(**fields: object):
    """A hand-built ``ModelSpec`` on the plain network these unit tests were written for
    (shared bottom, no history, no dropout, the pair head, four experts) rather than the
    configured default; ``fields`` set the rest and may override any of these."""
    from mtrec.models.spec import ModelSpec

    plain = {
        "architecture": "shared_bottom",
        "history_length": 0,
        "dropout": 0.0,
        "ranking_interaction": "neumf",
        "n_experts": 4,
    }
    return ModelSpec(**{**plain, **fields})  # type: ignore[arg-type]
