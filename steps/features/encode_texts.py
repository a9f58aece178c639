from typing import Annotated

import numpy as np
import pandas as pd
from zenml import log_metadata, step

from mtrec.config import EncoderConfig
from mtrec.features.encoder import TextEncoder
from steps.caching import LIBRARY_CACHE_POLICY


@step(cache_policy=LIBRARY_CACHE_POLICY)
def encode_texts(
    item_texts: pd.DataFrame, user_texts: pd.DataFrame, config: EncoderConfig
) -> tuple[
    Annotated[np.ndarray, "item_embeddings"],
    Annotated[np.ndarray, "user_embeddings"],
]:
    """Embed item and user texts with the configured encoder: (N, D) float32 unit rows."""
    encoder = TextEncoder(config.model_path, config.max_length, config.batch_size)
    item_embeddings = encoder.encode(item_texts["text"].tolist())
    user_embeddings = encoder.encode(user_texts["text"].tolist())
    log_metadata({"encoder": {"path": str(encoder.path), "dim": encoder.dim,
                              "items": len(item_texts), "users": len(user_texts)}})  # fmt: skip
    return item_embeddings, user_embeddings
