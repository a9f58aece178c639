"""A finished training run as the command line prints it."""

from pathlib import Path

from mtrec.evaluation.results import EvaluationResult
from mtrec.workflows.runs import TrainingRun, run_summary

RANKING = {"ndcg@10": 0.25, "recall@10": 0.5, "hit@10": 0.75, "mrr@10": 0.125}


def test_run_summary_reads_the_evaluation_the_decision_and_drift(tmp_path: Path) -> None:
    evaluation = EvaluationResult(
        valid={"ndcg@10": 0.3},
        test={**RANKING, "watch_auc": 0.8},
        baselines={"popularity": {name: value / 2 for name, value in RANKING.items()}},
    )
    decision = {
        "version": "v3",
        "promote": True,
        "reason": "first",
        "evidence": {"bootstrap": {"users": 40.0, "low": 0.01, "confidence": 0.95}},
    }
    run = TrainingRun.from_outputs("run-1", tmp_path / "run-1", decision, evaluation, "production")
    assert run.test == evaluation.test and run.gate == {"users": 40.0, "low": 0.01}
    drift = {"n_drifted": 1, "n_columns": 4, "drift_detected": False}
    summary = run_summary(evaluation, None, drift, (10,), ["load_data"], 9, run, tmp_path)
    lines = summary.splitlines()
    assert lines[3].split() == ["ndcg@10", "0.2500", "0.1250", "+0.1250"]
    assert "watch_auc           0.8000" in lines
    assert "steps cached: 1/9 (load_data)" in lines
    assert "drift: 1/4 columns drifted, detected=False" in lines
    assert "model version v3: decision: promote=True (first); stage now: production" in lines
