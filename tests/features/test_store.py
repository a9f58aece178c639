"""The content-addressed embedding store: incremental, invalidated by identity, self-healing."""

from __future__ import annotations

import numpy as np
import pytest

from mtrec.features.embed import embed_texts
from mtrec.features.encoder import TextEncoder
from mtrec.features.store import EmbeddingStore


class CountingEncoder:
    """A fake encoder: a deterministic vector per text, and a record of what it was asked."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return np.array([[len(t), sum(map(ord, t)) % 97, 1.0] for t in texts], dtype=np.float32)


def test_only_unseen_texts_are_encoded_and_survive_a_new_store(tmp_path):
    fake = CountingEncoder()
    catalogue = [f"movie {i}" for i in range(200)]
    vectors, stats = EmbeddingStore(tmp_path, "enc-a").encode(catalogue, fake)
    assert (stats.hits, stats.misses) == (0, 200) and len(fake.calls[0]) == 200

    grown = catalogue + [f"new movie {i}" for i in range(50)]
    again, stats = EmbeddingStore(tmp_path, "enc-a").encode(grown, fake)  # a later run
    assert (stats.hits, stats.misses) == (200, 50)
    assert fake.calls[1] == [f"new movie {i}" for i in range(50)]
    np.testing.assert_array_equal(again[:200], vectors)
    np.testing.assert_array_equal(again[200:], fake(grown[200:]))


def test_duplicate_texts_are_encoded_once_and_order_is_kept(tmp_path):
    fake = CountingEncoder()
    vectors, stats = EmbeddingStore(tmp_path, "k").encode(["b", "a", "b"], fake)
    assert fake.calls == [["b", "a"]]
    np.testing.assert_array_equal(vectors[0], vectors[2])
    assert stats.misses == 3 and stats.hits == 0


def test_another_encoder_identity_invalidates_everything(tmp_path):
    fake = CountingEncoder()
    EmbeddingStore(tmp_path, "identity-one").encode(["x", "y"], fake)
    _, stats = EmbeddingStore(tmp_path, "identity-two").encode(["x", "y"], fake)
    assert stats.misses == 2 and len(fake.calls) == 2


def test_corrupted_shard_is_detected_dropped_and_rebuilt(tmp_path):
    fake = CountingEncoder()
    store = EmbeddingStore(tmp_path, "enc")
    store.encode(["alpha", "beta"], fake)
    (shard,) = store.folder.glob("shard-*.npz")
    raw = bytearray(shard.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # flip one byte inside the arrays
    shard.write_bytes(bytes(raw))

    reopened = EmbeddingStore(tmp_path, "enc")
    assert reopened.corrupt_shards == 1 and len(reopened) == 0
    vectors, stats = reopened.encode(["alpha", "beta"], fake)
    assert stats.misses == 2 and stats.corrupt_shards == 1
    np.testing.assert_array_equal(vectors, fake(["alpha", "beta"]))


def test_interrupted_write_leaves_nothing_that_is_read_back(tmp_path):
    fake = CountingEncoder()
    store = EmbeddingStore(tmp_path, "enc")
    store.encode(["kept"], fake)
    (store.folder / ".partial-deadbeef.npz").write_bytes(b"half a shard")
    reopened = EmbeddingStore(tmp_path, "enc")
    assert len(reopened) == 1 and reopened.corrupt_shards == 0


def test_embed_texts_matches_direct_encoding_and_keys_on_settings(tmp_path, tiny_encoder_path):
    texts = ["star war", "old city love", "the night"]
    encoder = TextEncoder(tiny_encoder_path, max_length=16, precision="fp32")
    direct = encoder.encode(texts)
    stored, stats = embed_texts(encoder, texts, tmp_path)
    np.testing.assert_allclose(stored, direct, atol=1e-6)
    assert stats.misses == 3
    _, stats = embed_texts(encoder, texts, tmp_path)
    assert (stats.hits, stats.misses) == (3, 0)

    shorter = TextEncoder(tiny_encoder_path, max_length=8, precision="fp32")
    assert shorter.identity != encoder.identity
    _, stats = embed_texts(shorter, texts, tmp_path)
    assert stats.misses == 3
    unstored, stats = embed_texts(encoder, texts, None)
    np.testing.assert_allclose(unstored, direct, atol=1e-6)


@pytest.mark.parametrize("precision", ["bf16", "fp32"])
def test_precision_is_settled_before_keys_are_made(tiny_encoder_path, precision):
    encoder = TextEncoder(tiny_encoder_path, max_length=16, precision=precision)
    texts = ["star war", "the night"]
    settled = encoder.settle_precision(texts)
    assert settled in ("bf16", "fp32") and encoder.precision == settled
    exact = TextEncoder(tiny_encoder_path, max_length=16, precision="fp32").encode(texts)
    cosine = (encoder.encode(texts) * exact).sum(axis=1)
    assert cosine.min() >= 0.99  # bf16 kept only when it stays this close to fp32


def test_fifty_new_items_encode_exactly_fifty_texts(tmp_path, tiny_encoder_path):
    import pandas as pd

    from mtrec.features.text import item_texts

    def catalogue(n: int) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "item_id": [f"i{i}" for i in range(n)],
                "title": [f"star {i}" for i in range(n)],
                "year": ["1990"] * n,
                "genres": ["Drama|War"] * n,
            }
        )

    encoder = TextEncoder(tiny_encoder_path, max_length=16, precision="fp32")
    template = "{title} ({year}). Genres: {genres}."
    _, first = embed_texts(encoder, item_texts(catalogue(120), template).tolist(), tmp_path)
    _, second = embed_texts(encoder, item_texts(catalogue(170), template).tolist(), tmp_path)
    assert (first.hits, first.misses) == (0, 120)
    assert (second.hits, second.misses) == (120, 50)
    _, changed = embed_texts(encoder, item_texts(catalogue(170), "{title}").tolist(), tmp_path)
    assert changed.misses == 170  # a new template invalidates every text it changes
