"""The promotion decision, as pure logic: ZenML calls stay in the steps."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class PromotionDecision:
    promote: bool
    metric: str
    candidate: float
    production: float | None
    reason: str

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
