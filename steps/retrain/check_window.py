from typing import Annotated, Any

from zenml import step

from mtrec.retrain.windows import CycleRecord
from mtrec.workflows import retraining
from mtrec.workflows.retraining import CyclePlan
from steps.caching import LIBRARY_CACHE_POLICY
from steps.hooks import record_failure
from steps.retrain.materializers import CycleRecordMaterializer


@step(
    cache_policy=LIBRARY_CACHE_POLICY,
    on_failure=record_failure,
    output_materializers={"checked_cycle": CycleRecordMaterializer},
)
def check_window(
    plan: CyclePlan, validation_summary: dict[str, Any]
) -> Annotated[CycleRecord, "checked_cycle"]:
    """The cycle after validating its data (``validate_data``'s summary): refused, naming
    each failed expectation, or running with the repairs it made."""
    # Imported when the step runs: it imports Great Expectations (two seconds).
    from mtrec.data.validation import ValidationResult

    return retraining.check_window(plan, ValidationResult.from_dict(validation_summary))
