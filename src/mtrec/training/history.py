"""A training run's record without its weights: the epochs' losses, validation metrics and
times. Kept apart from the training loop so that reading a record (reports, the ZenML
artifact) needs neither torch nor the network."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class EpochLog(BaseModel):
    """One epoch of a training run."""

    model_config = ConfigDict(frozen=True, ser_json_inf_nan="constants")

    epoch: int
    losses: dict[str, float]
    """Mean per-task losses and ``total``, the weighted sum."""
    valid: dict[str, float] = {}
    seconds: float
    weights: dict[str, float] = {}
    """Effective task weights at the end of the epoch."""


class TrainingHistory(BaseModel):
    """A training run without its weights: the ``training_history`` artifact, what the
    evaluation report charts and ``metrics.json``'s ``training`` section summarises. NaN
    metrics survive a JSON round trip (written as ``NaN``)."""

    model_config = ConfigDict(frozen=True, ser_json_inf_nan="constants")

    best_epoch: int
    """The epoch whose weights were kept (the last one without validation)."""
    best_valid: dict[str, float]
    seconds: float
    epochs: tuple[EpochLog, ...]

    @property
    def seconds_to_best(self) -> float:
        return sum(log.seconds for log in self.epochs[: self.best_epoch])

    def summary(self) -> dict[str, Any]:
        """The run in a few figures, without the per-epoch curves."""
        return {
            "best_epoch": self.best_epoch,
            "best_valid": self.best_valid,
            "seconds": self.seconds,
            "seconds_to_best": self.seconds_to_best,
        }
