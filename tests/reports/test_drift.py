import json
import math

import numpy as np
import pandas as pd
import pytest

from mtrec.config import DriftConfig
from mtrec.reports.drift import MIN_PAGE_ROWS, ColumnDrift, DriftSummary, run_drift_report
from mtrec.reports.drift_features import build_drift_features, sample_rows

GENRES = ("Action", "Comedy", "Drama", "Horror", "Sci-Fi", "Romance")


def _catalogue(n_items: int = 40, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    genres = [
        "|".join(sorted(rng.choice(GENRES, size=rng.integers(1, 3), replace=False)))
        for _ in range(n_items)
    ]
    # Item 0 is always Horror so the shifted period below has something to draw from.
    genres[0] = "Horror"
    return pd.DataFrame({"item_id": [f"i{i}" for i in range(n_items)], "genres": genres})


def _users(n_users: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "user_id": [f"u{u}" for u in range(n_users)],
            # The pipeline's row index of the user: numeric, but no trait to test for drift.
            "user_idx": np.arange(n_users),
            "age": rng.integers(18, 60, n_users),
            "gender": rng.choice(["M", "F"], n_users),
            "occupation": rng.choice(["writer", "engineer", "student"], n_users),
            # One distinct value per user: an identifier in disguise, not a feature.
            "zip_code": [f"{10000 + u}" for u in range(n_users)],
        }
    )


def _interactions(n: int, items: pd.DataFrame, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    # Zipf-like item weights so popularity has a spread worth comparing.
    weights = 1.0 / np.arange(1, len(items) + 1)
    return pd.DataFrame(
        {
            "user_id": [f"u{u}" for u in rng.integers(0, 60, n)],
            "item_id": rng.choice(items["item_id"].to_numpy(), n, p=weights / weights.sum()),
            "rating": rng.choice([1.0, 2.0, 3.0, 4.0, 5.0], n, p=[0.05, 0.1, 0.25, 0.35, 0.25]),
            "timestamp": rng.integers(880_000_000, 890_000_000, n),
        }
    )


def test_build_drift_features_hand_checked() -> None:
    reference = pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u2"],
            "item_id": ["i1", "i2", "i1"],
            "rating": [4.0, 3.0, 5.0],
            "timestamp": [1, 2, 3],
        }
    )
    current = pd.DataFrame(
        {
            "user_id": ["u1", "u99"],
            "item_id": ["i1", "i3"],
            "rating": [2.0, 1.0],
            "timestamp": [4, 5],
        }
    )
    items = pd.DataFrame({"item_id": ["i1", "i2", "i3"], "genres": ["Action|Comedy", "Drama", ""]})
    users = _users()
    users.loc[users["user_id"] == "u1", ["age", "gender", "occupation"]] = [25, "F", "writer"]
    copies = [frame.copy() for frame in (reference, current, items, users)]

    features = build_drift_features(current, reference, items, users)

    assert list(features.columns) == [
        "rating",
        "item_popularity",
        "user_activity",
        "genre_Action",
        "genre_Comedy",
        "genre_Drama",
        "age",
        "gender",
        "occupation",
    ]
    assert features["rating"].tolist() == [2.0, 1.0]
    # i1 and u1 each appear twice in the reference; i3 and u99 never do.
    assert features["item_popularity"].tolist() == pytest.approx([math.log1p(2), 0.0])
    assert features["user_activity"].tolist() == pytest.approx([math.log1p(2), 0.0])
    assert features["genre_Action"].tolist() == [1, 0]
    assert features["genre_Comedy"].tolist() == [1, 0]
    assert features["genre_Drama"].tolist() == [0, 0]
    assert features.loc[0, ["age", "gender", "occupation"]].tolist() == [25, "F", "writer"]
    # u99 has no profile in the users table.
    assert features.loc[1, ["age", "gender", "occupation"]].isna().all()

    ref_features = build_drift_features(reference, reference, items, None)
    assert ref_features["item_popularity"].tolist() == pytest.approx(
        [math.log1p(2), math.log1p(1), math.log1p(2)]
    )
    assert "age" not in ref_features.columns

    for before, after in zip(copies, (reference, current, items, users), strict=True):
        pd.testing.assert_frame_equal(before, after)


def test_rows_drawn_before_their_features_are_the_rows_drawn_after() -> None:
    """``run_drift_report`` samples interactions, then builds features: the same rows and
    values as building every row's features and sampling those, at the cost of the sample."""
    items = _catalogue()
    reference = _interactions(900, items, seed=1)
    users = _users()
    whole = build_drift_features(reference, reference, items, users)
    drawn_first = build_drift_features(sample_rows(reference, 200, 5), reference, items, users)
    pd.testing.assert_frame_equal(drawn_first, sample_rows(whole, 200, 5))
    assert sample_rows(reference, 2000, 5) is reference  # fewer rows than the cap: all


def test_same_distribution_shows_no_drift() -> None:
    items = _catalogue()
    reference = _interactions(600, items, seed=1)
    current = _interactions(300, items, seed=2)
    config = DriftConfig(max_rows=1000, drift_share_threshold=0.5, seed=0)

    html, summary = run_drift_report(reference, current, items, _users(), config)

    names = [c.column for c in summary.columns]
    assert names[:3] == ["rating", "item_popularity", "user_activity"]
    assert {"age", "gender", "occupation"} <= set(names)
    assert "zip_code" not in names
    assert summary.n_columns == 3 + len(GENRES) + 3
    assert summary.n_drifted == sum(c.drifted for c in summary.columns)
    assert summary.drifted_share == pytest.approx(summary.n_drifted / summary.n_columns)
    assert summary.drifted_share <= 0.2
    assert not summary.drift_detected
    rating = summary.columns[0]
    # Under 1000 rows Evidently tests five rating levels with chi-square.
    assert rating.method == "chi-square p_value"
    assert not rating.drifted and rating.score > 0.05
    assert (summary.reference_rows, summary.current_rows) == (600, 300)
    assert html.startswith("<!DOCTYPE html>") or "<html" in html
    assert "drawDashboard" in html
    assert len(html.encode("utf-8")) < 5_000_000


# Evidently correlates columns for its plots, and a constant rating column divides by zero there.
@pytest.mark.filterwarnings("ignore:invalid value encountered in divide:RuntimeWarning")
def test_shifted_ratings_and_genres_drift() -> None:
    items = _catalogue()
    reference = _interactions(600, items, seed=1)
    current = _interactions(300, items, seed=2)
    horror = items.loc[items["genres"].str.contains("Horror"), "item_id"]
    current = current.assign(rating=1.0, item_id=np.resize(horror.to_numpy(), len(current)))
    config = DriftConfig(max_rows=1000, drift_share_threshold=0.2, seed=0)

    _, summary = run_drift_report(reference, current, items, None, config)

    by_name = {c.column: c for c in summary.columns}
    assert by_name["rating"].drifted
    assert by_name["rating"].score < 1e-10
    assert by_name["genre_Horror"].drifted
    assert summary.n_columns == 3 + len(GENRES)
    assert summary.n_drifted == sum(c.drifted for c in summary.columns)
    assert summary.drifted_share >= 0.2
    assert summary.drift_detected
    assert summary.threshold == 0.2

    restored = json.loads(json.dumps(summary.to_dict()))
    assert restored["n_drifted"] == summary.n_drifted
    assert restored["drift_detected"] is True
    assert restored["columns"][0] == {
        "column": "rating",
        "drifted": True,
        "score": by_name["rating"].score,
        "method": by_name["rating"].method,
    }


def test_sampling_caps_rows_and_is_deterministic() -> None:
    items = _catalogue()
    reference = _interactions(600, items, seed=1)
    current = _interactions(300, items, seed=2)
    config = DriftConfig(max_rows=100, seed=7)

    _, first = run_drift_report(reference, current, items, None, config)
    _, second = run_drift_report(reference, current, items, None, config)

    assert (first.reference_rows, first.current_rows) == (100, 100)
    assert isinstance(first, DriftSummary)
    assert first == second


def test_empty_period_is_rejected() -> None:
    items = _catalogue()
    reference = _interactions(50, items, seed=1)
    with pytest.raises(ValueError, match="both periods"):
        run_drift_report(reference, reference.iloc[:0], items, None, DriftConfig())


def test_max_html_mb_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_html_mb"):
        DriftConfig(max_html_mb=0)


def _wide_catalogue(n_genres: int, n_items: int = 80) -> pd.DataFrame:
    """Many genres: each is one more column on the page, which is what makes it large."""
    names = [f"G{g:02d}" for g in range(n_genres)]
    return pd.DataFrame(
        {
            "item_id": [f"i{i}" for i in range(n_items)],
            "genres": [
                f"{names[i % n_genres]}|{names[(3 * i) % n_genres]}" for i in range(n_items)
            ],
        }
    )


def by_name(summary: DriftSummary, column: str) -> ColumnDrift:
    return next(c for c in summary.columns if c.column == column)


# A constant current rating divides by zero in Evidently's correlation plots, as above.
@pytest.mark.filterwarnings("ignore:invalid value encountered in divide:RuntimeWarning")
def test_page_over_the_cap_is_redrawn_smaller_and_says_so() -> None:
    items = _wide_catalogue(36)
    reference = _interactions(2400, items, seed=1)
    current = _interactions(2400, items, seed=2).assign(rating=1.0)  # rating drifts
    roomy = DriftConfig(max_rows=2000, seed=0, max_html_mb=100.0)
    full_page, full = run_drift_report(reference, current, items, _users(), roomy)
    full_mb = len(full_page.encode("utf-8")) / 1e6
    assert (full.page_rows, full.page_columns) == (None, None)
    assert "2,000 of 2,400 reference interactions" in full_page
    assert "sampled at random (seed 0)" in full_page and "this page shows" not in full_page

    cap = full_mb - 0.2  # a few columns' worth: fewer rows alone cannot get there
    page, summary = run_drift_report(
        reference, current, items, _users(), roomy.model_copy(update={"max_html_mb": cap})
    )

    assert len(page.encode("utf-8")) / 1e6 < cap
    assert summary.page_rows == (MIN_PAGE_ROWS, MIN_PAGE_ROWS)  # halved once, then columns
    assert summary.page_columns is not None and summary.page_columns < summary.n_columns
    # The summary, the retraining trigger, still covers every column on the full sample.
    assert (summary.n_columns, summary.n_drifted, summary.columns) == (
        full.n_columns,
        full.n_drifted,
        full.columns,
    )
    assert (summary.reference_rows, summary.current_rows) == (2000, 2000)
    assert "1,001 reference and 1,001 current rows" in page
    assert f"{summary.page_columns} of the {summary.n_columns} columns (drifted first)" in page
    evidently_part = page.split("<body>", 1)[0]  # Evidently's data lives in the head
    shown = [c.column for c in summary.columns if c.drifted]
    shown += [c.column for c in summary.columns if not c.drifted]
    assert by_name(summary, "rating").drifted
    for index, column in enumerate(shown):
        kept = f'"column_name": "{column}"' in evidently_part
        assert kept == (index < summary.page_columns), column
    assert page.count("<link rel='icon' href='data:,'>") == 1
    restored = json.loads(json.dumps(summary.to_dict()))
    assert restored["page_rows"] == [MIN_PAGE_ROWS, MIN_PAGE_ROWS]
    assert restored["page_columns"] == summary.page_columns
