"""Typed run configuration, loaded from ``configs/*.yaml``.

Each concern has one frozen pydantic class; unknown keys are rejected so a typo in a YAML file
fails loudly instead of silently running with a default.
"""

from __future__ import annotations

import codecs
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EventFunnel(_Section):
    """A multi-behaviour log's event column and its declared labels in funnel order (derived
    from ``data.event_column`` and ``data.events``; see :attr:`DataConfig.funnel`). Reaching a
    stage implies every earlier one: a purchase is also a click."""

    column: str
    stages: tuple[str, ...]

    def stage(self, event: str) -> int:
        """The position of ``event`` in the funnel, 0 for the first stage."""
        return self.stages.index(event)


EVENT_LABEL_PREFIX = "event:"
"""A task label ``event:<stage>`` is 1 where the (user, item) pair reached that stage of
``data.events`` or a later one, 0 where its furthest stage is an earlier one (and for sampled
negatives, in the entire space of a ``funnel`` task)."""


def event_stage(label: str) -> str | None:
    """The stage an ``event:<stage>`` label names; ``None`` for any other label."""
    return label.removeprefix(EVENT_LABEL_PREFIX) if label.startswith(EVENT_LABEL_PREFIX) else None


class DataConfig(_Section):
    """Where interactions, items and users come from."""

    source: Literal["movielens_100k", "grouplens", "generic"] = "movielens_100k"
    """``movielens_100k``: the copy shipped in the recbole 1.2.1 wheel, extracted into
    ``cache_dir`` by ``make data``; ``grouplens``: an original ml-100k / ml-1m / ml-latest
    folder at ``path``; ``generic``: CSV or Parquet files named by ``interactions``,
    ``items``, ``users``."""
    root: Path = Path("data")
    """The data folder: the folders the pipeline writes, and deletes damaged files from
    (``cache_dir``, ``encoder.store_dir``), must lie inside it."""
    cache_dir: Path = Path("data/cache")
    """Where ``make data`` extracts MovieLens-100k (``<cache_dir>/ml-100k/``): the Makefile's
    ``DATA_CACHE``, which defaults to this folder."""
    path: Path | None = None
    interactions: Path | None = None
    items: Path | None = None
    users: Path | None = None
    until: int | None = None
    """Interactions at or after this timestamp (seconds) are left out, as not yet arrived: how
    a retraining cycle sees the data up to the end of its window. ``None``: everything."""
    edges: Path | None = None
    """Optional user-user edge table (CSV or Parquet, ``user_id,friend_id``), any source: a
    social input for every model and the label of ``link`` tasks. Edges are undirected."""
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    """The field delimiter of the CSV files named here (``interactions``, ``items``,
    ``users``, ``edges``), e.g. ``"\\t"``; GroupLens and RecBole files keep their own."""
    encoding: str = "utf-8"
    """The text encoding of those CSV files, any Python codec name (e.g. ``latin-1``)."""
    columns: dict[str, str] = Field(default_factory=dict)
    """The generic interactions file's own column for each name the pipeline reads, where they
    differ: ``{user_id: customer_id, item_id: sku, timestamp: ts}`` (also ``rating`` or any
    label column). Renamed on load; a named column the file lacks is refused before the run."""
    event_column: str | None = None
    """A multi-behaviour log: the interactions column holding each row's event type (``view``,
    ``click``, ``purchase``...). Every value must be one of ``events``; a (user, item) pair's
    rows become one interaction holding its furthest stage (see
    :func:`mtrec.data.behaviours.collapse_events`), and tasks read ``event:<stage>`` labels."""
    events: tuple[str, ...] = ()
    """The declared event labels in funnel order, earliest first (``[view, click,
    purchase]``): reaching a stage implies the earlier ones. Set exactly when ``event_column``
    is."""

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, encoding: str) -> str:
        try:
            codecs.lookup(encoding)
        except LookupError as error:
            raise ValueError(f"data.encoding {encoding!r} is not a known text encoding") from error
        return encoding

    @field_validator("columns")
    @classmethod
    def _columns_map_one_to_one(cls, columns: dict[str, str]) -> dict[str, str]:
        if any(not name.strip() or not source.strip() for name, source in columns.items()):
            raise ValueError(f"data.columns names must be non-empty: {columns}")
        repeated = sorted({v for v in columns.values() if list(columns.values()).count(v) > 1})
        if repeated:
            raise ValueError(f"data.columns maps several names to the same column: {repeated}")
        return columns

    @property
    def funnel(self) -> EventFunnel | None:
        """The event column and its stages, or ``None`` for a log without event types."""
        if self.event_column is None:
            return None
        return EventFunnel(column=self.event_column, stages=self.events)

    @model_validator(mode="after")
    def _events_declared_with_their_column(self) -> DataConfig:
        if (self.event_column is None) != (not self.events):
            raise ValueError(
                "data.event_column and data.events go together: name the column holding each "
                "row's event type and declare its labels in funnel order (e.g. [click, purchase])"
            )
        if self.event_column is not None and not self.event_column.strip():
            raise ValueError("data.event_column must name a column")
        repeated = sorted({e for e in self.events if self.events.count(e) > 1})
        if repeated:
            raise ValueError(f"data.events must be unique labels, repeated: {repeated}")
        if any(not e.strip() for e in self.events):
            raise ValueError(f"data.events labels must be non-empty: {list(self.events)}")
        return self

    @model_validator(mode="after")
    def _paths_match_source(self) -> DataConfig:
        if self.source == "grouplens" and self.path is None:
            raise ValueError("data.source 'grouplens' needs data.path (the dataset folder)")
        if self.source == "generic" and (self.interactions is None or self.items is None):
            raise ValueError("data.source 'generic' needs data.interactions and data.items")
        return self


class ValidationConfig(_Section):
    """Expectations the interaction data must meet before anything is trained on it."""

    rating_min: float = 1.0
    rating_max: float = 5.0
    timestamp_min: int = 631_152_000
    """Earliest plausible timestamp, in seconds since the epoch (default 1990-01-01)."""
    timestamp_max: int | None = None
    """Latest plausible timestamp; ``None`` means the moment validation runs."""
    min_interactions_per_user: int = Field(default=5, ge=1)
    min_users: int = Field(default=10, ge=1)
    """Fewest distinct users a meaningful dataset has (a one-user log trains nothing useful)."""
    min_items: int = Field(default=10, ge=1)
    """Fewest distinct items a meaningful dataset has."""
    min_interactions: int = Field(default=100, ge=1)
    """Fewest interaction rows a meaningful dataset has."""
    sample_rows: int = Field(default=5, ge=1, le=100)
    """How many offending rows a failure message and the HTML page show."""
    max_text_chars: int = Field(default=10_000, ge=1)
    """Longest accepted item text field: a longer one is a broken export, not a description."""
    duplicates: Literal["fail", "drop"] = "fail"
    """Exact duplicate interaction rows (every column equal): ``fail`` the run, or ``drop``
    them (safe: they carry no information) and count them in the validation report. Rows that
    share (user, item, timestamp) but differ elsewhere always fail."""
    sparse_users: Literal["fail", "drop"] = "fail"
    """Users with fewer than ``min_interactions_per_user`` interactions: ``fail`` the run, or
    ``drop`` their rows and count them (what a time-windowed retrain needs, where users who
    just arrived have few interactions so far)."""

    @model_validator(mode="after")
    def _ranges_ordered(self) -> ValidationConfig:
        if self.rating_min >= self.rating_max:
            raise ValueError("validation.rating_min must be below validation.rating_max")
        if self.timestamp_max is not None and self.timestamp_max <= self.timestamp_min:
            raise ValueError("validation.timestamp_max must be after validation.timestamp_min")
        return self


class SplitConfig(_Section):
    """How interactions are split into train, valid and test."""

    strategy: Literal["ratio", "predefined", "time", "cold_items"] = "ratio"
    ratios: tuple[float, float, float] = (0.8, 0.1, 0.1)
    """``ratio``: per user, in ``order``, counted like RecBole's ``RS`` split."""
    order: Literal["time", "random"] = "time"
    """``ratio`` and ``cold_items``: the order each user's rows are counted in, RecBole's
    ``order``: ``time`` is ``TO`` (by timestamp, ties in file order: valid and test are the
    user's latest rows), ``random`` is ``RO`` (all rows shuffled with ``seed``, then grouped by
    user: valid and test are a random share of each user's rows). Per-user counts are the same.
    """
    valid_start: int | None = None
    """``time``: interactions at or after this timestamp (seconds) go to valid."""
    test_start: int | None = None
    """``time``: interactions at or after this timestamp (seconds) go to test."""
    train_file: Path | None = None
    valid_file: Path | None = None
    test_file: Path | None = None
    cold_item_share: float = Field(default=0.1, gt=0.0, lt=1.0)
    """``cold_items``: this share of interacted items, drawn with ``seed``, keeps all its
    interactions in test; the other interactions are split by ``ratios`` as above."""
    seed: int = 0

    @field_validator("ratios")
    @classmethod
    def _ratios_valid(cls, ratios: tuple[float, float, float]) -> tuple[float, float, float]:
        if any(r < 0 for r in ratios) or ratios[0] <= 0 or abs(sum(ratios) - 1.0) > 1e-6:
            raise ValueError(f"split.ratios must be non-negative, train > 0, sum to 1: {ratios}")
        return ratios

    @model_validator(mode="after")
    def _strategy_fields(self) -> SplitConfig:
        if self.strategy == "time":
            if self.valid_start is None or self.test_start is None:
                raise ValueError("split.strategy 'time' needs split.valid_start and test_start")
            if self.valid_start > self.test_start:
                raise ValueError("split.valid_start must not be after split.test_start")
        if self.strategy == "predefined" and None in (
            self.train_file,
            self.valid_file,
            self.test_file,
        ):
            raise ValueError("split.strategy 'predefined' needs train_file, valid_file, test_file")
        return self


class TextConfig(_Section):
    """Templates that turn item and user records into text for the language model.

    Templates are ``str.format`` strings over the record's columns. Items offer ``title``,
    ``year``, ``genres`` and any extra item column; users offer their profile columns plus
    ``top_genres`` and ``n_interactions`` computed from the *training* split only. A field the
    data does not have renders as ``unknown``.
    """

    item_template: str = "{title} ({year}). Genres: {genres}."
    user_template: str = "A {age} year old {gender} {occupation} who mostly watches {top_genres}."
    top_genres: int = Field(default=3, ge=1)
    item_extra_columns: Literal["auto"] | tuple[str, ...] = "auto"
    """Item text columns appended after the template as ``column: value``. ``auto`` takes every
    text column of the item table that the template does not already use; ``[]`` none."""


class EncoderConfig(_Section):
    """The transformers encoder that embeds item and user text."""

    model_path: Path | None = None
    """A local transformers model folder; ``None`` uses the packaged all-MiniLM-L6-v2."""
    max_length: int = Field(default=64, ge=8, le=512)
    pack_tokens: int = Field(default=1024, ge=0)
    """Tokens per model call for BERT-type encoders: texts are packed end to end, each attending
    to itself only, so no compute goes to padding. At least ``max_length``; 0 turns packing
    off. A text's vector never depends on the texts encoded with it, packed or not."""
    batch_size: int = Field(default=128, ge=1)
    """Texts per model call where texts are not packed (other model types, ``pack_tokens: 0``)."""
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    """``bf16`` runs the encoder under bfloat16 autocast; it is used only when a probe on the
    run's own texts keeps cosine >= 0.99 to fp32, else fp32 is used. ``auto`` picks bf16 where
    the CPU has native bf16 instructions (AVX-512 BF16 or AMX), fp32 elsewhere."""
    store_dir: Path | None = Path("data/cache/embeddings")
    """Content-addressed embedding store shared across runs; ``null`` disables it."""

    @model_validator(mode="after")
    def _packed_calls_hold_the_longest_text(self) -> EncoderConfig:
        if 0 < self.pack_tokens < self.max_length:
            raise ValueError(
                f"encoder.pack_tokens ({self.pack_tokens}) must be 0 (no packing) or at least "
                f"encoder.max_length ({self.max_length}): a packed call holds whole texts"
            )
        return self


TASK_LABELS = ("interaction", "influence", "friends", "topics")
"""Derived labels; any other ``label`` names a numeric column of the interactions."""


RANKING_METRICS = ("ndcg", "recall", "hit", "mrr")
"""Ranking metrics at a cut-off K: ``ndcg@10``."""
SPLITS = ("valid", "test")


@dataclass(frozen=True)
class MetricRef:
    """A metric as configs and reports name it, parsed once: ``[split.]name[@k]``, e.g.
    ``valid.ndcg@10`` (the promotion metric), ``ndcg@10`` (early stopping's monitor) or
    ``rating_rmse`` (a task metric)."""

    name: str
    """``ndcg`` for ``ndcg@10``; the whole name of a metric without a cut-off."""
    k: int | None = None
    split: str | None = None

    @classmethod
    def parse(cls, text: str) -> MetricRef:
        split, dot, rest = text.partition(".")
        if not dot:
            split, rest = "", text
        name, at, k = rest.partition("@")
        if not name or (at and not k.isdigit()) or (dot and split not in SPLITS):
            raise ValueError(
                f"{text!r} is not a metric reference like 'valid.ndcg@10', 'ndcg@10' or "
                "'rating_rmse'"
            )
        return cls(name, int(k) if at else None, split or None)

    @property
    def key(self) -> str:
        """The metric's key in a split's metrics: ``ndcg@10``, ``rating_rmse``."""
        return self.name if self.k is None else f"{self.name}@{self.k}"

    @property
    def ranking(self) -> bool:
        return self.name in RANKING_METRICS and self.k is not None

    @property
    def direction(self) -> Literal["max", "min"]:
        """Whether a higher value is better: errors, losses and divergences are minimised."""
        return "min" if self.name.endswith(("rmse", "mae", "mse", "loss", "kl")) else "max"

    def __str__(self) -> str:
        return self.key if self.split is None else f"{self.split}.{self.key}"


def metric_direction(metric: str) -> Literal["max", "min"]:
    """Whether a higher value of ``metric`` (any reference :class:`MetricRef` reads, or a
    report's column name) is better."""
    return MetricRef(metric.split(".")[-1].split("@")[0]).direction


class TaskConfig(_Section):
    """One task, declared: its head, how its label is derived, its weight and its metric.

    - ``ranking``: ``label: interaction``, observed interactions against sampled negatives
      (BCE); ranks the catalogue for recommendations; metric ``auc`` on test and, for the
      model as a whole, the ranking metrics.
    - ``binary``: ``label: <column>`` with ``threshold``: 1 where the column is at or above it,
      learned on observed interactions (BCE); metric ``auc``.
    - ``regression``: ``label: <column>`` (learned on observed interactions) or
      ``label: influence`` (a user-level head; see :mod:`mtrec.data.labels`); MSE; metric
      ``rmse``.
    - ``link``: ``label: friends``, user-user link prediction over ``data.edges`` (edges
      against sampled non-edges, BCE); metric ``auc`` on held-out edges.
    - ``interest``: ``label: topics``, a user-level distribution over the item topics
      (``interests.topics``): the topic shares of the user's next ``horizon`` interactions,
      predicted from what the user side reads before them (softmax head, KL loss); metric
      ``kl`` on the test period (lower is better).
    - ``funnel``: ``label: event:<stage>`` with ``after: <task>``, the entire-space
      formulation of ESMM (Ma et al., "Entire Space Multi-Task Model", SIGIR 2018): the head
      gives p(this | after) and the task's output is p(after) * p(this | after), learned with
      BCE over every row of the ``after`` task's space: after the ranking task, every row of
      the ranking batch (observed interactions and sampled negatives, labelled 0), so the
      conditional head never suffers sample-selection bias; after a binary or funnel event
      task, that task's rows. Metric ``auc`` over the same space.

    A binary task may also read ``label: event:<stage>`` (no threshold): 1 where the pair
    reached that stage or a later one, learned on observed interactions only.
    """

    kind: Literal["ranking", "binary", "regression", "link", "interest", "funnel"]
    label: str = "interaction"
    threshold: float | None = None
    after: str | None = None
    """``funnel``: the task this one is conditioned on (the ranking task, or an event task of
    an earlier stage)."""
    weight: float = Field(default=1.0, ge=0.0)
    metric: Literal["auc", "rmse", "kl"] | None = None
    """Defaults by kind: ``auc`` for ranking and binary, ``rmse`` for regression, ``kl`` for
    interest."""
    window_days: float = Field(default=30.0, gt=0.0)
    """``influence``: how long after a user's interaction another user's interaction with the
    same item counts as following it."""
    horizon: int = Field(default=10, ge=1)
    """``interest``: how many of the user's next interactions make the "next period" whose
    topic shares a training row learns."""

    @property
    def task_metric(self) -> str:
        defaults = {"regression": "rmse", "interest": "kl"}
        return self.metric or defaults.get(self.kind, "auc")

    @property
    def direction(self) -> Literal["max", "min"]:
        return metric_direction(self.task_metric)

    @property
    def user_level(self) -> bool:
        return self.label in ("influence", "topics")

    @model_validator(mode="after")
    def _label_fits_kind(self) -> TaskConfig:
        if (self.kind == "link") != (self.label == "friends"):
            raise ValueError("kind 'link' and label 'friends' go together")
        if self.kind == "ranking" and self.label != "interaction":
            raise ValueError("a ranking task's label must be 'interaction'")
        if self.kind not in ("ranking",) and self.label == "interaction":
            raise ValueError(f"label 'interaction' needs kind 'ranking', not {self.kind!r}")
        stage = event_stage(self.label)
        if stage is not None and self.kind not in ("binary", "funnel"):
            raise ValueError(f"label {self.label!r} is binary: it needs kind binary or funnel")
        if stage is not None and self.threshold is not None:
            raise ValueError(f"label {self.label!r} is 0 or 1 already: leave threshold out")
        if self.kind == "binary" and stage is None and self.threshold is None:
            raise ValueError("a binary task needs a threshold: label = column >= threshold")
        if self.kind == "funnel" and (stage is None or self.after is None):
            raise ValueError(
                "a funnel task needs label 'event:<stage>' and after: <the task it is "
                "conditioned on>, e.g. {kind: funnel, label: 'event:purchase', after: watch}"
            )
        if self.after is not None and self.kind != "funnel":
            raise ValueError(f"'after' is for funnel tasks, not kind {self.kind!r}")
        if self.label == "influence" and self.kind != "regression":
            raise ValueError("label 'influence' is a regression target")
        if (self.kind == "interest") != (self.label == "topics"):
            raise ValueError("kind 'interest' and label 'topics' go together")
        if (self.kind == "interest") != (self.task_metric == "kl"):
            raise ValueError(f"metric {self.task_metric!r} does not fit kind {self.kind!r}")
        if (self.kind == "regression") != (self.task_metric == "rmse"):
            raise ValueError(f"metric {self.task_metric!r} does not fit kind {self.kind!r}")
        return self


def funnel_chain(tasks: Mapping[str, TaskConfig], name: str) -> tuple[str, ...]:
    """``name`` and the tasks it is conditioned on, in turn: ``(purchase, click, watch)``
    for ``purchase`` after ``click`` after ``watch``; ``(name,)`` for a task that is not a
    funnel. The last one is the chain's root: its rows are every funnel task's space."""
    chain = [name]
    while (after := tasks[chain[-1]].after) is not None:
        if after in chain:
            raise ValueError(f"funnel tasks loop: {' -> '.join([*chain, after])}")
        chain.append(after)
    return tuple(chain)


def entire_space_tasks(tasks: Mapping[str, TaskConfig]) -> tuple[str, ...]:
    """The funnel tasks learned over every row of the ranking batch (observed interactions
    and sampled negatives): those whose chain ends at the ranking task."""
    return tuple(
        name
        for name, task in tasks.items()
        if task.kind == "funnel" and tasks[funnel_chain(tasks, name)[-1]].kind == "ranking"
    )


BUILTIN_TASKS: dict[str, dict[str, Any]] = {
    "watch": {"kind": "ranking", "label": "interaction"},
    "like": {"kind": "binary", "label": "rating", "threshold": 4.0},
    "rating": {"kind": "regression", "label": "rating"},
    "influence": {"kind": "regression", "label": "influence", "window_days": 30.0},
    "friendship": {"kind": "link", "label": "friends"},
    "interest": {"kind": "interest", "label": "topics", "horizon": 10},
}
"""Built-in task definitions: ``watch: {weight: 1.0}`` is enough for these names."""


def _default_tasks() -> dict[str, TaskConfig]:
    # No interest task by default: it needs the run's item topics, which the pipeline mines
    # (mine_interests) and a library caller passes (item_topics); configs/*.yaml declare it.
    weights = {"watch": 1.0, "like": 0.5, "rating": 0.2}
    return {name: TaskConfig(**BUILTIN_TASKS[name], weight=w) for name, w in weights.items()}


class ItemItemConfig(_Section):
    """The ranking task's closed-form item-item component (:mod:`mtrec.models.item_item`):
    EASE whose Gram matrix gains the similarity of the item texts and of the network's item
    vectors, blended per user into the network's catalogue scores. After training, ``l2``
    and ``text_weight`` are chosen on valid by the component alone, searched by turns (``l2``
    along its grid at the first text weight, then the text weight at the best ``l2``, then
    ``l2`` again, until neither moves: about ``len(l2) + len(text_weight)`` fits, not their
    product); then ``network_weight`` at that pair; then ``weight`` by the blend (0 keeps the
    network's scores). Each grid in order, and a later value must beat an earlier one; a
    refit reuses the choice on its data. Off unless enabled (``configs/default.yaml``
    enables it; measured in docs/benchmarks.md)."""

    enabled: bool = False
    l2: tuple[float, ...] = (10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0)
    """EASE's ridge strengths: a wide grid, since the best strength grows with the number of
    interactions an item has."""
    text_weight: tuple[float, ...] = (0.0, 30.0, 100.0, 300.0)
    """Weights of the text kernel in the Gram matrix (0: plain EASE); an id-only model
    (``use_text: false``) searches 0 alone."""
    text_power: int = Field(default=4, ge=2)
    """The kernel is the texts' cosine similarity to this even power."""
    network_weight: tuple[float, ...] = (0.0, 30.0, 100.0, 300.0)
    """Weights of a second kernel, the similarity of the trained network's own item vectors
    (the ranking task's item side), searched after ``l2`` and ``text_weight``: the network
    lends the item-item side what it learned (0: none)."""
    network_power: int = Field(default=2, ge=2)
    """That kernel is the vectors' cosine similarity to this even power."""
    weight: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
    """The component's share of the blended scores."""
    max_memory_mb: float = Field(default=2048, gt=0)
    """Above this estimated peak of a fit (:func:`mtrec.models.item_item.item_item_memory_bytes`:
    2048 MB covers up to 7,327 items) the component is left out, with a log line."""

    @model_validator(mode="after")
    def _grids_valid(self) -> ItemItemConfig:
        powers = {"text_power": self.text_power, "network_power": self.network_power}
        for name, power in powers.items():
            if power % 2:
                raise ValueError(f"item_item.{name} must be even (a PSD kernel), got {power}")
        if not self.l2 or min(self.l2) <= 0:
            raise ValueError("item_item.l2 needs at least one value, all > 0")
        grids = {"text_weight": self.text_weight, "network_weight": self.network_weight}
        for name, grid in grids.items():
            if not grid or min(grid) < 0:
                raise ValueError(f"item_item.{name} needs at least one value, all >= 0")
        if not self.weight or not all(0.0 <= w <= 1.0 for w in self.weight):
            raise ValueError("item_item.weight needs at least one value, all in [0, 1]")
        return self


class ModelConfig(_Section):
    """Multi-task network over id and text embeddings."""

    architecture: Literal["shared_bottom", "mmoe", "ple"] = "ple"
    """``shared_bottom`` (Caruana 1997), ``mmoe`` (Ma et al. 2018) or ``ple`` (Tang et al.
    2020); all share inputs, towers and the ``forward(batch) -> {task: output}`` interface."""
    n_experts: int = Field(default=2, ge=1)
    """MMoE: experts shared by all tasks; PLE: shared experts per level."""
    n_task_experts: int = Field(default=1, ge=1)
    """PLE: experts owned by each task, per level."""
    levels: int = Field(default=1, ge=1)
    """PLE: extraction levels (1 is CGC)."""
    embedding_dim: int = Field(default=64, ge=4)
    hidden_dims: tuple[int, ...] = (128, 64)
    tower_dims: tuple[int, ...] = (32,)
    dropout: float = Field(default=0.3, ge=0.0, lt=1.0)
    """Dropout after every hidden layer; on CPU the rate is rounded to a multiple of 1/256
    (``mtrec.models.layers.Dropout``)."""
    use_text: bool = True
    item_id_shrinkage: float = Field(default=3.0, ge=0.0)
    """An item with ``n`` training interactions uses ``n / (n + item_id_shrinkage)`` of its id
    embedding and relies on its text for the rest: a rarely seen item's id row is mostly noise
    (Bayesian shrinkage towards the text-only item). 0 gives every seen item its full id."""
    item_id_dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    """Share of each training batch's items whose id embedding is hidden, so the model learns
    to score items from text alone (what a cold item has)."""
    ranking_interaction: Literal["neumf", "dot"] = "dot"
    """The ranking task's head over the user and item representations: ``neumf``, a
    generalised matrix factorisation term plus an MLP over the pair (He et al. 2017); ``dot``,
    the factorisation term alone, so full ranking is one matrix product per batch of users
    (a two-tower model). The other tasks keep the NeuMF head."""
    history_length: int = Field(default=20, ge=0, le=1000)
    """The user side also reads the user's most recent interactions (the items' id and text
    inputs, with their recency): at most this many, before the interaction being learned in
    training, and every known one when scoring, so new interactions change a user's
    recommendations without retraining. 0: no history input (id and profile text only)."""
    profile_length: int = Field(default=0, ge=0, le=100_000)
    """The user side also reads the mean input of up to this many of the user's newest
    interactions (the long-term profile, beside the recent window; the same interactions the
    history may read, only more of them). 0: none."""
    history_context: Literal["auto", "before", "others"] = "auto"
    """What a training interaction's history is: the user's interactions ``before`` it
    (learns what comes next: right when test is the newest interactions, ``split.order:
    time``), or the user's newest ``others`` (learns an interaction from the rest: right when
    valid and test are drawn at random from the timeline, ``split.order: random``). ``auto``
    follows ``split.order``. Scoring always reads the newest known interactions."""
    history_pooling: Literal["attention", "mean"] = "attention"
    """How the history becomes one vector: ``attention`` (a learned query weighs the items,
    with learned recency embeddings) or ``mean`` (recency embeddings, plain average)."""
    item_item: ItemItemConfig = Field(default_factory=ItemItemConfig)
    """The ranking task's closed-form item-item component, chosen on valid."""
    tasks: dict[str, TaskConfig] = Field(default_factory=_default_tasks)
    """Declared tasks by name (see :class:`TaskConfig`); exactly one has kind ``ranking``."""

    @field_validator("tasks", mode="before")
    @classmethod
    def _builtin_task_defaults(cls, tasks: Any) -> Any:
        if not isinstance(tasks, dict):
            return tasks
        return {
            name: {**BUILTIN_TASKS[name], **task}
            if name in BUILTIN_TASKS and isinstance(task, dict)
            else task
            for name, task in tasks.items()
        }

    @model_validator(mode="after")
    def _tasks_valid(self) -> ModelConfig:
        for name in self.tasks:
            if not name.isidentifier():
                raise ValueError(f"task name {name!r} must be an identifier")
        ranking = [name for name, task in self.tasks.items() if task.kind == "ranking"]
        if len(ranking) != 1:
            raise ValueError(
                f"model.tasks needs exactly one task of kind 'ranking' (it orders the "
                f"catalogue), found {len(ranking)}: {ranking}"
            )
        if sum(t.weight for t in self.tasks.values()) <= 0:
            raise ValueError("model.tasks weights are all zero")
        for name, task in self.tasks.items():
            if task.after is None:
                continue
            after = self.tasks.get(task.after)
            if after is None:
                raise ValueError(f"funnel task {name!r}: after {task.after!r} is not a task")
            if not (after.kind == "ranking" or event_stage(after.label) is not None):
                raise ValueError(
                    f"funnel task {name!r}: after {task.after!r} must be the ranking task or an "
                    f"event task (label 'event:<stage>'), not kind {after.kind!r} with label "
                    f"{after.label!r}"
                )
        for name in self.tasks:
            funnel_chain(self.tasks, name)  # raises on a loop
        return self

    @property
    def ranking_task(self) -> str:
        return next(name for name, task in self.tasks.items() if task.kind == "ranking")

    def label_columns(self, event_column: str | None = None) -> dict[str, tuple[str, ...]]:
        """The interaction columns the declared tasks read, each with the tasks that read it
        (``rating``: ``like``, ``rating`` by default); empty for an implicit log's tasks.
        ``event:<stage>`` labels read ``event_column`` (``data.event_column``)."""
        columns: dict[str, tuple[str, ...]] = {}
        for name, task in self.tasks.items():
            column = task.label
            if event_stage(task.label) is not None:
                if event_column is None:
                    raise ValueError(f"task {name!r} reads {task.label!r}: set data.event_column")
                column = event_column
            if column not in TASK_LABELS:  # derived, not read from a column
                columns[column] = (*columns.get(column, ()), name)
        return columns


class TrainingConfig(_Section):
    """Mini-batch Adam with early stopping on a validation metric."""

    epochs: int = Field(default=30, ge=1)
    batch_size: int = Field(default=8192, ge=1)
    """Rows per step (positives and their negatives). With learning rate 0.01, 8192 ranks
    better than 4096 in less time (docs/benchmarks.md#defaults-and-why)."""
    learning_rate: float = Field(default=1e-2, gt=0.0)
    learning_rate_decay: float = Field(default=1.0, gt=0.0, le=1.0)
    """The learning rate is multiplied by this after every epoch (exponential decay; 1.0:
    constant). A schedule in epochs, not in validation results, so a refit for the chosen
    number of epochs follows the same learning rates as the run that chose them."""
    weight_decay: float = Field(default=0.0, ge=0.0)
    id_gradients: Literal["auto", "sparse", "dense"] = "auto"
    """How the user and item id tables learn. ``sparse``: sparse gradients and lazy Adam
    (``SparseAdam``), a step reads and updates only its batch's rows, so an epoch's cost
    follows the interactions, not the catalogue times the steps. ``dense``: every row every
    step. ``auto``: sparse when the tables have over 16 rows per batch row (the 10M-row
    synthetic log), dense below (MovieLens: lazy moments need more epochs there; see
    :data:`mtrec.numerics.SPARSE_ROWS_PER_BATCH_ROW`). Always dense with
    ``weight_decay`` > 0 (SparseAdam has none), GradNorm or ``nproc`` > 1."""
    negatives_per_positive: int = Field(default=4, ge=1)
    """Sampled negatives per positive for ``ranking_loss: bce`` (and for link tasks)."""
    negative_pool: int | None = Field(default=None, ge=1)
    """``None``: each sampled negative is drawn from every item with training interactions.
    A number: each step's batch first draws this many of those items and its positives draw
    their negatives from them (each negative still a uniform draw). The item side then runs
    on at most this many negatives a step instead of nearly one per negative: at 50,000 items
    a batch of 4,096 rows held some 3,850 distinct items, at MovieLens-100k 1,490
    (docs/benchmarks.md#end-to-end-at-scale). Applies to ``ranking_loss: bce``."""
    ranking_loss: Literal["bce", "softmax"] = "bce"
    """The ranking task's loss: ``bce``, each positive against ``negatives_per_positive``
    sampled items; ``softmax``, cross-entropy of each positive against every item with
    training interactions (the dot head ranks the catalogue with one product, so this costs
    about what the sampled negatives' rows did and trains on all of them: Covington et al.
    2016, and the full-softmax two-tower models that match EASE on MovieLens)."""
    patience: int = Field(default=5, ge=1)
    """Epochs without a better validation value before stopping. Validation NDCG@10 on
    MovieLens-100k moves by about 0.005 between epochs, so a short patience stops on noise
    (with 3, one seed in three stopped far before its curve's peak)."""
    min_improvement: float = Field(default=0.005, ge=0.0, lt=1.0)
    """An epoch counts as better only when it beats the best so far by this fraction of it
    (0.005: half a percent; 0: any gain), as Keras' and Lightning's ``min_delta``, relative so
    that one value fits metrics of any scale. A curve that creeps up by noise after its
    plateau then stops there instead of training on for the creep, and every refit trains
    the plateau's epochs, not the creep's (docs/benchmarks.md)."""
    monitor: str = "ndcg@10"
    """Validation metric for early stopping and the best epoch: a ranking metric at K
    (``ndcg@10``, ``recall@20``...) or a task metric ``<task>_<auc|rmse>``; errors are
    minimised, everything else maximised."""
    seed: int = 42
    refit: Literal["all", "none"] = "all"
    """After early stopping on valid and evaluation on test, ``all`` refits the model
    (``refit_from``) on train + valid (scored on test: the serving view) and on every
    interaction (the served model, what ``make recommend`` uses);
    ``none`` serves the evaluated model, and its serving view only reads train + valid as
    history, with no retraining."""
    refit_from: Literal["trained", "scratch"] = "trained"
    """Where each refit starts. ``trained``: the evaluated model's weights, trained on for
    ``refit_epochs`` epochs at ``refit_learning_rate`` over the larger data, so the new
    interactions and ids are learned without relearning the rest (a fraction of the cost;
    in time order better in the serving view than ``scratch``, in random order slightly
    worse: docs/benchmarks.md#defaults-and-why);
    ``scratch``: a fresh network trained for the epochs early stopping chose, as the evaluated
    model was."""
    refit_epochs: int = Field(default=3, ge=1)
    """Epochs of a refit that continues the evaluated model (``refit_from: trained``)."""
    refit_learning_rate: float = Field(default=3e-3, gt=0.0)
    """The learning rate of a refit that continues the evaluated model: below the training
    rate, since the weights start near a minimum and a large step would first undo them."""
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    """Where the training steps run: ``cuda`` uses the GPU (under ``torchrun``, the local
    rank's, with NCCL), ``auto`` a GPU when torch sees one. Validation, evaluation and the
    saved weights stay on the CPU."""
    nproc: int = Field(default=1, ge=1)
    """Processes for distributed data-parallel training: above 1, training runs under
    ``torchrun --nproc_per_node=nproc`` (gloo on CPU). See :mod:`mtrec.workflows.distributed`."""
    task_weighting: Literal["static", "uncertainty", "dwa", "gradnorm"] = "uncertainty"
    """How task losses are weighted: fixed (``model.tasks`` weights), uncertainty (Kendall et
    al. 2018), Dynamic Weight Average (Liu et al. 2019) or GradNorm (Chen et al. 2018). The
    configured weights stay as multipliers in every scheme."""
    dwa_temperature: float = Field(default=2.0, gt=0.0)
    gradnorm_alpha: float = Field(default=1.5, ge=0.0)

    @model_validator(mode="after")
    def _negative_pool_needs_negatives(self) -> TrainingConfig:
        if self.negative_pool is not None and self.ranking_loss == "softmax":
            raise ValueError(
                "training.negative_pool shares sampled negatives within a batch; "
                "ranking_loss 'softmax' samples none: unset negative_pool or use 'bce'"
            )
        return self

    @model_validator(mode="after")
    def _distributed_weighting(self) -> TrainingConfig:
        if self.nproc > 1 and self.task_weighting == "gradnorm":
            raise ValueError(
                "training.task_weighting 'gradnorm' needs per-task gradient norms on one "
                "process; use nproc 1 or another weighting"
            )
        return self


BaselineName = Literal["popularity", "itemknn", "bpr", "ease"]
"""Popularity, ItemKNN (Sarwar et al. 2001), BPR-MF (Rendle et al. 2009), EASE (Steck 2019)."""


class EvaluationConfig(_Section):
    """Full-ranking evaluation over the whole item catalogue."""

    ks: tuple[int, ...] = (10, 20)
    recommendations_k: int = Field(default=20, ge=1)
    cold_item_max_train: int = Field(default=5, ge=0)
    """Test interactions whose item has at most this many training interactions form the
    cold-item slice (ranked against the whole catalogue, like the main metrics)."""
    baselines: tuple[BaselineName, ...] = ("popularity", "itemknn", "bpr", "ease")
    """Baselines ranked on the same split and evaluator; popularity always runs. Their
    hyperparameters are chosen on valid (see :mod:`mtrec.evaluation.baselines`)."""
    baseline_max_memory_mb: float = Field(
        default=4096,
        gt=0,
        # The name of releases where only EASE had a budget.
        validation_alias=AliasChoices("baseline_max_memory_mb", "ease_max_memory_mb"),
    )
    """The dense baselines' budget (MB of 2^20 bytes): EASE inverts an items x items matrix
    (:func:`mtrec.models.baselines.ease.ease_memory_bytes`; 4096 MB covers up to 11,585
    items), ItemKNN holds the users x items history and items x items similarities
    (:func:`mtrec.models.baselines.itemknn.itemknn_memory_bytes`). Above its estimated peak
    a baseline is skipped, with the reason recorded, instead of running out of memory."""
    id_only_ablation: bool = False
    """Also train and evaluate the same model without text features, in the same run (beside
    the model on the other cores). Off by default: it doubles the training step's work, and
    ``make compare`` measures the same thing (its ``no text`` variant)."""

    @field_validator("ks")
    @classmethod
    def _ks_positive(cls, ks: tuple[int, ...]) -> tuple[int, ...]:
        if not ks or any(k <= 0 for k in ks):
            raise ValueError(f"evaluation.ks must be positive integers: {ks}")
        return tuple(sorted(set(ks)))


class DriftConfig(_Section):
    """Evidently data-drift report between the train and test periods."""

    max_rows: int = Field(default=5000, ge=100)
    """Rows sampled from each period, which bounds Evidently's runtime; the summary's tests
    run on this sample."""
    max_html_mb: float = Field(default=5.0, gt=0.0)
    """Size cap of the drift page (MB of 10^6 bytes): a larger page is drawn again from fewer
    rows, then fewer columns, and says so at its top. Evidently's script alone is ~3.8 MB."""
    drift_share_threshold: float = Field(default=0.5, gt=0.0, le=1.0)
    seed: int = 0
    embedding_auc_threshold: float = Field(default=0.6, gt=0.5, lt=1.0)
    """Text-embedding drift is flagged when a classifier tells current items' embeddings from
    reference items' with cross-validated ROC AUC at or above this (0.5: indistinguishable)."""


class RegistryConfig(_Section):
    """ZenML Model Control Plane settings."""

    model_name: str = "mtrec-recommender"
    promotion_metric: str = "valid.ndcg@10"
    """``<split>.<ranking metric>``: the gate scores candidate and production on this split."""

    @property
    def promotion(self) -> MetricRef:
        """``promotion_metric``, parsed (checked when the run config is validated)."""
        return MetricRef.parse(self.promotion_metric)

    gate: Literal["bootstrap", "point"] = "bootstrap"
    """``bootstrap``: candidate and production scored head to head on the same users and data,
    promoted only when the lower bound of the paired bootstrap interval of the difference is
    above ``margin``; ``point``: compare the recorded values (no confidence)."""
    bootstrap_samples: int = Field(default=1000, ge=100)
    confidence: float = Field(default=0.95, gt=0.5, lt=1.0)
    margin: float = 0.0
    min_lift_over_popularity: float = Field(default=0.0, ge=-1.0)
    """The floor every promotion must clear, the first version's included: the candidate's
    ``promotion_metric`` must be above the popularity baseline's on the same split times
    ``1 + min_lift_over_popularity`` (0: strictly above popularity; 0.05: 5% above). A
    candidate below it is registered but refused. A negative value lets a model that far below
    popularity through (-1: any non-zero value; for smoke runs on tiny data only)."""
    tolerances: dict[str, float] = Field(
        default_factory=lambda: {"rating_rmse": 0.02, "like_auc": 0.01, "watch_auc": 0.01}
    )
    """Secondary test metrics and how much worse than production's they may be (in their own
    direction: RMSE up, AUC down); a metric one of the two lacks is not checked."""


class RetrainConfig(_Section):
    """Scheduled retraining on a timeline of windows (``make retrain``, ``make backtest``)."""

    window_days: float = Field(default=7.0, gt=0.0)
    """Each cycle takes the next window of this many days after the last one ingested."""
    valid_days: float = Field(default=7.0, gt=0.0)
    """The days just before a window validate the candidate (early stopping); it trains on
    everything earlier, and candidate and production are compared on the window itself."""
    initial_cutoff: int | None = None
    """Timestamp ending the initial model's data; ``None``: where ``initial_share`` of the
    interactions lie before it."""
    initial_share: float = Field(default=0.7, gt=0.0, lt=1.0)
    every_windows: int = Field(default=1, ge=1)
    """Schedule: retrain at least every this many windows, drift or not."""
    on_drift: bool = True
    """Also retrain as soon as a window's data drift is detected against production's data."""
    ledger_dir: Path = Path("data/retrain")
    """Where the ledger of ingested windows lives (inside ``data.root``)."""
    allow_partial_window: bool = False
    """Take a window whose end lies after the newest interaction (normally it waits)."""


RerankMethodName = Literal["none", "mmr", "dpp", "calibrated"]
"""The re-rankers of :mod:`mtrec.evaluation.rerank` (its ``RERANK_METHODS``, kept equal by a
test: importing that module here would load torch with every config)."""


class RerankConfig(_Section):
    """Re-ranking the top ``candidates`` items by score into the final lists, for diversity or
    calibration (:mod:`mtrec.evaluation.diversity`): the same function in evaluation and in
    ``make recommend``."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    method: RerankMethodName = "calibrated"
    """``none`` (top-K by score), ``mmr`` (Maximal Marginal Relevance over text-embedding
    cosine), ``dpp`` (greedy determinantal point process) or ``calibrated`` (Steck 2018:
    toward the user's topic shares)."""
    lam: float = Field(default=0.4, ge=0.0, le=1.0, alias="lambda")
    """Trade-off, YAML key ``lambda``: 0 is pure relevance, 1 pure diversity / calibration."""
    candidates: int = Field(default=100, ge=1)
    """Items per user the re-ranker chooses from (at least the list length, at most the
    catalogue)."""
    grid: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 0.9)
    """Lambdas of the measured trade-off (each re-ranker at each); must include 0, the
    reference every gain is measured against."""
    tradeoff_users: int | None = Field(default=10_000, ge=1)
    """The trade-off is measured on at most this many test users, a seeded sample (every
    point on the same users; ``null``: all): the grid re-ranks each of them once per method
    and lambda (24 times by default). The served lists cover every user."""

    @field_validator("grid")
    @classmethod
    def _grid_valid(cls, grid: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0.0 <= lam <= 1.0 for lam in grid):
            raise ValueError(f"rerank.grid values must lie in [0, 1]: {grid}")
        if 0.0 not in grid:
            raise ValueError(f"rerank.grid must include 0.0, the unre-ranked reference: {grid}")
        return tuple(sorted(set(grid)))


class InterestsConfig(_Section):
    """Item topics and user interest profiles (:mod:`mtrec.evaluation.interests`)."""

    topics: int = Field(default=20, ge=1)
    """Topics clustered from the item text embeddings (capped at the catalogue size)."""
    recent_n: int = Field(default=20, ge=1)
    """A user's recent interests: their newest this many interactions..."""
    recent_days: float | None = Field(default=None, gt=0.0)
    """... or, when set, those of their last this many days instead."""
    seed: int = 42


class RunConfig(_Section):
    """Everything a training run needs; one YAML file maps onto this class."""

    @model_validator(mode="before")
    @classmethod
    def _history_context_follows_split(cls, raw: Any) -> Any:
        """``model.history_context: auto`` becomes ``before`` for time-ordered splits and
        ``others`` for ``split.order: random``."""
        if not isinstance(raw, dict):
            return raw
        model, split = raw.get("model", {}), raw.get("split", {})
        order = split.get("order", "time") if isinstance(split, dict) else split.order
        context = "others" if order == "random" else "before"
        if isinstance(model, ModelConfig) and model.history_context == "auto":
            return {**raw, "model": model.model_copy(update={"history_context": context})}
        if isinstance(model, dict) and model.get("history_context", "auto") == "auto":
            return {**raw, "model": {**model, "history_context": context}}
        return raw

    data: DataConfig = DataConfig()
    validation: ValidationConfig = ValidationConfig()
    split: SplitConfig = SplitConfig()
    text: TextConfig = TextConfig()
    encoder: EncoderConfig = EncoderConfig()
    model: ModelConfig = ModelConfig()
    training: TrainingConfig = TrainingConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    drift: DriftConfig = DriftConfig()
    registry: RegistryConfig = RegistryConfig()
    retrain: RetrainConfig = RetrainConfig()
    rerank: RerankConfig = RerankConfig()
    interests: InterestsConfig = InterestsConfig()
    reports_dir: Path = Path("reports")

    @model_validator(mode="after")
    def _promotion_metric_computed(self) -> RunConfig:
        links = [n for n, t in self.model.tasks.items() if t.kind == "link"]
        if links and self.data.edges is None:
            raise ValueError(f"link tasks {links} need data.edges (a user_id,friend_id table)")
        _check_event_tasks(self)
        return _check_monitor(_check_promotion_metric(_check_inside_data_root(self)))

    def label_columns(self) -> dict[str, tuple[str, ...]]:
        """The interaction columns the declared tasks read, each with its tasks (the event
        column for ``event:<stage>`` labels): what validation requires."""
        return self.model.label_columns(self.data.event_column)


def _check_event_tasks(config: RunConfig) -> None:
    """``event:<stage>`` labels name declared stages, a funnel follows an earlier stage, and
    an entire-space funnel needs the ranking task's per-row probability (sampled BCE)."""
    tasks, events = config.model.tasks, config.data.events
    for name, task in tasks.items():
        stage = event_stage(task.label)
        if stage is None:
            continue
        if config.data.event_column is None:
            raise ValueError(
                f"task {name!r} reads {task.label!r}: declare data.event_column (the column of "
                "event types) and data.events (its labels in funnel order)"
            )
        if stage not in events:
            raise ValueError(
                f"task {name!r} reads {task.label!r}, but {stage!r} is not in data.events "
                f"{list(events)}"
            )
        after = tasks[task.after] if task.after is not None else None
        after_stage = event_stage(after.label) if after is not None else None
        if after_stage is not None and events.index(after_stage) >= events.index(stage):
            raise ValueError(
                f"funnel task {name!r} ({stage}) is after {task.after!r} ({after_stage}): "
                f"its stage must come later in data.events {list(events)}"
            )
    entire = entire_space_tasks(tasks)
    if entire and config.training.ranking_loss == "softmax":
        raise ValueError(
            f"funnel tasks {list(entire)} multiply the ranking task's per-row probability, "
            "which training.ranking_loss 'softmax' does not learn: use 'bce'"
        )


def _check_inside_data_root(config: RunConfig) -> RunConfig:
    """Refuse write folders that escape ``data.root`` (``..``, absolute paths, symlinks):
    the pipeline rewrites and deletes files there, so a typo must not point it at ``/``."""
    root = config.data.root.resolve()
    folders = {
        "data.cache_dir": config.data.cache_dir,
        "encoder.store_dir": config.encoder.store_dir,
    }
    for name, folder in folders.items():
        if folder is not None and not folder.resolve().is_relative_to(root):
            raise ValueError(
                f"{name} {str(folder)!r} resolves to {folder.resolve()}, outside the data folder "
                f"data.root {str(config.data.root)!r} ({root}); move it inside, or set data.root"
            )
    return config


def _check_monitor(config: RunConfig) -> RunConfig:
    monitor = config.training.monitor
    task_metrics = {f"{n}_{t.task_metric}" for n, t in config.model.tasks.items()}
    try:
        ranking = MetricRef.parse(monitor).ranking and "." not in monitor
    except ValueError:
        ranking = False
    if not ranking and monitor not in task_metrics:
        raise ValueError(
            f"training.monitor {monitor!r} is neither a ranking metric at K (e.g. 'ndcg@10') "
            f"nor a task metric of this config ({sorted(task_metrics)})"
        )
    return config


def _check_promotion_metric(config: RunConfig) -> RunConfig:
    try:
        metric = MetricRef.parse(config.registry.promotion_metric)
    except ValueError:
        metric = MetricRef("")
    if metric.split is None:
        raise ValueError(
            f"registry.promotion_metric must look like 'valid.ndcg@10' or 'test.<metric>', "
            f"got {config.registry.promotion_metric!r}"
        )
    available_ks = {*config.evaluation.ks, *((10,) if metric.split == "valid" else ())}
    if metric.k is not None and metric.k not in available_ks:
        raise ValueError(
            f"registry.promotion_metric {config.registry.promotion_metric!r} is not computed: "
            f"{metric.split} ranking metrics exist at K in {sorted(available_ks)}"
        )
    return config


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> RunConfig:
    """Read a YAML file into a validated :class:`RunConfig`.

    A ``base:`` key names another config file (relative to this one) that this file extends:
    mappings merge key by key, any other value (a list, a number, a string) replaces the
    base's, so a variant holds only what differs. ``overrides`` are ``dotted.key=value``
    strings (the command line's ``--set``), applied last; each value is read as YAML (``5``,
    ``0.01``, ``true``, ``[10, 20]``, ``null``). Relative paths inside the file stay relative
    to the working directory, where ``make`` runs.
    """
    raw = _read_with_bases(Path(path), ())
    for override in overrides:
        _apply_override(raw, override)
    return RunConfig.model_validate(raw)


def _read_with_bases(path: Path, chain: tuple[Path, ...]) -> dict[str, Any]:
    if not path.is_file():
        via = f" (the base of {chain[-1]})" if chain else ""
        raise FileNotFoundError(f"config file not found: {path}{via}")
    if path.resolve() in chain:
        loop = " -> ".join(str(p) for p in (*chain, path.resolve()))
        raise ValueError(f"config base loop: {loop}")
    raw = yaml.load(path.read_text(encoding="utf-8"), Loader=ConfigLoader) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"config {path} must be a mapping at the top level")
    base = raw.pop("base", None)
    if base is None:
        return raw
    if not isinstance(base, str):
        raise ValueError(f"config {path}: base must be a file path, got {base!r}")
    return merged(_read_with_bases(path.parent / base, (*chain, path.resolve())), raw)


class _Replacing(dict):
    """A mapping tagged ``!replace`` in a variant: it replaces the base's instead of merging."""


class ConfigLoader(yaml.SafeLoader):
    """YAML's safe loader plus the ``!replace`` tag on mappings."""


def _replacing(loader: yaml.SafeLoader, node: yaml.MappingNode) -> _Replacing:
    return _Replacing(loader.construct_mapping(node, deep=True))


ConfigLoader.add_constructor("!replace", _replacing)


def merged(base: dict[str, Any], variant: dict[str, Any]) -> dict[str, Any]:
    """``variant`` on top of ``base``: mappings merge recursively (unless tagged
    ``!replace``), other values replace."""
    out = dict(base)
    for key, value in variant.items():
        if isinstance(value, _Replacing):
            out[key] = dict(value)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


def _apply_override(raw: dict[str, Any], override: str) -> None:
    """Set ``dotted.key=value`` in ``raw`` in place (intermediate mappings created)."""
    key, sep, text = override.partition("=")
    parts = key.strip().split(".")
    if not sep or not all(parts):
        raise ValueError(f"--set {override!r} must look like section.key=value")
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ValueError(f"--set {override!r}: the value is not valid YAML ({error})") from None
    node = raw
    for depth, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            where = ".".join(parts[: depth + 1])
            raise ValueError(f"--set {override!r}: {where} is {child!r}, not a section")
        node = child
    node[parts[-1]] = value
