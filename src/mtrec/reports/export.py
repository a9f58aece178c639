"""Files a user finds after a run: ``reports/<run>/`` and the ``reports/latest`` link."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pandas as pd

from mtrec.evaluation.results import EvaluationResult, task_metric_names
from mtrec.files import write_atomic


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_run_reports(
    run_dir: Path,
    metrics: dict[str, Any],
    recommendations: pd.DataFrame,
    pages: dict[str, str],
    serving_recommendations: pd.DataFrame | None = None,
) -> Path:
    """Write ``metrics.json`` (``metrics``, the run's report: :meth:`EvaluationResult.to_json`
    and more; NaN and infinities as ``null``), ``recommendations_test.csv`` (the RecBole view's
    lists), ``recommendations_serving.csv`` (the serving view's, when given) and the HTML
    ``pages`` (file name to content) into ``run_dir``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(run_dir / "metrics.json", json.dumps(_json_safe(metrics), indent=2) + "\n")
    write_atomic(run_dir / "recommendations_test.csv", recommendations.to_csv(index=False))
    if serving_recommendations is not None:
        write_atomic(
            run_dir / "recommendations_serving.csv", serving_recommendations.to_csv(index=False)
        )
    for name, html in pages.items():
        write_atomic(run_dir / name, html)
    return run_dir


def write_index(reports_dir: Path) -> Path:
    """Regenerate ``reports_dir/index.html`` from every run folder."""
    from mtrec.reports.index import render_index

    path = reports_dir / "index.html"
    write_atomic(path, render_index(reports_dir))
    return path


def point_latest(reports_dir: Path, run_dir: Path) -> Path:
    """Make ``reports_dir/latest`` a relative symlink to ``run_dir``, replaced atomically."""
    latest = reports_dir / "latest"
    temporary = reports_dir / ".latest.tmp"
    if temporary.is_symlink() or temporary.exists():
        temporary.unlink()
    temporary.symlink_to(os.path.relpath(run_dir, reports_dir), target_is_directory=True)
    os.replace(temporary, latest)
    return latest


def metrics_table(
    evaluation: EvaluationResult, ks: tuple[int, ...], id_only: EvaluationResult | None = None
) -> str:
    """A plain-text table: model against the popularity baseline on test, the cold-item slice
    (with the id-only ablation when given), then task metrics."""
    test, baseline = evaluation.test, evaluation.baselines["popularity"]
    names = [f"{m}@{k}" for k in ks for m in ("ndcg", "recall", "hit", "mrr")]
    lines = [f"{'metric':<12}{'model':>10}{'popularity':>12}{'delta':>10}", "-" * 44]
    for name in names:
        delta = test[name] - baseline[name]
        lines.append(f"{name:<12}{test[name]:>10.4f}{baseline[name]:>12.4f}{delta:>+10.4f}")
    others = {n: m for n, m in evaluation.baselines.items() if n != "popularity"}
    if others:
        k = ks[0]
        lines.append("-" * 44)
        lines.append(f"{'baseline':<12}{f'ndcg@{k}':>10}{f'recall@{k}':>12}{'model Δndcg':>13}")
        for name, values in others.items():
            delta = test[f"ndcg@{k}"] - values[f"ndcg@{k}"]
            ndcg, recall = values[f"ndcg@{k}"], values[f"recall@{k}"]
            lines.append(f"{name:<12}{ndcg:>10.4f}{recall:>12.4f}{delta:>+13.4f}")
    for name, reason in evaluation.baselines_skipped.items():
        lines.append(f"{name:<12}skipped: {reason}")
    serving = evaluation.serving
    if serving is not None:
        k = ks[0]
        how = "refit on train+valid" if serving.refit else "not refit"
        lines.append("-" * 44)
        lines.append(f"serving view (model {how}; history train+valid), test:")
        lines.append(f"{'':<12}{f'ndcg@{k}':>10}{f'recall@{k}':>12}{'model Δndcg':>13}")
        model_ndcg = serving.test[f"ndcg@{k}"]
        lines.append(f"{'model':<12}{model_ndcg:>10.4f}{serving.test[f'recall@{k}']:>12.4f}")
        for name, values in serving.baselines.items():
            ndcg, recall = values[f"ndcg@{k}"], values[f"recall@{k}"]
            lines.append(f"{name:<12}{ndcg:>10.4f}{recall:>12.4f}{model_ndcg - ndcg:>+13.4f}")
    cold = evaluation.slices.cold_items
    if cold is not None and cold.model is not None and cold.popularity is not None:
        lines.append("-" * 44)
        lines.append(
            f"cold items (<= {cold.max_train_interactions} training interactions): "
            f"{cold.interactions} test interactions, {cold.users} users"
        )
        k = ks[0]
        for name in (f"ndcg@{k}", f"recall@{k}"):
            model, popularity = cold.model[name], cold.popularity[name]
            delta = model - popularity
            lines.append(f"{name:<12}{model:>10.4f}{popularity:>12.4f}{delta:>+10.4f}")
        id_cold = id_only.slices.cold_items if id_only is not None else None
        if id_only is not None and id_cold is not None and id_cold.model:
            lines.append("id-only model on the same slice and overall (text ablation):")
            for name in (f"ndcg@{k}", f"recall@{k}"):
                lines.append(f"{name:<12}{id_cold.model[name]:>10.4f}   (cold, id-only)")
            overall = id_only.test[f"ndcg@{k}"]
            lines.append(f"{f'ndcg@{k}':<12}{overall:>10.4f}   (all test, id-only)")
    lines.append("-" * 44)
    for name in task_metric_names(test):
        lines.append(f"{name:<16}{test[name]:>10.4f}")
    return "\n".join(lines)
