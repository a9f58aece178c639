"""Text embeddings through the on-disk store: only texts never seen before are encoded."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mtrec.features.encoder import TextEncoder
from mtrec.features.store import EmbeddingStore, StoreStats


def embed_texts(
    encoder: TextEncoder, texts: Sequence[str], store_dir: Path | None
) -> tuple[np.ndarray, StoreStats]:
    """Embeddings for ``texts``, in order. With a store, cached texts are read back and only
    the rest are encoded; without one, everything is encoded."""
    encoder.settle_precision(texts)  # the precision is part of the store key
    if store_dir is None:
        vectors = encoder.encode(texts)
        return vectors, StoreStats(hits=0, misses=len(texts), corrupt_shards=0)
    store = EmbeddingStore(store_dir, encoder.identity)
    vectors, stats = store.encode(texts, encoder.encode)
    if len(texts) == 0:
        vectors = np.zeros((0, encoder.dim), dtype=np.float32)
    return vectors, stats
