"""An honest comparison: every architecture x task-weighting combination, the single-task
models and the baselines, trained and evaluated on one split with one evaluator.

Each variant is a config override of the run's model and training sections; its result row is
keyed by a hash of the effective config, so an interrupted comparison resumes where it stopped
and a finished one is not recomputed.

The baselines are scored as :func:`mtrec.evaluation.evaluate.evaluate_recommender` scores them:
parameters chosen on valid and fitted on train (the row's metrics, the RecBole view), and the
chosen parameters refit on train + valid (its ``serving_*`` metrics). Test is ranked with train
and valid masked in both.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mtrec import code_fingerprint
from mtrec.config import ModelConfig, RunConfig, TrainingConfig
from mtrec.data.prepare import index_edges, index_interactions
from mtrec.data.sources import load_raw
from mtrec.data.split import split_interactions
from mtrec.data.validation import (
    DataValidationError,
    repair_interactions,
    validate_interactions,
)
from mtrec.evaluation.baselines import (
    BASELINES,
    BaselineSkipped,
    fit_baseline,
    tune_and_fit_baseline,
)
from mtrec.evaluation.evaluate import evaluate_recommender, rank_split
from mtrec.evaluation.interests import fit_topics
from mtrec.features.embed import embed_texts
from mtrec.features.encoder import TextEncoder
from mtrec.features.text import extra_text_columns, item_texts, user_texts
from mtrec.training.fit import fit_recommender

ARCHITECTURES = ("shared_bottom", "mmoe", "ple")
WEIGHTINGS = ("static", "uncertainty", "dwa", "gradnorm")


@dataclass(frozen=True)
class Prepared:
    """One split with its text embeddings: everything a variant trains and is scored on."""

    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame
    users: pd.DataFrame
    items: pd.DataFrame
    item_embeddings: np.ndarray
    user_embeddings: np.ndarray
    edges: pd.DataFrame | None = None


def prepare(config: RunConfig) -> Prepared:
    """The training pipeline's data steps, in process: load, validate, index, split, encode."""
    raw = load_raw(config.data)
    funnel = config.data.funnel
    interactions, repairs = repair_interactions(raw.interactions, config.validation, funnel)
    result = validate_interactions(interactions, raw.items, config.validation, repairs=repairs,
                                   label_columns=config.label_columns(),
                                   funnel=funnel)  # fmt: skip
    if not result.success:
        raise DataValidationError(result)
    indexed = index_interactions(interactions, raw.items, raw.users, funnel)
    split = split_interactions(indexed.interactions, config.split)
    text = config.text
    extra = (
        extra_text_columns(indexed.items, text.item_template)
        if text.item_extra_columns == "auto"
        else list(text.item_extra_columns)
    )
    items_text = item_texts(indexed.items, text.item_template, extra)
    users_text = user_texts(
        indexed.users, split.train, indexed.items, text.user_template, text.top_genres
    )
    enc = config.encoder
    encoder = TextEncoder(enc.model_path, enc.max_length, enc.batch_size, enc.precision)
    item_emb, _ = embed_texts(encoder, list(items_text), enc.store_dir)
    user_emb, _ = embed_texts(encoder, list(users_text), enc.store_dir)
    edges = index_edges(raw.edges, indexed.users)
    return Prepared(split.train, split.valid, split.test, indexed.users, indexed.items,
                    item_emb, user_emb, edges)  # fmt: skip


def default_variants(config: RunConfig) -> dict[str, dict[str, Any]]:
    """Name -> ``{"model": {...}, "training": {...}}`` overrides of the run config.

    Every architecture with every weighting scheme (with the config's ranking head), the
    config's own combination with the other ranking head and without text (ids only), and the
    two single-task models: ``watch``
    alone (the ranking model) and ``rating`` alone (its RMSE; the ranking head is kept at
    weight 0 because every model needs one to rank, and early stopping reads the RMSE).
    """
    variants: dict[str, dict[str, Any]] = {}
    for architecture in ARCHITECTURES:
        for weighting in WEIGHTINGS:
            variants[f"{architecture}+{weighting}"] = {
                "model": {"architecture": architecture},
                "training": {"task_weighting": weighting},
            }
    # The default combination with the other ranking head: what the head costs or gains.
    other = "neumf" if config.model.ranking_interaction == "dot" else "dot"
    default = f"{config.model.architecture}+{config.training.task_weighting}"
    variants[f"{default}, {other} head"] = {"model": {"ranking_interaction": other}}
    if config.model.use_text:  # what the language model adds: the same model on ids alone
        variants[f"{default}, no text"] = {"model": {"use_text": False}}
    ranking = config.model.ranking_task
    variants[f"single-task {ranking}"] = {
        "model": {"tasks": {ranking: config.model.tasks[ranking].model_dump()}},
        "training": {"task_weighting": "static"},
    }
    if "rating" in config.model.tasks:
        variants["single-task rating"] = {
            "model": {"tasks": {ranking: {**config.model.tasks[ranking].model_dump(),
                                          "weight": 0.0},
                                "rating": {**config.model.tasks["rating"].model_dump(),
                                           "weight": 1.0}}},
            "training": {"task_weighting": "static", "monitor": "rating_rmse"},
        }  # fmt: skip
    return variants


def variant_configs(
    config: RunConfig, overrides: dict[str, Any]
) -> tuple[ModelConfig, TrainingConfig]:
    """The run's model and training sections with ``overrides`` applied and validated."""
    model = ModelConfig.model_validate({**config.model.model_dump(), **overrides.get("model", {})})
    training = TrainingConfig.model_validate(
        {**config.training.model_dump(), **overrides.get("training", {})}
    )
    return model, training


def _key(model: ModelConfig, training: TrainingConfig, data: Prepared, code: str) -> str:
    payload = json.dumps(
        [model.model_dump(mode="json"), training.model_dump(mode="json"),
         len(data.train), len(data.valid), len(data.test), code], sort_keys=True,
    )  # fmt: skip
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _baseline_key(name: str, data: Prepared, config: RunConfig, code: str) -> str:
    # The tuning grids live in the code, so ``code`` covers them; the memory budget decides
    # whether EASE runs at all, and the ks which metrics the row holds.
    evaluation = config.evaluation
    payload = json.dumps(
        [name, len(data.train), len(data.valid), len(data.test), config.training.seed,
         evaluation.ease_max_memory_mb, list(evaluation.ks), code]
    )  # fmt: skip
    return "baseline:" + hashlib.sha256(payload.encode()).hexdigest()[:16]


def baseline_row(name: str, config: RunConfig, data: Prepared, key: str) -> dict[str, Any]:
    """Baseline ``name`` tuned on valid and fitted on train, scored on test: its metrics,
    the chosen ``params`` and their ``valid_ndcg``, the tuning time as ``train_seconds``, and
    ``serving_<metric>`` for the chosen parameters refit on train + valid. A baseline over its
    budget (EASE) is a row with the ``skipped`` reason and no metrics."""
    history = pd.concat([data.train, data.valid], ignore_index=True)
    n_users, n_items = len(data.users), len(data.items)
    seed, budget = config.training.seed, config.evaluation.ease_max_memory_mb
    ks = config.evaluation.ks
    try:
        tuned, scorer = tune_and_fit_baseline(name, data.train, data.valid, n_users, n_items,
                                              seed, budget)  # fmt: skip
        serving = fit_baseline(name, tuned.params, history, n_users, n_items, seed, budget)
    except BaselineSkipped as skip:
        return {"kind": "baseline", "skipped": skip.reason, "key": key}
    metrics = rank_split(scorer, n_items, data.test, history, ks).metrics
    serving_metrics = rank_split(serving, n_items, data.test, history, ks).metrics
    return {
        "kind": "baseline",
        "params": dict(tuned.params),
        "valid_ndcg": tuned.valid_ndcg,
        "train_seconds": tuned.seconds,
        "key": key,
        **metrics,
        **{f"serving_{metric}": value for metric, value in serving_metrics.items()},
    }


def compare(
    config: RunConfig,
    data: Prepared,
    variants: dict[str, dict[str, Any]],
    done: dict[str, dict[str, Any]] | None = None,
    on_row: Callable[[str, dict[str, Any]], None] | None = None,
    baselines: Iterable[str] = BASELINES,
) -> dict[str, dict[str, Any]]:
    """Train and evaluate every variant (skipping those in ``done`` with the same key) and
    score the baselines. Returns ``{name: row}`` with ``ndcg@10``, ``recall@10``, per-task
    metrics, ``train_seconds``, ``best_epoch`` and the ``key``; baseline rows are
    :func:`baseline_row`'s."""
    done = dict(done or {})
    rows: dict[str, dict[str, Any]] = {}
    evaluation = config.evaluation
    code = code_fingerprint()  # a row trained by other code is stale
    for name in baselines:
        # Code and seed count here too: a baseline's fit changes with them (BPR-MF trains).
        key = _baseline_key(name, data, config, code)
        if done.get(name, {}).get("key") == key:
            rows[name] = done[name]
            continue
        rows[name] = baseline_row(name, config, data, key)
        if on_row:
            on_row(name, rows[name])
    for name, overrides in variants.items():
        model_config, training_config = variant_configs(config, overrides)
        key = _key(model_config, training_config, data, code)
        if done.get(name, {}).get("key") == key:
            rows[name] = done[name]
            continue
        topics = None
        if any(task.kind == "interest" for task in model_config.tasks.values()):
            topics = fit_topics(data.item_embeddings, data.items, config.interests.topics,
                                config.interests.seed).assignment  # fmt: skip
        trained, result = fit_recommender(
            data.train, data.valid, data.item_embeddings, data.user_embeddings,
            data.users["user_id"], data.items["item_id"], model_config, training_config,
            data.edges, topics, name,
        )  # fmt: skip
        metrics, _ = evaluate_recommender(
            trained.build(), data.train, data.valid, data.test, data.users, data.items,
            evaluation.ks, evaluation.recommendations_k, model_config.tasks,
            evaluation.cold_item_max_train, baselines=(), seed=config.training.seed,
            edges=data.edges,
        )  # fmt: skip
        rows[name] = {
            "kind": "single-task" if name.startswith("single-task") else "multi-task",
            "architecture": model_config.architecture,
            "weighting": training_config.task_weighting,
            "ranking_head": model_config.ranking_interaction,
            "tasks": sorted(t for t, c in model_config.tasks.items() if c.weight > 0),
            "train_seconds": result.seconds,
            "best_epoch": result.best_epoch,
            "key": key,
            **metrics["test"],
        }
        if on_row:
            on_row(name, rows[name])
    return rows


def comparison_table(rows: dict[str, dict[str, Any]], k: int = 10) -> pd.DataFrame:
    """One line per model, best NDCG@k first: the columns the closing note and report show.
    ``serving_ndcg@k`` is a baseline's, refit on train + valid; a ``skipped`` column (the
    reason, and no metrics) is added when a baseline was skipped."""
    columns = [f"ndcg@{k}", f"recall@{k}", f"serving_ndcg@{k}", "watch_auc", "like_auc",
               "rating_rmse", "train_seconds", "best_epoch"]  # fmt: skip
    frame = pd.DataFrame.from_dict(rows, orient="index")
    for column in columns:
        if column not in frame:
            frame[column] = np.nan
    notes = ["skipped"] if "skipped" in frame and frame["skipped"].notna().any() else []
    return frame[["kind", *columns, *notes]].sort_values(f"ndcg@{k}", ascending=False)


def load_rows(path: Path) -> dict[str, dict[str, Any]]:
    if not path.is_file():
        return {}
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")).get("comparison", {}))
    except (json.JSONDecodeError, AttributeError):
        return {}  # a damaged file is recomputed, never trusted
