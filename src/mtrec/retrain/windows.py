"""Windows of new interactions and the ledger that records which were ingested.

A cycle never appends data anywhere: the training data of the cycle for window ``[start, end)``
is every source interaction before ``end``, so the same interaction cannot be ingested twice.
The ledger only says how far the timeline has been processed and what each cycle decided; it
is written atomically, so a cycle killed half way is simply run again (its pipeline steps are
cached and its model version is named after its inputs, so no duplicate version appears).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mtrec.config import RunConfig, SplitConfig
from mtrec.files import write_atomic

DAY = 86_400


@dataclass(frozen=True)
class Window:
    """Interactions with ``start <= timestamp < end`` (seconds since the epoch)."""

    start: int
    end: int

    def label(self) -> str:
        first = pd.Timestamp(self.start, unit="s").strftime("%Y-%m-%d")
        last = pd.Timestamp(self.end - 1, unit="s").strftime("%Y-%m-%d")
        return f"{first}..{last}"


def numeric_timestamps(interactions: pd.DataFrame) -> pd.Series:
    return pd.to_numeric(interactions["timestamp"], errors="coerce")


def initial_cutoff(interactions: pd.DataFrame, share: float) -> int:
    """The midnight (UTC) before which about ``share`` of the interactions lie: where the
    initial model's data ends and the first window starts."""
    timestamps = numeric_timestamps(interactions).dropna().to_numpy()
    if len(timestamps) == 0:
        raise ValueError("no interaction has a numeric timestamp: nothing to put on a timeline")
    quantile = int(np.quantile(timestamps, share, method="higher"))
    return quantile - quantile % DAY


def window_after(watermark: int, days: float) -> Window:
    return Window(int(watermark), int(watermark + round(days * DAY)))


def in_window(interactions: pd.DataFrame, window: Window) -> pd.DataFrame:
    timestamps = numeric_timestamps(interactions)
    return interactions[(timestamps >= window.start) & (timestamps < window.end)]


def cycle_run_config(config: RunConfig, window: Window) -> RunConfig:
    """The run config of the cycle that evaluates on ``window``: data up to its end, trained
    on everything before ``window.start - valid_days``, validated on those last days, tested
    (and gated, head to head with production) on the window itself."""
    valid_start = window.start - int(round(config.retrain.valid_days * DAY))
    split = SplitConfig(
        strategy="time", valid_start=valid_start, test_start=window.start, seed=config.split.seed
    )
    metric = config.registry.promotion.key
    return RunConfig.model_validate(
        {
            **config.model_dump(),
            "data": {**config.data.model_dump(), "until": window.end},
            "split": split.model_dump(),
            "validation": {**config.validation.model_dump(), "sparse_users": "drop"},
            "registry": {**config.registry.model_dump(), "promotion_metric": f"test.{metric}"},
        }
    )


@dataclass
class Ledger:
    """What the timeline has been processed up to, and one record per cycle."""

    path: Path
    watermark: int | None = None
    cycles: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> Ledger:
        if not path.is_file():
            return cls(path)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            return cls(path, raw["watermark"], list(raw["cycles"]))
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise ValueError(
                f"retraining ledger {path} is damaged ({error}); it records which windows were "
                "ingested, so it is not rebuilt silently: restore it, or delete it to restart "
                "the timeline from the initial model"
            ) from error

    def record(self, cycle: dict[str, Any], watermark: int) -> None:
        """Add a finished cycle and move the watermark, atomically on disk."""
        self.cycles.append(cycle)
        self.watermark = watermark
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"watermark": self.watermark, "cycles": self.cycles}
        write_atomic(self.path, json.dumps(payload, indent=1, default=str))

    def cycle_for(self, window: Window) -> dict[str, Any] | None:
        return next((c for c in self.cycles if c.get("window_start") == window.start), None)

    def last_retrain_index(self) -> int:
        """Index of the newest cycle that trained a model (the initial one counts)."""
        trained = [i for i, c in enumerate(self.cycles) if c.get("retrained")]
        return trained[-1] if trained else -1


def retrain_due(ledger: Ledger, every_windows: int) -> bool:
    """The schedule: at least ``every_windows`` windows since the last model was trained."""
    return len(ledger.cycles) - ledger.last_retrain_index() >= every_windows


def as_record(window: Window, **values: Any) -> dict[str, Any]:
    return {
        "window": window.label(),
        "window_start": window.start,
        "window_end": window.end,
        **values,
    }
