"""A content-addressed embedding store on disk, so a run encodes only texts it has not seen.

ZenML's step cache is all-or-nothing: one new item would re-encode the whole catalogue. Here
each embedding is keyed by ``sha256(encoder identity + text)``; the encoder identity covers the
weights' content hash, the pooling, the maximum length and the precision, so changing any of
them, or the text template, invalidates exactly the affected entries.

Layout: ``<root>/<encoder-key>/shard-<digest>.npz``, one shard per batch of newly encoded texts,
each with a SHA-256 checksum of its arrays. Shards are written under a temporary name and then
renamed, so an interrupted run never leaves a partial shard; a shard whose checksum does not
match is deleted (its texts are encoded again) instead of serving garbage.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mtrec.files import atomic_path, sha256_text

logger = logging.getLogger(__name__)


def text_key(encoder_key: str, text: str) -> str:
    return sha256_text(f"{encoder_key}\x00{text}")


def _checksum(keys: np.ndarray, vectors: np.ndarray) -> str:
    digest = hashlib.sha256()
    digest.update(keys.astype("U64").tobytes())
    digest.update(np.ascontiguousarray(vectors, dtype=np.float32).tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class StoreStats:
    hits: int
    misses: int
    corrupt_shards: int


class EmbeddingStore:
    """Embeddings of one encoder identity, persisted as checksummed shards under ``root``."""

    def __init__(self, root: Path, encoder_key: str):
        self.encoder_key = encoder_key
        self.folder = Path(root) / encoder_key[:32]
        self._vectors: dict[str, np.ndarray] = {}
        self.corrupt_shards = 0
        self._load()

    def __len__(self) -> int:
        return len(self._vectors)

    def _load(self) -> None:
        if not self.folder.is_dir():
            return
        for shard in sorted(self.folder.glob("shard-*.npz")):
            try:
                with np.load(shard, allow_pickle=False) as data:
                    keys, vectors = data["keys"], data["vectors"]
                    stored = str(data["checksum"])
                if stored != _checksum(keys, vectors):
                    raise ValueError("checksum mismatch")
            except Exception as error:  # noqa: BLE001 - any unreadable shard is rebuilt
                logger.warning("embedding store: dropping corrupt shard %s (%s)", shard, error)
                self.corrupt_shards += 1
                shard.unlink(missing_ok=True)
                continue
            for key, vector in zip(keys.tolist(), vectors, strict=True):
                self._vectors[key] = vector

    def _write_shard(self, keys: list[str], vectors: np.ndarray) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        key_array = np.array(keys, dtype="U64")
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        shard = self.folder / f"shard-{sha256_text(''.join(keys))[:16]}.npz"
        with atomic_path(shard) as partial, partial.open("wb") as handle:
            np.savez(
                handle,
                keys=key_array,
                vectors=vectors,
                checksum=np.array(_checksum(key_array, vectors)),
            )

    def encode(
        self, texts: Sequence[str], encode_missing: Callable[[list[str]], np.ndarray]
    ) -> tuple[np.ndarray, StoreStats]:
        """Embeddings for ``texts`` in order, calling ``encode_missing`` only for unseen texts
        (each distinct text once) and persisting what it returns."""
        keys = [text_key(self.encoder_key, text) for text in texts]
        missing: dict[str, str] = {}
        for key, text in zip(keys, texts, strict=True):
            if key not in self._vectors and key not in missing:
                missing[key] = text
        if missing:
            new_vectors = encode_missing(list(missing.values()))
            self._write_shard(list(missing), new_vectors)
            for key, vector in zip(missing, new_vectors, strict=True):
                self._vectors[key] = vector
        hits = sum(1 for key in keys if key not in missing)
        if not keys:
            return np.zeros((0, 0), dtype=np.float32), StoreStats(0, 0, self.corrupt_shards)
        stacked = np.stack([self._vectors[key] for key in keys]).astype(np.float32)
        return stacked, StoreStats(hits, len(keys) - hits, self.corrupt_shards)
