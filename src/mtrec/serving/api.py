"""What the online service accepts and answers, and the function that answers it.

A request names a user, optionally the items they interacted with since the model's history
(``recent_items``, oldest first), a list length, whether seen items are left out, re-ranking
overrides and, for a user the model does not know, a profile text. :func:`prepare` turns it
into a :class:`mtrec.registry.recommend.Query` for the served
:class:`mtrec.registry.recommend.Recommender`, the same object ``make recommend`` ranks with,
so the served list is the batch list of the same model, history and events;
:func:`answer_many` ranks the queries of concurrent requests together (one matrix product for
all of them), and :func:`answer` is the one-request case.

Everything here is typed and validated: unknown fields, a ``k`` outside ``[1, max_k]``,
unknown item ids and out-of-range re-ranking parameters raise, and the web layer turns them
into 4xx answers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mtrec.config import RerankConfig, RerankMethodName
from mtrec.registry.recommend import Query, Recommender, Source

MAX_RECENT_ITEMS = 1_000
"""At most this many ``recent_items`` per request (the history window reads far fewer)."""
MAX_PROFILE_CHARS = 10_000
MAX_USER_ID_CHARS = 256


class RequestError(ValueError):
    """A well-formed request the service cannot answer as asked (the web layer: 422)."""


class RerankOverride(BaseModel):
    """Per-request changes to the served ``rerank`` section: ``method`` and/or ``lambda``."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    method: RerankMethodName | None = None
    lam: float | None = Field(default=None, ge=0.0, le=1.0, alias="lambda")


class RecommendRequest(BaseModel):
    """``POST /recommend``'s body."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    user_id: str = Field(min_length=1, max_length=MAX_USER_ID_CHARS)
    recent_items: list[str] = Field(default_factory=list, max_length=MAX_RECENT_ITEMS)
    """Items the user interacted with since the model's history, oldest first: the history
    input reads them as the newest, and (with ``exclude_seen``) they are not recommended."""
    k: int = Field(default=10, ge=1)
    exclude_seen: bool = True
    rerank: RerankOverride | None = None
    profile: str | None = Field(default=None, min_length=1, max_length=MAX_PROFILE_CHARS)
    """A profile text for a user the model does not know (ignored for a known user)."""


class RecommendedItem(BaseModel):
    item_id: str
    score: float
    source: Source


class RecommendResponse(BaseModel):
    user_id: str
    source: Source
    model_version: str
    items: list[RecommendedItem]


@dataclass(frozen=True, eq=False)
class ServedModel:
    """One model version ready to answer: never changed once built, so a request holding it
    is unaffected by a swap. ``encode`` embeds profile texts with the run's encoder (``None``:
    profiles are refused); it must be safe to call from several threads."""

    version: str
    """The version's name, as answers report it."""
    key: str
    """What identifies the version in its registry (its id): a new key means a new model."""
    recommender: Recommender
    rerank: RerankConfig
    encode: Callable[[str], np.ndarray] | None = None
    loaded_at: float = field(default_factory=time.time)


def prepare(served: ServedModel, request: RecommendRequest, max_k: int) -> Query:
    """The :class:`Query` ``request`` asks of ``served`` (its profile encoded). Raises
    :class:`RequestError` for a ``k`` over ``max_k``, unknown ``recent_items`` or a profile
    the service cannot encode."""
    if request.k > max_k:
        raise RequestError(f"k must be at most {max_k}, got {request.k}")
    recommender = served.recommender
    index = recommender.item_index
    unknown = [item for item in request.recent_items if item not in index]
    if unknown:
        shown = ", ".join(repr(item) for item in unknown[:5])
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        raise RequestError(f"recent_items not in the model's catalogue: {shown}{more}")
    profile = None
    if request.profile is not None and not recommender.knows(request.user_id):
        if served.encode is None:
            raise RequestError("this service has no text encoder: profiles cannot be scored")
        profile = served.encode(request.profile)
    return Query(
        request.user_id,
        recent=np.fromiter((index[item] for item in request.recent_items), np.int64),
        profile=profile,
        exclude_seen=request.exclude_seen,
    )


def needs_encoding(served: ServedModel, request: RecommendRequest) -> bool:
    """Whether :func:`prepare` will run the text encoder (slow: keep it off an event loop)."""
    return request.profile is not None and not served.recommender.knows(request.user_id)


def answer_many(
    served: ServedModel, requests: Sequence[RecommendRequest], queries: Sequence[Query]
) -> list[RecommendResponse]:
    """The answers to ``requests`` (``queries``: what :func:`prepare` made of each), ranked
    together: one :meth:`Recommender.rank` call per distinct list length and re-ranking, so
    concurrent requests share the model's matrix products. Raises :class:`RequestError` when a
    re-ranking cannot be done (e.g. ``calibrated`` without topics)."""
    groups: dict[tuple[int, RerankConfig], list[int]] = {}
    for position, request in enumerate(requests):
        rerank = rerank_for(served.rerank, request.rerank)
        groups.setdefault((request.k, rerank), []).append(position)
    answers: list[RecommendResponse | None] = [None] * len(requests)
    item_ids = served.recommender.item_ids
    for (k, rerank), positions in groups.items():
        try:
            ranked = served.recommender.rank([queries[p] for p in positions], k, rerank)
        except ValueError as error:  # e.g. a re-ranker the model lacks the inputs for
            raise RequestError(str(error)) from error
        for position, result in zip(positions, ranked, strict=True):
            items = [
                RecommendedItem(item_id=item_ids[item], score=score, source=result.source)
                for item, score in zip(result.items.tolist(), result.scores.tolist(), strict=True)
                if math.isfinite(score)  # seen items fill a list only past the unseen ones
            ]
            answers[position] = RecommendResponse(
                user_id=requests[position].user_id,
                source=result.source,
                model_version=served.version,
                items=items,
            )
    return [a for a in answers if a is not None]


def answer(served: ServedModel, request: RecommendRequest, max_k: int) -> RecommendResponse:
    """The served model's list for one ``request`` (:func:`prepare`, then :func:`answer_many`)."""
    return answer_many(served, [request], [prepare(served, request, max_k)])[0]


def rerank_for(base: RerankConfig, override: RerankOverride | None) -> RerankConfig:
    """``base`` with the request's overrides, validated as the config section is."""
    if override is None or (override.method is None and override.lam is None):
        return base
    values = base.model_dump(by_alias=True)
    if override.method is not None:
        values["method"] = override.method
    if override.lam is not None:
        values["lambda"] = override.lam
    try:
        return RerankConfig.model_validate(values)
    except ValidationError as error:
        raise RequestError(f"invalid rerank override: {error.errors()[0]['msg']}") from error
