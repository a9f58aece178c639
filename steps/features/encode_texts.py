from typing import Annotated

import numpy as np
import pandas as pd
from zenml import log_metadata, step

from mtrec.config import EncoderConfig
from steps.caching import LIBRARY_CACHE_POLICY


@step(cache_policy=LIBRARY_CACHE_POLICY)
def encode_texts(
    item_texts: pd.DataFrame, user_texts: pd.DataFrame, config: EncoderConfig
) -> tuple[
    Annotated[np.ndarray, "item_embeddings"],
    Annotated[np.ndarray, "user_embeddings"],
]:
    """Embed item and user texts (N, D) float32 unit rows, encoding only texts the
    content-addressed store has not seen."""
    # Imported when the step runs: transformers takes a second to import, and every run,
    # cached ones included, imports this module to define the pipeline.
    from mtrec.features.embed import embed_texts
    from mtrec.features.encoder import TextEncoder

    encoder = TextEncoder.from_config(config)
    items, item_stats = embed_texts(encoder, item_texts["text"].tolist(), config.store_dir)
    users, user_stats = embed_texts(encoder, user_texts["text"].tolist(), config.store_dir)
    log_metadata(
        {
            "encoder": {
                "path": str(encoder.path),
                "dim": encoder.dim,
                "precision": encoder.precision,
                "item_hits": item_stats.hits,
                "item_misses": item_stats.misses,
                "user_hits": user_stats.hits,
                "user_misses": user_stats.misses,
                "corrupt_shards": item_stats.corrupt_shards,
            }
        }
    )
    print(
        f"embedding store: items {item_stats.hits} hits / {item_stats.misses} encoded, users "
        f"{user_stats.hits} hits / {user_stats.misses} encoded ({encoder.precision})"
    )
    return items, users
