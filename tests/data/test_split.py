"""Train/valid/test splits: RecBole-exact ratio counts, time cut-offs, predefined files."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mtrec.config import SplitConfig
from mtrec.data.split import (
    SplitTooSmallError,
    recbole_part_sizes,
    require_every_part,
    split_interactions,
)


def recbole_calcu_split_ids(tot: int, ratios: list[float]) -> list[int]:
    """RecBole 1.2.1 ``Dataset._calcu_split_ids`` verbatim, returning the counts instead of
    their cumulative sums; ``split_by_ratio`` normalises the ratios before calling it."""
    tot_ratio = sum(ratios)
    ratios = [_ / tot_ratio for _ in ratios]
    cnt = [int(ratios[i] * tot) for i in range(len(ratios))]
    cnt[0] = tot - sum(cnt[1:])
    for i in range(1, len(ratios)):
        if cnt[0] <= 1:
            break
        if 0 < ratios[-i] * tot < 1:
            cnt[-i] += 1
            cnt[0] -= 1
    return cnt


RATIOS = [
    (0.8, 0.1, 0.1),
    (0.7, 0.2, 0.1),
    (0.6, 0.2, 0.2),
    (0.9, 0.05, 0.05),
    (0.8, 0.2, 0.0),
    (0.5, 0.3, 0.2),
    (0.98, 0.01, 0.01),
]


def test_recbole_part_sizes_hand_computed() -> None:
    sizes = recbole_part_sizes(np.array([1, 2, 3, 5, 10, 11, 20]), (0.8, 0.1, 0.1))
    assert sizes.shape == (7, 3)
    assert sizes.tolist() == [
        [1, 0, 0],  # train keeps its only row
        [1, 0, 1],  # test takes one (0.2 rows), then train is down to one row
        [1, 1, 1],
        [3, 1, 1],
        [8, 1, 1],
        [9, 1, 1],
        [16, 2, 2],
    ]


@pytest.mark.parametrize("ratios", RATIOS, ids=str)
def test_recbole_part_sizes_match_recbole(ratios: tuple[float, float, float]) -> None:
    totals = np.arange(1, 201)
    sizes = recbole_part_sizes(totals, ratios)
    expected = np.array([recbole_calcu_split_ids(int(t), list(ratios)) for t in totals])
    assert sizes.shape == (200, 3)
    np.testing.assert_array_equal(sizes, expected)
    np.testing.assert_array_equal(sizes.sum(axis=1), totals)
    assert (sizes >= 0).all() and (sizes[:, 0] >= 1).all()


def _interactions() -> pd.DataFrame:
    """Four users with 1, 3, 10 and 7 rows; rows shuffled across users, with timestamp ties."""
    rows = []
    rng = np.random.default_rng(3)
    for user, n in enumerate((1, 3, 10, 7)):
        times = np.sort(rng.integers(0, 6, size=n)) * 100 + 1_000
        for pos, ts in enumerate(times):
            rows.append((f"u{user}", f"i{pos}", float(1 + pos % 5), int(ts), user, pos))
    frame = pd.DataFrame(
        rows, columns=["user_id", "item_id", "rating", "timestamp", "user_idx", "item_idx"]
    )
    frame = frame.sample(frac=1.0, random_state=7).reset_index(drop=True)
    frame["row"] = np.arange(len(frame))  # file order, to check stability
    return frame


def test_ratio_split_is_an_exact_partition_with_recbole_counts() -> None:
    frame = _interactions()
    split = split_interactions(frame, SplitConfig(strategy="ratio", ratios=(0.8, 0.1, 0.1)))
    rows = split.train["row"].tolist() + split.valid["row"].tolist() + split.test["row"].tolist()
    assert sorted(rows) == list(range(len(frame)))  # each row exactly once
    assert list(split.train.columns) == list(frame.columns)
    for part in (split.train, split.valid, split.test):
        assert part.index.tolist() == list(range(len(part)))

    sizes = frame.groupby("user_idx").size()
    for user, total in sizes.items():
        expected = recbole_calcu_split_ids(int(total), [0.8, 0.1, 0.1])
        got = [int((p["user_idx"] == user).sum()) for p in (split.train, split.valid, split.test)]
        assert got == expected, user
    # Hand-checked for the sizes 1, 3, 10 and 7.
    assert [int((split.test["user_idx"] == u).sum()) for u in range(4)] == [0, 1, 1, 1]
    assert [int((split.train["user_idx"] == u).sum()) for u in range(4)] == [1, 1, 8, 5]


def test_ratio_split_is_chronological_per_user_and_stable_on_ties() -> None:
    frame = _interactions()
    split = split_interactions(frame, SplitConfig(strategy="ratio", ratios=(0.6, 0.2, 0.2)))
    labelled = pd.concat(
        [split.train.assign(part=0), split.valid.assign(part=1), split.test.assign(part=2)]
    )
    assert labelled.duplicated(["user_idx", "timestamp"]).any()  # the fixture has ties
    for _, group in labelled.groupby("user_idx"):
        # Sorting by (timestamp, file row) must give parts in non-decreasing order.
        ordered = group.sort_values(["timestamp", "row"])
        parts = ordered["part"].to_numpy()
        assert (np.diff(parts) >= 0).all()
        train_max = group.loc[group["part"] == 0, "timestamp"].max()
        for later in (1, 2):
            times = group.loc[group["part"] == later, "timestamp"]
            if len(times):
                assert times.min() >= train_max
        if (group["part"] == 1).any() and (group["part"] == 2).any():
            valid_max = group.loc[group["part"] == 1, "timestamp"].max()
            assert group.loc[group["part"] == 2, "timestamp"].min() >= valid_max


def test_ratio_split_ties_keep_file_order() -> None:
    # One user, five rows all at the same time: the last two file rows go to valid and test.
    frame = pd.DataFrame(
        {
            "user_id": ["u"] * 5,
            "item_id": ["e", "d", "c", "b", "a"],
            "rating": [1.0] * 5,
            "timestamp": [7] * 5,
            "user_idx": [0] * 5,
            "item_idx": [4, 3, 2, 1, 0],
        }
    )
    split = split_interactions(frame, SplitConfig(strategy="ratio", ratios=(0.6, 0.2, 0.2)))
    assert split.train["item_id"].tolist() == ["e", "d", "c"]
    assert split.valid["item_id"].tolist() == ["b"]
    assert split.test["item_id"].tolist() == ["a"]


def test_time_split_by_cut_offs() -> None:
    frame = _interactions()
    config = SplitConfig(strategy="time", valid_start=1_200, test_start=1_400)
    split = split_interactions(frame, config)
    assert (split.train["timestamp"] < 1_200).all()
    assert split.valid["timestamp"].between(1_200, 1_399).all()
    assert (split.test["timestamp"] >= 1_400).all()
    assert len(split.train) + len(split.valid) + len(split.test) == len(frame)
    assert len(split.train) == int((frame["timestamp"] < 1_200).sum())
    assert len(split.test) == int((frame["timestamp"] >= 1_400).sum())
    # A row exactly at a cut-off belongs to the later part.
    assert 1_200 in split.valid["timestamp"].tolist()
    assert 1_400 in split.test["timestamp"].tolist()


def _write_parts(tmp_path: Path, frame: pd.DataFrame, labels: np.ndarray) -> SplitConfig:
    files = {}
    for part, name in enumerate(("train", "valid", "test")):
        path = tmp_path / f"{name}.csv"
        frame.loc[labels == part, ["user_id", "item_id", "timestamp"]].to_csv(path, index=False)
        files[f"{name}_file"] = path
    return SplitConfig(strategy="predefined", **files)


def test_predefined_split_reproduces_files(tmp_path: Path) -> None:
    frame = _interactions()
    labels = np.random.default_rng(0).integers(0, 3, size=len(frame))
    split = split_interactions(frame, _write_parts(tmp_path, frame, labels))
    for part, got in enumerate((split.train, split.valid, split.test)):
        assert got["row"].tolist() == np.flatnonzero(labels == part).tolist()


def test_predefined_split_leaves_out_unlisted_rows(tmp_path: Path) -> None:
    frame = _interactions()
    labels = np.zeros(len(frame), dtype=int)
    labels[-3:] = 1
    labels[:2] = -1  # in no file
    split = split_interactions(frame, _write_parts(tmp_path, frame, labels))
    assert split.train["row"].tolist() == list(range(2, len(frame) - 3))
    assert split.valid["row"].tolist() == list(range(len(frame) - 3, len(frame)))
    assert len(split.test) == 0


def test_predefined_split_keeps_leading_zero_ids(tmp_path: Path) -> None:
    """Ids like "007" are strings; a split file listing them must still match."""
    frame = _interactions()
    frame["user_id"] = "00" + frame["user_idx"].astype(str)
    labels = np.arange(len(frame)) % 3
    split = split_interactions(frame, _write_parts(tmp_path, frame, labels))
    assert split.test["row"].tolist() == np.flatnonzero(labels == 2).tolist()


def test_predefined_split_rejects_unknown_rows(tmp_path: Path) -> None:
    frame = _interactions()
    config = _write_parts(tmp_path, frame, np.arange(len(frame)) % 3)
    with config.test_file.open("a", encoding="utf-8") as handle:
        handle.write("ghost,i0,1000\n")
    with pytest.raises(ValueError, match="match no interaction.*ghost"):
        split_interactions(frame, config)


def test_predefined_split_missing_file(tmp_path: Path) -> None:
    frame = _interactions()
    config = _write_parts(tmp_path, frame, np.arange(len(frame)) % 3)
    config.valid_file.unlink()
    with pytest.raises(FileNotFoundError, match="valid.csv"):
        split_interactions(frame, config)


def test_cold_items_split_keeps_chosen_items_in_test_only():
    from conftest import make_interactions

    from mtrec.data.prepare import index_interactions

    interactions, items, users = make_interactions(n_users=40, n_items=50, per_user=15, seed=1)
    data = index_interactions(
        interactions.astype({"user_id": "string", "item_id": "string"}),
        items.astype({"item_id": "string"}),
        users.astype({"user_id": "string"}),
    )
    config = SplitConfig(strategy="cold_items", cold_item_share=0.2, seed=7)
    split = split_interactions(data.interactions, config)
    n_items = data.interactions["item_idx"].nunique()
    test_only = (
        set(split.test["item_idx"]) - set(split.train["item_idx"]) - set(split.valid["item_idx"])
    )
    assert len(test_only) >= round(0.2 * n_items)
    assert len(split.train) + len(split.valid) + len(split.test) == len(data.interactions)
    again = split_interactions(data.interactions, config)
    pd.testing.assert_frame_equal(split.test, again.test)
    other_seed = split_interactions(
        data.interactions, SplitConfig(strategy="cold_items", cold_item_share=0.2, seed=8)
    )
    assert not split.test.equals(other_seed.test)


def _many_rows(seed: int = 0) -> pd.DataFrame:
    """Eight users with 6 to 40 rows each over 60 items, distinct timestamps per user, rows
    shuffled across users."""
    rng = np.random.default_rng(seed)
    rows = []
    for user, n in enumerate((6, 9, 12, 15, 20, 25, 31, 40)):
        for ts in np.sort(rng.choice(10_000, size=n, replace=False)):
            rows.append((user, int(rng.integers(60)), int(ts)))
    frame = pd.DataFrame(rows, columns=["user_idx", "item_idx", "timestamp"])
    frame = frame.sample(frac=1.0, random_state=1).reset_index(drop=True)
    frame["row"] = np.arange(len(frame))
    return frame


def _parts(split) -> pd.DataFrame:
    return pd.concat(
        [split.train.assign(part=0), split.valid.assign(part=1), split.test.assign(part=2)]
    ).sort_values("row")


def _counts(parts: pd.DataFrame) -> list[list[int]]:
    return parts.groupby(["user_idx", "part"]).size().unstack(fill_value=0).values.tolist()


def _test_before_train(parts: pd.DataFrame) -> bool:
    """Whether some user has a test row older than one of their train rows."""
    last_train = parts[parts["part"] == 0].groupby("user_idx")["timestamp"].max()
    test = parts[parts["part"] == 2]
    return bool((test["timestamp"] < test["user_idx"].map(last_train)).any())


def test_random_order_keeps_each_users_counts_and_draws_other_held_out_rows() -> None:
    frame = _many_rows()
    by_time = _parts(split_interactions(frame, SplitConfig(ratios=(0.6, 0.2, 0.2))))
    config = SplitConfig(ratios=(0.6, 0.2, 0.2), order="random", seed=3)
    shuffled = _parts(split_interactions(frame, config))
    assert SplitConfig().order == "time"
    assert _counts(shuffled) == _counts(by_time)
    assert _counts(by_time)[0] == recbole_calcu_split_ids(6, [0.6, 0.2, 0.2])  # [4, 1, 1]
    test_time = set(by_time.loc[by_time["part"] == 2, "row"])
    test_random = set(shuffled.loc[shuffled["part"] == 2, "row"])
    assert len(test_random) == len(test_time) and test_random != test_time
    # Time order holds out each user's latest rows; the random order also older ones.
    assert not _test_before_train(by_time) and _test_before_train(shuffled)
    again = _parts(split_interactions(frame, config))
    pd.testing.assert_frame_equal(again, shuffled)
    other = _parts(split_interactions(frame, config.model_copy(update={"seed": 4})))
    assert _counts(other) == _counts(by_time)
    assert set(other.loc[other["part"] == 2, "row"]) != test_random


def test_random_order_is_recboles_shuffle_then_group_by_user() -> None:
    frame = _many_rows()
    config = SplitConfig(ratios=(0.8, 0.1, 0.1), order="random", seed=11)
    parts = _parts(split_interactions(frame, config))
    # RecBole RO: the whole table is permuted, then each user's rows keep that order; the
    # parts, read in it, are train rows first, then valid, then test.
    shuffled_position = np.empty(len(frame), dtype=np.int64)
    shuffled_position[np.random.default_rng(11).permutation(len(frame))] = np.arange(len(frame))
    parts["position"] = shuffled_position[parts["row"].to_numpy()]
    for _, group in parts.groupby("user_idx"):
        ordered = group.sort_values("position")["part"].to_numpy()
        assert (np.diff(ordered) >= 0).all()


def test_cold_items_split_honours_the_order() -> None:
    frame = _many_rows()
    by_time = SplitConfig(strategy="cold_items", cold_item_share=0.2, seed=5)
    shuffled = by_time.model_copy(update={"order": "random"})
    a, b = _parts(split_interactions(frame, by_time)), _parts(split_interactions(frame, shuffled))
    items = np.unique(frame["item_idx"])
    cold = np.random.default_rng(5).choice(items, size=round(0.2 * len(items)), replace=False)
    for parts in (a, b):  # the same cold items, drawn with the seed, whatever the order
        assert (parts.loc[parts["item_idx"].isin(cold), "part"] == 2).all()
    warm_a, warm_b = a[~a["item_idx"].isin(cold)], b[~b["item_idx"].isin(cold)]
    assert _counts(warm_a) == _counts(warm_b)
    test_a, test_b = warm_a[warm_a["part"] == 2], warm_b[warm_b["part"] == 2]
    assert set(test_a["row"]) != set(test_b["row"])


def test_every_part_must_hold_a_user_and_the_error_names_the_empty_ones() -> None:
    frame = _interactions()  # 21 rows of 4 users, timestamps 1,000 .. 1,500
    full = split_interactions(frame, SplitConfig(strategy="ratio", ratios=(0.6, 0.2, 0.2)))
    require_every_part(full)  # every part holds rows: no error

    config = SplitConfig(strategy="time", valid_start=1_200, test_start=9_999)
    empty_test = split_interactions(frame, config)
    train, valid = len(empty_test.train), len(empty_test.valid)
    assert train > 0 and valid > 0
    with pytest.raises(SplitTooSmallError) as raised:
        require_every_part(empty_test)
    message = str(raised.value)
    assert message.startswith("the test split is empty (")
    users = (empty_test.train["user_id"].nunique(), empty_test.valid["user_id"].nunique())
    assert f"train {train} interactions of {users[0]} users" in message
    assert f"valid {valid} interactions of {users[1]} users" in message
    assert "test 0 interactions of 0 users" in message

    nothing_new = split_interactions(
        frame, SplitConfig(strategy="time", valid_start=9_000, test_start=9_999)
    )
    with pytest.raises(ValueError, match=r"the valid and test splits are empty \(train 21 "):
        require_every_part(nothing_new)
