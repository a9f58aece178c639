"""Training and full-ranking throughput of the default model.

- Training: the default architecture and tasks on MovieLens-100k's training split, a few epochs
  with validation switched off, so the figure is the training loop alone: samples/s, where a
  sample is one (user, item) row (positives and sampled negatives).
- Full ranking: a model of the default shape over a synthetic catalogue of ``--items`` items
  (text width 384, as MiniLM) scoring every item for ``--users`` users through
  :func:`mtrec.evaluation.metrics.evaluate_ranking` (batched matrix products and top-k on
  tensors, seen items masked), reported as users/s with the peak resident memory, for both
  ranking heads (``model.ranking_interaction``): ``dot`` ranks with one matrix product per
  batch of users, ``neumf`` runs its pair MLP over every (user, item) combination.
- Re-ranking: every re-ranker of :mod:`mtrec.evaluation.rerank` choosing 10 of 100 candidates
  for ``--rerank-users`` users (random scores, 384-wide item vectors, 20 topics), in seconds.

Each figure is the median of ``--repeats`` runs; results merge into ``bench/results.json``.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from mtrec.config import RunConfig
from mtrec.data.prepare import index_interactions
from mtrec.data.sources import load_raw
from mtrec.data.split import split_interactions
from mtrec.evaluation.metrics import evaluate_ranking
from mtrec.evaluation.rerank import RERANK_METHODS, rerank
from mtrec.training.trainer import train_multitask
from mtrec.workflows.fit import build_model


def training_throughput(config: RunConfig, epochs: int, repeats: int) -> dict[str, float]:
    raw = load_raw(config.data)
    data = index_interactions(raw.interactions, raw.items, raw.users)
    train = split_interactions(data.interactions, config.split).train
    rng = np.random.default_rng(0)
    item_emb = rng.normal(size=(len(data.items), 384)).astype(np.float32)
    user_emb = rng.normal(size=(len(data.users), 384)).astype(np.float32)
    training = config.training.model_copy(update={"epochs": epochs, "patience": epochs})
    rows = len(train) * (1 + training.negatives_per_positive) * epochs
    rates = []
    for _ in range(repeats):
        # Throughput only: random topics stand in for the mined ones of an interest task.
        topics = rng.integers(0, config.interests.topics, size=len(data.items))
        model = build_model(config.model, train, item_emb, user_emb, item_topics=topics)
        started = time.perf_counter()
        train_multitask(model, train, config.model.tasks, training, lambda _: {"ndcg@10": 0.0})
        rates.append(rows / (time.perf_counter() - started))
    return {
        "train_samples_per_s": statistics.median(rates),
        "train_rows_per_epoch": len(train) * (1 + training.negatives_per_positive),
        "architecture": config.model.architecture,  # type: ignore[dict-item]
    }


def ranking_throughput(
    config: RunConfig, n_users: int, n_items: int, repeats: int
) -> dict[str, float]:
    """Users/s and peak memory of full ranking with ``config.model``'s ranking head."""
    rng = np.random.default_rng(0)
    per_user = 20
    users = np.repeat(np.arange(n_users), per_user)
    items = rng.integers(0, n_items, size=len(users))
    train = pd.DataFrame({"user_idx": users, "item_idx": items, "rating": 4.0, "timestamp": 0})
    model = build_model(
        config.model,
        train,
        rng.normal(size=(n_items, 384)).astype(np.float32),
        rng.normal(size=(n_users, 384)).astype(np.float32),
        item_topics=rng.integers(0, config.interests.topics, size=n_items),
    )
    model.eval()
    truth_users = np.arange(n_users)
    truth_items = rng.integers(0, n_items, size=n_users)
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        with torch.inference_mode():
            evaluate_ranking(
                model.catalogue_scorer(), n_items, truth_users, truth_items, users, items, (10, 20)
            )
        rates.append(n_users / (time.perf_counter() - started))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "rank_users_per_s": statistics.median(rates),
        "rank_items": n_items,
        "rank_users": n_users,
        "peak_rss_mb": peak_mb,
    }


def rerank_seconds(
    users: int, repeats: int, candidates: int = 100, k: int = 10, items: int = 10_000
) -> dict[str, float]:
    """Median seconds to re-rank ``candidates`` items down to ``k`` for ``users`` users."""
    generator = torch.Generator().manual_seed(0)
    scores = torch.randn(users, candidates, generator=generator)
    picked = torch.stack(
        [torch.randperm(items, generator=generator)[:candidates] for _ in range(users)]
    )
    vectors = torch.randn(items, 384, generator=generator)
    topics = torch.nn.functional.one_hot(torch.randint(0, 20, (items,), generator=generator), 20)
    targets = torch.softmax(torch.randn(users, 20, generator=generator), dim=1)
    seconds = {}
    for method in RERANK_METHODS:
        runs = []
        for _ in range(repeats):
            started = time.perf_counter()
            rerank(scores, picked, vectors, k, method, 0.5, targets, topics.float())
            runs.append(time.perf_counter() - started)
        seconds[method] = statistics.median(runs)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--items", type=int, default=10000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rerank-users", type=int, default=10_000)
    parser.add_argument("--results", type=Path, default=Path("bench/results.json"))
    args = parser.parse_args()
    config = RunConfig()
    result = {
        **training_throughput(config, args.epochs, args.repeats),
        "ranking_interaction": config.model.ranking_interaction,
        "threads": torch.get_num_threads(),
    }
    print(
        f"training ({result['architecture']}): {result['train_samples_per_s']:,.0f} samples/s "
        f"({result['train_rows_per_epoch']:,} rows per epoch)"
    )
    # The lighter head first: ru_maxrss only grows, so its peak is not the other's.
    for head in ("dot", "neumf"):
        model = config.model.model_copy(update={"ranking_interaction": head})
        ranking = ranking_throughput(
            config.model_copy(update={"model": model}), args.users, args.items, args.repeats
        )
        result[f"rank_{head}"] = ranking
        if head == config.model.ranking_interaction:
            result |= ranking
        default = " (default)" if head == result["ranking_interaction"] else ""
        print(
            f"full ranking, {head} head{default}: "
            f"{ranking['rank_users_per_s']:,.0f} users/s over {args.items:,} items, "
            f"peak RSS {ranking['peak_rss_mb']:,.0f} MB"
        )
    result["rerank_seconds"] = rerank_seconds(args.rerank_users, args.repeats)
    print(
        f"re-ranking 100 candidates to 10 for {args.rerank_users:,} users (s): "
        + ", ".join(f"{m} {t:.2f}" for m, t in result["rerank_seconds"].items())
    )
    results = json.loads(args.results.read_text()) if args.results.is_file() else {}
    results["train_eval"] = result
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
