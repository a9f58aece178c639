"""The ZenML Model Control Plane as the service's model source: a stage of
``registry.model_name`` (``production`` by default), loaded as ``make recommend`` loads it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from uuid import UUID

import numpy as np

from mtrec.config import RunConfig
from mtrec.registry.recommend import Recommender
from mtrec.serving.api import ServedModel
from mtrec_cli.registry import load_served_version

log = logging.getLogger("mtrec.serving")


class RegistrySource:
    """The version at ``stage`` of the config's model: its ``served_recommender`` (refit on
    every interaction; ``recommender`` when the run did not refit), its ``interactions`` as
    the known history, its ``item_topics`` (clustered from the model's item text when the
    version has none) and the config's ``rerank`` section. Profile texts are encoded with
    the config's encoder, loaded once and shared by every version."""

    def __init__(self, config: RunConfig, stage: str = "production") -> None:
        self.config = config
        self.stage = stage
        self._encoder_lock = threading.Lock()
        self._encoder: object | None = None

    def current_key(self) -> str | None:
        from zenml.client import Client

        try:
            version = Client().get_model_version(self.config.registry.model_name, self.stage)
        except KeyError:
            return None
        return str(version.id)

    def load(self, key: str) -> ServedModel:
        from zenml.client import Client

        version = Client().get_model_version(self.config.registry.model_name, UUID(key))
        served = load_served_version(version, self.config.interests)
        recommender = Recommender(served.model, served.history, served.topics)
        return ServedModel(
            version=str(version.name),
            key=key,
            recommender=recommender,
            rerank=self.config.rerank,
            encode=self._encoder_for(served.model.spec.user_text_dim),
        )

    def _encoder_for(self, dim: int) -> Callable[[str], np.ndarray] | None:
        """A thread-safe profile encoder whose vectors are ``dim`` wide, or ``None`` (with a
        warning) when the config's encoder gives another width."""
        from mtrec.features.encoder import TextEncoder

        with self._encoder_lock:
            if self._encoder is None:
                enc = self.config.encoder
                # Unpacked batches of one: a call always has one shape (so a vector does not
                # depend on its batch-mates), and a full call (128 rows, or 1,024 packed tokens)
                # for one text costs several times one text's own tokens, for the same vectors
                # to cosine 0.9999 (tests/serving/test_online.py).
                self._encoder = TextEncoder.from_config(enc, batch_size=1, pack_tokens=0)
            encoder = self._encoder
        assert isinstance(encoder, TextEncoder)
        if encoder.dim != dim:
            log.warning(
                "the encoder gives %d-wide vectors, the model reads %d: profiles are refused",
                encoder.dim,
                dim,
            )
            return None
        lock = self._encoder_lock

        def encode(text: str) -> np.ndarray:
            with lock:  # the tokenizer and the precision probe are not thread-safe
                return encoder.encode([text])[0]

        return encode
