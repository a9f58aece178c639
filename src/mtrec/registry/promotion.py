"""The promotion decision, as pure logic: ZenML calls stay in the steps.

Every promotion, the first version's included, must clear a floor: the candidate beats the
popularity baseline on the promotion metric (same split, same ranking) by at least
``registry.min_lift_over_popularity``. A model that cannot beat "recommend what is popular"
is registered, with the reason, but never reaches production.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import pandas as pd

from mtrec.config import MetricRef, RunConfig, metric_direction
from mtrec.evaluation.results import EvaluationResult
from mtrec.models.serialization import TrainedModel
from mtrec.registry.gate import head_to_head, not_trained_on, same_data_metrics


@dataclass(frozen=True)
class PromotionDecision:
    """What the registry decided on a candidate version: one shape for every branch (first
    version, below the floor, head to head, point comparison, production not scorable, the
    version already in production)."""

    promote: bool
    metric: str
    candidate: float
    production: float | None
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)
    """The paired bootstrap and the secondary-metric checks behind the decision."""
    version: str = ""
    """The candidate's model version (set by :func:`decide_version`)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


POPULARITY = "popularity"


@dataclass(frozen=True)
class FloorCheck:
    """The candidate against the popularity baseline on the promotion metric."""

    passed: bool
    metric: str
    candidate: float
    popularity: float | None
    """``None``: popularity has no such metric (e.g. a task AUC), so there is no floor."""
    min_lift: float
    required: float | None
    """The value the candidate must be above: ``popularity * (1 + min_lift)``."""
    reason: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def popularity_on(evaluation: EvaluationResult, metric: str) -> float | None:
    """The popularity baseline's value of ``metric`` (``<split>.<name>``) in ``evaluation``:
    valid from ``baselines_valid``, test from ``baselines``; ``None`` where it was not
    computed."""
    return evaluation.baseline_value(POPULARITY, MetricRef.parse(metric))


def popularity_floor(
    metric: str, candidate: float, popularity: float | None, min_lift: float = 0.0
) -> FloorCheck:
    """Whether ``candidate`` is above ``popularity * (1 + min_lift)`` on ``metric`` (higher is
    better). A NaN on either side fails: a floor that cannot be checked is not cleared."""
    if popularity is None:
        reason = f"the popularity baseline has no {metric}: no floor to clear"
        return FloorCheck(True, metric, candidate, None, min_lift, None, reason)
    required = popularity * (1.0 + min_lift)
    lift = f" by {min_lift:.1%} (above {required:.4f})" if min_lift else ""
    if math.isnan(candidate) or math.isnan(popularity):
        reason = (
            f"candidate {metric} {candidate:.4f} against the popularity baseline's "
            f"{popularity:.4f}: NaN, the floor cannot be checked"
        )
        return FloorCheck(False, metric, candidate, popularity, min_lift, required, reason)
    passed = candidate > required
    verb = "beats" if passed else "does not beat"
    reason = (
        f"candidate {metric} {candidate:.4f} {verb} the popularity baseline's "
        f"{popularity:.4f}{lift}"
    )
    return FloorCheck(passed, metric, candidate, popularity, min_lift, required, reason)


def decide_promotion(
    metric: str,
    candidate: float,
    production: float | None,
    production_version: str | None = None,
    floor: FloorCheck | None = None,
) -> PromotionDecision:
    """Promote when the candidate clears the popularity ``floor`` (see
    :func:`popularity_floor`) and either there is no production version yet or it beats
    production on ``metric`` (higher is better). A NaN candidate is never promoted."""
    evidence: dict[str, Any] = {} if floor is None else {"popularity_floor": floor.to_dict()}
    if math.isnan(candidate):
        return PromotionDecision(
            False, metric, candidate, production, f"candidate {metric} is NaN", evidence
        )
    if floor is not None and not floor.passed:
        reason = f"refused, below the popularity floor: {floor.reason}"
        return PromotionDecision(False, metric, candidate, production, reason, evidence)
    if production is None:
        reason = "no production version yet: the first is promoted"
        if floor is not None:
            reason += f" ({floor.reason})"
        return PromotionDecision(True, metric, candidate, None, reason, evidence)
    label = f"production version {production_version}" if production_version else "production"
    if candidate > production:
        reason = f"candidate {metric} {candidate:.4f} beats {label} {production:.4f}"
        return PromotionDecision(True, metric, candidate, production, reason, evidence)
    reason = f"candidate {metric} {candidate:.4f} does not beat {label} {production:.4f}"
    return PromotionDecision(False, metric, candidate, production, reason, evidence)


def gate_promotion(
    metric: str,
    bootstrap: Mapping[str, float] | None,
    margin: float,
    candidate_metrics: Mapping[str, float],
    production_metrics: Mapping[str, float],
    tolerances: Mapping[str, float],
    production_version: str | None = None,
) -> PromotionDecision:
    """Promote when there is no production version, or when the bootstrap interval's lower
    bound of ``candidate - production`` on ``metric`` is above ``margin`` and no secondary
    metric is worse than production's by more than its tolerance."""
    if bootstrap is None:
        return PromotionDecision(
            True, metric, math.nan, None, "no production version yet: the first is promoted"
        )
    label = f"production version {production_version}" if production_version else "production"
    checks = []
    for name, tolerance in tolerances.items():
        cand, prod = candidate_metrics.get(name), production_metrics.get(name)
        if cand is None or prod is None or math.isnan(cand) or math.isnan(prod):
            continue
        worse_by = (prod - cand) if metric_direction(name) == "max" else (cand - prod)
        checks.append(
            {
                "metric": name,
                "candidate": cand,
                "production": prod,
                "tolerance": tolerance,
                "ok": worse_by <= tolerance,
            }
        )
    evidence = {"bootstrap": dict(bootstrap), "margin": margin, "secondary": checks}
    cand, prod = bootstrap["candidate"], bootstrap["production"]
    interval = (
        f"{metric} {cand:.4f} vs {prod:.4f} on {bootstrap['users']:.0f} shared users, "
        f"difference {bootstrap['mean_difference']:+.4f}, "
        f"{bootstrap['confidence']:.0%} interval "
        f"[{bootstrap['low']:+.4f}, {bootstrap['high']:+.4f}]"
    )
    if not bootstrap["low"] > margin:
        reason = f"not confidently better than {label}: {interval}; lower bound not above {margin}"
        return PromotionDecision(False, metric, cand, prod, reason, evidence)
    failed = [c for c in checks if not c["ok"]]
    if failed:
        worst = ", ".join(
            f"{c['metric']} {c['candidate']:.4f} vs {c['production']:.4f} "
            f"(tolerance {c['tolerance']})"
            for c in failed
        )
        reason = f"better on {metric} ({interval}) but worse beyond tolerance on {worst}"
        return PromotionDecision(False, metric, cand, prod, reason, evidence)
    return PromotionDecision(True, metric, cand, prod, f"beats {label}: {interval}", evidence)


@dataclass(frozen=True)
class Production:
    """The production version as the decision needs it: its name, whether it is the candidate
    itself, its recorded metrics, and (loaded only for a head-to-head gate) its evaluated model
    and the split that model was trained on."""

    name: str
    is_candidate: bool
    recorded: Mapping[str, Mapping[str, Any]]
    """Its run's metrics by split (``{"valid": {"ndcg@10": ...}}``)."""
    load: Callable[[], tuple[TrainedModel, pd.DataFrame | None]]


def decide_version(
    version: str,
    evaluation: EvaluationResult,
    candidate_model: TrainedModel,
    production: Production | None,
    config: RunConfig,
    split: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame],
    users: pd.DataFrame,
    items: pd.DataFrame,
) -> PromotionDecision:
    """Whether candidate ``version`` replaces ``production``, by ``config.registry``: the
    popularity floor first (the first version too), then, with ``gate: bootstrap``, the
    evaluated models head to head on the promotion split, each scored only on pairs it was not
    trained on (see :mod:`mtrec.registry.gate`), with secondary task metrics on the same pairs;
    with ``gate: point``, the recorded values. ``split``: this run's (train, valid, test)."""
    registry = config.registry
    metric = registry.promotion
    section = str(metric.split)
    candidate = evaluation.value(metric)
    if candidate is None:
        raise KeyError(f"{registry.promotion_metric} was not evaluated")
    floor = popularity_floor(
        registry.promotion_metric,
        candidate,
        popularity_on(evaluation, registry.promotion_metric),
        registry.min_lift_over_popularity,
    )
    if production is not None and production.is_candidate:
        reason = "this version is already in production"
        decision = PromotionDecision(False, registry.promotion_metric, candidate, candidate, reason)
    elif registry.gate == "bootstrap" and production is not None and floor.passed:
        train, valid, test = split
        truth, history = (valid, train) if section == "valid" else (test, pd.concat([train, valid]))
        try:
            # The evaluated models, never the refits: each is scored only on pairs it was not
            # trained on (production's own training split is left out of the truth).
            production_model, production_train = production.load()
            if production_train is not None:
                truth = not_trained_on(truth, production_train)
            bootstrap, prediction_drift = head_to_head(
                candidate_model,
                production_model,
                truth,
                history,
                users,
                items,
                metric.key,
                registry.bootstrap_samples,
                registry.confidence,
                config.training.seed,
            )
            same_data = same_data_metrics(
                candidate_model,
                production_model,
                truth,
                history,
                users,
                items,
                tuple(sorted({*config.evaluation.ks, 10})),
                config.model.tasks,
                config.training.seed,
            )
        except (RuntimeError, ValueError, KeyError) as error:
            # Production cannot be scored on this data (e.g. no shared users): refuse rather
            # than guess; the reason says why, and production stays as it is.
            reason = f"production could not be scored head to head: {error}"
            decision = PromotionDecision(False, registry.promotion_metric, candidate, None, reason)
        else:
            # Secondary metrics are compared on the same pairs, not on each model's own split.
            gated = gate_promotion(
                registry.promotion_metric,
                bootstrap.to_dict(),
                registry.margin,
                same_data["candidate"],
                same_data["production"],
                registry.tolerances,
                production.name,
            )
            evidence = {
                **gated.evidence,
                "popularity_floor": floor.to_dict(),
                "prediction_drift": prediction_drift,
                "same_data": {"split": section, **same_data},
            }
            decision = replace(gated, evidence=evidence)
    else:
        # The point comparison, the first version, or a candidate below the popularity floor.
        recorded = None
        if production is not None:
            recorded = float(production.recorded.get(section, {}).get(metric.key, "nan"))
        decision = decide_promotion(
            registry.promotion_metric,
            candidate,
            recorded,
            production.name if production is not None else None,
            floor,
        )
    return replace(decision, version=version)
