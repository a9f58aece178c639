"""Malformed inputs through the command line: each stops before training with a message that
names the problem, and no model version is created."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml
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


def _one_user(i: pd.DataFrame, it: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The issue's case: a log of one user's interactions, where a first model would score
    0 against popularity's 1 and, before the dataset minimums, be promoted."""
    return i.assign(user_id="u0").drop_duplicates(["user_id", "item_id"]), it


def _missing_file(folder: Path) -> dict[str, Path]:
    _, items = _frames()
    items.to_csv(folder / "items.csv", index=False)
    return {"interactions": folder / "no-such-inter.csv", "items": folder / "items.csv"}


def _empty_file(folder: Path) -> dict[str, Path]:
    _, items = _frames()
    (folder / "inter.csv").write_bytes(b"")
    items.to_csv(folder / "items.csv", index=False)
    return {"interactions": folder / "inter.csv", "items": folder / "items.csv"}


def _non_utf8(folder: Path) -> dict[str, Path]:
    interactions, items = _frames()
    interactions.to_csv(folder / "inter.csv", index=False)
    text = items.to_csv(index=False).replace("night", "Caf\xe9 night", 1)
    (folder / "items.csv").write_bytes(text.encode("latin-1"))  # a byte 0xE9 alone: not UTF-8
    return {"interactions": folder / "inter.csv", "items": folder / "items.csv"}


def _huge_text(i: pd.DataFrame, it: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    it["title"] = it["title"].astype(str)
    it.loc[3, "title"] = "x" * 1_000_000
    return i, it


def _future(i: pd.DataFrame, it: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    i.loc[0, "timestamp"] = 4_102_444_800  # 2100-01-01
    return i, it


def _float_ids(i: pd.DataFrame, it: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    i["timestamp"] = i["timestamp"].astype(str)
    i.loc[2, "timestamp"] = "yesterday"
    return i, it


CASES = [
    ("header_only", _header_only, ["expect_table_row_count"]),
    ("duplicates", _edit(_duplicate), ["expect_compound_columns_to_be_unique"]),
    ("milliseconds", _edit(_milliseconds), ["expect_column_values_to_be_between", "timestamp"]),
    ("unknown_item", _edit(_unknown_item), ["expect_column_values_to_be_in_set", "ghost-item"]),
    ("null_user", _edit(_null_user), ["expect_column_values_to_not_be_null", "user_id"]),
    ("nan_rating", _edit(_nan_rating), ["expect_column_values_to_not_be_null", "rating"]),
    ("text_rating", _edit(_text_rating), ["expect_column_values_to_be_in_type_list", "rating"]),
    ("sparse_user", _edit(_sparse_user), ["n_interactions", "lonely"]),
    (
        "one_user",
        _edit(_one_user),
        ["1 distinct users, fewer than the 10 required", "validation.min_users"],
    ),
    ("truncated_parquet", _truncated_parquet, ["inter.parquet", "could not read"]),
    ("missing_file", _missing_file, ["data file not found", "no-such-inter.csv"]),
    ("empty_file", _empty_file, ["data file is empty", "inter.csv"]),
    ("non_utf8_text", _non_utf8, ["not valid UTF-8", "items.csv", "0xe9"]),
    (
        "one_mb_text",
        _edit(_huge_text),
        [
            "expect_column_value_lengths_to_be_between",
            "title",
            "longer than 10,000 characters",
            "(1,000,000 characters)",
        ],
    ),
    ("future_timestamp", _edit(_future), ["expect_column_values_to_be_between", "timestamp"]),
    ("text_timestamp", _edit(_float_ids), ["timestamp", "yesterday"]),
]


@pytest.mark.parametrize(("case", "build", "expected"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_stops_before_training(tmp_path, capsys, case, build, expected):
    paths = build(tmp_path)
    config = _write_config(tmp_path, None, f"bad-{case}", **paths)
    # 2: refused before the pipeline starts (e.g. a missing file); 1: a step stopped the run.
    assert cli.main(["train", "--config", str(config)]) in (1, 2)
    err = capsys.readouterr().err
    for fragment in expected:
        assert fragment in err, f"{fragment!r} missing from:\n{err[-3000:]}"
    assert _versions(f"bad-{case}") == []


def test_exact_duplicates_are_dropped_when_the_config_says_so(tmp_path, capsys):
    paths = _edit(_duplicate)(tmp_path)
    config = _write_config(tmp_path, None, "repair-duplicates", **paths)
    raw = yaml.safe_load(config.read_text())
    raw["validation"]["duplicates"] = "drop"
    config.write_text(yaml.safe_dump(raw))
    assert cli.main(["train", "--config", str(config)]) == 0
    page = (tmp_path / "reports" / "latest" / "validation.html").read_text()
    assert "exact duplicate rows dropped: 3" in page
    assert len(_versions("repair-duplicates")) == 1
    capsys.readouterr()


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"training": {"learning_rate": -0.01}}, "learning_rate"),
        ({"evaluation": {"ks": [0, 10]}}, "ks"),
        (
            {"model": {"tasks": {"watch": {"weight": 0.0}, "rating": {"weight": 0.0}}}},
            "weights are all zero",
        ),
    ],
)
def test_invalid_config_values_are_refused_before_the_run(tmp_path, capsys, change, needle):
    interactions, items = _frames()
    interactions.to_csv(tmp_path / "inter.csv", index=False)
    items.to_csv(tmp_path / "items.csv", index=False)
    config = _write_config(
        tmp_path,
        None,
        "bad-config",
        interactions=tmp_path / "inter.csv",
        items=tmp_path / "items.csv",
    )
    raw = yaml.safe_load(config.read_text())
    for section, values in change.items():
        raw.setdefault(section, {}).update(values)
    config.write_text(yaml.safe_dump(raw))
    assert cli.main(["train", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert needle in err and "config.yaml" in err, err[-2000:]
    assert _versions("bad-config") == []


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("training.epoch=3", "epoch"),
        ("training.learning_rate=-1", "learning_rate"),
        ("training.epochs", "section.key=value"),
    ],
)
def test_bad_command_line_overrides_are_refused_before_the_run(tmp_path, capsys, override, needle):
    interactions, items = _frames()
    interactions.to_csv(tmp_path / "inter.csv", index=False)
    items.to_csv(tmp_path / "items.csv", index=False)
    config = _write_config(
        tmp_path,
        None,
        "bad-override",
        interactions=tmp_path / "inter.csv",
        items=tmp_path / "items.csv",
    )
    assert cli.main(["train", "--config", str(config), "--set", override]) == 2
    assert needle in capsys.readouterr().err
    assert _versions("bad-override") == []


def test_a_log_with_its_own_column_names_is_mapped_or_refused_naming_the_column(
    tmp_path, tiny_encoder_path, capsys
):
    interactions, items = _frames()
    own = interactions.rename(columns={"user_id": "customer", "item_id": "sku", "timestamp": "ts"})
    own.to_csv(tmp_path / "inter.csv", index=False)
    items.to_csv(tmp_path / "items.csv", index=False)
    paths = {"interactions": tmp_path / "inter.csv", "items": tmp_path / "items.csv"}
    config = _write_config(tmp_path, tiny_encoder_path, "own-columns", **paths)
    # Unmapped: validation names the missing column, shows the rows, and says how to map it.
    assert cli.main(["train", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "column 'user_id' is missing" in err and "data.columns: {user_id: <column>}" in err
    assert '"customer": "u' in err  # a sample row, with the file's own column names
    # Mapped to a column the file lacks: refused before the run, naming key, column and file.
    wrong = ["--set", "data.columns={user_id: client, item_id: sku, timestamp: ts}"]
    assert cli.main(["train", "--config", str(config), *wrong]) == 2
    err = capsys.readouterr().err
    assert "data.columns maps user_id: 'client'" in err and "inter.csv has no such column" in err
    assert "customer" in err
    assert _versions("own-columns") == []
    # Mapped right: it trains.
    right = ["--set", "data.columns={user_id: customer, item_id: sku, timestamp: ts}"]
    assert cli.main(["train", "--config", str(config), *right]) == 0
    assert len(_versions("own-columns")) == 1
    capsys.readouterr()


def test_a_failed_step_records_its_error_through_the_failure_hook(tmp_path, capsys):
    """The pipelines' ``on_failure`` hook: the step that stopped the run carries the error in
    its metadata (the dashboard's step page), named by step."""
    from zenml.client import Client
    from zenml.enums import ExecutionStatus

    config = _write_config(tmp_path, None, "hooked", **_edit(_future)(tmp_path))
    assert cli.main(["train", "--config", str(config)]) == 1
    capsys.readouterr()
    run = (
        Client()
        .list_pipeline_runs(
            pipeline="training_pipeline", sort_by="desc:created", size=1, hydrate=True
        )
        .items[0]
    )
    failed = [step for step in run.steps.values() if step.status == ExecutionStatus.FAILED]
    assert [step.name for step in failed] == ["validate_data"]
    failure = failed[0].run_metadata["failure"]
    assert failure["step"] == "validate_data"
    assert "expect_column_values_to_be_between" in failure["error"]
    # Every step also starts by handing back what the steps before it freed.
    hooks = {name: step.config.start_hook_source for name, step in run.steps.items()}
    assert {name: (h.module, h.attribute) for name, h in hooks.items()} == {
        name: ("steps.hooks", "release_memory") for name in ("load_data", "validate_data")
    }
