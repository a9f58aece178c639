"""A seeded multi-behaviour log with planted effects, for tests and the example config.

What it plants (all seeded, so the same arguments give the same frames):

- Items have one of six genres and a price band, ``budget`` or ``premium`` (independent of the
  genre), both in the item table's text (``genres``, ``price``).
- Each user has a favourite genre; the first stage (``view``, or ``click`` in a two-stage
  funnel) meets ``per_user`` distinct items, each from the favourite genre with probability
  ``focus``, else from the whole catalogue. Which items a user meets follows the genre.
- With three stages, a view becomes a click with probability 0.6 in the favourite genre and
  0.3 outside it.
- A click becomes a purchase with probability ``budget_purchase`` for a budget item and
  ``premium_purchase`` for a premium one, whatever the genre: so among clicked rows the
  genre says nothing about purchases and the price band everything, and across the whole
  catalogue a purchase needs both (the user must meet the item, then buy it). A purchase head
  trained on clicked rows alone learns the price band but not the genre: the
  sample-selection bias the entire-space (ESMM) funnel task avoids.

Each stage reached is its own row (a view, a click a few minutes later, a purchase within a
day), the shape of a raw multi-behaviour log.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

GENRES = ("Comedy", "Drama", "Action", "Documentary", "Animation", "Thriller")
PRICE_BANDS = ("budget", "premium")
START = 1_700_000_000
_WORDS = (
    "River",
    "Letters",
    "Balloon",
    "Signal",
    "Promise",
    "Harbor",
    "Garden",
    "Witness",
    "Vault",
    "Station",
    "Orchard",
    "Lantern",
    "Meadow",
    "Compass",
    "Anchor",
)


@dataclass(frozen=True)
class FunnelLog:
    """A raw event log and its catalogue, with the planted truth."""

    interactions: pd.DataFrame
    """``user_id,item_id,event,timestamp``: one row per stage reached."""
    items: pd.DataFrame
    """``item_id,title,year,genres,price``."""
    item_genre: np.ndarray
    """(I,) genre index of each item (row order of ``items``)."""
    item_budget: np.ndarray
    """(I,) bool: the item is in the budget band."""
    user_genre: np.ndarray
    """(U,) favourite genre index of each user, in id order (``u00`` first)."""


def generate_funnel_log(
    n_users: int = 60,
    n_items: int = 90,
    per_user: int = 25,
    stages: tuple[str, ...] = ("view", "click", "purchase"),
    focus: float = 0.8,
    budget_purchase: float = 0.7,
    premium_purchase: float = 0.08,
    seed: int = 0,
) -> FunnelLog:
    """A log of ``n_users`` users meeting ``per_user`` distinct items each, in a funnel of two
    (``click, purchase``) or three (``view, click, purchase``) ``stages``; see the module
    docstring for what decides each stage."""
    if len(stages) not in (2, 3):
        raise ValueError(f"two or three stages, got {stages}")
    if per_user > n_items:
        raise ValueError(f"per_user {per_user} exceeds the {n_items} items")
    rng = np.random.default_rng(seed)
    user_width, item_width = max(2, len(str(n_users - 1))), max(3, len(str(n_items - 1)))
    item_genre = np.arange(n_items) % len(GENRES)
    item_budget = rng.random(n_items) < 0.5
    user_genre = rng.integers(0, len(GENRES), size=n_users)
    rows: list[tuple[str, str, str, int]] = []
    for user in range(n_users):
        own = np.flatnonzero(item_genre == user_genre[user])
        chosen: list[int] = []
        while len(chosen) < per_user:
            pool = own if rng.random() < focus else np.arange(n_items)
            item = int(rng.choice(pool))
            if item not in chosen:
                chosen.append(item)
        met = START + np.sort(rng.integers(0, 90 * 86_400, size=per_user))
        for item, time in zip(chosen, met, strict=True):
            in_genre = item_genre[item] == user_genre[user]
            reached = [stages[0]]
            clicked = len(stages) == 2 or rng.random() < (0.6 if in_genre else 0.3)
            if len(stages) == 3 and clicked:
                reached.append(stages[1])
            buy = budget_purchase if item_budget[item] else premium_purchase
            if clicked and rng.random() < buy:
                reached.append(stages[-1])
            delays = [0, int(rng.integers(60, 900)), int(rng.integers(900, 86_400))]
            rows += [
                (f"u{user:0{user_width}d}", f"m{item:0{item_width}d}", stage, int(time) + delays[i])
                for i, stage in enumerate(reached)
            ]
    interactions = pd.DataFrame(rows, columns=["user_id", "item_id", "event", "timestamp"])
    interactions = interactions.sort_values("timestamp", kind="stable").reset_index(drop=True)
    items = pd.DataFrame(
        {
            "item_id": [f"m{i:0{item_width}d}" for i in range(n_items)],
            "title": [
                f"The {_WORDS[i % len(_WORDS)]} and {_WORDS[(7 * i + 3) % len(_WORDS)]} "
                f"{i // len(_WORDS) + 1}"
                for i in range(n_items)
            ],
            "year": [str(1990 + (7 * i) % 30) for i in range(n_items)],
            "genres": [GENRES[g] for g in item_genre],
            "price": [PRICE_BANDS[0] if b else PRICE_BANDS[1] for b in item_budget],
        }
    )
    return FunnelLog(interactions, items, item_genre, item_budget, user_genre)
