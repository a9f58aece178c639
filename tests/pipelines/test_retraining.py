"""Scheduled retraining through the command line, on a tiny dataset with a timeline: the
initial model, a monitored window, a retrained window gated head to head, idempotent reruns,
and the backtest's timeline page."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml
from conftest import make_interactions
from test_training_pipeline import _production, _versions, _write_config

import run as cli
from mtrec.config import load_config
from mtrec.retrain.windows import DAY, CycleRecord, Ledger, Window
from mtrec.workflows.retraining import REFUSED_BY_VALIDATION, ledger_path, retrain_cycle
from mtrec_cli.retraining import EXIT_REFUSED_BY_VALIDATION


def _retrain_config(tmp_path, encoder, name: str, **retrain) -> object:
    interactions, items, users = make_interactions(n_users=40, n_items=40, per_user=20)
    paths = {}
    for label, frame in {"interactions": interactions, "items": items, "users": users}.items():
        paths[label] = tmp_path / f"{label}.csv"
        frame.to_csv(paths[label], index=False)
    config = _write_config(tmp_path, encoder, name, **paths)
    raw = yaml.safe_load(config.read_text())
    raw["retrain"] = {
        "window_days": 14,
        "valid_days": 14,
        "initial_share": 0.6,
        "every_windows": 2,
        "on_drift": False,
        "ledger_dir": str(tmp_path / "retrain"),
        **retrain,
    }
    raw["evaluation"]["id_only_ablation"] = False
    raw["registry"]["bootstrap_samples"] = 200
    config.write_text(yaml.safe_dump(raw))
    return config


def _ledger(tmp_path, name: str) -> dict:
    return json.loads((tmp_path / "retrain" / f"{name}.json").read_text())


def _last_cycle_run():
    """The newest run of the retraining pipeline."""
    from zenml.client import Client

    runs = Client().list_pipeline_runs(
        pipeline="retraining_pipeline", sort_by="desc:created", size=1, hydrate=True
    )
    return runs.items[0]


def _linked_record(model_name: str, version: str) -> CycleRecord:
    """The newest ``cycle_record`` artifact linked to a model version."""
    from zenml.client import Client

    return Client().get_model_version(model_name, version).get_artifact("cycle_record").load()


def test_retraining_cycles_follow_the_schedule_and_never_repeat_a_window(
    tmp_path, tiny_encoder_path, capsys
):
    name = "timeline"
    # A margin no candidate can clear: every retrained window is refused by the gate.
    config = _retrain_config(tmp_path, tiny_encoder_path, name)
    raw = yaml.safe_load(config.read_text())
    assert cli.main(["retrain", "--config", str(config)]) == 0  # the initial model
    initial = _ledger(tmp_path, name)["cycles"][0]
    assert initial["kind"] == "initial" and initial["promoted"] is True
    assert _production(name) == initial["candidate_version"]
    assert initial["window_end"] % DAY == 0  # windows start at midnight UTC

    # Window 1: production is scored and drift measured; the schedule (every 2) says wait.
    assert cli.main(["retrain", "--config", str(config)]) == 0
    first = _ledger(tmp_path, name)["cycles"][1]
    assert first["window_start"] == initial["window_end"]
    assert first["window_end"] - first["window_start"] == 14 * DAY
    assert first["retrained"] is False and first["trigger"] == "none"
    assert first["production_version"] == initial["candidate_version"]
    assert 0.0 <= first["production_ndcg@10"] <= 1.0 and first["scored_users"] > 0
    assert 0.0 <= first["drift"]["drifted_share"] <= 1.0
    assert (tmp_path / "reports" / "retrain").is_dir()
    versions = _versions(name)
    assert len(versions) == 1
    # The cycle is one run: monitored, not trained; its record is on the version it scored.
    run = _last_cycle_run()
    assert str(run.status) == "completed" and "train_model" not in run.steps
    assert "score_production" in run.steps and "report_window_drift" in run.steps
    linked = _linked_record(name, initial["candidate_version"])
    assert linked.to_json() == first

    # Window 2: scheduled; the candidate is gated on the window against production.
    raw["registry"]["margin"] = 0.99  # no candidate clears this: a refusal must change nothing
    config.write_text(yaml.safe_dump(raw))
    assert cli.main(["retrain", "--config", str(config)]) == 0
    second = _ledger(tmp_path, name)["cycles"][2]
    assert second["retrained"] is True and second["trigger"] == "schedule"
    assert second["promoted"] is False and "not confidently better" in second["reason"]
    assert second["gate"]["users"] > 0
    typed = Ledger.load(tmp_path / "retrain" / f"{name}.json").cycles
    assert [c.to_json() for c in typed] == _ledger(tmp_path, name)["cycles"]
    assert typed[2].gate is not None and typed[2].gate.users == second["gate"]["users"]
    assert typed[1].production_metric == "ndcg@10" and typed[2].candidate_metric == "ndcg@10"
    assert _production(name) == initial["candidate_version"]
    assert len(_versions(name)) == 2
    # Trained in the cycle's own run, by the training pipeline's steps; the record is on the
    # candidate's version, next to the model it describes.
    run = _last_cycle_run()
    assert {"score_production", "train_model", "register_model"} <= set(run.steps)
    assert second["run"] == run.name
    linked = _linked_record(name, second["candidate_version"])
    assert linked.to_json() == second and linked.promoted is False

    # Redoing an ingested window does nothing: no training, no new version, no new record.
    cycles = len(_ledger(tmp_path, name)["cycles"])
    assert (
        cli.main(
            ["retrain", "--config", str(config), "--window-start", str(second["window_start"])]
        )
        == 0
    )
    assert "already ingested" in capsys.readouterr().out
    assert len(_ledger(tmp_path, name)["cycles"]) == cycles
    assert len(_versions(name)) == 2


def test_a_window_not_yet_complete_waits(tmp_path, tiny_encoder_path, capsys):
    name = "waiting"
    # The data ends before 890,000,000: a 20-day window from 889,000,000 is not complete.
    config = _retrain_config(
        tmp_path,
        tiny_encoder_path,
        name,
        window_days=20,
        initial_cutoff=889_000_000,
        every_windows=1,
    )
    assert cli.main(["retrain", "--config", str(config)]) == 0
    capsys.readouterr()
    assert cli.main(["retrain", "--config", str(config)]) == 0
    assert "waiting: the window ends" in capsys.readouterr().out
    assert len(_ledger(tmp_path, name)["cycles"]) == 1


def test_backtest_writes_a_timeline_from_a_clean_state(tmp_path, tiny_encoder_path, capsys):
    name = "backtest"
    config = _retrain_config(tmp_path, tiny_encoder_path, name, every_windows=1)
    output = tmp_path / "backtest"
    assert (
        cli.main(
            [
                "backtest",
                "--config",
                str(config),
                "--windows",
                "2",
                "--output",
                str(output),
                "--fresh",
            ]
        )
        == 0
    )
    timeline = json.loads((output / "timeline.json").read_text())
    assert [c.get("kind", "window") for c in timeline] == ["initial", "window", "window"]
    assert all(c["retrained"] for c in timeline)
    assert [c["window_start"] for c in timeline[1:]] == [
        timeline[0]["window_end"],
        timeline[1]["window_end"],
    ]
    page = (output / "index.html").read_text()
    assert page.count("<tr>") == 1 + 3  # header and three cycles
    assert "production ndcg@10" in page and "drift" in page
    for cycle in timeline[1:]:
        assert f"{cycle['production_ndcg@10']:.4f}" in page
    assert "backtest: 3 cycles" in capsys.readouterr().out
    # Its ledger is its own: the live retrain ledger was never written.
    assert not (tmp_path / "retrain" / f"{name}.json").exists()


def test_a_window_failing_validation_is_refused_by_name_and_keeps_the_watermark(tmp_path, capsys):
    """No training: the cycle stops at validation, names each failed expectation, leaves the
    ledger as it was, and `run.py retrain` exits 4 (not 1) after a run that completed."""
    config_path = _retrain_config(tmp_path, None, "refused")
    interactions = pd.read_csv(tmp_path / "interactions.csv")
    interactions.loc[interactions["timestamp"] < 884_000_000, "rating"] = 9.0
    interactions.to_csv(tmp_path / "interactions.csv", index=False)
    config = load_config(config_path)
    ledger = Ledger.load(ledger_path(config))
    initial = CycleRecord.for_window(Window(884_000_000 - 14 * DAY, 884_000_000), "done")
    ledger.record(initial.replace(kind="initial", candidate_version="1"), 884_000_000)

    class NoTraining:
        """A registry that fails the test if the cycle gets as far as scoring or training."""

        def production(self, _name):
            pytest.fail("a window that failed validation must not score production")

        def train(self, _config):
            pytest.fail("a window that failed validation must not be trained on")

    record = retrain_cycle(config, NoTraining())

    assert record.refused == REFUSED_BY_VALIDATION
    assert record.retrained is None and record.drift is None  # it stopped before scoring
    status = record.status
    assert status.startswith("refused: the data failed validation: ")
    assert "expect_column_values_to_be_between on rating: " in status
    assert "outside [1, 5], e.g. 9.0" in status
    after = Ledger.load(ledger_path(config))
    assert after.watermark == 884_000_000 and len(after.cycles) == 1

    assert EXIT_REFUSED_BY_VALIDATION == 4
    assert cli.main(["retrain", "--config", str(config_path)]) == 4
    assert "expect_column_values_to_be_between on rating" in capsys.readouterr().out
    assert Ledger.load(ledger_path(config)).watermark == 884_000_000
    # A refusal, not a crash: the run completed and ended at its record; no version was made.
    run = _last_cycle_run()
    assert str(run.status) == "completed"
    assert "score_production" not in run.steps and "train_model" not in run.steps
    refused = run.steps["record_cycle"].outputs["cycle_record"][0].load()
    assert refused.refused == REFUSED_BY_VALIDATION
    assert "outside [1, 5], e.g. 9.0" in refused.status
    assert refused.window_start == 884_000_000
    assert _versions("refused") == []
