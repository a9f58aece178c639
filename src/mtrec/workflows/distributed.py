"""Distributed data-parallel training with ``torchrun`` (gloo on CPU, NCCL on GPUs).

:func:`fit_distributed` writes the training inputs to a private folder, starts
``python -m torch.distributed.run --standalone --nproc_per_node=N -m
mtrec.workflows.worker <folder>`` and reads back what rank 0 wrote: the best weights
(safetensors) and the history (JSON). Each worker initialises the process group and calls
:func:`mtrec.workflows.fit.fit_network`, whose trainer shards the epoch by rank
(see :func:`mtrec.training.trainer.train_multitask`). Nothing is unpickled: frames travel as
Parquet, arrays as ``.npy`` without pickle, configs as JSON.

With ``training.device: cuda`` (or ``auto`` on a GPU machine) each rank trains on its local
GPU (``LOCAL_RANK``) and the group uses NCCL; otherwise gloo on CPU. On a multi-node machine
the same worker runs under your own ``torchrun`` line. Only the CPU path is tested here.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import threading
from collections import deque
from pathlib import Path

import numpy as np
import pandas as pd

from mtrec.config import ModelConfig, TrainingConfig
from mtrec.models.serialization import TrainedModel, load_trained_model, save_trained_model
from mtrec.training.history import TrainingHistory
from mtrec.training.trainer import TrainingResult
from mtrec.workflows.inputs import ModelInputs

logger = logging.getLogger(__name__)


def fit_distributed(
    train: pd.DataFrame,
    valid: pd.DataFrame | None,
    inputs: ModelInputs,
    model_config: ModelConfig,
    training_config: TrainingConfig,
    timeout_s: float | None = None,
    label: str = "train",
    start: TrainedModel | None = None,
) -> tuple[TrainedModel, TrainingResult]:
    """Train with ``training_config.nproc`` processes; same return as ``fit_network``
    (``valid`` ``None``: a refit for ``training_config.epochs`` epochs; ``start``: the
    weights every rank starts from)."""
    with tempfile.TemporaryDirectory(prefix="mtrec-ddp-") as tmp:
        folder = Path(tmp)
        train.to_parquet(folder / "train.parquet")
        if valid is not None:
            valid.to_parquet(folder / "valid.parquet")
        np.save(folder / "item_embeddings.npy", inputs.item_embeddings, allow_pickle=False)
        np.save(folder / "user_embeddings.npy", inputs.user_embeddings, allow_pickle=False)
        pd.DataFrame({"id": inputs.user_ids.astype(str)}).to_parquet(folder / "user_ids.parquet")
        pd.DataFrame({"id": inputs.item_ids.astype(str)}).to_parquet(folder / "item_ids.parquet")
        if inputs.edges is not None:
            inputs.edges.to_parquet(folder / "edges.parquet")
        if inputs.item_topics is not None:
            np.save(folder / "item_topics.npy", inputs.item_topics, allow_pickle=False)
        if start is not None:
            save_trained_model(start, folder / "start")
        (folder / "config.json").write_text(
            json.dumps(
                {
                    "model": model_config.model_dump(mode="json"),
                    "training": training_config.model_dump(mode="json") | {"nproc": 1},
                    "label": f"{label}, {training_config.nproc} processes",
                }
            )
        )
        command = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc_per_node={training_config.nproc}",
            "-m",
            "mtrec.workflows.worker",
            str(folder),
        ]
        env = {
            **os.environ,
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
            "PYTHONUNBUFFERED": "1",
        }
        returncode, tail = _run_streaming(command, env, timeout_s)
        if returncode != 0 or not (folder / "history.json").is_file():
            raise RuntimeError(f"distributed training failed (exit {returncode}):\n{tail}")
        record = TrainingHistory.model_validate_json((folder / "history.json").read_text())
        trained = load_trained_model(folder / "model")
    result = TrainingResult(
        state_dict=trained.state_dict,
        history=record.epochs,
        best_epoch=record.best_epoch,
        best_valid=record.best_valid,
        seconds=record.seconds,
    )
    return trained, result


def _run_streaming(
    command: list[str], env: dict[str, str], timeout_s: float | None
) -> tuple[int, str]:
    """Run ``command``, logging each line of its output (stdout and stderr) as it comes, so a
    long training shows its epochs; the exit status and what explains a failure: the first
    traceback of the last 400 lines (torchrun's summary after it names no cause), or their
    last 20. A run past ``timeout_s`` is killed and raises
    :class:`subprocess.TimeoutExpired`."""
    tail: deque[str] = deque(maxlen=400)
    with subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    ) as process:
        stdout = process.stdout
        assert stdout is not None  # stdout=PIPE

        def forward() -> None:
            for line in stdout:
                tail.append(line.rstrip("\n"))
                logger.info("%s", tail[-1])

        reader = threading.Thread(target=forward, daemon=True)
        reader.start()
        try:
            returncode = process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
        finally:
            reader.join(timeout=10)
    return returncode, _first_traceback(list(tail))


def _first_traceback(lines: list[str]) -> str:
    """The first Python traceback in ``lines`` through its exception line (torchrun prefixes
    a worker's lines with ``[rankN]:``), or the last 20 lines when there is none."""
    start = next((i for i, line in enumerate(lines) if "Traceback (most recent" in line), None)
    if start is None:
        return "\n".join(lines[-20:])
    for end in range(start + 1, len(lines)):
        body = re.sub(r"^\[rank\d+\]: ?", "", lines[end])
        if body and not body.startswith((" ", "Traceback")):
            return "\n".join(lines[start : end + 1])
    return "\n".join(lines[start:])
