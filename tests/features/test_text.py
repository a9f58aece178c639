"""Item and user texts: templates, unknown fields, and user genres from the training split only."""

import pandas as pd

from mtrec.config import SplitConfig
from mtrec.data.prepare import index_interactions
from mtrec.data.split import split_interactions
from mtrec.features.text import (
    extra_text_columns,
    item_texts,
    render,
    template_fields,
    user_texts,
)

ITEM_TEMPLATE = "{title} ({year}). Genres: {genres}."
USER_TEMPLATE = "A {age} year old {occupation}, {n_interactions} films, likes {top_genres}."


def _items() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "item_idx": [0, 1, 2, 3],
            "item_id": ["a", "b", "c", "d"],
            "title": ["Alien", "Heat", "Up", "Void"],
            "year": ["1979", "1995", "", "2001"],
            "genres": ["Horror|Sci-Fi", "Action|Crime|Drama", "Comedy", ""],
        }
    )


def _train(pairs: list[tuple[int, int]]) -> pd.DataFrame:
    return pd.DataFrame(pairs, columns=["user_idx", "item_idx"])


def _users() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_idx": [0, 1, 2],
            "user_id": ["u0", "u1", "u2"],
            "age": pd.array([25, 40, None], dtype="Int64"),
            "occupation": ["artist", "", "doctor"],
        }
    )


def test_template_fields() -> None:
    assert template_fields(ITEM_TEMPLATE) == ["title", "year", "genres"]
    assert template_fields("no fields") == []


def test_item_texts_list_genres_comma_separated() -> None:
    texts = item_texts(_items(), ITEM_TEMPLATE)
    assert texts.tolist() == [
        "Alien (1979). Genres: Horror, Sci-Fi.",
        "Heat (1995). Genres: Action, Crime, Drama.",
        "Up (unknown). Genres: Comedy.",  # empty year
        "Void (2001). Genres: unknown.",  # no genres
    ]
    assert texts.index.tolist() == [0, 1, 2, 3]
    assert _items()["genres"][0] == "Horror|Sci-Fi"  # input untouched


def test_missing_field_renders_unknown() -> None:
    texts = item_texts(_items(), "{title}: {plot}")
    assert texts.tolist() == ["Alien: unknown", "Heat: unknown", "Up: unknown", "Void: unknown"]
    assert render("{a} and {b}", {"a": None, "b": float("nan")}) == "unknown and unknown"
    assert render("{a}  {b}", {"a": "  x ", "b": "   "}) == "x unknown"


def test_user_top_genres_counts_ties_by_name_and_top_k() -> None:
    # u0: Horror 2, Sci-Fi 2, Comedy 1 -> Horror and Sci-Fi tie, Horror first by name.
    # u1: Action, Crime, Drama once each -> alphabetical. u2: no training history.
    train = _train([(0, 0), (0, 0), (0, 2), (1, 1)])
    items, users = _items(), _users()
    texts = user_texts(users, train, items, "{top_genres}", top_k=2)
    assert texts.tolist() == ["Horror, Sci-Fi", "Action, Crime", "unknown"]
    texts = user_texts(users, train, items, "{top_genres}", top_k=1)
    assert texts.tolist() == ["Horror", "Action", "unknown"]
    texts = user_texts(users, train, items, "{top_genres}", top_k=5)
    assert texts.tolist() == ["Horror, Sci-Fi, Comedy", "Action, Crime, Drama", "unknown"]


def test_user_texts_fill_profile_and_counts() -> None:
    train = _train([(0, 0), (0, 2), (1, 3)])  # u1 only watched an item without genres
    texts = user_texts(_users(), train, _items(), USER_TEMPLATE, top_k=3)
    assert texts.tolist() == [
        "A 25 year old artist, 2 films, likes Comedy, Horror, Sci-Fi.",
        "A 40 year old unknown, 1 films, likes unknown.",
        "A unknown year old doctor, 0 films, likes unknown.",
    ]


def _timeline() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Three users; every interaction before t=100 is train under a time split."""
    interactions = pd.DataFrame(
        {
            "user_id": ["u0", "u0", "u1", "u1", "u2", "u0", "u1", "u2"],
            "item_id": ["a", "c", "b", "b", "c", "b", "a", "d"],
            "rating": [5.0, 4.0, 3.0, 2.0, 1.0, 5.0, 4.0, 3.0],
            "timestamp": [10, 20, 30, 40, 50, 150, 160, 250],
        }
    )
    users = pd.DataFrame({"user_id": ["u0", "u1", "u2"], "age": [20, 30, 40]})
    return interactions, _items().drop(columns="item_idx"), users


def _user_texts_for(interactions: pd.DataFrame, items: pd.DataFrame, users: pd.DataFrame):
    data = index_interactions(interactions, items, users)
    config = SplitConfig(strategy="time", valid_start=100, test_start=200)
    split = split_interactions(data.interactions, config)
    return split, user_texts(data.users, split.train, data.items, USER_TEMPLATE, top_k=2)


def test_user_text_ignores_valid_and_test() -> None:
    interactions, items, users = _timeline()
    split, base = _user_texts_for(interactions, items, users)
    assert len(split.valid) == 2 and len(split.test) == 1

    # Different valid/test periods: new rows, other items, more genres, same training rows.
    changed = interactions.copy()
    changed.loc[changed["timestamp"] >= 100, "item_id"] = ["a", "c", "b"]
    extra = pd.DataFrame(
        {
            "user_id": ["u0", "u0", "u2", "u2", "u1"],
            "item_id": ["b", "b", "a", "a", "c"],
            "rating": [1.0, 1.0, 2.0, 2.0, 3.0],
            "timestamp": [120, 130, 210, 220, 230],
        }
    )
    changed = pd.concat([changed, extra], ignore_index=True)
    changed_split, other = _user_texts_for(changed, items, users)
    pd.testing.assert_frame_equal(changed_split.train, split.train)
    assert len(changed_split.valid) + len(changed_split.test) == 8
    assert other.tolist() == base.tolist()

    # Control: the same extra rows inside the training period do change the text.
    leaked = pd.concat([interactions, extra.assign(timestamp=[1, 2, 3, 4, 5])], ignore_index=True)
    _, leaked_texts = _user_texts_for(leaked, items, users)
    assert leaked_texts.tolist() != base.tolist()


def test_user_text_from_train_values() -> None:
    interactions, items, users = _timeline()
    _, texts = _user_texts_for(interactions, items, users)
    assert texts.tolist() == [
        "A 20 year old unknown, 2 films, likes Comedy, Horror.",
        "A 30 year old unknown, 2 films, likes Action, Crime.",
        "A 40 year old unknown, 1 films, likes Comedy.",
    ]


def test_extra_item_text_columns_are_appended_in_auto_mode():
    items = pd.DataFrame(
        {
            "item_id": ["a", "b"],
            "item_idx": [0, 1],
            "title": ["Alien", "Heat"],
            "year": ["1979", ""],
            "genres": ["Horror|Sci-Fi", ""],
            "description": ["A crew meets a creature.", None],
            "budget": [11.0, 60.0],
        }
    )
    template = "{title} ({year}). Genres: {genres}."
    assert extra_text_columns(items, template) == ["description"]
    texts = item_texts(items, template, extra_text_columns(items, template))
    assert texts.tolist() == [
        "Alien (1979). Genres: Horror, Sci-Fi. description: A crew meets a creature.",
        "Heat (unknown). Genres: unknown.",
    ]
