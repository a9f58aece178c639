from typing import Annotated

from zenml import step

from mtrec.config import RunConfig
from mtrec.retrain.windows import CycleRecord
from mtrec.workflows import retraining
from mtrec.workflows.retraining import CyclePlan
from steps.caching import LIBRARY_CACHE_POLICY
from steps.hooks import record_failure
from steps.retrain.materializers import CycleRecordMaterializer


@step(
    cache_policy=LIBRARY_CACHE_POLICY,
    on_failure=record_failure,
    output_materializers={"decided_cycle": CycleRecordMaterializer},
)
def decide_retraining(
    config: RunConfig, plan: CyclePlan, record: CycleRecord
) -> Annotated[CycleRecord, "decided_cycle"]:
    """Whether the cycle trains a candidate, and why: the initial model, the schedule
    (``retrain.every_windows``) or the window's drift (``retrain.on_drift``)."""
    return retraining.decide_retraining(config, plan, record)
