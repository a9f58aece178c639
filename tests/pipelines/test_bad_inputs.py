"""Malformed inputs through the command line: each stops before training with a message that
names the problem, and no model version is created."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from conftest import make_interactions
from test_training_pipeline import _versions, _write_config

import run as cli


def _frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    interactions, items, _ = make_interactions(n_users=20, n_items=30, per_user=8)
    return interactions, items


def _header_only(folder: Path) -> dict[str, Path]:
    interactions, items = _frames()
    interactions.head(0).to_csv(folder / "inter.csv", index=False)
    items.to_csv(folder / "items.csv", index=False)
    return {"interactions": folder / "inter.csv", "items": folder / "items.csv"}


def _edit(change) -> object:
    def build(folder: Path) -> dict[str, Path]:
        interactions, items = _frames()
        interactions, items = change(interactions.copy(), items.copy())
        interactions.to_csv(folder / "inter.csv", index=False)
        items.to_csv(folder / "items.csv", index=False)
        return {"interactions": folder / "inter.csv", "items": folder / "items.csv"}

    return build


def _truncated_parquet(folder: Path) -> dict[str, Path]:
    interactions, items = _frames()
    interactions.to_parquet(folder / "inter.parquet", index=False)
    data = (folder / "inter.parquet").read_bytes()
    (folder / "inter.parquet").write_bytes(data[: len(data) // 2])
    items.to_csv(folder / "items.csv", index=False)
    return {"interactions": folder / "inter.parquet", "items": folder / "items.csv"}


def _duplicate(i: pd.DataFrame, it: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    return pd.concat([i, i.head(3)], ignore_index=True), it


def _milliseconds(i: pd.DataFrame, it: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    return i.assign(timestamp=i["timestamp"] * 1000), it


def _unknown_item(i: pd.DataFrame, it: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    i.loc[0, "item_id"] = "ghost-item"
    return i, it


def _null_user(i: pd.DataFrame, it: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    i.loc[4, "user_id"] = None
    return i, it


def _nan_rating(i: pd.DataFrame, it: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    i.loc[2, "rating"] = float("nan")
    return i, it


def _text_rating(i: pd.DataFrame, it: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    i["rating"] = i["rating"].astype(str)
    i.loc[1, "rating"] = "five"
    return i, it


def _sparse_user(i: pd.DataFrame, it: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    extra = pd.DataFrame([("lonely", "i1", 4.0, 885_000_000)], columns=i.columns)
    return pd.concat([i, extra], ignore_index=True), it


CASES = [
    ("header_only", _header_only, ["expect_table_row_count"]),
    ("duplicates", _edit(_duplicate), ["expect_compound_columns_to_be_unique"]),
    ("milliseconds", _edit(_milliseconds), ["expect_column_values_to_be_between", "timestamp"]),
    ("unknown_item", _edit(_unknown_item), ["expect_column_values_to_be_in_set", "ghost-item"]),
    ("null_user", _edit(_null_user), ["expect_column_values_to_not_be_null", "user_id"]),
    ("nan_rating", _edit(_nan_rating), ["expect_column_values_to_not_be_null", "rating"]),
    ("text_rating", _edit(_text_rating), ["expect_column_values_to_be_in_type_list", "rating"]),
    ("sparse_user", _edit(_sparse_user), ["n_interactions", "lonely"]),
    ("truncated_parquet", _truncated_parquet, ["inter.parquet", "could not read"]),
]


@pytest.mark.parametrize(("case", "build", "expected"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_stops_before_training(tmp_path, capsys, case, build, expected):
    paths = build(tmp_path)
    config = _write_config(tmp_path, None, f"bad-{case}", **paths)
    assert cli.main(["train", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    for fragment in expected:
        assert fragment in err, f"{fragment!r} missing from:\n{err[-3000:]}"
    assert _versions(f"bad-{case}") == []
