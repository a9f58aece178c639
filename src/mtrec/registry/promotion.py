"""The promotion decision, as pure logic: ZenML calls stay in the steps.

Every promotion, the first version's included, must clear a floor: the candidate beats the
popularity baseline on the promotion metric (same split, same ranking) by at least
``registry.min_lift_over_popularity``. A model that cannot beat "recommend what is popular"
is registered, with the reason, but never reaches production.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from mtrec.config import metric_direction


@dataclass(frozen=True)
class PromotionDecision:
    promote: bool
    metric: str
    candidate: float
    production: float | None
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)
    """The paired bootstrap and the secondary-metric checks behind the decision."""

    def to_dict(self) -> dict[str, object]:
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


def popularity_on(evaluation_metrics: Mapping[str, Any], metric: str) -> float | None:
    """The popularity baseline's value of ``metric`` (``<split>.<name>``) in the metrics of
    :func:`mtrec.evaluation.evaluate.evaluate_recommender`: valid from ``baselines_valid``,
    test from ``baselines``; ``None`` where it was not computed."""
    section, _, name = metric.partition(".")
    baselines = evaluation_metrics.get("baselines_valid" if section == "valid" else "baselines")
    value = (baselines or {}).get(POPULARITY, {}).get(name)
    return None if value is None else float(value)


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
        reason = (f"candidate {metric} {candidate:.4f} against the popularity baseline's "
                  f"{popularity:.4f}: NaN, the floor cannot be checked")  # fmt: skip
        return FloorCheck(False, metric, candidate, popularity, min_lift, required, reason)
    passed = candidate > required
    verb = "beats" if passed else "does not beat"
    reason = (f"candidate {metric} {candidate:.4f} {verb} the popularity baseline's "
              f"{popularity:.4f}{lift}")  # fmt: skip
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
        return PromotionDecision(False, metric, candidate, production,
                                 f"candidate {metric} is NaN", evidence)  # fmt: skip
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
        checks.append({"metric": name, "candidate": cand, "production": prod,
                       "tolerance": tolerance, "ok": worse_by <= tolerance})  # fmt: skip
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
