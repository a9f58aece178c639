"""Windows of new interactions and the ledger that records which were ingested.

A cycle never appends data anywhere: the training data of the cycle for window ``[start, end)``
is every source interaction before ``end``, so the same interaction cannot be ingested twice.
The ledger only says how far the timeline has been processed and what each cycle decided; it
is written atomically, so a cycle killed half way is simply run again (its pipeline steps are
cached and its model version is named after its inputs, so no duplicate version appears).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args

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


_T = TypeVar("_T")
_PRODUCTION = "production_"
_CANDIDATE = "candidate_"
"""The prefixes of a record's score keys in JSON: ``production_<metric>``."""

Refusal = Literal["validation", "training"]
"""Why a cycle was refused: its data failed validation, or its training run failed."""
REFUSED_BY_VALIDATION: Refusal = "validation"
REFUSED_BY_TRAINING: Refusal = "training"
Trigger = Literal["initial", "schedule", "drift", "none"]
"""What made a cycle train a model (``none``: it did not)."""
CycleKind = Literal["initial", "window"]


@dataclass(frozen=True, kw_only=True)
class CycleDrift:
    """The window's data drift against production's training data, as a cycle records it:
    Evidently's figures and the page, or (``status``) why it was not tested."""

    status: str | None = None
    """Why drift was not tested (too few rows in a period); ``None`` when it was."""
    drifted_share: float | None = None
    drift_detected: bool | None = None
    n_drifted: int | None = None
    n_columns: int | None = None
    page: str | None = None
    """The drift page's path."""

    @property
    def detected(self) -> bool:
        return bool(self.drift_detected)

    def to_json(self) -> dict[str, Any]:
        return _set_fields(self)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> CycleDrift:
        _reject_unknown(raw, {f.name for f in fields(cls)}, "drift")
        return cls(
            status=_optional(raw.get("status"), str),
            drifted_share=_optional(raw.get("drifted_share"), float),
            drift_detected=_optional_bool(raw.get("drift_detected")),
            n_drifted=_optional(raw.get("n_drifted"), int),
            n_columns=_optional(raw.get("n_columns"), int),
            page=_optional(raw.get("page"), str),
        )


@dataclass(frozen=True, kw_only=True)
class GateFigures:
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

    def to_json(self) -> dict[str, Any]:
        return _set_fields(self)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> GateFigures:
        _reject_unknown(raw, {f.name for f in fields(cls)}, "gate")
        return cls(
            users=_optional(raw.get("users"), int),
            candidate=_optional(raw.get("candidate"), float),
            production=_optional(raw.get("production"), float),
            mean_difference=_optional(raw.get("mean_difference"), float),
            low=_optional(raw.get("low"), float),
            high=_optional(raw.get("high"), float),
        )


@dataclass(frozen=True, kw_only=True)
class CycleRecord:
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
    repairs: Mapping[str, int] | None = None
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
    retrained: bool | None = None
    trigger: Trigger | None = None
    candidate_version: str | None = None
    train_until: int | None = None
    """Where the candidate's training data ends (the cycle's validation days start)."""
    candidate_metric: str | None = None
    """The promotion metric's name."""
    candidate_score: float | None = None
    """The candidate's ``candidate_metric`` on every window user it can rank (the gate's
    candidate figure is on production's users only)."""
    promoted: bool | None = None
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

    def to_json(self) -> dict[str, Any]:
        """The ledger's JSON object: ``None`` fields left out, each score under
        ``production_<metric>`` / ``candidate_<metric>``."""
        values: dict[str, Any] = {
            "window": self.window,
            "window_start": self.window_start,
            "window_end": self.window_end,
            # Left out for a window, as every ledger so far has it.
            "kind": self.kind if self.kind != "window" else None,
            "repairs": _counts(self.repairs) if self.repairs is not None else None,
            "production_version": self.production_version,
            "window_interactions": self.window_interactions,
            "window_users": self.window_users,
            "scored_users": self.scored_users,
        }
        if self.production_metric is not None:
            values[f"{_PRODUCTION}{self.production_metric}"] = self.production_score
        values |= {
            "drift": self.drift.to_json() if self.drift is not None else None,
            "retrained": self.retrained,
            "trigger": self.trigger,
            "candidate_version": self.candidate_version,
            "train_until": self.train_until,
        }
        if self.candidate_metric is not None:
            values[f"{_CANDIDATE}{self.candidate_metric}"] = self.candidate_score
        values |= {
            "promoted": self.promoted,
            "reason": self.reason,
            "gate": self.gate.to_json() if self.gate is not None else None,
            "run": self.run,
            "run_dir": self.run_dir,
            "seconds": self.seconds,
            "refused": self.refused,
            "status": self.status,
        }
        scores = _score_keys(self.production_metric, self.candidate_metric)
        # A score is kept even when it is null: its key is where its metric's name is read back.
        return {k: v for k, v in values.items() if v is not None or k in scores}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> CycleRecord:
        """A record from :meth:`to_json`'s format; a key it does not know is refused (a
        rewrite of the ledger would drop it)."""
        production_metric = _metric_of(raw, _PRODUCTION)
        candidate_metric = _metric_of(raw, _CANDIDATE)
        scores = {"production_metric", "production_score", "candidate_metric", "candidate_score"}
        known = {f.name for f in fields(cls)} - scores
        _reject_unknown(raw, known | _score_keys(production_metric, candidate_metric), "cycle")
        drift = raw.get("drift")
        gate = raw.get("gate")
        repairs = raw.get("repairs")
        return cls(
            window=str(raw["window"]),
            window_start=int(raw["window_start"]),
            window_end=int(raw["window_end"]),
            kind=_choice(raw.get("kind", "window"), CycleKind),
            repairs=_counts(repairs) if repairs is not None else None,
            production_version=_optional(raw.get("production_version"), str),
            window_interactions=_optional(raw.get("window_interactions"), int),
            window_users=_optional(raw.get("window_users"), int),
            scored_users=_optional(raw.get("scored_users"), int),
            production_metric=production_metric,
            production_score=_optional(raw.get(f"{_PRODUCTION}{production_metric}"), float),
            drift=CycleDrift.from_json(drift) if drift is not None else None,
            retrained=_optional_bool(raw.get("retrained")),
            trigger=_optional_choice(raw.get("trigger"), Trigger),
            candidate_version=_optional(raw.get("candidate_version"), str),
            train_until=_optional(raw.get("train_until"), int),
            candidate_metric=candidate_metric,
            candidate_score=_optional(raw.get(f"{_CANDIDATE}{candidate_metric}"), float),
            promoted=_optional_bool(raw.get("promoted")),
            reason=_optional(raw.get("reason"), str),
            gate=GateFigures.from_json(gate) if gate is not None else None,
            run=_optional(raw.get("run"), str),
            run_dir=_optional(raw.get("run_dir"), str),
            seconds=_optional(raw.get("seconds"), float),
            refused=_optional_choice(raw.get("refused"), Refusal),
            status=str(raw["status"]),
        )


def _metric_of(raw: Mapping[str, Any], prefix: str) -> str | None:
    """The metric named by the record's one ``<prefix><metric>`` score key, if it has one."""
    names = [
        key.removeprefix(prefix)
        for key in raw
        if key.startswith(prefix) and key != f"{prefix}version"
    ]
    if len(names) > 1:
        raise ValueError(f"a cycle has more than one {prefix}<metric> score: {sorted(names)}")
    return names[0] if names else None


def _score_keys(production_metric: str | None, candidate_metric: str | None) -> set[str]:
    named = ((_PRODUCTION, production_metric), (_CANDIDATE, candidate_metric))
    return {f"{prefix}{metric}" for prefix, metric in named if metric is not None}


def _set_fields(record: CycleDrift | GateFigures) -> dict[str, Any]:
    """The fields that are not ``None``, by name."""
    values = {f.name: getattr(record, f.name) for f in fields(record)}
    return {name: value for name, value in values.items() if value is not None}


def _reject_unknown(raw: Mapping[str, Any], known: set[str], what: str) -> None:
    unknown = set(raw) - known
    if unknown:
        raise ValueError(f"unknown keys in a {what} record: {sorted(unknown)}")


def _optional(value: Any, kind: Callable[[Any], _T]) -> _T | None:
    return None if value is None else kind(value)


def _optional_bool(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise TypeError(f"expected true, false or null, got {value!r}")


def _choice(value: Any, kind: Any) -> Any:
    if value not in get_args(kind):
        raise ValueError(f"{value!r} is not one of {get_args(kind)}")
    return value


def _optional_choice(value: Any, kind: Any) -> Any:
    return None if value is None else _choice(value, kind)


def _counts(repairs: Mapping[str, Any]) -> dict[str, int]:
    return {str(name): int(count) for name, count in repairs.items()}


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
            return cls(path, _optional(raw["watermark"], int), cycles)
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise ValueError(
                f"retraining ledger {path} is damaged ({error}); it records which windows were "
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
