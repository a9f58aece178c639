"""Run reports on disk: metrics.json, recommendations CSV, pages, the latest link, the table."""

import json
import math
import os
from pathlib import Path

import pandas as pd

from mtrec.evaluation.results import ColdItemSlice, EvaluationResult, ServingMetrics, Slices
from mtrec.reports.export import metrics_table, point_latest, write_run_reports

RANKING = {"ndcg@10": 0.25, "recall@10": 0.5, "hit@10": 0.75, "mrr@10": 0.125}


def _evaluation(**sections: object) -> EvaluationResult:
    return EvaluationResult(
        valid={"ndcg@10": 0.3},
        test={**RANKING, "watch_auc": 0.8, "like_auc": float("nan"), "rating_rmse": 1.0},
        baselines={"popularity": {"ndcg@10": 0.2, "recall@10": 0.6, "hit@10": 0.75, "mrr@10": 0.1}},
        **sections,
    )


def _metrics() -> dict:
    """A run's report: the evaluation and more (here a history with an infinity)."""
    return _evaluation().to_json() | {"history": {"losses": [1.0, float("inf"), 0.5]}}


def _recommendations() -> pd.DataFrame:
    return pd.DataFrame(
        {"user_id": ["u1", "u1", "007"], "item_id": ["a", "b", "c"], "rank": [1, 2, 1]}
    )


def test_write_run_reports(tmp_path: Path) -> None:
    run_dir = tmp_path / "reports" / "run-1"
    pages = {"evaluation.html": "<h1>eval</h1>", "drift.html": "<p>drift</p>"}
    assert write_run_reports(run_dir, _metrics(), _recommendations(), pages) == run_dir

    assert sorted(p.name for p in run_dir.iterdir()) == sorted(
        ["metrics.json", "recommendations_test.csv", "evaluation.html", "drift.html"]
    )  # no .partial leftovers
    text = (run_dir / "metrics.json").read_text(encoding="utf-8")
    assert "NaN" not in text and "Infinity" not in text
    loaded = json.loads(text)  # strict JSON
    assert loaded["test"]["like_auc"] is None
    assert loaded["test"]["watch_auc"] == 0.8
    assert loaded["history"]["losses"] == [1.0, None, 0.5]
    assert loaded["baselines"]["popularity"]["ndcg@10"] == 0.2

    recs = pd.read_csv(run_dir / "recommendations_test.csv", dtype={"user_id": str})
    pd.testing.assert_frame_equal(recs, _recommendations())
    assert (run_dir / "drift.html").read_text(encoding="utf-8") == "<p>drift</p>"


def test_point_latest_is_relative_and_replaced(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    first, second = reports / "run-1", reports / "run-2"
    for run in (first, second):
        write_run_reports(run, {"test": {}}, _recommendations(), {"index.html": run.name})

    latest = point_latest(reports, first)
    assert latest == reports / "latest"
    assert latest.is_symlink()
    assert os.readlink(latest) == "run-1"  # relative, so the folder can move
    assert (latest / "index.html").read_text(encoding="utf-8") == "run-1"

    point_latest(reports, second)
    assert os.readlink(latest) == "run-2"
    assert (latest / "index.html").read_text(encoding="utf-8") == "run-2"
    assert sorted(p.name for p in reports.iterdir()) == ["latest", "run-1", "run-2"]


def test_metrics_table() -> None:
    table = metrics_table(_evaluation(), (10,))
    lines = table.splitlines()
    assert lines[0].split() == ["metric", "model", "popularity", "delta"]
    rows = {line.split()[0]: line.split()[1:] for line in lines if "@" in line}
    assert rows["ndcg@10"] == ["0.2500", "0.2000", "+0.0500"]
    assert rows["recall@10"] == ["0.5000", "0.6000", "-0.1000"]
    assert rows["hit@10"] == ["0.7500", "0.7500", "+0.0000"]
    assert rows["mrr@10"] == ["0.1250", "0.1000", "+0.0250"]
    assert [line.split()[0] for line in lines if "@" in line] == [
        "ndcg@10",
        "recall@10",
        "hit@10",
        "mrr@10",
    ]
    tasks = {line.split()[0]: line.split()[1] for line in lines if "_" in line.split()[0]}
    assert tasks["watch_auc"] == "0.8000"
    assert math.isnan(float(tasks["like_auc"]))
    assert tasks["rating_rmse"] == "1.0000"


def test_metrics_table_shows_serving_skipped_baselines_and_the_cold_slice() -> None:
    cold = {"ndcg@10": 0.05, "recall@10": 0.1, "hit@10": 0.1, "mrr@10": 0.02}
    evaluation = _evaluation(
        baselines_skipped={"ease": "EASE needs 8 GB"},
        serving=ServingMetrics(
            test={"ndcg@10": 0.3, "recall@10": 0.55},
            baselines={"popularity": {"ndcg@10": 0.22, "recall@10": 0.6}},
            refit=True,
        ),
        slices=Slices(
            cold_items=ColdItemSlice(
                max_train_interactions=5,
                interactions=12,
                users=7,
                model=cold,
                popularity={**cold, "ndcg@10": 0.01},
            )
        ),
    )
    id_only = EvaluationResult(
        valid={},
        test={"ndcg@10": 0.2},
        slices=Slices(
            cold_items=ColdItemSlice(
                max_train_interactions=5, interactions=12, users=7, model={**cold, "ndcg@10": 0.03}
            )
        ),
    )
    lines = metrics_table(evaluation, (10,), id_only).splitlines()
    assert "ease        skipped: EASE needs 8 GB" in lines
    assert "serving view (model refit on train+valid; history train+valid), test:" in lines
    assert lines[lines.index("model           0.3000      0.5500") + 1].split() == [
        "popularity",
        "0.2200",
        "0.6000",
        "+0.0800",
    ]
    assert "cold items (<= 5 training interactions): 12 test interactions, 7 users" in lines
    assert "ndcg@10         0.0500      0.0100   +0.0400" in lines
    assert "ndcg@10         0.0300   (cold, id-only)" in lines
    assert "ndcg@10         0.2000   (all test, id-only)" in lines
