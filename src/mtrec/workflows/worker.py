"""One rank of distributed training, run by ``torchrun -m mtrec.workflows.worker <folder>``.

It reads what :func:`mtrec.workflows.distributed.fit_distributed` wrote to ``folder``, joins the
process group, calls :func:`mtrec.workflows.fit.fit_network` (whose trainer
shards the epoch by rank) and, on rank 0, writes the weights and the history back. A module of
its own so that the launcher, which ``fit`` calls, does not import ``fit`` back.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import distributed as dist

from mtrec.config import ModelConfig, TrainingConfig
from mtrec.files import write_atomic
from mtrec.models.serialization import load_trained_model, save_trained_model
from mtrec.training.trainer import training_device
from mtrec.workflows.fit import fit_network
from mtrec.workflows.inputs import ModelInputs


def worker(folder: Path) -> None:
    """One rank: join the group, train, and (rank 0) write the result."""
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    config = json.loads((folder / "config.json").read_text())
    # Rank 0's epoch lines go to stdout, which the launcher streams to its own log.
    progress = logging.getLogger("mtrec")
    progress.addHandler(logging.StreamHandler(sys.stdout))
    progress.setLevel(logging.INFO if int(os.environ.get("RANK", "0")) == 0 else logging.WARNING)
    model_config = ModelConfig.model_validate(config["model"])
    training_config = TrainingConfig.model_validate(config["training"])
    device = training_device(training_config.device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        edges_file, valid_file = folder / "edges.parquet", folder / "valid.parquet"
        topics_file, start_folder = folder / "item_topics.npy", folder / "start"
        # No valid file: a refit, every configured epoch and no early stopping.
        trained, result = fit_network(
            pd.read_parquet(folder / "train.parquet"),
            pd.read_parquet(valid_file) if valid_file.is_file() else None,
            ModelInputs(
                np.load(folder / "item_embeddings.npy", allow_pickle=False),
                np.load(folder / "user_embeddings.npy", allow_pickle=False),
                pd.read_parquet(folder / "user_ids.parquet")["id"],
                pd.read_parquet(folder / "item_ids.parquet")["id"],
                pd.read_parquet(edges_file) if edges_file.is_file() else None,
                np.load(topics_file, allow_pickle=False) if topics_file.is_file() else None,
            ),
            model_config,
            training_config,
            config.get("label", "train"),
            load_trained_model(start_folder) if start_folder.is_dir() else None,
        )
        if dist.get_rank() == 0:
            save_trained_model(trained, folder / "model")
            write_atomic(folder / "history.json", result.record().model_dump_json())
        dist.barrier()
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    worker(Path(sys.argv[1]))
