"""Item and user texts for the language model, from configurable templates.

User text is built from the *training* interactions only, so nothing from the valid or test
period can leak into a feature the model sees.
"""

from __future__ import annotations

import string
from collections.abc import Hashable, Mapping, Sequence

import pandas as pd

UNKNOWN = "unknown"
_FORMATTER = string.Formatter()


class _Fields(dict[str, object]):
    """Template fields; a field the data lacks renders as ``unknown`` instead of failing."""

    def __missing__(self, key: str) -> object:
        return UNKNOWN


def template_fields(template: str) -> list[str]:
    """The field names a ``str.format`` template uses."""
    return [name for _, name, _, _ in _FORMATTER.parse(template) if name]


def render(template: str, record: Mapping[Hashable, object]) -> str:
    """Format one record (a frame row: column -> value), rendering missing or empty values as
    ``unknown``."""
    fields = _Fields({str(k): v for k, v in record.items() if v is not None and not _is_blank(v)})
    return " ".join(_FORMATTER.vformat(template, (), fields).split())


_NOT_TEXT = frozenset({"item_id", "item_idx"})


def extra_text_columns(items: pd.DataFrame, template: str) -> list[str]:
    """Text columns of ``items`` that ``template`` does not use (``auto`` extra columns)."""
    used = set(template_fields(template)) | _NOT_TEXT
    return [
        column
        for column in items.columns
        if column not in used
        and (pd.api.types.is_string_dtype(items[column]) or items[column].dtype == object)
    ]


def item_texts(items: pd.DataFrame, template: str, extra_columns: Sequence[str] = ()) -> pd.Series:
    """One text per catalogue row, in ``item_idx`` order. Genres are listed comma-separated;
    each of ``extra_columns`` with a value is appended as ``column: value.``"""
    frame = items.copy()
    frame["genres"] = frame["genres"].fillna("").str.replace("|", ", ", regex=False)
    texts = []
    for record in frame.to_dict("records"):
        text = render(template, record)
        extras = [
            f"{column}: {str(record[column]).strip().rstrip('.')}."
            for column in extra_columns
            if not _is_blank(record.get(column))
        ]
        texts.append(" ".join([text, *extras]))
    return pd.Series(texts, index=items.index, name="text")


def user_top_genres(train: pd.DataFrame, items: pd.DataFrame, top_k: int) -> pd.Series:
    """The ``top_k`` most frequent genres in each user's training history (ties by name)."""
    genres = items[["item_idx", "genres"]].assign(genre=items["genres"].fillna("").str.split("|"))
    pairs = genres.explode("genre")
    pairs = pairs[pairs["genre"].fillna("") != ""][["item_idx", "genre"]]
    history = train[["user_idx", "item_idx"]].merge(pairs, on="item_idx")
    counts = history.groupby(["user_idx", "genre"]).size().rename("n").reset_index()
    counts = counts.sort_values(["user_idx", "n", "genre"], ascending=[True, False, True])
    top = counts.groupby("user_idx").head(top_k)
    return top.groupby("user_idx")["genre"].agg(", ".join)


def user_texts(
    users: pd.DataFrame, train: pd.DataFrame, items: pd.DataFrame, template: str, top_k: int
) -> pd.Series:
    """One text per user row, in ``user_idx`` order, from profile columns and training history."""
    frame = users.copy()
    frame["top_genres"] = frame["user_idx"].map(user_top_genres(train, items, top_k))
    activity = train.groupby("user_idx").size()
    frame["n_interactions"] = frame["user_idx"].map(activity).fillna(0).astype(int)
    records = frame.to_dict("records")
    return pd.Series([render(template, r) for r in records], index=users.index, name="text")


def _is_blank(value: object) -> bool:
    if isinstance(value, str):
        return value.strip() == ""
    try:
        return bool(pd.isna(value))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return False
