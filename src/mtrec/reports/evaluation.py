"""The evaluation report a reviewer reads after each run: one self-contained HTML page.

No JavaScript and no external assets: tables for the headline comparison, and small inline SVG
charts for the training curves, so the page opens anywhere and stays a few tens of kilobytes.
The page is ``templates/evaluation.html.j2``; this module draws the charts and hands it the
metrics.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import pandas as pd
from markupsafe import Markup

from mtrec.config import metric_direction
from mtrec.evaluation.diversity import RerankTradeoff, TradeoffPoint
from mtrec.evaluation.interests import Topics
from mtrec.evaluation.results import EvaluationResult, task_metric_names
from mtrec.reports.pages import render_page
from mtrec.training.history import TrainingHistory

_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
BEYOND_ACCURACY_LABELS = {
    "coverage": "catalogue coverage (share of items recommended to anyone)",
    "gini": "Gini of exposure (0 even, 1 one item takes all)",
    "mean_popularity": "mean training interactions of recommended items",
    "popularity_lift": "… relative to the catalogue mean (popularity bias)",
    "novelty": "novelty, mean −log2 of an item's user share (bits)",
    "intra_list_diversity": "intra-list diversity, mean 1 − cos of item text embeddings",
}
SLICE_HEADINGS = {
    "user_activity": "NDCG@10 by user activity",
    "item_popularity": "Share of test items found in the top 10, by item popularity",
}
"""The bucketed slices (:class:`mtrec.evaluation.evaluate.Slices` fields) and their headings."""
RERANK_COLUMNS = (
    ("NDCG@10", "ndcg"),
    ("Recall@10", "recall"),
    ("diversity", "intra_list_diversity"),
    ("coverage", "coverage"),
    ("Gini", "gini"),
    ("calibration KL", "calibration_kl"),
    ("novelty", "novelty"),
    ("popularity lift", "popularity_lift"),
)
"""The trade-off table's metric columns: heading and :class:`TradeoffPoint` field."""
BASELINE_PREDICTORS = {
    "whole_history": "same as the whole history",
    "recent_history": "same as the recent history",
}
"""The interest forecast's baselines, against the interest task."""


def line_chart(
    series: dict[str, Sequence[float]],
    title: str,
    width: int = 420,
    height: int = 220,
    x_label: str = "epoch",
) -> Markup:
    """A small SVG line chart of per-epoch values, one line per series, with a legend."""
    points = [v for values in series.values() for v in values if math.isfinite(v)]
    if not points:
        return Markup()
    low, high = min(points), max(points)
    span = (high - low) or 1.0
    n = max(len(values) for values in series.values())
    left, top, plot_w, plot_h = 48, 10, width - 60, height - 50

    def xy(i: int, v: float) -> str:
        x = left + (plot_w * i / max(n - 1, 1))
        y = top + plot_h * (1 - (v - low) / span)
        return f"{x:.1f},{y:.1f}"

    lines, legend = [], []
    for index, (name, values) in enumerate(series.items()):
        colour = _COLOURS[index % len(_COLOURS)]
        path = " ".join(xy(i, v) for i, v in enumerate(values) if math.isfinite(v))
        lines.append(f"<polyline fill='none' stroke='{colour}' stroke-width='2' points='{path}'/>")
        legend.append(
            f"<text x='{left + 110 * index}' y='{height - 8}' fill='{colour}' font-size='12'>"
            f"{html.escape(name)}</text>"
        )
    axis = (
        f"<line x1='{left}' y1='{top + plot_h}' x2='{left + plot_w}' y2='{top + plot_h}' "
        "stroke='#9aa5b1'/>"
        f"<text x='4' y='{top + 10}' font-size='11'>{high:.3g}</text>"
        f"<text x='4' y='{top + plot_h}' font-size='11'>{low:.3g}</text>"
        f"<text x='{left + plot_w - 40}' y='{top + plot_h + 16}' font-size='11'>"
        f"{x_label} {n}</text>"
    )
    svg = (
        f"<svg width='{width}' height='{height}' role='img' aria-label='{html.escape(title)}'>"
        f"{axis}{''.join(lines)}{''.join(legend)}</svg>"
    )
    return Markup(f"<figure>{svg}<figcaption>{html.escape(title)}</figcaption></figure>")


def tradeoff_chart(tradeoff: RerankTradeoff, width: int = 480, height: int = 300) -> Markup:
    """An SVG of NDCG@10 (y) against intra-list diversity (x): one line per re-ranker through
    its lambdas, Pareto-front points filled (others hollow), the configured point ringed."""
    points = [p for p in tradeoff.points if _finite(p.ndcg, p.intra_list_diversity)]
    if not points:
        return Markup()
    xs, ys = [p.intra_list_diversity for p in points], [p.ndcg for p in points]
    x_low, x_span = min(xs), (max(xs) - min(xs)) or 1.0
    y_low, y_span = min(ys), (max(ys) - min(ys)) or 1.0
    left, top, plot_w, plot_h = 56, 12, width - 76, height - 70

    def x_of(p: TradeoffPoint) -> float:
        return left + plot_w * (p.intra_list_diversity - x_low) / x_span

    def y_of(p: TradeoffPoint) -> float:
        return top + plot_h * (1 - (p.ndcg - y_low) / y_span)

    marks, legend = [], []
    methods = list(dict.fromkeys(p.method for p in points))
    for index, method in enumerate(methods):
        colour = _COLOURS[index % len(_COLOURS)]
        mine = sorted((p for p in points if p.method == method), key=lambda p: p.lam)
        path = " ".join(f"{x_of(p):.1f},{y_of(p):.1f}" for p in mine)
        line = f"<polyline fill='none' stroke='{colour}' stroke-width='1.5' points='{path}'/>"
        marks.append(line)
        for p in mine:
            fill = colour if p.on_pareto_front else "white"
            front = ", Pareto front" if p.on_pareto_front else ""
            marks.append(
                f"<circle cx='{x_of(p):.1f}' cy='{y_of(p):.1f}' r='4' fill='{fill}' "
                f"stroke='{colour}' stroke-width='1.5'><title>{html.escape(method)} "
                f"λ={p.lam:g}: NDCG@10 {p.ndcg:.4f}, diversity {p.intra_list_diversity:.4f}"
                f"{front}</title></circle>"
            )
        legend.append(
            f"<text x='{left + 110 * index}' y='{height - 8}' fill='{colour}' font-size='12'>"
            f"{html.escape(method)}</text>"
        )
    chosen = tradeoff.configured_point()
    if chosen is not None and _finite(chosen.ndcg, chosen.intra_list_diversity):
        name = "none" if tradeoff.method == "none" else f"{tradeoff.method} λ={tradeoff.lam:g}"
        marks.append(
            f"<circle class='configured' cx='{x_of(chosen):.1f}' cy='{y_of(chosen):.1f}' r='9' "
            "fill='none' stroke='#1f2933' stroke-width='2'/>"
            f"<text x='{x_of(chosen) + 11:.1f}' y='{y_of(chosen) - 8:.1f}' font-size='11'>"
            f"configured: {html.escape(name)}</text>"
        )
    axis = (
        f"<line x1='{left}' y1='{top + plot_h}' x2='{left + plot_w}' y2='{top + plot_h}' "
        "stroke='#9aa5b1'/>"
        f"<line x1='{left}' y1='{top}' x2='{left}' y2='{top + plot_h}' stroke='#9aa5b1'/>"
        f"<text x='4' y='{top + 10}' font-size='11'>{y_low + y_span:.3g}</text>"
        f"<text x='4' y='{top + plot_h}' font-size='11'>{y_low:.3g}</text>"
        f"<text x='4' y='{top + plot_h / 2:.0f}' font-size='11'>NDCG@10</text>"
        f"<text x='{left}' y='{top + plot_h + 16}' font-size='11'>{x_low:.3g}</text>"
        f"<text x='{left + plot_w - 30}' y='{top + plot_h + 16}' font-size='11'>"
        f"{x_low + x_span:.3g}</text>"
        f"<text x='{left + plot_w / 2 - 50:.0f}' y='{top + plot_h + 30}' font-size='11'>"
        "intra-list diversity</text>"
    )
    title = "Accuracy against diversity, per re-ranker and lambda"
    svg = (
        f"<svg width='{width}' height='{height}' role='img' aria-label='{title}'>"
        f"{axis}{''.join(marks)}{''.join(legend)}</svg>"
    )
    return Markup(
        f"<figure>{svg}<figcaption>{title}: filled points are on the method's Pareto front "
        "(no other lambda has both higher), the ringed point is the configured one."
        "</figcaption></figure>"
    )


def _finite(*values: float) -> bool:
    return all(math.isfinite(v) for v in values)


class Interests(NamedTuple):
    """The interests section's rows: the topics, the most active users and the users whose
    recent interests moved furthest from their long-term ones (rows of the
    :func:`mtrec.evaluation.interests.interest_profiles` frame)."""

    topics: Topics
    active: list[Any]
    movers: list[Any]


def _interests(
    topics: Topics, profiles: pd.DataFrame, n_users: int = 5, n_movers: int = 5
) -> Interests:
    active = profiles.sort_values(["n_interactions", "user_idx"], ascending=[False, True])
    movers = profiles.dropna(subset=["shift"]).sort_values(
        ["shift", "user_idx"], ascending=[False, True]
    )
    return Interests(
        topics,
        list(active.head(n_users).itertuples(index=False)),
        list(movers.head(n_movers).itertuples(index=False)),
    )


def _training_charts(history: TrainingHistory) -> list[Markup]:
    epochs = history.epochs
    if not epochs:
        return []
    tasks = [t for t in epochs[0].losses if t != "total"]
    return [
        line_chart({t: [e.losses[t] for e in epochs] for t in tasks}, "training loss per task"),
        line_chart(
            {t: [e.weights.get(t, float("nan")) for e in epochs] for t in tasks},
            "task weights per epoch",
        ),
        line_chart(
            {"valid ndcg@10": [e.valid.get("ndcg@10", float("nan")) for e in epochs]},
            "validation NDCG@10 per epoch",
        ),
    ]


def render_evaluation_report(
    metrics: EvaluationResult,
    history: TrainingHistory,
    id_only: EvaluationResult | None,
    drift: dict[str, Any] | None,
    promotion: dict[str, Any] | None,
    ks: Sequence[int],
    title: str = "Evaluation report",
    interests: tuple[Topics, pd.DataFrame] | None = None,
) -> str:
    """The whole page: headline against baselines, task metrics, slices, curves, decision.

    ``id_only``: the same model evaluated without text (the id-only ablation), when it ran.
    The ``rerank`` trade-off of ``metrics`` adds the diversity section; ``interests``, topics
    and the ``interest_profiles`` frame, adds the interests section (with the interest task's
    forecast against its baselines when ``metrics`` has one)."""
    rerank = RerankTradeoff.from_dict(metrics.rerank) if metrics.rerank is not None else None
    task = metrics.interest.task if metrics.interest is not None else "interest"
    id_cold = id_only.slices.cold_items if id_only is not None else None
    return render_page(
        "evaluation.html.j2",
        title=title,
        metrics=metrics,
        test=metrics.test,
        baselines=metrics.baselines,
        names=[f"{m}@{k}" for k in ks for m in ("ndcg", "recall", "hit", "mrr")],
        task_names=list(task_metric_names(metrics.test)),
        ks=ks,
        history=history,
        id_only=id_only,
        id_cold=(id_cold.model if id_cold is not None else None) or {},
        drift=drift,
        promotion=promotion,
        rerank=rerank,
        rerank_columns=RERANK_COLUMNS,
        tradeoff_chart=tradeoff_chart(rerank) if rerank is not None else Markup(),
        interests=_interests(*interests) if interests is not None else None,
        predictor_names={
            "model": f"interest task ({task})",
            **BASELINE_PREDICTORS,
        },
        charts=_training_charts(history),
        beyond_accuracy_labels=BEYOND_ACCURACY_LABELS,
        slice_headings=SLICE_HEADINGS,
        higher_is_better=lambda name: metric_direction(name) == "max",
        nan=math.nan,
    )
