from typing import Annotated

import pandas as pd
from zenml import step
from zenml.materializers.structured_string_materializer import StructuredStringMaterializer
from zenml.types import HTMLString

from mtrec.config import RunConfig
from mtrec.retrain.windows import CycleRecord
from mtrec.workflows import retraining
from mtrec.workflows.retraining import CyclePlan
from steps.hooks import record_failure
from steps.retrain.materializers import CycleRecordMaterializer


# Never cached: the page it writes under reports/ is not an output ZenML would restore.
@step(
    enable_cache=False,
    on_failure=record_failure,
    # Both outputs named: given the record's alone, ZenML 0.98 saved it with the page's
    # materializer (StructuredStringMaterializer), which the next step cannot load.
    output_materializers={
        "window_drift_report": StructuredStringMaterializer,
        "drift_cycle": CycleRecordMaterializer,
    },
)
def report_window_drift(
    config: RunConfig,
    plan: CyclePlan,
    record: CycleRecord,
    interactions: pd.DataFrame,
    items: pd.DataFrame,
    users: pd.DataFrame,
) -> tuple[
    Annotated[HTMLString, "window_drift_report"],
    Annotated[CycleRecord, "drift_cycle"],
]:
    """The window's data drift against the data production was trained on (Evidently), as a
    page and in the cycle's record; ``interactions``: the validated ones up to the window's
    end."""
    html, drifted = retraining.measure_drift(config, plan, record, interactions, items, users)
    page = html or f"<p>Drift not tested: {drifted.drift.status if drifted.drift else ''}</p>"
    return HTMLString(page), drifted
