from typing import Annotated

import pandas as pd
from zenml import step

from mtrec.config import EventFunnel
from mtrec.retrain.windows import CycleRecord
from mtrec.workflows import retraining
from steps.hooks import record_failure
from steps.retrain.materializers import CycleRecordMaterializer


# Never cached: which version is in production is not one of its inputs.
@step(
    enable_cache=False,
    on_failure=record_failure,
    output_materializers={"scored_cycle": CycleRecordMaterializer},
)
def score_production(
    model_name: str,
    record: CycleRecord,
    interactions: pd.DataFrame,
    items: pd.DataFrame,
    users: pd.DataFrame,
    funnel: EventFunnel | None = None,
) -> Annotated[CycleRecord, "scored_cycle"]:
    """Score ``model_name``'s production version on the window, before anything is retrained:
    ``interactions`` are the validated ones up to the window's end."""
    from mtrec_cli.registry import production_model

    production = production_model(model_name)
    return retraining.score_production(record, production, interactions, items, users, funnel)
