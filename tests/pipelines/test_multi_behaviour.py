"""The multi-behaviour example through the command line and ZenML: its sample files are the
generator's, it trains with per-behaviour metrics, and a log whose purchases lack their
earlier events stops at validation, naming the column."""

from __future__ import annotations

import json

import pandas as pd
from conftest import ROOT
from test_training_pipeline import _versions

import run as cli
from bench.synthetic_funnel import generate_funnel_log
from mtrec.config import load_config

EXAMPLE = ROOT / "configs" / "examples" / "multi_behaviour.yaml"
SAMPLES = ROOT / "configs" / "examples" / "multi_behaviour"


def _overrides(tmp_path, encoder, model_name: str) -> list[str]:
    overrides = {  # the test's own folders and encoder; the data and settings are the example's
        "data.root": tmp_path,
        "data.cache_dir": tmp_path / "cache",
        "encoder.store_dir": tmp_path / "embeddings",
        "encoder.model_path": encoder,
        "reports_dir": tmp_path / "reports",
        "registry.model_name": model_name,
    }
    return [arg for key, value in overrides.items() for arg in ("--set", f"{key}={value}")]


def test_the_sample_files_are_the_generator_s_and_the_config_declares_the_funnel() -> None:
    log = generate_funnel_log()
    interactions = pd.read_csv(SAMPLES / "interactions.csv", dtype={"user_id": str})
    pd.testing.assert_frame_equal(interactions, log.interactions)
    items = pd.read_csv(SAMPLES / "items.csv", dtype=str)
    pd.testing.assert_frame_equal(items, log.items)
    assert interactions["event"].value_counts().to_dict() == {
        "view": 1500,
        "click": 762,
        "purchase": 290,
    }
    config = load_config(EXAMPLE)
    assert config.data.funnel is not None and config.data.funnel.stages == (
        "view",
        "click",
        "purchase",
    )
    assert config.label_columns() == {"event": ("click", "purchase", "purchase_independent")}
    assert config.model.tasks["purchase"].after == "click"


def test_the_multi_behaviour_example_runs_with_per_behaviour_metrics(
    tmp_path, tiny_encoder_path, capsys
) -> None:
    sets = _overrides(tmp_path, tiny_encoder_path, "example-multi-behaviour-test")
    assert cli.main(["train", "--config", str(EXAMPLE), *sets]) == 0
    out = capsys.readouterr().out
    metrics = json.loads((tmp_path / "reports" / "latest" / "metrics.json").read_text())
    test = metrics["test"]
    for name in ("watch_auc", "click_auc", "purchase_auc", "purchase_independent_auc"):
        assert 0.0 < test[name] < 1.0, name
    for name in ("click_ndcg@10", "purchase_ndcg@10", "purchase_independent_ndcg@10"):
        assert 0.0 <= test[name] <= 1.0, name
    assert "purchase_ndcg@10" in out  # the terminal summary lists them with the task metrics
    assert len(_versions("example-multi-behaviour-test")) == 1


def test_purchases_without_their_earlier_events_stop_the_run(
    tmp_path, tiny_encoder_path, capsys
) -> None:
    log = generate_funnel_log()
    bought = log.interactions[log.interactions["event"] == "purchase"].iloc[0]
    pair = (log.interactions["user_id"] == bought["user_id"]) & (
        log.interactions["item_id"] == bought["item_id"]
    )
    broken = log.interactions[~pair | (log.interactions["event"] == "purchase")]
    broken.to_csv(tmp_path / "interactions.csv", index=False)
    sets = _overrides(tmp_path, tiny_encoder_path, "bad-multi-behaviour")
    sets += ["--set", f"data.interactions={tmp_path / 'interactions.csv'}"]
    assert cli.main(["train", "--config", str(EXAMPLE), *sets]) == 1
    err = capsys.readouterr().err
    assert "expect_column_values_to_be_between on event: 1 of 2,550 rows" in err
    assert "with no earlier-stage row for the same user_id and item_id" in err
    assert f'"item_id": "{bought["item_id"]}"' in err
    assert _versions("bad-multi-behaviour") == []
