from typing import Annotated, Any

import pandas as pd
from zenml import log_metadata, save_artifact, step
from zenml.types import HTMLString

from mtrec.config import EventFunnel, ValidationConfig
from steps.caching import LIBRARY_CACHE_POLICY


@step(cache_policy=LIBRARY_CACHE_POLICY)
def validate_data(
    interactions: pd.DataFrame,
    items: pd.DataFrame,
    config: ValidationConfig,
    label_columns: dict[str, list[str]] | None = None,
    funnel: EventFunnel | None = None,
    stop_on_failure: bool = True,
) -> tuple[
    Annotated[HTMLString, "validation_report"],
    Annotated[dict[str, Any], "validation_summary"],
    Annotated[pd.DataFrame, "validated_interactions"],
]:
    """Apply the configured repairs, run the Great Expectations suite and pass the validated
    interactions on; stop the pipeline before training on failure. ``label_columns``: the
    columns the declared tasks read (``ModelConfig.label_columns``), required with their tasks
    named; ``funnel`` (``DataConfig.funnel``): the event column and its declared stages.

    On failure the HTML page is still saved as an artifact, so the reviewer sees every failed
    expectation with sample rows, and the error message names each one. Without
    ``stop_on_failure`` (the retraining cycle, which refuses the window instead of failing),
    a failure is only in the outputs: ``validation_summary``'s ``success`` is false.
    """
    # Imported when the step runs: Great Expectations takes two seconds to import, and every
    # run, cached ones included, imports this module to define the pipeline.
    from mtrec.data.validation import (
        DataValidationError,
        repair_interactions,
        validate_interactions,
    )
    from mtrec.reports.validation import render_validation_html

    interactions, repairs = repair_interactions(interactions, config, funnel)
    result = validate_interactions(
        interactions, items, config, repairs=repairs, label_columns=label_columns, funnel=funnel
    )
    html = HTMLString(render_validation_html(result))
    log_metadata(
        {
            "validation": {
                "success": result.success,
                "rows": result.n_rows,
                "failed": len(result.failures()),
                "repairs": result.repairs,
            }
        }
    )
    if not result.success and stop_on_failure:
        save_artifact(html, name="validation_report_failed")
        raise DataValidationError(result)
    return html, result.to_dict(), interactions
