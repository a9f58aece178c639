"""The comparison pipeline through the command line, on tiny data: its rows and page, a failed
step's report, and its resume by ZenML's cache (after a failure only the failed variant runs;
for the same inputs nothing; for one more variant only that one; for another text template
every variant again)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from test_training_pipeline import _tiny_dataset, _write_config

import run as cli
from mtrec.workflows import comparison

VARIANTS = ("shared_bottom+static", "mmoe+dwa")


def _compare(config: Path, output: Path, names: tuple[str, ...]) -> int:
    only = ",".join(names)
    return cli.main(["compare", "--config", str(config), "--output", str(output), "--only", only])


def _runs() -> int:
    from zenml.client import Client

    return Client().list_pipeline_runs(pipeline="comparison_pipeline", size=1).total


def _statuses() -> dict[str, str]:
    """Step id -> ``completed`` or ``cached``, for the newest comparison run."""
    from zenml.client import Client

    runs = Client().list_pipeline_runs(
        pipeline="comparison_pipeline", sort_by="desc:created", size=1, hydrate=True
    )
    return {name: step.status.value for name, step in runs.items[0].steps.items()}


def _rows(output: Path) -> dict[str, dict]:
    return json.loads((output / "metrics.json").read_text())["comparison"]


def test_comparison_rows_page_and_resume_by_cache(tmp_path, tiny_encoder_path, capsys, monkeypatch):
    config = _write_config(tmp_path, tiny_encoder_path, "compare", **_tiny_dataset(tmp_path))
    output = tmp_path / "comparison"
    runs = _runs()

    # Unknown names and a missing encoder stop before anything runs.
    assert _compare(config, output, ("shared_bottom+static", "nope")) == 2
    assert "unknown variants ['nope']" in capsys.readouterr().err
    raw = yaml.safe_load(config.read_text())
    missing = tmp_path / "missing.yaml"
    raw["encoder"]["model_path"] = str(tmp_path / "no-encoder")
    missing.write_text(yaml.safe_dump(raw))
    assert _compare(missing, output, VARIANTS) == 2
    assert "not a local transformers model folder" in capsys.readouterr().err
    assert _runs() == runs and not output.exists()

    # A run that fails in one variant's step reports that step's own message, and leaves the
    # finished steps in the cache: the rerun runs only the failed one.
    fit = comparison.fit_recommender

    def fails_for_mmoe(*args, **kwargs):
        if args[3].architecture == "mmoe":  # train, valid, inputs, then the model config
            raise RuntimeError("mmoe ran out of patience")
        return fit(*args, **kwargs)

    monkeypatch.setattr(comparison, "fit_recommender", fails_for_mmoe)
    assert _compare(config, output, (*VARIANTS, "popularity")) == 1
    err = capsys.readouterr().err
    assert "pipeline failed in step variant_mmoe_dwa:\nmmoe ran out of patience" in err
    assert _statuses()["variant_mmoe_dwa"] == "failed" and not output.exists()
    monkeypatch.undo()
    assert _compare(config, output, (*VARIANTS, "popularity")) == 0
    out = capsys.readouterr().out
    assert {n for n, s in _statuses().items() if s == "completed"} == {"variant_mmoe_dwa"}
    first = _rows(output)
    assert list(first) == ["popularity", *VARIANTS]
    for name in VARIANTS:
        row = first[name]
        assert row["kind"] == "multi-task"
        assert row["tasks"] == ["interest", "like", "rating", "watch"]
        assert 0.0 <= row["ndcg@10"] <= 1.0 and 0.0 <= row["recall@5"] <= 1.0
        assert row["rating_rmse"] > 0 and row["interest_kl"] > 0  # the mined topics reach it
        assert 1 <= row["best_epoch"] <= 2 and row["train_seconds"] > 0
        assert f"{name:<26} ndcg@10 {row['ndcg@10']:.4f}" in out
    assert (first["mmoe+dwa"]["architecture"], first["mmoe+dwa"]["weighting"]) == ("mmoe", "dwa")
    popularity = first["popularity"]
    assert popularity["kind"] == "baseline" and 0.0 <= popularity["serving_ndcg@10"] <= 1.0
    page = (output / "index.html").read_text()
    assert page.count("<tr>") == 4 and all(name in page for name in first)
    assert f"{popularity['ndcg@10']:.4f}" in page
    steps = {"baseline_popularity", "variant_shared_bottom_static", "variant_mmoe_dwa"}
    data_steps = {"load_data", "validate_data", "index_data", "split_data", "encode_texts"}
    assert steps | data_steps | {"build_texts", "mine_interests"} <= set(_statuses())

    # The same inputs again: every step from the cache, the same rows.
    assert _compare(config, output, (*VARIANTS, "popularity")) == 0
    assert "3 of 3 rows from ZenML's cache" in capsys.readouterr().out
    assert set(_statuses().values()) == {"cached"}
    assert _rows(output) == first

    # One more variant: only its step runs.
    assert _compare(config, output, (*VARIANTS, "single-task watch", "popularity")) == 0
    statuses = _statuses()
    assert {n for n, s in statuses.items() if s == "completed"} == {"variant_single_task_watch"}
    rows = _rows(output)
    assert rows["single-task watch"]["tasks"] == ["watch"]
    assert {name: rows[name] for name in first} == first

    # Another item template: new texts and embeddings, so every variant trains again (a stale
    # row is never reused); the baseline reads no text and stays cached.
    raw["encoder"]["model_path"] = str(tiny_encoder_path)
    raw["text"] = {"item_template": "{title}: {genres}"}
    config.write_text(yaml.safe_dump(raw))
    assert _compare(config, output, (*VARIANTS, "popularity")) == 0
    statuses = _statuses()
    rerun = {"build_texts", "encode_texts", "mine_interests", *steps - {"baseline_popularity"}}
    assert {n for n, s in statuses.items() if s == "completed"} == rerun
    again = _rows(output)
    assert again["popularity"] == popularity
    assert all(again[name]["train_seconds"] != first[name]["train_seconds"] for name in VARIANTS)
