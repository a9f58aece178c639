"""``mtrec train``: check the inputs, run the training pipeline, export what it made."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from mtrec.config import RunConfig
from mtrec.data.sources import fingerprint
from mtrec.evaluation.results import EvaluationResult
from mtrec.reports.export import point_latest, write_index, write_run_reports
from mtrec.workflows.runs import TrainingRun, model_version_name, run_summary
from mtrec_cli.failures import failure_report
from mtrec_cli.store import checked_inputs


def train(
    config: RunConfig, no_cache: bool = False, run_config: Path | None = None
) -> tuple[int, TrainingRun | None]:
    """Run the training pipeline on ``config``: the exit status, and the exported run when it
    finished. ``run_config``: a ZenML run configuration (e.g. ``configs/stacks/kubeflow.yaml``:
    settings, a cron schedule)."""
    files = checked_inputs(config)
    if isinstance(files, int):
        return files, None

    from pipelines.training import training_pipeline
    from steps.caching import library_code_hash

    data_fingerprint = fingerprint(files)
    version = model_version_name(config, data_fingerprint, library_code_hash())
    options: dict[str, Any] = {"enable_cache": not no_cache}
    if run_config is not None:
        options["config_path"] = str(run_config)
    pipeline = training_pipeline.with_options(**options)
    try:
        run = pipeline(config=config, data_fingerprint=data_fingerprint, model_version=version)
    except Exception as error:  # noqa: BLE001 - reported once, plainly (see QuietStepFailures)
        print(f"\n{failure_report(config, error)}", file=sys.stderr)
        return 1, None
    if run is None:  # a schedule was registered with the orchestrator; nothing ran yet
        print("pipeline scheduled on the active stack's orchestrator; runs will appear in ZenML")
        return 0, None
    return 0, export_run(run.id, config)


def _output(steps: Any, step: str, name: str) -> Any:
    return steps[step].outputs[name][0].load()


def export_run(run_id: Any, config: RunConfig) -> TrainingRun:
    """Write the run's artifacts to ``reports/<run>/``, point ``latest`` there, print a summary."""
    from zenml.client import Client

    client = Client()
    run = client.get_pipeline_run(run_id)
    steps = run.steps
    evaluation: EvaluationResult = _output(steps, "evaluate_model", "evaluation_metrics")
    history = _output(steps, "train_model", "training_history")
    id_only = _output(steps, "train_model", "id_only_metrics")
    decision = _output(steps, "register_model", "promotion_decision")
    drift = _output(steps, "report_drift", "drift_summary")
    report = {
        **evaluation.to_json(),
        "ablations": {"id_only": id_only} if id_only else {},
        "training": history.summary(),
        "drift": drift,
        "promotion": decision,
        "run": {"name": run.name, "id": str(run.id)},
    }
    pages = {
        "validation.html": str(_output(steps, "validate_data", "validation_report")),
        "drift.html": str(_output(steps, "report_drift", "drift_report")),
        "evaluation.html": str(_output(steps, "render_report", "evaluation_report")),
    }
    # The stage as the registry holds it now (a cached decision may be older).
    stage = client.get_model_version(config.registry.model_name, decision["version"]).stage
    report["stage"] = str(getattr(stage, "value", stage) or "none")
    reports_dir = config.reports_dir
    run_dir = write_run_reports(
        reports_dir / run.name,
        report,
        _output(steps, "evaluate_model", "test_recommendations"),
        pages,
        _output(steps, "evaluate_model", "serving_recommendations"),
    )
    if "mine_interests" in steps:  # what each user watches, and what changed lately
        from mtrec.evaluation.interests import topics_frame

        # With the served model's latent (and predicted) interests where the run has them.
        described = "describe_interests" in steps
        profiles = (
            _output(steps, "describe_interests", "interests")
            if described
            else _output(steps, "mine_interests", "user_interests")
        )
        profiles.to_csv(run_dir / "interests.csv", index=False)
        topics_frame(_output(steps, "mine_interests", "item_topics")).to_csv(
            run_dir / "topics.csv", index=False
        )
    point_latest(reports_dir, run_dir)
    write_index(reports_dir)
    cached = [name for name, s in steps.items() if str(s.status).lower().endswith("cached")]
    exported = TrainingRun.from_outputs(run.name, run_dir, decision, evaluation, report["stage"])
    ablation = EvaluationResult.model_validate(id_only) if id_only else None
    summary = run_summary(
        evaluation, ablation, drift, config.evaluation.ks, cached, len(steps), exported, reports_dir
    )
    print(summary)
    return exported
