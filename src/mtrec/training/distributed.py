"""Distributed data-parallel training with ``torchrun`` (gloo on CPU, NCCL on GPUs).

:func:`fit_distributed` writes the training inputs to a private folder, starts
``python -m torch.distributed.run --standalone --nproc_per_node=N -m
mtrec.training.worker <folder>`` and reads back what rank 0 wrote: the best weights
(safetensors) and the history (JSON). Each worker initialises the process group and calls the
ordinary :func:`mtrec.training.fit.fit_recommender`, whose trainer shards the epoch by rank
(see :func:`mtrec.training.trainer.train_multitask`). Nothing is unpickled: frames travel as
Parquet, arrays as ``.npy`` without pickle, configs as JSON.

With ``training.device: cuda`` (or ``auto`` on a GPU machine) each rank trains on its local
GPU (``LOCAL_RANK``) and the group uses NCCL; otherwise gloo on CPU. On a multi-node machine
the same worker runs under your own ``torchrun`` line. Only the CPU path is tested here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from mtrec.config import ModelConfig, TrainingConfig
from mtrec.models.serialization import TrainedModel, load_trained_model
from mtrec.training.trainer import EpochLog, TrainingResult


def fit_distributed(
    train: pd.DataFrame,
    valid: pd.DataFrame | None,
    item_embeddings: np.ndarray,
    user_embeddings: np.ndarray,
    user_ids: pd.Series,
    item_ids: pd.Series,
    model_config: ModelConfig,
    training_config: TrainingConfig,
    edges: pd.DataFrame | None = None,
    timeout_s: float | None = None,
    item_topics: np.ndarray | None = None,
) -> tuple[TrainedModel, TrainingResult]:
    """Train with ``training_config.nproc`` processes; same return as ``fit_recommender``
    (``valid`` ``None``: a refit for ``training_config.epochs`` epochs)."""
    with tempfile.TemporaryDirectory(prefix="mtrec-ddp-") as tmp:
        folder = Path(tmp)
        train.to_parquet(folder / "train.parquet")
        if valid is not None:
            valid.to_parquet(folder / "valid.parquet")
        np.save(folder / "item_embeddings.npy", item_embeddings, allow_pickle=False)
        np.save(folder / "user_embeddings.npy", user_embeddings, allow_pickle=False)
        pd.DataFrame({"id": user_ids.astype(str)}).to_parquet(folder / "user_ids.parquet")
        pd.DataFrame({"id": item_ids.astype(str)}).to_parquet(folder / "item_ids.parquet")
        if edges is not None:
            edges.to_parquet(folder / "edges.parquet")
        if item_topics is not None:
            np.save(folder / "item_topics.npy", item_topics, allow_pickle=False)
        (folder / "config.json").write_text(json.dumps({
            "model": model_config.model_dump(mode="json"),
            "training": training_config.model_dump(mode="json") | {"nproc": 1},
        }))  # fmt: skip
        command = [
            sys.executable, "-m", "torch.distributed.run", "--standalone",
            f"--nproc_per_node={training_config.nproc}", "-m", "mtrec.training.worker",
            str(folder),
        ]  # fmt: skip
        env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
        done = subprocess.run(command, env=env, capture_output=True, text=True,
                              timeout=timeout_s, check=False)  # fmt: skip
        if done.returncode != 0 or not (folder / "history.json").is_file():
            tail = "\n".join((done.stdout + done.stderr).splitlines()[-20:])
            raise RuntimeError(f"distributed training failed (exit {done.returncode}):\n{tail}")
        meta = json.loads((folder / "history.json").read_text())
        trained = load_trained_model(folder / "model")
    result = TrainingResult(
        state_dict=trained.state_dict,
        history=tuple(EpochLog(**log) for log in meta["history"]),
        best_epoch=meta["best_epoch"],
        best_valid=meta["best_valid"],
        seconds=meta["seconds"],
    )
    return trained, result
