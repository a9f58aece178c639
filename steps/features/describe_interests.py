from typing import Annotated

import pandas as pd
from zenml import step

from mtrec.evaluation.interests import Topics, with_model_interests
from mtrec.models.serialization import TrainedModel
from steps.caching import LIBRARY_CACHE_POLICY


@step(cache_policy=LIBRARY_CACHE_POLICY)
def describe_interests(
    recommender: TrainedModel, topics: Topics, user_interests: pd.DataFrame
) -> Annotated[pd.DataFrame, "interests"]:
    """Each user's interests as counted (``user_interests``: long-term, recent, shift) and as
    the served ``recommender`` learned them: its latent topics and, with an interest task,
    the topic shares it predicts for the user's next period."""
    # Imported when the step runs: defining the pipeline (every run, cached ones too) then
    # needs no torch.
    from mtrec.evaluation.evaluate import model_interest_shares, model_latent_interests

    model = recommender.build()
    predicted = None
    if model.spec.interest_tasks:
        predicted = model_interest_shares(model, model.spec.n_users, topics.n_topics)
    latent = model_latent_interests(model, topics).distribution
    return with_model_interests(user_interests, topics, latent, predicted)
