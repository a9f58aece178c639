"""The evaluation report and the runs index: real values, escaping, links, small size."""

from __future__ import annotations

import json
import re

from mtrec.evaluation.results import (
    BaselineTuning,
    EvaluationResult,
    InterestMetrics,
    ServingMetrics,
    Slices,
    TopUser,
)
from mtrec.reports.evaluation import line_chart, render_evaluation_report
from mtrec.reports.index import render_index
from mtrec.training.history import EpochLog, TrainingHistory

METRICS = EvaluationResult.model_validate(
    {
        "valid": {"ndcg@10": 0.1},
        "test": {
            "ndcg@10": 0.12,
            "recall@10": 0.11,
            "hit@10": 0.46,
            "mrr@10": 0.22,
            "watch_auc": 0.84,
            "like_auc": 0.80,
            "rating_rmse": 0.97,
        },
        "baselines": {
            "popularity": {"ndcg@10": 0.08, "recall@10": 0.07, "hit@10": 0.37, "mrr@10": 0.15},
            "bpr": {"ndcg@10": 0.13, "recall@10": 0.11, "hit@10": 0.5, "mrr@10": 0.2},
        },
        "slices": {
            "cold_items": {
                "max_train_interactions": 5,
                "interactions": 40,
                "users": 9,
                "model": {"ndcg@10": 0.01, "recall@10": 0.02, "hit@10": 0.1, "mrr@10": 0.03},
                "popularity": {"ndcg@10": 0.0, "recall@10": 0.0, "hit@10": 0.0, "mrr@10": 0.0},
            }
        },
    }
)
HISTORY = TrainingHistory(
    best_epoch=2,
    best_valid={"ndcg@10": 0.07},
    seconds=12.0,
    epochs=(
        EpochLog(
            epoch=1,
            losses={"watch": 0.5, "like": 0.6, "total": 1.1},
            valid={"ndcg@10": 0.05},
            weights={"watch": 1.0, "like": 0.5},
            seconds=6.0,
        ),
        EpochLog(
            epoch=2,
            losses={"watch": 0.4, "like": 0.55, "total": 0.95},
            valid={"ndcg@10": 0.07},
            weights={"watch": 1.0, "like": 0.5},
            seconds=6.0,
        ),
    ),
)


def test_report_shows_model_against_each_baseline_with_signed_deltas():
    id_only = METRICS.model_copy(
        update={
            "test": {"ndcg@10": 0.10, "recall@10": 0.09},
            "slices": Slices.model_validate(
                {"cold_items": {"max_train_interactions": 5, "interactions": 40, "users": 9}}
            ),
        }
    )
    page = render_evaluation_report(
        METRICS,
        HISTORY,
        id_only,
        None,
        {"promote": True, "version": "v<1>", "reason": "first"},
        (10,),
    )
    assert "<b>0.1200</b>" in page
    assert "+0.0400" in page and "-0.0100" in page  # vs popularity and vs BPR on ndcg@10
    assert "class='pos'" in page and "class='neg'" in page
    assert "v&lt;1&gt;" in page and "promoted" in page
    assert "40 test interactions from 9 users" in page
    # The id-only ablation beside the model: with text 0.12, without 0.10.
    ablation = page.split("What the text features add")[1].split("</table>")[0]
    assert "<td>ndcg@10</td><td>0.1200</td><td>0.1000</td><td class='pos'>+0.0200" in ablation
    assert page.count("<svg") == 3 and "<script" not in page
    assert len(page.encode()) < 100_000


def test_line_chart_draws_one_polyline_per_series():
    svg = line_chart({"a": [1.0, 2.0, 3.0], "b": [3.0, 2.0, float("nan")]}, "t")
    assert svg.count("<polyline") == 2 and "epoch 3" in svg
    assert line_chart({"a": [float("nan")]}, "empty") == ""


def test_index_lists_runs_with_links_and_skips_latest(tmp_path):
    for name, ndcg in (("run-a", 0.1), ("run-b", 0.2)):
        folder = tmp_path / name
        folder.mkdir()
        metrics = {
            "test": {"ndcg@10": ndcg, "recall@10": 0.1},
            "baselines": {"popularity": {"ndcg@10": 0.05}},
            "promotion": {"promote": name == "run-a", "version": name},
            "drift": {"drift_detected": name == "run-b"},
            "run": {"name": name},
            "stage": "production" if name == "run-a" else "none",
        }
        (folder / "metrics.json").write_text(json.dumps(metrics))
        (folder / "evaluation.html").write_text("<html></html>")
    (tmp_path / "latest").symlink_to("run-b")
    # Not runs: the comparison (a metrics.json of its own kind) and the backtest are linked.
    for other in ("comparison", "backtest"):
        (tmp_path / other).mkdir()
        (tmp_path / other / "index.html").write_text("<html></html>")
    (tmp_path / "comparison" / "metrics.json").write_text(json.dumps({"comparison": {}}))
    page = render_index(tmp_path)
    rows = re.findall(r"<tr><td>\d{4}-\d{2}-\d{2} \d{2}:\d{2}</td><td>(run-\w)</td>", page)
    assert sorted(rows) == ["run-a", "run-b"] and "<td>comparison</td>" not in page
    assert "href='comparison/index.html'" in page and "href='backtest/index.html'" in page
    assert "href='run-a/evaluation.html'" in page and "0.2000" in page
    assert "<td>run-a</td><td>run-a</td><td>production</td><td>promoted</td>" in page
    assert "drift.html" not in page  # only pages that exist are linked


def test_data_drift_section_survives_prediction_drift_evidence():
    drift = {
        "drift_detected": True,
        "n_drifted": 3,
        "n_columns": 12,
        "drifted_share": 0.25,
        "threshold": 0.2,
    }
    promotion = {
        "promote": False,
        "version": "4",
        "reason": "worse",
        "evidence": {
            "prediction_drift": {
                "users": 50,
                "top10_overlap": 0.4,
                "first_item_changed": 0.7,
                "top_score_ks": 0.1,
            }
        },
    }
    page = render_evaluation_report(METRICS, HISTORY, None, drift, promotion, (10,))
    assert "Prediction drift against production on 50 shared users" in page
    assert "3 of 12 columns drifted" in page
    assert "href='drift.html'" in page and "href='validation.html'" in page


def test_headline_compares_candidate_and_production_on_the_same_data_in_each_direction():
    same = {
        "split": "test",
        "users": 321,
        "pairs": 4000,
        "candidate": {"ndcg@10": 0.13, "rating_rmse": 0.95, "like_auc": 0.80},
        "production": {"ndcg@10": 0.12, "rating_rmse": 0.97, "like_auc": 0.81},
    }
    promotion = {
        "promote": True,
        "version": "7",
        "reason": "beats production",
        "evidence": {"same_data": same},
    }
    page = render_evaluation_report(METRICS, HISTORY, None, None, promotion, (10,))
    section = page.split("Candidate against production, on the same data")[1].split("<h2>")[0]
    assert "test split's 321 users" in section and "4000 interactions" in section
    assert "<td>ndcg@10</td><td><b>0.1300</b></td><td>0.1200</td><td class='pos'>+0.0100" in section
    # Lower RMSE is better: a negative delta is good, a lower AUC is bad.
    assert "<td class='pos'>-0.0200</td>" in section
    assert "<td class='neg'>-0.0100</td>" in section


def _tradeoff(method: str = "mmr", lam: float = 0.3) -> dict[str, object]:
    """A planted trade-off: mmr's lambda 0.1 is dominated by 0.3, the rest are on fronts."""
    from mtrec.evaluation.diversity import (
        RerankTradeoff,
        TradeoffPoint,
        best_within_budget,
        mark_pareto_front,
    )

    planted = [
        ("mmr", 0.0, 0.120, 0.50),
        ("mmr", 0.1, 0.110, 0.52),
        ("mmr", 0.3, 0.119, 0.61),
        ("calibrated", 0.0, 0.120, 0.50),
        ("calibrated", 0.3, 0.118, 0.55),
    ]
    points = mark_pareto_front(
        [
            TradeoffPoint(m, lam_, ndcg, 0.1, div, 0.2, 0.6, 9.0, 3.0, 0.8 - lam_)
            for m, lam_, ndcg, div in planted
        ]
    )
    choices = tuple(best_within_budget(points, m) for m in ("mmr", "calibrated"))
    return RerankTradeoff(method, lam, 100, 10, tuple(points), choices).to_dict()


def test_rerank_section_draws_the_tradeoff_with_front_and_configured_point():
    metrics = METRICS.model_copy(update={"rerank": _tradeoff()})
    page = render_evaluation_report(metrics, HISTORY, None, None, None, (10,))
    assert page.count("<svg") == 4 and "<script" not in page
    section = page.split("Diversity and calibration re-ranking")[1].split("<h2>")[0]
    assert "the served lists use <b>mmr, λ = 0.3</b>" in section
    assert section.count("<polyline") == 2  # one line per method
    # Five points, four on their method's front (filled), lambda 0.1 of mmr hollow.
    assert section.count("<circle") == 6  # and the ring around the configured point
    assert section.count("fill='white'") == 1 and "mmr λ=0.1: NDCG@10 0.1100" in section
    assert section.count("class='configured'") == 1 and "configured: mmr λ=0.3" in section
    # Table: every row with its metrics; mmr's best lambda within 2% NDCG is 0.3 (-0.8%).
    assert section.count("<td>✓</td>") == 4
    assert "<tr><td>mmr</td><td>0.3</td><td>-0.8%</td><td>+22.0%</td>" in section
    assert "<tr><td><b>mmr</b> (served)</td><td>0.3</td><td>0.1190</td>" in section
    none = render_evaluation_report(
        METRICS.model_copy(update={"rerank": _tradeoff("none", 0.0)}),
        HISTORY,
        None,
        None,
        None,
        (10,),
    )
    assert "use <b>none (top-K by score)</b>" in none and "configured: none" in none


def test_report_without_rerank_or_interests_has_neither_section():
    page = render_evaluation_report(METRICS, HISTORY, None, None, None, (10,))
    assert "re-ranking" not in page and "Interests" not in page and page.count("<svg") == 3


def test_interests_section_lists_topics_active_users_and_movers():
    import numpy as np
    import pandas as pd

    from mtrec.evaluation.interests import Topics

    topics = Topics(
        np.array([0, 0, 0, 1, 1]),
        np.eye(2, dtype=np.float32),
        ("Drama · love", "Horror <night>"),
        np.array([3, 2]),
    )
    profiles = pd.DataFrame(
        {
            "user_idx": [0, 1, 2],
            "n_interactions": [5, 9, 2],
            "n_recent": [2, 2, 2],
            "long_term_top": ["Drama · love (100%)", "Horror <night> (60%)", ""],
            "recent_top": ["Drama · love (100%)", "Drama · love (100%)", ""],
            "shift": [0.0, 0.71, float("nan")],
        }
    )
    page = render_evaluation_report(
        METRICS, HISTORY, None, None, None, (10,), interests=(topics, profiles)
    )
    section = page.split("<h2>Interests (2 item topics)</h2>")[1].split("<h2>")[0]
    assert "<tr><td>1</td><td class='txt'>Drama · love</td><td>3</td></tr>" in section
    assert "Horror &lt;night&gt;" in section and "<night>" not in section
    active, moved = section.split("Most active users")[1].split("Interests that moved most")
    assert active.index("<tr><td>1</td><td>9</td>") < active.index("<tr><td>0</td><td>5</td>")
    assert moved.index("<td>0.7100</td>") < moved.index("<td>0.0000</td>")
    assert "<tr><td>2</td>" not in moved  # no shift without history
    assert "Next-period interests" not in page  # no interest task, no forecast table
    forecast = InterestMetrics(
        kl={"whole_history": 1.35, "recent_history": 1.3371, "model": 1.2},
        smoothing={"whole_history": 0.3, "recent_history": 0.5, "model": 0.2},
        users=943,
        best_baseline="recent_history",
        reduction=0.1025,
        task="interest",
        refit=True,
        blend={"head": 0.4, "ranking": 0.6, "temperature": 0.3},
    )
    page = render_evaluation_report(
        METRICS.model_copy(update={"interest": forecast}),
        HISTORY,
        None,
        None,
        None,
        (10,),
        interests=(topics, profiles),
    )
    table = page.split("Next-period interests (test)")[1]
    assert "over 943 users" in table and "<b>-10.2%</b>" in table
    assert "(same as the recent history)" in table
    assert "<td class='txt'>interest task (interest)</td><td>1.2000</td><td>0.2000</td>" in table
    assert "softmax(0.4000 &times; its head's logits +\n  0.6000 &times; log" in table
    assert "at temperature\n  0.3000 over" in table


def test_page_title_stays_the_report_title_when_slices_are_shown():
    slices = Slices.model_validate(
        {"user_activity_ndcg@10": [{"bucket": "1-20", "count": 40, "value": 0.09}]}
    )
    page = render_evaluation_report(
        METRICS.model_copy(update={"slices": slices}), HISTORY, None, None, None, (10,)
    )
    assert "<title>Evaluation report</title>" in page
    assert "<h2>NDCG@10 by user activity</h2>" in page
    assert "<tr><td>1-20</td><td>40</td><td>0.0900</td></tr>" in page
    assert "Share of test items found in the top 10" not in page  # no buckets, no section
    assert "Cold items" not in page


def test_serving_view_tuning_skipped_baselines_and_top_users_are_shown():
    metrics = METRICS.model_copy(
        update={
            "serving": ServingMetrics(
                test={"ndcg@10": 0.15, "recall@10": 0.14},
                baselines={"popularity": {"ndcg@10": 0.1, "recall@10": 0.12}},
                refit=False,
            ),
            "baseline_params": {
                "itemknn": BaselineTuning.model_validate(
                    {
                        "name": "itemknn",
                        "params": {"k": 50},
                        "valid_ndcg": 0.09,
                        "grid": [
                            {"params": {"k": 20}, "ndcg@10": 0.08},
                            {"params": {"k": 50}, "ndcg@10": 0.09},
                        ],
                        "seconds": 1.5,
                    }
                )
            },
            "baselines_skipped": {"ease": "EASE needs <8 GB>"},
            "top_users": {
                "influence": (
                    TopUser(user_id="u<7>", measured=3.5, predicted=2.25, interactions=12),
                )
            },
            "beyond_accuracy": {"coverage": 0.31},
        }
    )
    page = render_evaluation_report(metrics, HISTORY, None, None, None, (10,))
    serving = page.split("Serving view: test, with train + valid known")[1].split("<h2>")[0]
    assert "not refit (the evaluated model)" in serving
    assert "<td>ndcg@10</td><td><b>0.1500</b></td><td>0.1000</td><td class='pos'>+0.0500" in (
        serving
    )
    assert "<li>itemknn: k=50 (valid NDCG@10 0.0900, 2 candidates, 1.5000 s)</li>" in page
    assert "<p><b>ease skipped</b>: EASE needs &lt;8 GB&gt;</p>" in page
    assert "<h3>Most influential users (influence, training period)</h3>" in page
    assert "<tr><td>u&lt;7&gt;</td><td>3.5000</td><td>2.2500</td><td>12</td></tr>" in page
    assert "catalogue coverage (share of items recommended to anyone)</td><td>0.3100" in page
