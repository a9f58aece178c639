from typing import Annotated, Any

from zenml import get_step_context, step
from zenml.utils.time_utils import utc_now

from mtrec.config import RunConfig
from mtrec.evaluation.results import EvaluationResult
from mtrec.retrain.windows import CycleRecord
from mtrec.workflows import retraining
from mtrec.workflows.runs import TrainingRun
from steps.hooks import record_failure
from steps.retrain.materializers import CycleRecordMaterializer


# Never cached: it writes the ledger.
@step(
    enable_cache=False,
    on_failure=record_failure,
    output_materializers={"cycle_record": CycleRecordMaterializer},
)
def record_cycle(
    config: RunConfig,
    record: CycleRecord,
    promotion_decision: dict[str, Any] | None = None,
    evaluation_metrics: EvaluationResult | None = None,
) -> Annotated[CycleRecord, "cycle_record"]:
    """The cycle's final record, linked to the model version the pipeline gives this step;
    a finished cycle is written to the ledger, which moves the watermark past its window.
    ``promotion_decision`` and ``evaluation_metrics``: this run's training outcome, when the
    cycle trained (its reports are exported to ``reports/<run name>/``)."""
    context = get_step_context()
    run_name = context.pipeline_run.name
    run = None
    if promotion_decision is not None and evaluation_metrics is not None:
        # The candidate's version, which the pipeline links this step to when it trained.
        stage = context.model_version.stage if context.model_version is not None else None
        run = TrainingRun.from_outputs(
            run_name,
            config.reports_dir / run_name,
            promotion_decision,
            evaluation_metrics,
            str(getattr(stage, "value", stage) or "none"),
        )
    started = context.pipeline_run.start_time
    seconds = (utc_now(tz_aware=started) - started).total_seconds() if started else 0.0
    return retraining.record_cycle(config, record, run, seconds)
