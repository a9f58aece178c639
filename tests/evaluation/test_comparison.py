"""The architecture x weighting comparison: variants, rows, resume, table and page."""

import numpy as np
import pytest
from conftest import make_interactions

from mtrec.config import RunConfig, SplitConfig
from mtrec.data.prepare import index_interactions
from mtrec.data.split import split_interactions
from mtrec.evaluation import comparison
from mtrec.evaluation.comparison import (
    Prepared,
    compare,
    comparison_table,
    default_variants,
    variant_configs,
)
from mtrec.reports.comparison import render_comparison_html

CONFIG = RunConfig.model_validate({
    "model": {"embedding_dim": 8, "hidden_dims": [16], "tower_dims": [8]},
    "training": {"epochs": 2, "batch_size": 128, "patience": 2},
    "evaluation": {"ks": [10]},
})  # fmt: skip


@pytest.fixture(scope="module")
def prepared() -> Prepared:
    interactions, items, users = make_interactions(n_users=20, n_items=30, per_user=10)
    data = index_interactions(interactions, items, users)
    split = split_interactions(data.interactions, SplitConfig(ratios=(0.8, 0.1, 0.1)))
    rng = np.random.default_rng(0)
    return Prepared(
        split.train, split.valid, split.test, data.users, data.items,
        rng.normal(size=(len(data.items), 8)).astype(np.float32),
        rng.normal(size=(len(data.users), 8)).astype(np.float32),
    )  # fmt: skip


def test_default_variants_cover_every_combination_and_single_tasks() -> None:
    variants = default_variants(CONFIG)
    assert len([n for n in variants if "+" in n and not n.endswith(" head")]) == 12
    other = "dot" if CONFIG.model.ranking_interaction == "neumf" else "neumf"
    default = f"{CONFIG.model.architecture}+{CONFIG.training.task_weighting}"
    head_model, _ = variant_configs(CONFIG, variants[f"{default}, {other} head"])
    assert head_model.ranking_interaction == other
    assert head_model.architecture == CONFIG.model.architecture
    assert {"ple+gradnorm", "mmoe+dwa", "shared_bottom+uncertainty"} <= set(variants)
    watch_model, _ = variant_configs(CONFIG, variants["single-task watch"])
    assert list(watch_model.tasks) == ["watch"]
    rating_model, rating_training = variant_configs(CONFIG, variants["single-task rating"])
    assert {n: t.weight for n, t in rating_model.tasks.items()} == {"watch": 0.0, "rating": 1.0}
    assert rating_training.monitor == "rating_rmse"
    mmoe, training = variant_configs(CONFIG, variants["mmoe+dwa"])
    assert (mmoe.architecture, training.task_weighting) == ("mmoe", "dwa")
    assert mmoe.embedding_dim == 8  # the run's other settings are kept


def test_compare_rows_resume_and_render(prepared: Prepared, monkeypatch) -> None:
    variants = {k: v for k, v in default_variants(CONFIG).items()
                if k in ("shared_bottom+static", "single-task rating")}  # fmt: skip
    seen: list[str] = []
    rows = compare(CONFIG, prepared, variants, on_row=lambda n, r: seen.append(n),
                   baselines=("popularity",))  # fmt: skip
    assert seen == ["popularity", "shared_bottom+static", "single-task rating"]
    multi = rows["shared_bottom+static"]
    assert multi["kind"] == "multi-task" and multi["tasks"] == ["like", "rating", "watch"]
    assert 0.0 <= multi["ndcg@10"] <= 1.0 and multi["rating_rmse"] > 0
    assert 1 <= multi["best_epoch"] <= 2 and multi["train_seconds"] > 0
    assert rows["single-task rating"]["tasks"] == ["rating"]
    assert rows["popularity"]["kind"] == "baseline"

    # A second call with the rows already done trains nothing.
    again: list[str] = []
    same = compare(CONFIG, prepared, variants, rows, lambda n, r: again.append(n), ("popularity",))
    assert again == [] and same == rows

    # Rows fitted by other library code are stale: a code change refits them, baselines too.
    monkeypatch.setattr(comparison, "code_fingerprint", lambda: "other-code")
    retrained: list[str] = []
    compare(CONFIG, prepared, variants, rows, lambda n, r: retrained.append(n), ("popularity",))
    assert retrained == ["popularity", "shared_bottom+static", "single-task rating"]

    table = comparison_table(rows)
    assert list(table.index) == sorted(rows, key=lambda n: -rows[n]["ndcg@10"])
    page = render_comparison_html(table, "Model comparison", ["a note"])
    assert page.count("<tr>") == len(rows) + 1
    assert "single-task rating" in page and "a note" in page
