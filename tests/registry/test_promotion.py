"""decide_promotion: first version, better, equal, worse and NaN candidates; the popularity
floor every promotion must clear."""

import math

from mtrec.evaluation.results import EvaluationResult
from mtrec.registry.promotion import decide_promotion, popularity_floor, popularity_on

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
        "version": "",
    }


def _metrics(
    model_ndcg: float, popularity_valid: float, popularity_test: float
) -> EvaluationResult:
    """What evaluate_recommender returns, reduced to what the floor reads."""
    return EvaluationResult(
        valid={"ndcg@10": model_ndcg},
        test={"ndcg@10": model_ndcg},
        baselines={"popularity": {"ndcg@10": popularity_test}},
        baselines_valid={"popularity": {"ndcg@10": popularity_valid}},
    )


def _first_decision(metrics: EvaluationResult, min_lift: float = 0.0):
    candidate = metrics.valid["ndcg@10"]
    floor = popularity_floor(METRIC, candidate, popularity_on(metrics, METRIC), min_lift)
    return decide_promotion(METRIC, candidate, None, floor=floor)


def test_popularity_is_read_from_the_promotion_metric_split() -> None:
    metrics = _metrics(0.3, popularity_valid=0.2, popularity_test=0.1)
    assert popularity_on(metrics, "valid.ndcg@10") == 0.2
    assert popularity_on(metrics, "test.ndcg@10") == 0.1
    assert popularity_on(metrics, "test.like_auc") is None  # popularity ranks, it has no AUC
    assert popularity_on(EvaluationResult(valid={}, test={}), "valid.ndcg@10") is None


def test_degenerate_first_model_is_refused_naming_both_values() -> None:
    decision = _first_decision(_metrics(0.0, popularity_valid=1.0, popularity_test=1.0))
    assert decision.promote is False
    assert decision.production is None
    assert decision.reason == (
        f"refused, below the popularity floor: candidate {METRIC} 0.0000 does not beat the "
        "popularity baseline's 1.0000"
    )
    floor = decision.evidence["popularity_floor"]
    assert floor["passed"] is False and floor["popularity"] == 1.0 and floor["required"] == 1.0


def test_normal_first_model_clears_the_floor_and_is_promoted() -> None:
    decision = _first_decision(_metrics(0.31, popularity_valid=0.2, popularity_test=0.25))
    assert decision.promote is True
    assert decision.reason == (
        f"no production version yet: the first is promoted (candidate {METRIC} 0.3100 beats "
        "the popularity baseline's 0.2000)"
    )
    assert decision.evidence["popularity_floor"]["passed"] is True


def test_equal_to_popularity_is_refused_and_the_margin_is_relative() -> None:
    assert _first_decision(_metrics(0.2, 0.2, 0.2)).promote is False  # strictly above
    # 10% above 0.2 is 0.22: 0.215 beats popularity but not by the margin.
    refused = _first_decision(_metrics(0.215, 0.2, 0.2), min_lift=0.1)
    assert refused.promote is False
    assert "0.2150 does not beat the popularity baseline's 0.2000 by 10.0% (above 0.2200)" in (
        refused.reason
    )
    assert _first_decision(_metrics(0.23, 0.2, 0.2), min_lift=0.1).promote is True
    # -1 (smoke runs on tiny data) asks only for a non-zero value: a zero is still refused.
    assert _first_decision(_metrics(0.05, 0.2, 0.2), min_lift=-1.0).promote is True
    assert _first_decision(_metrics(0.0, 0.2, 0.2), min_lift=-1.0).promote is False


def test_the_floor_holds_for_later_versions_and_nan_popularity_fails_it() -> None:
    floor = popularity_floor(METRIC, 0.5, 0.6)
    decision = decide_promotion(METRIC, 0.5, 0.1, production_version="2", floor=floor)
    assert decision.promote is False and decision.production == 0.1  # beats production, not it
    assert "0.5000 does not beat the popularity baseline's 0.6000" in decision.reason
    unknown = popularity_floor(METRIC, 0.5, float("nan"))
    assert unknown.passed is False and "cannot be checked" in unknown.reason
    no_floor = popularity_floor("test.like_auc", 0.7, None)
    assert no_floor.passed is True and no_floor.required is None


def _decide(production, gate="point", candidate=0.3, popularity=0.1):
    import pandas as pd

    from mtrec.config import RunConfig
    from mtrec.registry.promotion import decide_version

    config = RunConfig().model_copy(deep=True)
    config = config.model_copy(
        update={"registry": config.registry.model_copy(update={"gate": gate})}
    )
    metrics = EvaluationResult(
        valid={"ndcg@10": candidate},
        test={},
        baselines_valid={"popularity": {"ndcg@10": popularity}},
    )
    empty = pd.DataFrame()
    return decide_version("v2", metrics, object(), production, config, (empty,) * 3, empty, empty)


def _production(is_candidate=False, recorded=0.25, load=None):
    from mtrec.registry.promotion import Production

    def unloadable():
        raise AssertionError("the point gate never loads production's model")

    return Production("v1", is_candidate, {"valid": {"ndcg@10": recorded}}, load or unloadable)


def test_every_branch_of_the_decision_has_one_shape_and_names_the_version() -> None:
    def no_model():
        raise RuntimeError("no shared users")

    branches = {
        "first": _decide(None),
        "below floor": _decide(None, candidate=0.05),
        "point, better": _decide(_production()),
        "point, worse": _decide(_production(recorded=0.4)),
        "already production": _decide(_production(is_candidate=True), gate="bootstrap"),
        "not scorable": _decide(_production(load=no_model), gate="bootstrap"),
    }
    shapes = {name: sorted(decision.to_dict()) for name, decision in branches.items()}
    assert len({tuple(shape) for shape in shapes.values()}) == 1, shapes
    assert all(decision.version == "v2" for decision in branches.values())
    promoted = {name: decision.promote for name, decision in branches.items()}
    assert promoted == {
        "first": True,
        "below floor": False,
        "point, better": True,
        "point, worse": False,
        "already production": False,
        "not scorable": False,
    }
    assert branches["below floor"].reason.startswith("refused, below the popularity floor")
    assert branches["already production"].reason == "this version is already in production"
    assert "no shared users" in branches["not scorable"].reason
    assert "production version v1 0.4000" in branches["point, worse"].reason


def test_a_promotion_metric_that_was_not_evaluated_stops_the_decision() -> None:
    import pandas as pd
    import pytest

    from mtrec.config import RunConfig
    from mtrec.registry.promotion import decide_version

    empty = pd.DataFrame()
    metrics = EvaluationResult(valid={"ndcg@5": 0.3}, test={"ndcg@10": 0.3})
    with pytest.raises(KeyError, match="valid.ndcg@10 was not evaluated"):
        decide_version("v2", metrics, object(), None, RunConfig(), (empty,) * 3, empty, empty)
