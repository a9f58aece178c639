"""A failed pipeline run, reported once and plainly: each failed step's own message."""

from __future__ import annotations

import logging
import os

from mtrec.config import RunConfig


def failure_report(config: RunConfig, error: Exception, pipeline: str = "training_pipeline") -> str:
    """Why the newest run of ``pipeline`` failed, as one block: each failed step's own
    message (or ``error`` when no step failed), and where its validation page was written, if
    it has one."""
    from zenml.client import Client
    from zenml.enums import ExecutionStatus

    runs = Client().list_pipeline_runs(
        pipeline=pipeline, sort_by="desc:created", size=1, hydrate=True
    )
    run = runs.items[0] if runs.items else None
    steps = run.steps if run else {}
    failed = {
        name: step.exception_info
        for name, step in steps.items()
        if step.status == ExecutionStatus.FAILED and step.exception_info
    }
    what = pipeline.replace("_pipeline", "").replace("_", " ")
    lines = [
        f"error: the {what} pipeline failed in step {name}:\n{info.message or info.traceback}"
        for name, info in failed.items()
    ] or [f"error: the {what} pipeline failed: {error}"]
    validation = steps.get("validate_data")
    pages = validation.outputs.get("validation_report_failed", []) if validation else []
    if run and pages:
        run_dir = config.reports_dir / run.name
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "validation.html").write_text(str(pages[0].load()), encoding="utf-8")
        lines.append(f"validation report: {run_dir / 'validation.html'}")
    if not os.environ.get("MTREC_TRACEBACK"):
        lines.append("(MTREC_TRACEBACK=1 shows the traceback)")
    return "\n".join(lines)


class QuietStepFailures(logging.Filter):
    """ZenML logs a failed step's message, then its traceback, before run.py prints the
    message in its failure report: this filter drops both, so each failure reads once. The
    traceback stays in the store (the dashboard's step page) and ``MTREC_TRACEBACK=1`` keeps
    the filter off."""

    LOGGERS = ("zenml.orchestrators.step_launcher", "zenml.orchestrators.local.local_orchestrator")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == "Failed to run step `%s`: %s":  # the message run.py prints
            return False
        record.exc_info, record.exc_text = None, None
        return True


_QUIET_STEP_FAILURES = QuietStepFailures()


def quiet_step_failures() -> None:
    """Install the filter on ZenML's step loggers (once, however many commands run in a
    process), unless ``MTREC_TRACEBACK`` is set."""
    if not os.environ.get("MTREC_TRACEBACK"):
        for name in QuietStepFailures.LOGGERS:
            logging.getLogger(name).addFilter(_QUIET_STEP_FAILURES)
