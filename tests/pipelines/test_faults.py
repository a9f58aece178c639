"""Fault injection through the command line: a run killed mid-training (and the stale run it
leaves), two first runs at once on a new store, a damaged or locked store, how a failed step
reads, data files in another delimiter or encoding; and reproducibility of a full rerun."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, make_interactions
from test_training_pipeline import _production, _tiny_dataset, _versions, _write_config

import run as cli
from mtrec.config import load_config
from mtrec.data.sources import check_readable, load_raw


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
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
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
    killed = _newest_run()
    assert (killed.status, killed.steps["train_model"].status) == ("running", "running")

    # The next run, with sane settings, marks the killed one failed (its process is gone),
    # then completes; nothing half-written is read back.
    slow["training"].update({"epochs": 2, "patience": 2})
    config.write_text(yaml.safe_dump(slow))
    assert cli.main(["train", "--config", str(config)]) == 0
    err = capsys.readouterr().err
    started = f"{killed.start_time:%Y-%m-%d %H:%M:%S} UTC"
    line = f"marked run {killed.name} (started {started}) failed: the process that ran it is gone"
    assert err.count(line) == 1, err[-3000:]
    stale = _run(killed.id)
    assert (stale.status, stale.steps["train_model"].status) == ("failed", "failed")
    assert stale.steps["load_data"].status in ("completed", "cached")  # left as they were
    finished = _production("killed")
    assert finished is not None and finished in _versions("killed")
    assert _metrics(tmp_path)["promotion"]["promote"] is True
    assert _newest_run().status == "completed"
    assert cli.main(["train", "--config", str(config)]) == 0  # nothing stale is left to mark
    assert "marked run" not in capsys.readouterr().err


def _run(run_id):
    from zenml.client import Client

    return Client().get_pipeline_run(run_id)


def _newest_run():
    from zenml.client import Client

    runs = Client().list_pipeline_runs(
        pipeline="training_pipeline", sort_by="desc:created", size=1, hydrate=True
    )
    return runs.items[0]


def _start(config, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "run.py"), "train", "--config", str(config)],
        cwd=ROOT,
        env=env or os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_two_first_runs_at_once_on_a_new_store_take_turns(tmp_path, tiny_encoder_path):
    config = _write_config(tmp_path, tiny_encoder_path, "together", **_tiny_dataset(tmp_path))
    env = {**os.environ, "ZENML_CONFIG_PATH": str(tmp_path / "new-store")}
    processes = [_start(config, env), _start(config, env)]
    outputs = [process.communicate(timeout=600)[0] for process in processes]
    assert [p.returncode for p in processes] == [0, 0], "\n".join(o[-3000:] for o in outputs)
    waited = [i for i, output in enumerate(outputs) if "holds the store" in output]
    assert len(waited) == 1, outputs
    first = processes[1 - waited[0]]
    pattern = (
        rf"another mtrec run \(pid {first.pid}, started \d\d:\d\d:\d\d, model "
        r"together\) holds the store; waiting for it to finish"
    )
    assert re.search(pattern, outputs[waited[0]]), outputs[waited[0]][-3000:]
    # The one that waited trained nothing again: the first run's steps served it.
    assert re.search(r"steps cached: (\d+)/\1 ", outputs[waited[0]]), outputs[waited[0]][-3000:]
    assert "steps cached: 0/" in outputs[1 - waited[0]]


def test_a_failed_step_reads_once_without_a_traceback(tmp_path):
    interactions, items, _ = make_interactions(n_users=30, n_items=40, per_user=12)
    interactions.loc[0, "rating"] = 9.0
    paths = _tiny_dataset(tmp_path, interactions=interactions, items=items)
    config = _write_config(tmp_path, None, "failed-step", **paths)
    expectation = "- expect_column_values_to_be_between on rating: 1 of 360 rows (0.3%) outside"
    process = _start(config)
    output = process.communicate(timeout=600)[0]
    assert process.returncode == 1, output[-3000:]
    assert output.count(expectation) == 1, output[-3000:]
    assert output.count("error: the training pipeline failed in step validate_data:\n") == 1
    assert output.count("validation report: ") == 1
    assert "Traceback" not in output and "(MTREC_TRACEBACK=1 shows the traceback)" in output

    process = _start(config, {**os.environ, "MTREC_TRACEBACK": "1"})
    output = process.communicate(timeout=600)[0]
    assert process.returncode == 1, output[-3000:]
    assert output.count("Traceback (most recent call last)") == 1
    assert 'steps/data/validate_data.py", line' in output
    assert _versions("failed-step") == []


def _tab_separated(folder) -> dict:
    interactions, items, _ = make_interactions(n_users=20, n_items=30, per_user=8)
    items.loc[5, "title"] = "love, war"
    interactions.to_csv(folder / "inter.csv", index=False, sep="\t")
    items.to_csv(folder / "items.csv", index=False, sep="\t")
    return {"interactions": folder / "inter.csv", "items": folder / "items.csv"}


def _latin1(folder) -> dict:
    interactions, items, _ = make_interactions(n_users=20, n_items=30, per_user=8)
    items.loc[12, "title"] = "Café night"
    interactions.to_csv(folder / "inter.csv", index=False)
    (folder / "items.csv").write_bytes(items.to_csv(index=False).encode("latin-1"))
    return {"interactions": folder / "inter.csv", "items": folder / "items.csv"}


@pytest.mark.parametrize(
    ("build", "message", "setting"),
    [
        (
            _tab_separated,
            r"data file \S+/inter.csv is not comma-separated: its header "
            r"'user_id\\titem_id\\trating\\ttimestamp' is one column on ',' but 4 on '\\t' "
            r'\(detected by csv.Sniffer\); set data.delimiter: "\\t"\n',
            {"delimiter": "\t"},
        ),
        (
            _latin1,
            r"data file \S+/items.csv is not valid UTF-8 text: byte 0xe9 at offset \d+ "
            r"\(line 14\); probably Latin-1 / Windows-1252 text, where it reads 'é'; "
            r"set data.encoding: latin-1\n",
            {"encoding": "latin-1"},
        ),
    ],
    ids=["tab_separated", "latin1"],
)
def test_a_file_in_another_format_is_refused_with_what_to_set(
    tmp_path, capsys, build, message, setting
):
    config = _write_config(tmp_path, None, "format", **build(tmp_path))
    runs_before = _run_count()
    assert cli.main(["train", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert re.search("^error: " + message, err, re.MULTILINE) and err.count("error") == 1, err
    assert _run_count() == runs_before and _versions("format") == []  # refused before the run
    raw = yaml.safe_load(config.read_text())
    raw["data"].update(setting)
    config.write_text(yaml.safe_dump(raw))
    check_readable(load_config(config).data)  # the setting it names is the fix
    assert len(load_raw(load_config(config).data).items) == 30


def _run_count() -> int:
    from zenml.client import Client

    return Client().list_pipeline_runs(pipeline="training_pipeline", size=1).total


def _train_with_store(tmp_path, tiny_encoder_path, store_url: str) -> subprocess.CompletedProcess:
    config = _write_config(tmp_path, tiny_encoder_path, "storeless", **_tiny_dataset(tmp_path))
    env = {**os.environ, "ZENML_STORE_URL": store_url, "ZENML_CONFIG_PATH": str(tmp_path / "zc")}
    return subprocess.run(
        [sys.executable, str(ROOT / "run.py"), "train", "--config", str(config)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


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


def test_the_command_line_uses_the_project_store_wherever_it_starts(tmp_path):
    """``python run.py`` without ``make`` (no ZENML_CONFIG_PATH) uses the project's store, not
    the user's global one; an explicit ZENML_CONFIG_PATH still wins."""
    root = Path(cli.__file__).resolve().parent
    probe = "import os, run; print(os.environ['ZENML_CONFIG_PATH'])"
    env = {k: v for k, v in os.environ.items() if k != "ZENML_CONFIG_PATH"}
    env["PYTHONPATH"] = str(root)
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == str(root / ".zenml")
    env["ZENML_CONFIG_PATH"] = str(tmp_path / "elsewhere")
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == str(tmp_path / "elsewhere")
