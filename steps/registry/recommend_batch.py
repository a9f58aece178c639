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

    from mtrec.registry.recommend import read_events, read_profiles, recommend, served_topics

    version = get_step_context().model
    served = version.get_artifact("served_recommender") or version.get_artifact("recommender")
    trained = served.load()
    history = version.get_artifact("interactions").load()
    if events_path is not None:
        history = pd.concat([history, read_events(Path(events_path), history)], ignore_index=True)
    profiles = None
    if profiles_path is not None:
        profiles = read_profiles(Path(profiles_path), encoder)
        users = users if users is not None else [*trained.user_ids, *profiles]
    topics = None
    if explain or rerank.method == "calibrated":
        # The topics the run mined; a version from before the mine_interests step gets them
        # clustered here the same way.
        mined = version.get_artifact("item_topics")
        if mined is not None:
            topics = mined.load()
        else:
            items = version.get_artifact("items")
            topics = served_topics(trained, items.load() if items else None, interests)
    frame = recommend(trained, history, k, users, profiles=profiles, rerank=rerank,
                      topics=topics, explain_items=explain, interests=interests)  # fmt: skip
    by_source = frame.drop_duplicates("user_id")["source"].value_counts().to_dict()
    log_metadata({"batch_recommendations": {"k": k, "users": int(frame["user_id"].nunique()),
                                            "by_source": by_source}})  # fmt: skip
    return frame
