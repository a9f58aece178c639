from typing import Annotated

import pandas as pd
from zenml import step

from mtrec.config import RunConfig
from mtrec.retrain.windows import Ledger
from mtrec.workflows import retraining
from mtrec.workflows.retraining import CyclePlan
from steps.hooks import record_failure
from steps.retrain.materializers import CyclePlanMaterializer


# Never cached: the ledger it reads is not one of its inputs.
@step(
    enable_cache=False,
    on_failure=record_failure,
    output_materializers={"cycle_plan": CyclePlanMaterializer},
)
def plan_cycle(
    config: RunConfig, interactions: pd.DataFrame, window_start: int | None = None
) -> Annotated[CyclePlan, "cycle_plan"]:
    """Read the retraining ledger: the next window after its watermark (the initial model when
    it is empty), or the window starting at ``window_start``; the plan's record says when
    there is nothing to do (waiting for the window to complete, already ingested).
    ``interactions``: the whole source, for the initial cutoff and the newest timestamp."""
    ledger = Ledger.load(retraining.ledger_path(config))
    return retraining.plan_cycle(config, ledger, interactions, window_start)
