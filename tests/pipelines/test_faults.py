"""Faults and reruns: a run killed mid-training, and reproducibility of a full rerun."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import yaml
from conftest import ROOT
from test_training_pipeline import _production, _tiny_dataset, _versions, _write_config

import run as cli


def _metrics(folder) -> dict:
    return json.loads((folder / "reports" / "latest" / "metrics.json").read_text())


def test_same_data_config_and_seed_give_identical_metrics(tmp_path, tiny_encoder_path, capsys):
    config = _write_config(tmp_path, tiny_encoder_path, "repro", **_tiny_dataset(tmp_path))
    assert cli.main(["train", "--config", str(config), "--no-cache"]) == 0
    first = _metrics(tmp_path)
    assert cli.main(["train", "--config", str(config), "--no-cache"]) == 0
    second = _metrics(tmp_path)
    capsys.readouterr()
    for section in ("valid", "test"):
        assert first[section].keys() == second[section].keys()
        for name, value in first[section].items():
            assert abs(value - second[section][name]) <= 1e-6, (section, name)
    id_first, id_second = (
        first["ablations"]["id_only"]["test"],
        second["ablations"]["id_only"]["test"],
    )
    assert all(abs(id_first[k] - id_second[k]) <= 1e-6 for k in id_first)


def test_a_run_killed_during_training_changes_nothing_and_the_next_run_completes(
    tmp_path, tiny_encoder_path, capsys
):
    paths = _tiny_dataset(tmp_path)
    config = _write_config(tmp_path, tiny_encoder_path, "killed", **paths)
    slow = yaml.safe_load(config.read_text())
    slow["training"].update({"epochs": 100_000, "patience": 100_000})
    slow["evaluation"]["id_only_ablation"] = False
    config.write_text(yaml.safe_dump(slow))

    process = subprocess.Popen(
        [sys.executable, str(ROOT / "run.py"), "train", "--config", str(config)],
        cwd=ROOT, env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, bufsize=1,
    )  # fmt: skip
    seen = []
    deadline = time.monotonic() + 300
    assert process.stdout is not None
    for line in process.stdout:
        seen.append(line)
        if "train_model" in line and "started" in line:
            time.sleep(3)  # well inside the training loop
            break
        assert time.monotonic() < deadline, "".join(seen[-20:])
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    assert _production("killed") is None  # the killed run promoted nothing

    # The next run, with sane settings, completes; nothing half-written is read back.
    slow["training"].update({"epochs": 2, "patience": 2})
    config.write_text(yaml.safe_dump(slow))
    assert cli.main(["train", "--config", str(config)]) == 0
    capsys.readouterr()
    finished = _production("killed")
    assert finished is not None and finished in _versions("killed")
    assert _metrics(tmp_path)["promotion"]["promote"] is True


def _train_with_store(tmp_path, tiny_encoder_path, store_url: str) -> subprocess.CompletedProcess:
    config = _write_config(tmp_path, tiny_encoder_path, "storeless", **_tiny_dataset(tmp_path))
    env = {**os.environ, "ZENML_STORE_URL": store_url, "ZENML_CONFIG_PATH": str(tmp_path / "zc")}
    return subprocess.run(
        [sys.executable, str(ROOT / "run.py"), "train", "--config", str(config)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def test_a_damaged_zenml_store_is_one_clear_message(tmp_path, tiny_encoder_path):
    damaged = tmp_path / "zenml.db"
    damaged.write_bytes(b"this is not an SQLite database" * 200)
    result = _train_with_store(tmp_path, tiny_encoder_path, f"sqlite:///{damaged}")
    assert result.returncode == 3, result.stderr[-3000:]
    assert f"the ZenML store at sqlite:///{damaged} is unavailable" in result.stderr
    assert "file is not a database" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "reports").exists()


def test_a_zenml_store_locked_by_another_process_is_reported_as_busy(tmp_path, tiny_encoder_path):
    import sqlite3

    store = tmp_path / "busy.db"
    holder = sqlite3.connect(store, isolation_level=None)
    holder.execute("CREATE TABLE held (x)")
    holder.execute("BEGIN EXCLUSIVE")  # what a writer mid-transaction holds
    try:
        result = _train_with_store(tmp_path, tiny_encoder_path, f"sqlite:///{store}")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.returncode == 3, result.stderr[-3000:]
    assert "database is locked" in result.stderr
    assert "another process" in result.stderr and "retry" in result.stderr
    assert "Traceback" not in result.stderr
