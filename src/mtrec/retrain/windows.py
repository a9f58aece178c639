"""Windows of new interactions and the ledger that records which were ingested.

A cycle never appends data anywhere: the training data of the cycle for window ``[start, end)``
is every source interaction before ``end``, so the same interaction cannot be ingested twice.
The ledger only says how far the timeline has been processed and what each cycle decided; it
is written atomically, so a cycle killed half way is simply run again (its pipeline steps are
cached and its model version is named after its inputs, so no duplicate version appears).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Self

import numpy as np
import pandas as pd
from pydantic import (
    BaseModel,
    ConfigDict,
    SerializerFunctionWrapHandler,
    StrictBool,
    ValidationError,
    model_serializer,
    model_validator,
)

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


_SCORED = ("production", "candidate")
"""A record's scores are keyed by their metric in JSON: ``production_<metric>``."""

Refusal = Literal["validation", "training"]
"""Why a cycle was refused: its data failed validation, or its training run failed."""
REFUSED_BY_VALIDATION: Refusal = "validation"
REFUSED_BY_TRAINING: Refusal = "training"
Trigger = Literal["initial", "schedule", "drift", "none"]
"""What made a cycle train a model (``none``: it did not)."""
CycleKind = Literal["initial", "window"]


class _Record(BaseModel):
    """Immutable, and a key no field knows is refused: rewriting the ledger would drop it.
    ``true``/``false``/``null`` only for flags (a hand-edited ``"no"`` is not ``True``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @model_serializer(mode="wrap")
    def _serialize(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """The fields that are not ``None``, by name, in declaration order."""
        return {name: value for name, value in handler(self).items() if value is not None}

    def to_json(self) -> dict[str, Any]:
        return self.model_dump()

    def replace(self, **changes: Any) -> Self:
        """A copy with ``changes``, validated as a new record is."""
        return self.model_validate({**dict(self), **changes})

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Self:
        return cls.model_validate(raw)


class CycleDrift(_Record):
    """The window's data drift against production's training data, as a cycle records it:
    Evidently's figures and the page, or (``status``) why it was not tested."""

    status: str | None = None
    """Why drift was not tested (too few rows in a period); ``None`` when it was."""
    drifted_share: float | None = None
    drift_detected: StrictBool | None = None
    n_drifted: int | None = None
    n_columns: int | None = None
    page: str | None = None
    """The drift page's path."""

    @property
    def detected(self) -> bool:
        return bool(self.drift_detected)


class GateFigures(_Record):
    """The paired bootstrap of candidate against production on the window, on the users both
    know; every figure is ``None`` when no bootstrap ran (no production yet). Records written
    before the gate's means were kept have only ``users``, ``mean_difference`` and the
    interval."""

    users: int | None = None
    candidate: float | None = None
    production: float | None = None
    mean_difference: float | None = None
    low: float | None = None
    high: float | None = None


class CycleRecord(_Record):
    """What one cycle did, as the ledger keeps it and ``retrain``/``backtest`` report it.

    A field is ``None`` when the cycle never got that far: a waiting or refused cycle has only
    its window and status; an initial cycle has no production, drift or repairs; a window that
    was not retrained has no candidate. In JSON (:meth:`to_json`) the ``None`` fields are left
    out and the scores are keyed by their metric (``production_ndcg@10``,
    ``candidate_ndcg@10``), the format of every ledger written so far.
    """

    window: str
    """The window's dates, ``YYYY-MM-DD..YYYY-MM-DD`` (:meth:`Window.label`)."""
    window_start: int
    window_end: int
    kind: CycleKind = "window"
    """``initial``: the first model, trained before the first window; ``window``: a cycle."""
    repairs: dict[str, int] | None = None
    """The repairs validation applied to the data up to the window's end, with their counts."""
    production_version: str | None = None
    window_interactions: int | None = None
    window_users: int | None = None
    scored_users: int | None = None
    """The window's users production knows, the ones its score is over."""
    production_metric: str | None = None
    production_score: float | None = None
    """Production's ``production_metric`` on the window (NaN when it knows none of its users)."""
    drift: CycleDrift | None = None
    retrained: StrictBool | None = None
    trigger: Trigger | None = None
    candidate_version: str | None = None
    train_until: int | None = None
    """Where the candidate's training data ends (the cycle's validation days start)."""
    candidate_metric: str | None = None
    """The promotion metric's name."""
    candidate_score: float | None = None
    """The candidate's ``candidate_metric`` on every window user it can rank (the gate's
    candidate figure is on production's users only)."""
    promoted: StrictBool | None = None
    reason: str | None = None
    gate: GateFigures | None = None
    run: str | None = None
    run_dir: str | None = None
    seconds: float | None = None
    refused: Refusal | None = None
    status: str
    """``done``, or a sentence: waiting, refused (and why), already ingested."""

    @classmethod
    def for_window(cls, window: Window, status: str) -> CycleRecord:
        return cls(
            window=window.label(), window_start=window.start, window_end=window.end, status=status
        )

    @property
    def done(self) -> bool:
        return self.status == "done"

    @model_validator(mode="before")
    @classmethod
    def _scores_from_metric_keys(cls, raw: Any) -> Any:
        """JSON's ``<production|candidate>_<metric>: score`` into the metric and score fields."""
        if not isinstance(raw, Mapping):
            return raw
        values = dict(raw)
        for scored in _SCORED:
            fields = {f"{scored}_{name}" for name in ("version", "metric", "score")}
            keys = [k for k in values if k.startswith(f"{scored}_") and k not in fields]
            if len(keys) > 1:
                raise ValueError(f"a cycle has more than one {scored}_<metric> score: {keys}")
            if keys:
                values[f"{scored}_metric"] = keys[0].removeprefix(f"{scored}_")
                values[f"{scored}_score"] = values.pop(keys[0])
        return values

    @model_serializer(mode="wrap")
    def _serialize(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """The ledger's JSON object: ``None`` fields left out (and ``kind`` for a window, as
        every ledger so far has it), each score under ``<production|candidate>_<metric>``,
        kept even when null: its key is where its metric's name is read back."""
        values: dict[str, Any] = {}
        for name, value in handler(self).items():
            scored = name.removesuffix("_score")
            if name.endswith("_metric") and name.removesuffix("_metric") in _SCORED:
                continue
            if scored in _SCORED and getattr(self, f"{scored}_metric") is not None:
                values[f"{scored}_{getattr(self, f'{scored}_metric')}"] = value
            elif value is not None and not (name == "kind" and value == "window"):
                values[name] = value
        return values


@dataclass
class Ledger:
    """What the timeline has been processed up to, and one record per cycle."""

    path: Path
    watermark: int | None = None
    cycles: list[CycleRecord] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> Ledger:
        if not path.is_file():
            return cls(path)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            cycles = [CycleRecord.from_json(cycle) for cycle in raw["cycles"]]
            watermark = raw["watermark"]
            return cls(path, None if watermark is None else int(watermark), cycles)
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise ValueError(
                f"retraining ledger {path} is damaged ({_one_line(error)}); it records which "
                "windows were "
                "ingested, so it is not rebuilt silently: restore it, or delete it to restart "
                "the timeline from the initial model"
            ) from error

    def record(self, cycle: CycleRecord, watermark: int) -> None:
        """Add a finished cycle and move the watermark, atomically on disk."""
        self.cycles.append(cycle)
        self.watermark = watermark
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"watermark": self.watermark, "cycles": [c.to_json() for c in self.cycles]}
        write_atomic(self.path, json.dumps(payload, indent=1))

    def cycle_for(self, window: Window) -> CycleRecord | None:
        return next((c for c in self.cycles if c.window_start == window.start), None)

    def last_retrain_index(self) -> int:
        """Index of the newest cycle that trained a model (the initial one counts)."""
        trained = [i for i, c in enumerate(self.cycles) if c.retrained]
        return trained[-1] if trained else -1


def retrain_due(ledger: Ledger, every_windows: int) -> bool:
    """The schedule: at least ``every_windows`` windows since the last model was trained."""
    return len(ledger.cycles) - ledger.last_retrain_index() >= every_windows


def _one_line(error: Exception) -> str:
    """A validation error as ``field: what is wrong; ...``, any other error as it reads."""
    if not isinstance(error, ValidationError):
        return str(error)
    return "; ".join(
        f"{'.'.join(map(str, e['loc'])) or 'cycle'}: {e['msg']}" for e in error.errors()
    )
