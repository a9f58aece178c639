"""Training on a GPU: one epoch of the end-to-end run's model, CPU against CUDA.

For each size (``--sizes``) the seeded synthetic log (:mod:`bench.synthetic`) is read as the
end-to-end run reads it (``configs/scale.yaml``: the default model and tasks, 4 negatives per
positive, batch 4,096, negatives from a 1,024-item pool), indexed and split; then one epoch of
:func:`mtrec.training.trainer.train_multitask` runs on each device of ``--devices`` with
validation switched off, so the figure is the training loop alone. Random 384-wide vectors
stand in for MiniLM's text embeddings. Recorded per size and device: seconds, samples/s (a
sample is one (user, item) row, positives and negatives) and, on CUDA, the peak memory torch
allocated on the GPU. Results merge into ``--results`` under ``"gpu"``.

Run it where torch sees a GPU; the library needs only torch, numpy, pandas, pyarrow, pydantic
and PyYAML (no ZenML, Great Expectations or Evidently).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def epoch_on(device: str, n: int, cache: Path, seed: int) -> dict[str, Any]:
    from bench.synthetic import cached_synthetic, is_cached, write_synthetic
    from mtrec.config import load_config
    from mtrec.data.prepare import index_interactions
    from mtrec.data.sources import load_raw
    from mtrec.data.split import split_interactions
    from mtrec.training.trainer import train_multitask
    from mtrec.workflows.fit import build_model

    folder = cache / str(n)
    if not is_cached(folder, n, seed):
        write_synthetic(folder, n, seed)
    files = cached_synthetic(folder, n, seed)
    config = load_config(
        ROOT / "configs" / "scale.yaml",
        [
            f"data.interactions={files.interactions}",
            f"data.items={files.items}",
            f"data.users={files.users}",
        ],
    )
    raw = load_raw(config.data)
    data = index_interactions(raw.interactions, raw.items, raw.users)
    train = split_interactions(data.interactions, config.split).train
    rng = np.random.default_rng(seed)
    item_emb = rng.normal(size=(len(data.items), 384)).astype(np.float32)
    user_emb = rng.normal(size=(len(data.users), 384)).astype(np.float32)
    topics = rng.integers(0, config.interests.topics, size=len(data.items))
    training = config.training.model_copy(update={"epochs": 1, "patience": 1, "device": device})
    torch.manual_seed(seed)
    model = build_model(config.model, train, item_emb, user_emb, item_topics=topics)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    train_multitask(model, train, config.model.tasks, training, lambda _: {"ndcg@10": 0.0})
    seconds = time.perf_counter() - started
    samples = len(train) * (1 + training.negatives_per_positive)
    record: dict[str, Any] = {
        "seconds": round(seconds, 2),
        "samples_per_s": round(samples / seconds),
        "train_rows": len(train),
        "threads": torch.get_num_threads(),
    }
    if device == "cuda":
        record["gpu"] = torch.cuda.get_device_name(0)
        record["gpu_peak_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--devices", nargs="+", default=["cuda"], choices=("cpu", "cuda"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", type=Path, default=Path("data/cache/synthetic"))
    parser.add_argument("--results", type=Path, default=Path("bench/results.json"))
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))  # run as a script: bench.synthetic

    for n in args.sizes:
        for device in args.devices:
            print(f"{n:,} interactions on {device}", file=sys.stderr, flush=True)
            record = epoch_on(device, n, args.cache, args.seed)
            print(json.dumps(record), file=sys.stderr, flush=True)
            _merge(args.results, str(n), device, record)


def _merge(path: Path, size: str, device: str, record: dict[str, Any]) -> None:
    """Read-modify-write after every epoch, so a run cut short keeps what it measured."""
    results = json.loads(path.read_text()) if path.is_file() else {}
    gpu = results.get("gpu", {})
    sizes = gpu.get("sizes", {})
    sizes[size] = {**sizes.get(size, {}), device: record}
    results["gpu"] = {
        "method": (
            "one epoch of configs/scale.yaml's model (default model and tasks, pool 1,024) on "
            "the synthetic log's train split, validation off, random 384-wide text vectors; "
            "samples = train rows x (1 + negatives per positive)"
        ),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "sizes": dict(sorted(sizes.items(), key=lambda item: int(item[0]))),
    }
    path.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
