from typing import Annotated

import pandas as pd
from zenml import ArtifactConfig, get_step_context, log_metadata, step

from mtrec.config import EncoderConfig, InterestsConfig, RerankConfig


@step(enable_cache=False)
def recommend_batch(
    k: int,
    users: list[str] | None,
    rerank: RerankConfig,
    interests: InterestsConfig,
    encoder: EncoderConfig,
    profiles_path: str | None = None,
    events_path: str | None = None,
    explain: bool = False,
) -> Annotated[pd.DataFrame, ArtifactConfig(name="batch_recommendations")]:
    """Top-``k`` lists from the pipeline's model version (its stage resolved when the run
    starts), linked to that version: the version's served model (the refit on every
    interaction; the evaluated one for a run without refits) ranks each user's unseen items,
    reading their known interactions plus ``events_path`` (CSV or Parquet ``user_id,item_id
    [,timestamp]`` that arrived since training); users it does not know are scored from
    ``profiles_path`` (``user_id,text``) or popularity. Re-ranked as ``rerank`` says;
    ``explain`` adds a reason column from each user's recent topic shares."""
    from pathlib import Path

    from mtrec.registry.recommend import read_events, read_profiles, recommend
    from mtrec_cli.registry import load_served_version

    served = load_served_version(get_step_context().model, interests)
    trained, history, topics = served.model, served.history, served.topics
    if events_path is not None:
        history = pd.concat([history, read_events(Path(events_path), history)], ignore_index=True)
    profiles = None
    if profiles_path is not None:
        profiles = read_profiles(Path(profiles_path), encoder)
        users = users if users is not None else [*trained.user_ids, *profiles]
    frame = recommend(
        trained,
        history,
        k,
        users,
        profiles=profiles,
        rerank=rerank,
        topics=topics,
        explain_items=explain,
        interests=interests,
    )
    by_source = frame.drop_duplicates("user_id")["source"].value_counts().to_dict()
    log_metadata(
        {
            "batch_recommendations": {
                "k": k,
                "users": int(frame["user_id"].nunique()),
                "by_source": by_source,
            }
        }
    )
    return frame
