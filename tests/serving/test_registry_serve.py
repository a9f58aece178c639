"""``run.py serve`` against a ZenML store: the production version is served, a newly promoted
version replaces it while the process runs, and the command refuses what it must refuse."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from conftest import bare_spec

import run as cli
from mtrec.models.networks import build_network
from mtrec.models.serialization import TrainedModel
from tests.serving.servingkit import request

ROOT = Path(__file__).resolve().parents[2]
MODEL = "serve-registry-test"
N_USERS, N_ITEMS = 12, 30


def _trained(seed: int, text_dim: int) -> TrainedModel:
    torch.manual_seed(seed)
    spec = bare_spec(
        n_users=N_USERS,
        n_items=N_ITEMS,
        user_text_dim=text_dim,
        item_text_dim=6,
        embedding_dim=4,
        hidden_dims=(8,),
        tower_dims=(4,),
        history_length=4,
        ranking_interaction="dot",
    )
    network = build_network(spec, torch.randn(N_USERS, text_dim), torch.randn(N_ITEMS, 6))
    return TrainedModel(
        spec,
        dict(network.state_dict()),
        tuple(f"u{u}" for u in range(N_USERS)),
        tuple(f"i{i}" for i in range(N_ITEMS)),
    )


def _interactions() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = [
        (f"u{u}", f"i{i}", t)
        for u in range(N_USERS)
        for t, i in enumerate(rng.choice(N_ITEMS, size=5, replace=False))
    ]
    return pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])


def _register(version: str, trained: TrainedModel) -> None:
    """A model version holding what a training run leaves, promoted to production."""
    from zenml import save_artifact
    from zenml.client import Client
    from zenml.materializers.pandas_materializer import PandasMaterializer
    from zenml.model.utils import link_artifact_version_to_model_version

    from steps.materializers import TrainedModelMaterializer

    client = Client()
    try:
        client.get_model(MODEL)
    except KeyError:
        client.create_model(MODEL)
    model_version = client.create_model_version(model_name_or_id=MODEL, name=version)
    artifacts = [
        save_artifact(trained, "served_recommender", materializer=TrainedModelMaterializer),
        save_artifact(_interactions(), "interactions", materializer=PandasMaterializer),
    ]
    for artifact in artifacts:
        link_artifact_version_to_model_version(artifact, model_version)
    client.update_model_version(
        model_name_or_id=MODEL, version_name_or_id=version, stage="production", force=True
    )


def _config(folder: Path, encoder: Path, model_name: str = MODEL) -> Path:
    path = folder / "serve.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "registry": {"model_name": model_name},
                "encoder": {"model_path": str(encoder), "max_length": 16},
                "interests": {"topics": 3},
            }
        ),
        encoding="utf-8",
    )
    return path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for(url: str, process: subprocess.Popen, seconds: float = 180) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"run.py serve exited: {process.communicate()}")
        try:
            status, body = request(url + "/health")
            if status == 200:
                return body
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError("run.py serve did not answer")


def test_serve_follows_the_registrys_production_version(tmp_path, tiny_encoder_path) -> None:
    _register("first", _trained(seed=0, text_dim=32))  # the tiny encoder's width
    config = _config(tmp_path, tiny_encoder_path)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("MTREC_SERVE_TOKEN", None)
    process = subprocess.Popen(
        [
            sys.executable,
            "run.py",
            "serve",
            "--config",
            str(config),
            "--port",
            str(port),
            "--poll-seconds",
            "0.3",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        health = _wait_for(url, process)
        assert health["model_version"] == "first" and health["swaps"] == 0
        status, body = request(url + "/recommend", "POST", {"user_id": "u1", "k": 5})
        assert status == 200 and body["model_version"] == "first" and body["source"] == "model"
        known = set(_interactions().query("user_id == 'u1'")["item_id"])
        assert len(body["items"]) == 5 and not known & {i["item_id"] for i in body["items"]}
        # A profile is encoded with the config's encoder (the tiny BERT here).
        status, body = request(
            url + "/recommend", "POST", {"user_id": "new", "profile": "a comedy night", "k": 3}
        )
        assert status == 200 and body["source"] == "profile" and len(body["items"]) == 3
        # A new production version is picked up while the process runs.
        _register("second", _trained(seed=1, text_dim=32))
        deadline = time.monotonic() + 60
        while request(url + "/health")[1]["model_version"] != "second":
            assert time.monotonic() < deadline, "the new production version was not served"
            time.sleep(0.2)
        status, body = request(url + "/recommend", "POST", {"user_id": "u1", "k": 5})
        assert status == 200 and body["model_version"] == "second"
        assert request(url + "/health")[1]["swaps"] == 1
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    # uvicorn finishes the requests in flight, then ends the process by the signal it got.
    assert process.returncode in (0, -signal.SIGTERM), err
    assert "serving model version first (production)" in out


def test_serve_refuses_an_exposed_host_without_a_token_and_a_missing_model(
    tmp_path, tiny_encoder_path, monkeypatch, capsys
) -> None:
    monkeypatch.delenv("MTREC_SERVE_TOKEN", raising=False)
    config = _config(tmp_path, tiny_encoder_path, model_name="never-registered")
    assert cli.main(["serve", "--config", str(config), "--host", "0.0.0.0"]) == 2
    assert "set MTREC_SERVE_TOKEN" in capsys.readouterr().err
    monkeypatch.setenv("MTREC_SERVE_TOKEN", "short")
    assert cli.main(["serve", "--config", str(config), "--host", "0.0.0.0"]) == 2
    assert "at least 16 characters" in capsys.readouterr().err
    monkeypatch.delenv("MTREC_SERVE_TOKEN")
    assert cli.main(["serve", "--config", str(config), "--port", "0"]) == 2
    assert "has no 'production' version" in capsys.readouterr().err


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_loopback_hosts_need_no_token(host: str) -> None:
    from mtrec.serving.settings import ServeSettings

    assert ServeSettings(host=host).token is None
