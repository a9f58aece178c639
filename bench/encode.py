"""Encoder benchmark: the project's encoder against sentence-transformers on the same weights
and the same MovieLens-100k item and user texts.

Prints texts/s for both (median of ``--repeats`` runs), their ratio and the mean and minimum
cosine between the two outputs, and merges the figures into ``bench/results.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402

from mtrec.config import RunConfig  # noqa: E402
from mtrec.data.prepare import index_interactions  # noqa: E402
from mtrec.data.sources import load_raw  # noqa: E402
from mtrec.data.split import split_interactions  # noqa: E402
from mtrec.features.encoder import TextEncoder, default_model_path  # noqa: E402
from mtrec.features.text import item_texts, user_texts  # noqa: E402


def movielens_texts(config: RunConfig) -> list[str]:
    raw = load_raw(config.data)
    data = index_interactions(raw.interactions, raw.items, raw.users)
    train = split_interactions(data.interactions, config.split).train
    items = item_texts(data.items, config.text.item_template).tolist()
    users = user_texts(
        data.users, train, data.items, config.text.user_template, config.text.top_genres
    ).tolist()
    return items + users


def timed(encode, texts: list[str], repeats: int) -> tuple[float, np.ndarray]:
    """Median texts/s over ``repeats`` runs after one warm-up, and the last output."""
    output = encode(texts[:64])
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        output = encode(texts)
        rates.append(len(texts) / (time.perf_counter() - started))
    return statistics.median(rates), np.asarray(output, dtype=np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto")
    parser.add_argument("--results", type=Path, default=Path("bench/results.json"))
    args = parser.parse_args()

    from sentence_transformers import SentenceTransformer

    config = RunConfig()
    texts = movielens_texts(config)
    path = default_model_path()
    reference = SentenceTransformer(str(path), device="cpu", local_files_only=True)
    reference.max_seq_length = config.encoder.max_length

    def encode_reference(batch: list[str]) -> np.ndarray:
        return reference.encode(batch, normalize_embeddings=True, convert_to_numpy=True)

    ours = TextEncoder.from_config(config.encoder.model_copy(update={"precision": args.precision}))
    ours.settle_precision(texts)
    reference_rate, reference_out = timed(encode_reference, texts, args.repeats)
    our_rate, our_out = timed(ours.encode, texts, args.repeats)
    cosine = (reference_out * our_out).sum(axis=1)
    result = {
        "texts": len(texts),
        "sentence_transformers_texts_per_s": round(reference_rate, 1),
        "mtrec_texts_per_s": round(our_rate, 1),
        "mtrec_precision": ours.precision,
        "ratio": round(our_rate / reference_rate, 2),
        "mean_cosine": float(cosine.mean()),
        "min_cosine": float(cosine.min()),
    }
    print(f"{'encoder':<24}{'texts/s':>10}")
    print(f"{'sentence-transformers':<24}{reference_rate:>10.0f}")
    print(f"{'mtrec (' + ours.precision + ')':<24}{our_rate:>10.0f}")
    print(
        f"ratio {result['ratio']:.2f}, cosine mean {cosine.mean():.6f} min {cosine.min():.6f} "
        f"over {len(texts)} texts (median of {args.repeats} runs)"
    )
    results = json.loads(args.results.read_text()) if args.results.is_file() else {}
    results["encode"] = result
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
