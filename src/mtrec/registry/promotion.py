"""The promotion decision, as pure logic: ZenML calls stay in the steps."""

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


def decide_promotion(
    metric: str, candidate: float, production: float | None, production_version: str | None = None
) -> PromotionDecision:
    """Promote when there is no production version yet, or the candidate beats it on ``metric``
    (higher is better). A NaN candidate is never promoted."""
    if math.isnan(candidate):
        return PromotionDecision(False, metric, candidate, production, f"candidate {metric} is NaN")
    if production is None:
        return PromotionDecision(
            True, metric, candidate, None, "no production version yet: the first is promoted"
        )
    label = f"production version {production_version}" if production_version else "production"
    if candidate > production:
        reason = f"candidate {metric} {candidate:.4f} beats {label} {production:.4f}"
        return PromotionDecision(True, metric, candidate, production, reason)
    reason = f"candidate {metric} {candidate:.4f} does not beat {label} {production:.4f}"
    return PromotionDecision(False, metric, candidate, production, reason)


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
