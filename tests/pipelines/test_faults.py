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
