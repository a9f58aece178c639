"""What an evaluation measured, as typed records: :class:`EvaluationResult` (the
``evaluation_metrics`` artifact and ``metrics.json``'s evaluation part) and its sections. Kept
apart from :mod:`mtrec.evaluation.evaluate`, which computes them, so that reading a result
(reports, the registry, the ZenML artifact) needs neither torch nor the network."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mtrec.config import MetricRef

TUNING_METRIC = "ndcg@10"
"""What every baseline's search maximises on valid."""
Params = dict[str, float | int]
"""A baseline's hyperparameters by name."""

EVENT_RANKING_K = 10
EVENT_RANKING_SUFFIX = f"_ndcg@{EVENT_RANKING_K}"
"""An event task's ranking metric: the catalogue ranked by the task's output against the test
interactions that reached its stage (``purchase_ndcg@10``)."""
TASK_METRIC_SUFFIXES = ("_auc", "_rmse", EVENT_RANKING_SUFFIX)


def task_metric_names(metrics: Mapping[str, object]) -> list[str]:
    """The per-task metrics (``<task>_auc``, ``<task>_rmse``, an event task's
    ``<task>_ndcg@10``) among ``metrics``, in order."""
    return [name for name in metrics if name.endswith(TASK_METRIC_SUFFIXES)]


Metrics = dict[str, float]
"""One split's metrics by name: ``ndcg@10``, ``watch_auc``, ``rating_rmse``."""

_RESULT = ConfigDict(frozen=True, ser_json_inf_nan="constants")
# Fields whose JSON names hold an ``@`` (``user_activity_ndcg@10``): written by that name,
# read by either.
_ALIASED = ConfigDict(
    frozen=True,
    ser_json_inf_nan="constants",
    serialize_by_alias=True,
    validate_by_alias=True,
    validate_by_name=True,
)


class SliceBucket(BaseModel):
    """One bucket of a slice: its label, its test rows and the metric's mean over them."""

    model_config = _RESULT

    bucket: str
    count: int
    value: float


class ColdItemSlice(BaseModel):
    """The test interactions whose item had at most ``max_train_interactions`` training
    interactions: the model and popularity ranked on them (absent when there are none)."""

    model_config = _RESULT

    max_train_interactions: int
    interactions: int
    users: int
    model: Metrics | None = None
    popularity: Metrics | None = None


class Slices(BaseModel):
    """Test metrics on parts of the data: cold items, and buckets of user activity and of item
    popularity (quartiles of training interactions)."""

    model_config = _ALIASED

    cold_items: ColdItemSlice | None = None
    user_activity: tuple[SliceBucket, ...] = Field((), alias="user_activity_ndcg@10")
    """Mean NDCG@10 by the user's training interactions."""
    item_popularity: tuple[SliceBucket, ...] = Field((), alias="item_popularity_hit@10")
    """Share of test interactions found in the top 10, by the item's training interactions."""


class TuningPoint(BaseModel):
    """One candidate of a baseline's search, with its valid NDCG@10."""

    model_config = _ALIASED

    params: Params
    ndcg: float = Field(alias=TUNING_METRIC)


class BaselineTuning(BaseModel):
    """A baseline's parameters as chosen on valid: the record of
    :class:`mtrec.evaluation.baselines.TunedBaseline`."""

    model_config = _RESULT

    name: str
    params: Params
    valid_ndcg: float
    """NaN when valid was empty (defaults kept)."""
    grid: tuple[TuningPoint, ...]
    seconds: float


class ItemItemMetrics(BaseModel):
    """The ranking task's item-item component (:mod:`mtrec.models.item_item`) as chosen on
    valid, and the network's own test ranking without it: what the component adds."""

    model_config = _RESULT

    l2: float
    text_weight: float
    text_power: int
    weight: float
    network_weight: float = 0.0
    network_power: int = 2
    network_test: Metrics
    """The network alone on test, history = train + valid, at the configured K."""


class ServingMetrics(BaseModel):
    """The serving view (:func:`serving_view`): test as a deployed model meets it, every
    user's train + valid interactions known."""

    model_config = _RESULT

    history: str = "train+valid"
    test: Metrics
    baselines: dict[str, Metrics] = {}
    """Each baseline refit on train + valid with the parameters chosen on valid."""
    refit: bool
    """Whether the model was refit on train + valid (else: the evaluated model)."""


class InterestMetrics(BaseModel):
    """The interest task's test KL against the whole- and recent-history baselines
    (:func:`forecast_interests`; :class:`mtrec.evaluation.interests.InterestForecast`)."""

    model_config = _RESULT

    kl: dict[str, float]
    """Mean KL(test shares || predicted), nats, by predictor (``model`` and the baselines)."""
    smoothing: dict[str, float]
    users: int
    best_baseline: str
    reduction: float
    """1 - model KL / the better baseline's KL."""
    task: str
    refit: bool
    blend: dict[str, float] = {}
    """How the model's forecast reads the ranking task (``head``, ``ranking``,
    ``temperature``: :class:`mtrec.models.spec.InterestBlend`), chosen on valid."""


class TopUser(BaseModel):
    """A user with one of the highest measured values of a user-level task (training
    period), with the model's prediction."""

    model_config = _RESULT

    user_id: str
    measured: float
    predicted: float
    interactions: int


class EvaluationResult(BaseModel):
    """What :func:`evaluate_recommender` measured: the ``evaluation_metrics`` artifact, and the
    evaluation part of a run's ``metrics.json`` (:meth:`to_json`). NaN metrics survive a JSON
    round trip (written as ``NaN``)."""

    model_config = _RESULT

    beyond_accuracy: dict[str, float] = {}
    """Coverage, Gini, popularity and novelty of the test top-10 lists (and intra-list
    diversity with item embeddings): :func:`mtrec.evaluation.beyond.beyond_accuracy`."""
    valid: Metrics
    """The model on valid, history = train (always with NDCG@10: early stopping and promotion
    read it)."""
    test: Metrics
    """The model on test, history = train + valid: ranking at the configured K and the task
    metrics."""
    baselines: dict[str, Metrics] = {}
    """Each baseline on test, as the model is ranked."""
    baselines_valid: dict[str, Metrics] = {}
    """Popularity on valid, as the model's valid is ranked: the promotion floor."""
    baseline_params: dict[str, BaselineTuning] = {}
    slices: Slices = Slices()
    baselines_skipped: dict[str, str] = {}
    """Baselines over their budget, with the reason."""
    rerank: dict[str, Any] | None = None
    """The diversity trade-off, :meth:`mtrec.evaluation.diversity.RerankTradeoff.to_dict`."""
    serving: ServingMetrics | None = None
    item_item: ItemItemMetrics | None = None
    interest: InterestMetrics | None = None
    top_users: dict[str, tuple[TopUser, ...]] = {}
    """For each user-level task (``influence``)."""

    def value(self, ref: MetricRef) -> float | None:
        """The model's ``ref`` on its split (test without one); ``None`` where it was not
        computed."""
        return (self.valid if ref.split == "valid" else self.test).get(ref.key)

    def baseline_value(self, baseline: str, ref: MetricRef) -> float | None:
        """``baseline``'s ``ref``: valid from :attr:`baselines_valid`, test from
        :attr:`baselines`; ``None`` where it was not computed."""
        section = self.baselines_valid if ref.split == "valid" else self.baselines
        return section.get(baseline, {}).get(ref.key)

    def summary(self) -> dict[str, Any]:
        """The headline figures a run's metadata records: test and valid, popularity on test,
        the serving view's test and the cold-item slice."""
        summary: dict[str, Any] = {"test": self.test, "valid": self.valid}
        if "popularity" in self.baselines:
            summary["baseline_popularity"] = self.baselines["popularity"]
        if self.serving is not None:
            summary["serving_test"] = self.serving.test
        if self.slices.cold_items is not None:
            summary["cold_items"] = self.slices.cold_items.model_dump(
                mode="json", exclude_none=True
            )
        return summary

    def to_json(self) -> dict[str, Any]:
        """JSON values (NaN stays a float) under ``metrics.json``'s keys; a section that was not
        computed (no re-ranking, serving view or interest task, no baseline skipped, no
        user-level task) is left out."""
        empty = {name for name in ("baselines_skipped", "top_users") if not getattr(self, name)}
        return self.model_dump(mode="json", exclude_none=True, exclude=empty)
