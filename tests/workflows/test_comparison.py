"""The architecture x weighting comparison's library side: variants, rows, table and page
(the pipeline and its resume by cache: tests/pipelines/test_comparison_pipeline.py)."""

import html
import json

import numpy as np
import pandas as pd
import pytest
from conftest import make_interactions

from mtrec.config import RunConfig, SplitConfig
from mtrec.data.prepare import index_interactions
from mtrec.data.split import Split, split_interactions
from mtrec.evaluation.baselines import (
    BPR_CHECK_EVERY,
    BPR_L2S,
    EASE_L2S,
    ITEMKNN_KS,
    ITEMKNN_SHRINKS,
    fit_baseline,
    tune_baseline,
)
from mtrec.evaluation.evaluate import rank_split
from mtrec.reports.comparison import render_comparison_html
from mtrec.workflows.comparison import (
    Prepared,
    baseline_row,
    comparison_table,
    default_variants,
    variant_configs,
    variant_row,
)

CONFIG = RunConfig.model_validate(
    {
        "model": {"embedding_dim": 8, "hidden_dims": [16], "tower_dims": [8]},
        "training": {"epochs": 2, "batch_size": 128, "patience": 2},
        "evaluation": {"ks": [10]},
    }
)


@pytest.fixture(scope="module")
def prepared() -> Prepared:
    interactions, items, users = make_interactions(n_users=20, n_items=30, per_user=10)
    data = index_interactions(interactions, items, users)
    split = split_interactions(data.interactions, SplitConfig(ratios=(0.8, 0.1, 0.1)))
    rng = np.random.default_rng(0)
    item_embeddings = rng.normal(size=(len(data.items), 8)).astype(np.float32)
    user_embeddings = rng.normal(size=(len(data.users), 8)).astype(np.float32)
    train, valid, test = split.train, split.valid, split.test
    return Prepared(train, valid, test, data.users, data.items, item_embeddings, user_embeddings)


def test_default_variants_cover_every_combination_and_single_tasks() -> None:
    variants = default_variants(CONFIG)
    assert len([n for n in variants if "+" in n and ", " not in n]) == 12
    other = "dot" if CONFIG.model.ranking_interaction == "neumf" else "neumf"
    default = f"{CONFIG.model.architecture}+{CONFIG.training.task_weighting}"
    head_model, _ = variant_configs(CONFIG, variants[f"{default}, {other} head"])
    assert head_model.ranking_interaction == other
    assert head_model.architecture == CONFIG.model.architecture
    no_text, _ = variant_configs(CONFIG, variants[f"{default}, no text"])
    assert no_text.use_text is False and no_text.tasks == CONFIG.model.tasks
    assert {"ple+gradnorm", "mmoe+dwa", "shared_bottom+uncertainty"} <= set(variants)
    watch_model, _ = variant_configs(CONFIG, variants["single-task watch"])
    assert list(watch_model.tasks) == ["watch"]
    rating_model, rating_training = variant_configs(CONFIG, variants["single-task rating"])
    assert {n: t.weight for n, t in rating_model.tasks.items()} == {"watch": 0.0, "rating": 1.0}
    assert rating_training.monitor == "rating_rmse"
    mmoe, training = variant_configs(CONFIG, variants["mmoe+dwa"])
    assert (mmoe.architecture, training.task_weighting) == ("mmoe", "dwa")
    assert mmoe.embedding_dim == 8  # the run's other settings are kept


def _baseline(name: str, data: Prepared, config: RunConfig = CONFIG) -> dict:
    split = Split(data.train, data.valid, data.test)
    evaluation = config.evaluation
    n_users, n_items, seed = len(data.users), len(data.items), config.training.seed
    return baseline_row(
        name, split, n_users, n_items, evaluation.ks, seed, evaluation.baseline_max_memory_mb
    )


def _variant(name: str, data: Prepared) -> dict:
    model, training = variant_configs(CONFIG, default_variants(CONFIG)[name])
    return variant_row(name, data, model, training, CONFIG.evaluation)


def test_variant_rows_score_the_effective_config_and_render(prepared: Prepared) -> None:
    rows = {name: _variant(name, prepared) for name in ("mmoe+dwa", "single-task rating")}
    rows["popularity"] = _baseline("popularity", prepared)
    multi = rows["mmoe+dwa"]
    assert multi["kind"] == "multi-task" and multi["tasks"] == ["like", "rating", "watch"]
    assert (multi["architecture"], multi["weighting"]) == ("mmoe", "dwa")
    assert multi["ranking_head"] == CONFIG.model.ranking_interaction
    assert 0.0 <= multi["ndcg@10"] <= 1.0 and 0.0 <= multi["recall@10"] <= 1.0
    assert multi["rating_rmse"] > 0 and 0.0 <= multi["watch_auc"] <= 1.0
    assert 1 <= multi["best_epoch"] <= 2 and multi["train_seconds"] > 0
    single = rows["single-task rating"]
    assert single["kind"] == "single-task" and single["tasks"] == ["rating"]
    assert single["weighting"] == "static" and single["rating_rmse"] > 0
    assert rows["popularity"]["kind"] == "baseline"
    assert "key" not in multi and "key" not in rows["popularity"]  # resume is ZenML's cache
    # Rows are artifacts and metrics.json: plain JSON values only.
    assert json.loads(json.dumps(rows)) == rows

    table = comparison_table(rows)
    assert list(table.index) == sorted(rows, key=lambda n: -rows[n]["ndcg@10"])
    assert "skipped" not in table  # only when a baseline was skipped
    assert np.isnan(table.loc["mmoe+dwa", "serving_ndcg@10"])
    assert 0.0 <= table.loc["popularity", "serving_ndcg@10"] <= 1.0
    page = render_comparison_html(table, "Model comparison", ["a note"])
    assert page.count("<tr>") == len(rows) + 1
    assert "single-task rating" in page and "a note" in page


def test_an_interest_variant_reads_the_item_topics(prepared: Prepared) -> None:
    tasks = {"watch": {"weight": 1.0}, "interest": {"weight": 0.2}}
    model, training = variant_configs(CONFIG, {"model": {"tasks": tasks}})
    topics = np.arange(len(prepared.items)) % 3
    row = variant_row("shared_bottom+static", prepared, model, training, CONFIG.evaluation, topics)
    assert row["tasks"] == ["interest", "watch"] and row["interest_kl"] > 0
    with pytest.raises(ValueError, match="item_topics"):
        variant_row("shared_bottom+static", prepared, model, training, CONFIG.evaluation)


def _test_ndcg(name: str, params: dict, fitted_on: pd.DataFrame, data: Prepared) -> float:
    """Test NDCG@10 of ``name`` with ``params`` fitted on ``fitted_on``, train + valid masked."""
    history = pd.concat([data.train, data.valid], ignore_index=True)
    n_users, n_items = len(data.users), len(data.items)
    scorer = fit_baseline(name, params, fitted_on, n_users, n_items, CONFIG.training.seed)
    return rank_split(scorer, n_items, data.test, history, (10,)).metrics["ndcg@10"]


def test_baseline_rows_are_tuned_on_valid_and_carry_a_serving_view(prepared: Prepared) -> None:
    rows = {name: _baseline(name, prepared) for name in ("itemknn", "ease", "bpr")}
    assert list(rows) == ["itemknn", "ease", "bpr"]
    knn, ease, bpr = rows["itemknn"], rows["ease"], rows["bpr"]
    assert knn["params"]["k"] in ITEMKNN_KS and knn["params"]["shrink"] in ITEMKNN_SHRINKS
    assert ease["params"]["l2"] in EASE_L2S
    assert bpr["params"]["l2"] in BPR_L2S and bpr["params"]["epochs"] % BPR_CHECK_EVERY == 0
    n_users, n_items = len(prepared.users), len(prepared.items)
    train, valid = prepared.train, prepared.valid
    train_valid = pd.concat([train, valid], ignore_index=True)
    for name in ("itemknn", "ease"):  # deterministic fits: the row's values can be recomputed
        row = rows[name]
        tuned = tune_baseline(name, train, valid, n_users, n_items, CONFIG.training.seed)
        assert row["params"] == tuned.params
        assert row["valid_ndcg"] == pytest.approx(max(v for _, v in tuned.grid))
        assert row["ndcg@10"] == pytest.approx(_test_ndcg(name, row["params"], train, prepared))
        serving = _test_ndcg(name, row["params"], train_valid, prepared)
        assert row["serving_ndcg@10"] == pytest.approx(serving)
    for row in rows.values():
        assert row["kind"] == "baseline" and row["train_seconds"] > 0
        assert 0.0 <= row["ndcg@10"] <= 1.0 and 0.0 <= row["serving_ndcg@10"] <= 1.0
        assert 0.0 <= row["serving_recall@10"] <= 1.0 and 0.0 <= row["valid_ndcg"] <= 1.0
    table = comparison_table(rows)
    assert table["serving_ndcg@10"].to_dict() == {n: r["serving_ndcg@10"] for n, r in rows.items()}


def test_a_skipped_ease_row_shows_its_reason_in_the_table_and_page(prepared: Prepared) -> None:
    tiny = RunConfig.model_validate(
        {**CONFIG.model_dump(), "evaluation": {"ks": [10], "baseline_max_memory_mb": 0.001}}
    )
    rows = {name: _baseline(name, prepared, tiny) for name in ("popularity", "ease")}
    reason = rows["ease"]["skipped"]
    assert reason.startswith("EASE needs ") and reason.endswith("baseline_max_memory_mb 0.001")
    assert rows["ease"] == {"kind": "baseline", "skipped": reason}
    assert _baseline("ease", prepared)["params"]["l2"] in EASE_L2S  # a larger budget: it runs

    table = comparison_table(rows)
    assert list(table.index) == ["popularity", "ease"]  # no metrics: last
    assert table.loc["ease", "skipped"] == reason and pd.isna(table.loc["popularity", "skipped"])
    assert table.loc["ease", ["ndcg@10", "serving_ndcg@10"]].isna().all()
    page = render_comparison_html(table, "Model comparison", [])
    assert f"skipped: {html.escape(reason)}</td>" in page
    assert "<th>skipped</th>" not in page and page.count("<tr>") == 3
