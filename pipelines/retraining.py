"""The retraining cycle: plan the window, validate its data, score production on it, measure
its drift, decide, and when it retrains, the training pipeline's own steps; the cycle's record
is the ``cycle_record`` artifact and the ledger's new entry.

A dynamic pipeline (ZenML's ``@pipeline(dynamic=True)``, experimental in 0.98): the pipeline
function loads the plan, the validation verdict and the decision as their steps finish and
branches on them, so a cycle with nothing to do, a refused one and one that does not retrain
each run only the steps they need, and a retrained cycle is one run, its training steps named
as in ``training_pipeline``.
"""

from typing import Any

from zenml import Model, pipeline
from zenml.client import Client
from zenml.constants import ENV_ZENML_PARAMETER_SIZE_THRESHOLD
from zenml.enums import ModelStages
from zenml.utils.env_utils import temporary_environment

from mtrec.config import RunConfig
from mtrec.retrain.windows import CycleRecord, cycle_run_config
from mtrec.workflows.runs import model_version_name
from pipelines.training import candidate_model, train_and_register
from steps.caching import library_code_hash
from steps.data.load_data import load_data
from steps.data.validate_data import validate_data
from steps.hooks import record_failure
from steps.retrain.check_window import check_window
from steps.retrain.decide_retraining import decide_retraining
from steps.retrain.plan_cycle import plan_cycle
from steps.retrain.record_cycle import record_cycle
from steps.retrain.report_window_drift import report_window_drift
from steps.retrain.score_production import score_production


@pipeline(dynamic=True, on_failure=record_failure)
def retraining_pipeline(
    config: RunConfig, data_fingerprint: str, window_start: int | None = None
) -> None:
    """One retraining cycle of ``config.registry.model_name`` (the initial model when the
    ledger is empty); ``window_start``: redo the window starting there (one already ingested
    is recorded as such, nothing else runs). ``data_fingerprint``: the source files' content
    hash, part of the data steps' cache keys.

    A window whose data fails validation ends as a refused ``cycle_record`` (the run
    completes; the ledger is left alone); a training step that fails fails the run, and
    production stays as it was.
    """
    # Raw values (the config's sections, a finished plan's record) go to the steps as step
    # parameters, as in a static pipeline, not as one external artifact each (the default of
    # a dynamic pipeline): such an artifact is loaded by its stored type path, src.mtrec.* for
    # this package installed editable under the source root, a second copy of the module whose
    # classes an Optional-typed input (``rerank: RerankConfig | None``) refuses.
    with temporary_environment({ENV_ZENML_PARAMETER_SIZE_THRESHOLD: "-1"}):
        _cycle(config, data_fingerprint, window_start)


def _cycle(config: RunConfig, data_fingerprint: str, window_start: int | None) -> None:
    source, _, _, _ = load_data.with_options(on_failure=record_failure)(
        config.data, data_fingerprint, id="load_source"
    )
    plan = plan_cycle(config, source, window_start)
    planned = plan.load()
    if not planned.runs:  # waiting for data, or already ingested
        _record(config, planned.record, planned.record)
        return
    cycle_config = cycle_run_config(config, planned.window)
    interactions, items, users, edges = load_data.with_options(on_failure=record_failure)(
        cycle_config.data, data_fingerprint
    )
    _, summary, validated = validate_data.with_options(on_failure=record_failure)(
        interactions,
        items,
        cycle_config.validation,
        cycle_config.label_columns(),
        cycle_config.data.funnel,
        stop_on_failure=False,
    )
    record = check_window(plan, summary)
    checked = record.load()
    if checked.refused is not None:
        _record(config, record, checked)
        return
    if planned.kind == "window":
        model_name = config.registry.model_name
        funnel = cycle_config.data.funnel
        record = score_production(model_name, record, validated, items, users, funnel)
        _, record = report_window_drift(config, plan, record, validated, items, users)
    record = decide_retraining(config, plan, record)
    decided = record.load()
    if not decided.retrained:
        _record(config, record, decided)
        return
    version = model_version_name(cycle_config, data_fingerprint, library_code_hash())
    model = candidate_model(cycle_config, version)
    decision, metrics = train_and_register(cycle_config, model, validated, items, users, edges)
    record_cycle.with_options(model=model)(config, record, decision, metrics)


def _record(config: RunConfig, record: Any, loaded: CycleRecord) -> None:
    """The cycle's record, for a cycle that did not train: linked to the production version
    it was scored against (or, when it got no score, the production version now), so it
    shows on that version in the dashboard; to no version when the model has none."""
    version = loaded.production_version or _production_version(config.registry.model_name)
    step = record_cycle
    if version is not None:
        step = record_cycle.with_options(
            model=Model(name=config.registry.model_name, version=version)
        )
    step(config, record)


def _production_version(model_name: str) -> str | None:
    try:
        return str(Client().get_model_version(model_name, ModelStages.PRODUCTION).name)
    except KeyError:
        return None
