"""decide_promotion: first version, better, equal, worse and NaN candidates."""

import math

from mtrec.registry.promotion import decide_promotion

METRIC = "valid.ndcg@10"


def test_first_version_is_promoted() -> None:
    decision = decide_promotion(METRIC, 0.12, None)
    assert decision.promote is True
    assert decision.production is None
    assert decision.candidate == 0.12 and decision.metric == METRIC
    assert "first" in decision.reason


def test_better_candidate_is_promoted() -> None:
    decision = decide_promotion(METRIC, 0.3125, 0.3, production_version="7")
    assert decision.promote is True
    assert decision.production == 0.3
    assert "0.3125" in decision.reason and "0.3000" in decision.reason
    assert "production version 7" in decision.reason
    assert METRIC in decision.reason


def test_equal_candidate_is_refused() -> None:
    decision = decide_promotion(METRIC, 0.25, 0.25)
    assert decision.promote is False
    assert decision.reason == f"candidate {METRIC} 0.2500 does not beat production 0.2500"


def test_worse_candidate_is_refused() -> None:
    decision = decide_promotion(METRIC, 0.2, 0.4567, production_version="3")
    assert decision.promote is False
    assert "0.2000" in decision.reason and "0.4567" in decision.reason
    assert "does not beat production version 3" in decision.reason


def test_nan_candidate_is_refused() -> None:
    for production in (None, 0.1):
        decision = decide_promotion(METRIC, float("nan"), production)
        assert decision.promote is False
        assert math.isnan(decision.candidate)
        assert "NaN" in decision.reason and METRIC in decision.reason


def test_to_dict() -> None:
    assert decide_promotion(METRIC, 0.5, 0.4).to_dict() == {
        "promote": True,
        "metric": METRIC,
        "candidate": 0.5,
        "production": 0.4,
        "reason": f"candidate {METRIC} 0.5000 beats production 0.4000",
        "evidence": {},
    }
