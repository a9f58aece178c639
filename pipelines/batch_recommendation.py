"""Batch recommendation: the lists ``make recommend`` exports, as an artifact of the model
version that made them."""

from zenml import Model, pipeline

from mtrec.config import RunConfig
from steps.hooks import record_failure
from steps.registry.recommend_batch import recommend_batch


def batch_recommendation_pipeline(
    config: RunConfig,
    stage: str,
    k: int,
    users: list[str] | None,
    profiles_path: str | None = None,
    events_path: str | None = None,
    explain: bool = False,
):
    """The pipeline for the registry's ``stage`` version of ``config.registry.model_name``:
    one step whose output, ``batch_recommendations``, is linked to that version."""

    @pipeline(
        name="batch_recommendation_pipeline",
        enable_cache=False,
        model=Model(name=config.registry.model_name, version=stage),
        on_failure=record_failure,
    )
    def batch_recommendation() -> None:
        recommend_batch(
            k,
            users,
            config.rerank,
            config.interests,
            config.encoder,
            profiles_path,
            events_path,
            explain,
        )

    return batch_recommendation
