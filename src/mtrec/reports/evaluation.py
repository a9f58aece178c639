"""The evaluation report a reviewer reads after each run: one self-contained HTML page.

No JavaScript and no external assets: tables for the headline comparison, and small inline SVG
charts for the training curves, so the page opens anywhere and stays a few tens of kilobytes.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from mtrec.config import metric_direction
from mtrec.evaluation.diversity import RerankTradeoff, TradeoffPoint
from mtrec.evaluation.interests import Topics
from mtrec.evaluation.metrics import task_metric_names

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:72rem;padding:0 1rem;color:#1f2933}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #d9e2ec}
table{border-collapse:collapse;margin:.5rem 0}td,th{padding:.3rem .7rem;text-align:right;
border-bottom:1px solid #e4e7eb}th:first-child,td:first-child{text-align:left}
.pos{color:#0b7a35}.neg{color:#b42318}.muted{color:#7b8794}
.badge{display:inline-block;padding:.15rem .6rem;border-radius:1rem;font-weight:600}
.yes{background:#d3f9d8;color:#0b7a35}.no{background:#ffe3e3;color:#b42318}
.charts{display:flex;flex-wrap:wrap;gap:1.5rem}figure{margin:0}figcaption{font-size:.9rem}
td.txt,th.txt{text-align:left}
"""
_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.4f}"
    if value is None:
        return "n/a"
    return html.escape(str(value))


def _delta(value: float, reference: float, higher_is_better: bool = True) -> str:
    if any(isinstance(v, float) and math.isnan(v) for v in (value, reference)):
        return "<td class='muted'>n/a</td>"
    delta = value - reference
    good = delta > 0 if higher_is_better else delta < 0
    css = "pos" if good else ("neg" if delta != 0 else "muted")
    return f"<td class='{css}'>{delta:+.4f}</td>"


def line_chart(
    series: dict[str, Sequence[float]], title: str, width: int = 420, height: int = 220,
    x_label: str = "epoch",
) -> str:  # fmt: skip
    """A small SVG line chart of per-epoch values, one line per series, with a legend."""
    points = [v for values in series.values() for v in values if math.isfinite(v)]
    if not points:
        return ""
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
    return f"<figure>{svg}<figcaption>{html.escape(title)}</figcaption></figure>"


def tradeoff_chart(tradeoff: RerankTradeoff, width: int = 480, height: int = 300) -> str:
    """An SVG of NDCG@10 (y) against intra-list diversity (x): one line per re-ranker through
    its lambdas, Pareto-front points filled (others hollow), the configured point ringed."""
    points = [p for p in tradeoff.points if _finite(p.ndcg, p.intra_list_diversity)]
    if not points:
        return ""
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
    return (
        f"<figure>{svg}<figcaption>{title}: filled points are on the method's Pareto front "
        "(no other lambda has both higher), the ringed point is the configured one."
        "</figcaption></figure>"
    )


def rerank_section(tradeoff: RerankTradeoff) -> str:
    """The trade-off chart, each method's best lambda within the NDCG@10 budget, and every row."""
    # Method none serves lambda 0 of every method: no one row of the table is it.
    configured = tradeoff.configured_point() if tradeoff.method != "none" else None
    choices = "".join(
        f"<tr><td>{html.escape(c.method)}</td><td>{c.lam:g}</td><td>{_percent(c.ndcg_change)}"
        f"</td><td>{_percent(c.diversity_gain)}</td><td>{_percent(c.coverage_gain)}</td>"
        f"<td>{_percent(c.kl_change)}</td><td>{'yes' if c.meets_goal else 'no'}</td></tr>"
        for c in tradeoff.choices
    )
    columns = ("NDCG@10", "Recall@10", "diversity", "coverage", "Gini", "calibration KL",
               "novelty", "popularity lift")  # fmt: skip
    rows = []
    for p in tradeoff.points:
        values = (p.ndcg, p.recall, p.intra_list_diversity, p.coverage, p.gini,
                  p.calibration_kl, p.novelty, p.popularity_lift)  # fmt: skip
        name = html.escape(p.method)
        name = f"<b>{name}</b> (served)" if p is configured else name
        rows.append(
            f"<tr><td>{name}</td><td>{p.lam:g}</td>"
            + "".join(f"<td>{_fmt(v)}</td>" for v in values)
            + f"<td>{'✓' if p.on_pareto_front else ''}</td></tr>"
        )
    header = "".join(f"<th>{c}</th>" for c in columns)
    method = f"{tradeoff.method}, λ = {tradeoff.lam:g}"
    if tradeoff.method == "none":
        method = "none (top-K by score)"
    return (
        f"<h2>Diversity and calibration re-ranking (test top-{tradeoff.k} lists)</h2>"
        f"<p>Each user's top {tradeoff.candidates} items by score, re-ranked; the served lists "
        f"use <b>{html.escape(method)}</b>. λ = 0 is the model's own ranking.</p>"
        f"<div class='charts'>{tradeoff_chart(tradeoff)}</div>"
        "<p>Best λ per method losing at most 2% relative NDCG@10 (changes against λ = 0; goal: "
        "diversity +15% and coverage +30% for MMR / DPP, calibration KL −30% for calibrated):"
        "</p><table><tr><th>method</th><th>λ</th><th>NDCG@10</th><th>diversity</th>"
        "<th>coverage</th><th>calibration KL</th><th>goal met</th></tr>"
        f"{choices}</table>"
        f"<table><tr><th>method</th><th>λ</th>{header}<th>Pareto</th></tr>{''.join(rows)}"
        "</table>"
    )


def interest_forecast_table(forecast: dict[str, Any]) -> str:
    """The interest task against its two baselines (``metrics["interest"]``)."""
    names = {"model": f"interest task ({forecast.get('task', 'interest')})",
             "whole_history": "same as the whole history",
             "recent_history": "same as the recent history"}  # fmt: skip
    rows = "".join(
        f"<tr><td class='txt'>{html.escape(names.get(name, name))}</td><td>{_fmt(kl)}</td>"
        f"<td>{_fmt(forecast['smoothing'].get(name))}</td></tr>"
        for name, kl in forecast["kl"].items()
    )
    return (
        "<h3>Next-period interests (test)</h3>"
        f"<p>Mean KL(test-period topic shares || predicted), nats, over {forecast['users']} "
        "users; every predictor reads train + valid and is mixed with the catalogue's topic "
        "shares by the weight that did best on the valid period. The task is "
        f"<b>{_percent(-forecast['reduction'])}</b> against the better baseline "
        f"({html.escape(names.get(forecast['best_baseline'], ''))}).</p>"
        "<table><tr><th class='txt'>predictor</th><th>KL</th><th>smoothing</th></tr>"
        f"{rows}</table>"
    )


def interests_section(
    topics: Topics,
    profiles: pd.DataFrame,
    n_users: int = 5,
    n_movers: int = 5,
    forecast: dict[str, Any] | None = None,
) -> str:
    """Item topics with their sizes, the profiles of the ``n_users`` most active users and the
    ``n_movers`` users whose recent interests moved furthest from their long-term ones
    (``profiles``: the frame of :func:`mtrec.evaluation.interests.interest_profiles`), and
    with ``forecast`` the interest task's test KL against its baselines."""
    topic_rows = "".join(
        f"<tr><td>{t + 1}</td><td class='txt'>{html.escape(label)}</td>"
        f"<td>{int(topics.sizes[t])}</td></tr>"
        for t, label in enumerate(topics.labels)
    )

    def user_rows(frame: pd.DataFrame) -> str:
        return "".join(
            f"<tr><td>{html.escape(str(row.user_idx))}</td><td>{int(row.n_interactions)}</td>"
            f"<td class='txt'>{html.escape(str(row.long_term_top))}</td>"
            f"<td class='txt'>{html.escape(str(row.recent_top))}</td>"
            f"<td>{_fmt(float(row.shift))}</td></tr>"
            for row in frame.itertuples(index=False)
        )

    active = profiles.sort_values(["n_interactions", "user_idx"], ascending=[False, True])
    movers = profiles.dropna(subset=["shift"]).sort_values(
        ["shift", "user_idx"], ascending=[False, True]
    )
    header = ("<tr><th>user</th><th>interactions</th><th class='txt'>long-term topics</th>"
              "<th class='txt'>recent topics</th><th>shift (JS)</th></tr>")  # fmt: skip
    return (
        f"<h2>Interests ({topics.n_topics} item topics)</h2>"
        "<p>Topics cluster the item text embeddings; shares count a user's interactions per "
        "topic over their whole history and over the recent window; shift is the "
        "Jensen-Shannon divergence between the two (0 unchanged, 1 disjoint).</p>"
        "<table><tr><th>topic</th><th class='txt'>label</th><th>items</th></tr>"
        f"{topic_rows}</table>"
        f"<h3>Most active users</h3><table>{header}{user_rows(active.head(n_users))}</table>"
        f"<h3>Interests that moved most</h3><table>{header}{user_rows(movers.head(n_movers))}"
        "</table>" + (interest_forecast_table(forecast) if forecast else "")
    )


def _finite(*values: float) -> bool:
    return all(math.isfinite(v) for v in values)


def _percent(change: float) -> str:
    return "n/a" if math.isnan(change) else f"{100 * change:+.1f}%"


def _against_production(same: dict[str, Any]) -> str:
    """The headline: candidate and production scored on the same users and pairs."""
    candidate, production = same.get("candidate", {}), same.get("production", {})
    rows = []
    for name in candidate:
        if name not in production:
            continue
        higher = metric_direction(name) == "max"
        rows.append(
            f"<tr><td>{html.escape(name)}</td><td><b>{_fmt(candidate[name])}</b></td>"
            f"<td>{_fmt(production[name])}</td>"
            f"{_delta(candidate[name], production[name], higher)}</tr>"
        )
    return (
        "<h2>Candidate against production, on the same data</h2>"
        f"<p>The {html.escape(str(same.get('split', 'test')))} split's {same.get('users')} users "
        f"the production model knows (ranking) and {same.get('pairs')} interactions whose user "
        "and item it knows (task metrics).</p>"
        "<table><tr><th>metric</th><th>candidate</th><th>production</th><th>Δ</th></tr>"
        f"{''.join(rows)}</table>"
    )


def _baseline_notes(metrics: dict[str, Any]) -> list[str]:
    """How each baseline was tuned, and the ones that were skipped, with the reason."""
    notes = []
    tuned = metrics.get("baseline_params", {})
    if tuned:
        items = "".join(
            f"<li>{html.escape(name)}: "
            f"{html.escape(', '.join(f'{k}={v:g}' for k, v in t['params'].items()) or '-')} "
            f"(valid NDCG@10 {_fmt(t['valid_ndcg'])}, {len(t['grid'])} candidates, "
            f"{_fmt(t['seconds'])} s)</li>"
            for name, t in tuned.items()
        )
        notes.append(f"<p>Baseline parameters chosen on valid:</p><ul>{items}</ul>")
    for name, reason in metrics.get("baselines_skipped", {}).items():
        notes.append(f"<p><b>{html.escape(name)} skipped</b>: {html.escape(reason)}</p>")
    return notes


def _serving_section(serving: dict[str, Any], names: list[str]) -> str:
    """The serving view's table: model and baselines refit on train + valid, scored on test."""
    test, baselines = serving["test"], serving["baselines"]
    how = ("refit on train + valid for the chosen epochs" if serving.get("refit")
           else "not refit (the evaluated model)")  # fmt: skip
    header = "".join(f"<th>{html.escape(b)}</th><th>Δ vs {html.escape(b)}</th>" for b in baselines)
    rows = []
    for name in [n for n in names if n in test]:
        cells = "".join(
            f"<td>{_fmt(baselines[b].get(name))}</td>"
            + _delta(test[name], baselines[b].get(name, float("nan")))
            for b in baselines
        )
        rows.append(f"<tr><td>{name}</td><td><b>{_fmt(test[name])}</b></td>{cells}</tr>")
    return (
        "<h2>Serving view: test, with train + valid known</h2>"
        f"<p>What a deployed model gives a user the day after the valid period: the model "
        f"{how}, baselines refit on train + valid, each user's train + valid interactions "
        "read as history and masked. No model is scored on interactions it trained on.</p>"
        f"<table><tr><th>metric</th><th>model</th>{header}</tr>{''.join(rows)}</table>"
    )


def render_evaluation_report(
    metrics: dict[str, Any],
    history: dict[str, Any],
    id_only: dict[str, Any] | None,
    drift: dict[str, Any] | None,
    promotion: dict[str, Any] | None,
    ks: Sequence[int],
    title: str = "Evaluation report",
    interests: tuple[Topics, pd.DataFrame] | None = None,
) -> str:
    """The whole page: headline against baselines, task metrics, slices, curves, decision.

    A ``rerank`` entry of ``metrics`` (:class:`mtrec.evaluation.diversity.RerankTradeoff`'s
    dict) adds the diversity trade-off; ``interests``, topics and the ``interest_profiles``
    frame, adds the interests section."""
    test, baselines = metrics["test"], metrics["baselines"]
    names = [f"{m}@{k}" for k in ks for m in ("ndcg", "recall", "hit", "mrr")]
    parts = [f"<h1>{html.escape(title)}</h1>"]

    if promotion:
        badge = "yes" if promotion.get("promote") else "no"
        word = "promoted" if promotion.get("promote") else "not promoted"
        parts.append(
            f"<p>Model version <b>{_fmt(promotion.get('version'))}</b>: "
            f"<span class='badge {badge}'>{word}</span> {_fmt(promotion.get('reason'))}</p>"
        )
        # Its own name: reusing ``drift`` dropped the data-drift section below.
        shift = (promotion.get("evidence") or {}).get("prediction_drift")
        if shift:
            parts.append(
                f"<p>Prediction drift against production on {shift['users']} shared users: "
                f"top-10 overlap {_fmt(shift.get('top10_overlap'))}, first item changed for "
                f"{_fmt(shift.get('first_item_changed'))} of users, KS distance of top-10 "
                f"score z-values {_fmt(shift.get('top_score_ks'))}.</p>"
            )

        same = (promotion.get("evidence") or {}).get("same_data")
        if same:
            parts.append(_against_production(same))

    parts.append("<h2>Ranking on the test split (full catalogue, seen items masked)</h2>")
    header = "".join(f"<th>{html.escape(b)}</th><th>Δ vs {html.escape(b)}</th>" for b in baselines)
    rows = []
    for name in names:
        cells = "".join(
            f"<td>{_fmt(baselines[b].get(name))}</td>"
            + _delta(test[name], baselines[b].get(name, float("nan")))
            for b in baselines
        )
        rows.append(f"<tr><td>{name}</td><td><b>{_fmt(test[name])}</b></td>{cells}</tr>")
    parts.append(f"<table><tr><th>metric</th><th>model</th>{header}</tr>{''.join(rows)}</table>")
    parts.append(
        "<p>RecBole's view: the model and every baseline trained on train (parameters chosen "
        "on valid); each user's train interactions are what the model reads.</p>"
    )
    parts.extend(_baseline_notes(metrics))
    serving = metrics.get("serving")
    if serving:
        parts.append(_serving_section(serving, names))

    parts.append("<h2>Per-task metrics</h2><table><tr><th>task metric</th><th>test</th></tr>")
    for name in task_metric_names(test):
        parts.append(f"<tr><td>{name}</td><td>{_fmt(test[name])}</td></tr>")
    parts.append("</table>")
    for task, top in metrics.get("top_users", {}).items():
        parts.append(
            f"<h3>Most influential users ({html.escape(task)}, training period)</h3><table>"
            "<tr><th>user</th><th>measured</th><th>predicted</th><th>interactions</th></tr>"
            + "".join(
                f"<tr><td>{html.escape(str(row['user_id']))}</td><td>{_fmt(row['measured'])}</td>"
                f"<td>{_fmt(row['predicted'])}</td><td>{row['interactions']}</td></tr>"
                for row in top
            )
            + "</table>"
        )

    beyond = metrics.get("beyond_accuracy", {})
    if beyond:
        labels = {
            "coverage": "catalogue coverage (share of items recommended to anyone)",
            "gini": "Gini of exposure (0 even, 1 one item takes all)",
            "mean_popularity": "mean training interactions of recommended items",
            "popularity_lift": "… relative to the catalogue mean (popularity bias)",
            "novelty": "novelty, mean −log2 of an item's user share (bits)",
            "intra_list_diversity": "intra-list diversity, mean 1 − cos of item text embeddings",
        }
        parts.append("<h2>Beyond accuracy (test top-10 lists)</h2><table>")
        for name, value in beyond.items():
            label = html.escape(labels.get(name, name))
            parts.append(f"<tr><td>{label}</td><td>{_fmt(value)}</td></tr>")
        parts.append("</table>")
    if "rerank" in metrics:
        parts.append(rerank_section(RerankTradeoff.from_dict(metrics["rerank"])))
    if interests is not None:
        parts.append(interests_section(*interests, forecast=metrics.get("interest")))
    for key, heading in (("user_activity_ndcg@10", "NDCG@10 by user activity"),
                       ("item_popularity_hit@10", "Share of test items found in the top 10, "
                                                  "by item popularity")):  # fmt: skip
        buckets = metrics.get("slices", {}).get(key) or []
        if buckets:
            parts.append(f"<h2>{html.escape(heading)}</h2><table><tr><th>bucket</th>"
                         "<th>test rows</th><th>value</th></tr>")  # fmt: skip
            parts.extend(
                f"<tr><td>{html.escape(str(b['bucket']))}</td><td>{b['count']}</td>"
                f"<td>{_fmt(b['value'])}</td></tr>"
                for b in buckets
            )
            parts.append("</table>")

    cold = metrics.get("slices", {}).get("cold_items", {})
    if cold:
        parts.append(
            f"<h2>Cold items (≤ {cold['max_train_interactions']} training interactions)</h2>"
            f"<p>{cold['interactions']} test interactions from {cold['users']} users.</p>"
        )
        if "model" in cold:
            id_cold = (id_only or {}).get("slices", {}).get("cold_items", {}).get("model", {})
            parts.append(
                "<table><tr><th>metric</th><th>model</th><th>popularity</th>"
                "<th>id-only model</th></tr>"
            )
            for name in names[:4]:
                parts.append(
                    f"<tr><td>{name}</td><td>{_fmt(cold['model'][name])}</td>"
                    f"<td>{_fmt(cold['popularity'][name])}</td>"
                    f"<td>{_fmt(id_cold.get(name))}</td></tr>"
                )
            parts.append("</table>")

    if id_only:
        k = ks[0]
        parts.append(
            "<h2>What the text features add (id-only ablation)</h2><table><tr><th>metric</th>"
            "<th>with text</th><th>id-only</th><th>Δ</th></tr>"
        )
        for name in (f"ndcg@{k}", f"recall@{k}", *task_metric_names(test)):
            if name in test and name in id_only.get("test", {}):
                better_high = metric_direction(name) == "max"
                parts.append(
                    f"<tr><td>{name}</td><td>{_fmt(test[name])}</td>"
                    f"<td>{_fmt(id_only['test'][name])}</td>"
                    + _delta(test[name], id_only["test"][name], better_high)
                    + "</tr>"
                )
        parts.append("</table>")

    epochs = history.get("epochs", [])
    if epochs:
        tasks = [t for t in epochs[0]["losses"] if t != "total"]
        charts = [
            line_chart(
                {t: [e["losses"][t] for e in epochs] for t in tasks}, "training loss per task"
            ),
            line_chart(
                {t: [e.get("weights", {}).get(t, float("nan")) for e in epochs] for t in tasks},
                "task weights per epoch",
            ),
            line_chart(
                {"valid ndcg@10": [e["valid"].get("ndcg@10", float("nan")) for e in epochs]},
                "validation NDCG@10 per epoch",
            ),
        ]
        parts.append(
            f"<h2>Training (best epoch {history.get('best_epoch')}, "
            f"{history.get('seconds', 0):.0f} s)</h2><div class='charts'>{''.join(charts)}</div>"
        )

    if drift:
        flag = "yes" if drift.get("drift_detected") else "no"
        parts.append(
            f"<h2>Data drift (test period against training period)</h2><p>"
            f"{drift.get('n_drifted')} of {drift.get('n_columns')} columns drifted "
            f"(share {_fmt(drift.get('drifted_share'))}, threshold {_fmt(drift.get('threshold'))})"
            f": drift detected <b>{flag}</b>. Details in <a href='drift.html'>drift.html</a>; "
            f"input checks in <a href='validation.html'>validation.html</a>.</p>"
        )
        text = drift.get("embedding_drift")
        if text:
            detail = (
                f"domain-classifier ROC AUC {_fmt(text.get('auc'))} (threshold "
                f"{_fmt(text.get('auc_threshold'))}), centroid cosine distance "
                f"{_fmt(text.get('centroid_cosine_distance'))}"
                if text.get("status") == "tested" else html.escape(str(text.get("status")))
            )  # fmt: skip
            parts.append(
                f"<p>Text-embedding drift of the {text.get('new_items')} items new in the test "
                f"period against {text.get('reference_items')} reference items: {detail}; "
                f"drift detected <b>{'yes' if text.get('drift_detected') else 'no'}</b>.</p>"
            )
    body = "\n".join(parts)
    return (
        # data: icon: without it the browser asks the server for /favicon.ico and logs a 404.
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><link rel='icon' href='data:,'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
        f"<body>{body}</body></html>"
    )
