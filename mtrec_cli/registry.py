"""A model version of the ZenML Model Control Plane, loaded for serving: the one loader that
batch recommendation (``steps/registry/recommend_batch.py``) and the HTTP service
(``serving/registry.py``) share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from mtrec.config import InterestsConfig
from mtrec.evaluation.interests import Topics
from mtrec.models.serialization import TrainedModel
from mtrec.registry.recommend import served_topics


@dataclass(frozen=True)
class ServedVersion:
    """What serves from a version: its model, the history it knows, its item topics."""

    name: str
    model: TrainedModel
    """``served_recommender`` (refit on every interaction), or ``recommender`` when the run
    did not refit."""
    history: pd.DataFrame
    """``interactions``: every interaction the version knows."""
    topics: Topics


def load_served_version(version: Any, interests: InterestsConfig) -> ServedVersion:
    """``version``: a ZenML model version (``Client().get_model_version`` or a step's model).
    Topics are the ones the run mined (``item_topics``); a version from before the
    mine_interests step gets them clustered from the model's item text the same way."""
    artifact = version.get_artifact("served_recommender") or version.get_artifact("recommender")
    interactions = version.get_artifact("interactions")
    if artifact is None or interactions is None:
        raise LookupError(f"model version {version.name} has no recommender or interactions")
    model = artifact.load()
    mined = version.get_artifact("item_topics")
    if mined is not None:
        topics = mined.load()
    else:
        items = version.get_artifact("items")
        topics = served_topics(model, items.load() if items else None, interests)
    return ServedVersion(str(version.name), model, interactions.load(), topics)


def production_model(model_name: str) -> tuple[str, TrainedModel] | None:
    """The production version's name and its evaluated model (``recommender``, the one its
    gate scored), or None when ``model_name`` has no production version."""
    from zenml.client import Client
    from zenml.enums import ModelStages

    try:
        version = Client().get_model_version(model_name, ModelStages.PRODUCTION)
    except KeyError:
        return None
    return str(version.name), version.get_artifact("recommender").load()
