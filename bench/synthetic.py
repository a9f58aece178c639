"""Seeded synthetic interaction logs in the generic schema, for scale tests and benchmarks.

The generator is vectorised with numpy (loops run over a few sampling rounds or row chunks,
never over rows), so 10M interactions take seconds and a few hundred MB. What it models:

- Sizes from the interaction count ``n``: ``n_users = max(1, n // 50)`` (50 interactions per user
  on average, MovieLens-like) and ``n_items = clip(n // 100, 1_000, 50_000)``; both can be given.
- Item popularity is Zipf-like: the item of popularity rank ``r`` has weight ``r ** -1.0`` (ranks
  shuffled over the ids). Each item has a primary genre (18 genres, themselves Zipf-weighted) and
  up to two more; genre ``g``'s share of all draws is its items' popularity mass.
- User activity is power-law: 5 interactions each (the validation minimum) plus a share of the
  rest proportional to a Pareto(1.2) weight, capped at a third of the catalogue; the total is
  exactly ``n``.
- Every user has a favourite genre and a focus in [0, 1]: each draw comes from the favourite
  genre's items (by popularity) with probability ``focus``, otherwise from the whole catalogue.
  A user never meets an item twice: duplicates are redrawn.
- Ratings 1-5 come from a latent affinity: user and item biases, a dot product of 8-dim latent
  factors and a bonus when the item is in the user's favourite genre, plus noise, rounded. So
  ``rating`` and ``like`` (rating >= 4) are learnable from who watches what.
- Timestamps lie in 2015-2019: each user is active over a random span and their interactions
  are increasing in time within it. Rows are written in global time order, as a log would be.
- Item titles and short descriptions are built from a small vocabulary; ``year`` is a string,
  ``genres`` joined by ``|``. Users have ``age``, ``gender`` and ``occupation``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mtrec.files import atomic_path, write_atomic

GENRE_SEPARATOR = "|"
MIN_PER_USER = 5
"""Every user gets at least this many interactions (``ValidationConfig``'s default minimum)."""
PERIOD = (1_420_070_400, 1_577_836_800)
"""2015-01-01 to 2020-01-01 UTC, seconds since the epoch."""
FORMAT_VERSION = 1
"""Bumped whenever the generator's output for a given seed changes, so caches are rebuilt."""

GENRES = (
    "Drama",
    "Comedy",
    "Action",
    "Thriller",
    "Romance",
    "Adventure",
    "Crime",
    "Sci-Fi",
    "Horror",
    "Children's",
    "Fantasy",
    "Mystery",
    "Animation",
    "Musical",
    "War",
    "Documentary",
    "Western",
    "Film-Noir",
)
OCCUPATIONS = (
    "student",
    "engineer",
    "educator",
    "programmer",
    "administrator",
    "writer",
    "librarian",
    "technician",
    "executive",
    "healthcare",
    "artist",
    "scientist",
    "marketing",
    "lawyer",
    "entertainment",
    "salesman",
    "doctor",
    "homemaker",
    "retired",
    "none",
    "other",
)
_ADJECTIVES = (
    "Last",
    "Silent",
    "Red",
    "Lost",
    "Broken",
    "Golden",
    "Dark",
    "Hidden",
    "Final",
    "Wild",
    "Little",
    "Secret",
    "Endless",
    "Burning",
    "Frozen",
    "Quiet",
    "Blue",
    "Long",
    "Strange",
    "Lone",
)
_NOUNS = (
    "Night",
    "City",
    "River",
    "Star",
    "Heart",
    "Road",
    "Summer",
    "Kingdom",
    "Storm",
    "Garden",
    "Mirror",
    "Island",
    "Promise",
    "Shadow",
    "Winter",
    "Empire",
    "Ocean",
    "Harbor",
    "Dream",
    "Mountain",
    "Letter",
    "Station",
    "Journey",
    "Planet",
)
_THEMES = (
    "family",
    "revenge",
    "friendship",
    "survival",
    "first love",
    "a heist",
    "an old war",
    "a small town",
    "the future",
    "a lost child",
    "a rivalry",
    "a long voyage",
    "ambition",
    "a haunted house",
    "betrayal",
    "redemption",
)
_LATENT_DIM = 8
_CHUNK_ROWS = 2_000_000


def synthetic_sizes(n_interactions: int) -> tuple[int, int]:
    """``(n_users, n_items)`` for ``n_interactions``: users ~ n/50, items clip(n/100, 1k, 50k)."""
    n_users = max(1, n_interactions // 50)
    n_items = int(np.clip(n_interactions // 100, 1_000, 50_000))
    return n_users, n_items


@dataclass(frozen=True)
class SyntheticTables:
    """Generic-schema tables: interactions ``user_id,item_id,rating,timestamp``; items
    ``item_id,title,year,genres,description``; users ``user_id,age,gender,occupation``."""

    interactions: pa.Table
    items: pa.Table
    users: pa.Table


@dataclass(frozen=True)
class SyntheticFiles:
    interactions: Path
    items: Path
    users: Path


def generate_synthetic(
    n_interactions: int, seed: int = 0, n_users: int | None = None, n_items: int | None = None
) -> SyntheticTables:
    """Exactly ``n_interactions`` rows, no repeated (user, item), >= 5 per user; see the module
    docstring for the model. The same arguments always give the same tables."""
    default_users, default_items = synthetic_sizes(n_interactions)
    n_users = default_users if n_users is None else n_users
    n_items = default_items if n_items is None else n_items
    cap = max(MIN_PER_USER, n_items // 3)
    if n_users < 1 or n_items < MIN_PER_USER:
        raise ValueError(f"need at least one user and {MIN_PER_USER} items")
    if not MIN_PER_USER * n_users <= n_interactions <= cap * n_users:
        raise ValueError(
            f"{n_interactions:,} interactions cannot give {n_users:,} users between "
            f"{MIN_PER_USER} and {cap:,} interactions each"
        )
    item_rng, user_rng, pick_rng, rate_rng, time_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(5)
    )
    items = _items(item_rng, n_items)
    users = _users(user_rng, n_users, n_interactions, cap, items.genre_mass)
    user_idx, item_idx = _pick_items(pick_rng, users, items)  # grouped by user
    ratings = _ratings(rate_rng, user_idx, item_idx, users, items)
    timestamps = _timestamps(time_rng, users.counts)
    order = np.argsort(timestamps, kind="stable")  # a log in time order; per user still sorted
    interactions = pa.table(
        {
            "user_id": _take(users.ids, user_idx[order]),
            "item_id": _take(items.ids, item_idx[order]),
            "rating": pa.array(ratings[order]),
            "timestamp": pa.array(timestamps[order]),
        }
    )
    return SyntheticTables(interactions=interactions, items=items.table, users=users.table)


def write_synthetic(folder: Path, n_interactions: int, seed: int = 0) -> SyntheticFiles:
    """Generate and write ``interactions.parquet``, ``items.parquet``, ``users.parquet`` and a
    ``synthetic.json`` manifest (written last) into ``folder``; returns the data files."""
    folder.mkdir(parents=True, exist_ok=True)
    tables = generate_synthetic(n_interactions, seed)
    files = _files(folder)
    for table, path in (
        (tables.interactions, files.interactions),
        (tables.items, files.items),
        (tables.users, files.users),
    ):
        with atomic_path(path) as partial:
            pq.write_table(table, partial)
    manifest = _manifest(n_interactions, seed) | {
        "n_users": tables.users.num_rows,
        "n_items": tables.items.num_rows,
    }
    write_atomic(folder / "synthetic.json", json.dumps(manifest, indent=1) + "\n")
    return files


def is_cached(folder: Path, n_interactions: int, seed: int = 0) -> bool:
    """Whether ``folder`` holds the files of these arguments (manifest and all three tables)."""
    files = _files(folder)
    try:
        manifest = json.loads((folder / "synthetic.json").read_text())
    except (OSError, ValueError):
        return False
    expected = _manifest(n_interactions, seed)
    same = all(manifest.get(key) == value for key, value in expected.items())
    return same and all(p.is_file() for p in (files.interactions, files.items, files.users))


def cached_synthetic(folder: Path, n_interactions: int, seed: int = 0) -> SyntheticFiles:
    """The files in ``folder`` when they were written for these arguments, else newly written."""
    if is_cached(folder, n_interactions, seed):
        return _files(folder)
    return write_synthetic(folder, n_interactions, seed)


def _files(folder: Path) -> SyntheticFiles:
    return SyntheticFiles(
        interactions=folder / "interactions.parquet",
        items=folder / "items.parquet",
        users=folder / "users.parquet",
    )


def _manifest(n_interactions: int, seed: int) -> dict[str, int]:
    return {"n_interactions": n_interactions, "seed": seed, "format_version": FORMAT_VERSION}


@dataclass(frozen=True)
class _Items:
    ids: pa.Array
    table: pa.Table
    genre: np.ndarray
    """(I,) primary genre index."""
    cdf: np.ndarray
    """(I,) cumulative popularity over the items sorted by primary genre; sums to 1."""
    by_genre: np.ndarray
    """(I,) item index at each position of ``cdf``."""
    genre_bounds: np.ndarray
    """(G + 1,) start of each genre's block in ``cdf``."""
    genre_mass: np.ndarray
    """(G,) each genre's share of the popularity."""
    factors: np.ndarray
    """(I, D) latent factors."""
    bias: np.ndarray
    """(I,) rating bias: popular items are rated a little higher."""


@dataclass(frozen=True)
class _Users:
    ids: pa.Array
    table: pa.Table
    counts: np.ndarray
    """(U,) interactions per user."""
    favourite: np.ndarray
    focus: np.ndarray
    factors: np.ndarray
    bias: np.ndarray


def _ids(prefix: str, n: int) -> pa.Array:
    return pa.array(np.char.add(prefix, np.arange(1, n + 1).astype(str)).astype(object))


def _take(ids: pa.Array, index: np.ndarray) -> pa.Array:
    # A dictionary array decoded by Arrow: no Python string per row.
    return pa.DictionaryArray.from_arrays(pa.array(index.astype(np.int32)), ids).cast(pa.string())


def _zipf(n: int, exponent: float) -> np.ndarray:
    weights = np.arange(1, n + 1, dtype=np.float64) ** -exponent
    return weights / weights.sum()


def _items(rng: np.random.Generator, n_items: int) -> _Items:
    n_genres = len(GENRES)
    popularity = _zipf(n_items, 1.0)[rng.permutation(n_items)]  # (I,)
    genre = rng.choice(n_genres, size=n_items, p=_zipf(n_genres, 0.8))
    # Up to two extra genres; a repeat of the primary one simply adds nothing.
    extra = rng.integers(0, n_genres, size=(n_items, 2))
    extra_on = rng.random((n_items, 2)) < np.array([0.5, 0.2])
    masks = (1 << genre) | np.bitwise_or.reduce(np.where(extra_on, 1 << extra, 0), axis=1)
    distinct, inverse = np.unique(masks, return_inverse=True)
    names = np.array(
        [GENRE_SEPARATOR.join(g for b, g in enumerate(GENRES) if m >> b & 1) for m in distinct],
        dtype=object,
    )  # one string per distinct genre set, not per item
    by_genre = np.argsort(genre, kind="stable")
    cdf = np.cumsum(popularity[by_genre])
    cdf /= cdf[-1]
    bounds = np.searchsorted(genre[by_genre], np.arange(n_genres + 1))
    mass = np.bincount(genre, weights=popularity, minlength=n_genres)

    adjective = np.array(_ADJECTIVES, dtype=object)[rng.integers(0, len(_ADJECTIVES), n_items)]
    noun = np.array(_NOUNS, dtype=object)[rng.integers(0, len(_NOUNS), n_items)]
    other = np.array(_NOUNS, dtype=object)[rng.integers(0, len(_NOUNS), n_items)]
    shape = rng.integers(0, 3, n_items)
    title = np.where(
        shape == 0,
        "The " + noun,
        np.where(shape == 1, adjective + " " + noun, noun + " of " + other),
    )
    theme = np.array(_THEMES, dtype=object)[rng.integers(0, len(_THEMES), n_items)]
    place = np.array(_NOUNS, dtype=object)[rng.integers(0, len(_NOUNS), n_items)]
    description = np.array(GENRES, dtype=object)[genre] + " story about " + theme
    description = description + " near the " + place + "."
    year = np.clip(np.round(2019 - rng.exponential(15.0, n_items)), 1920, 2019).astype(np.int64)

    log_pop = np.log(popularity)
    bias = 0.25 * (log_pop - log_pop.mean()) / (log_pop.std() + 1e-9) + rng.normal(0, 0.4, n_items)
    ids = _ids("i", n_items)
    table = pa.table(
        {
            "item_id": ids,
            "title": pa.array(title.astype(object), pa.string()),
            "year": pa.array(year.astype(str).astype(object), pa.string()),
            "genres": pa.array(names[inverse], pa.string()),
            "description": pa.array(description.astype(object), pa.string()),
        }
    )
    factors = rng.normal(size=(n_items, _LATENT_DIM)).astype(np.float32)
    return _Items(ids, table, genre, cdf, by_genre, bounds, mass, factors, bias)


def _users(
    rng: np.random.Generator, n_users: int, n_interactions: int, cap: int, genre_mass: np.ndarray
) -> _Users:
    counts = _activity(rng, n_users, n_interactions, cap)
    favourite = rng.choice(len(genre_mass), size=n_users, p=genre_mass)
    focus = rng.beta(2.0, 2.0, n_users)
    factors = rng.normal(size=(n_users, _LATENT_DIM)).astype(np.float32)
    bias = rng.normal(0, 0.35, n_users)
    age = np.clip(np.round(rng.gamma(6.0, 5.5, n_users)) + 7, 7, 80).astype(np.int64)
    gender = np.where(rng.random(n_users) < 0.6, "M", "F").astype(object)
    occupation = np.array(OCCUPATIONS, dtype=object)[
        rng.choice(len(OCCUPATIONS), size=n_users, p=_zipf(len(OCCUPATIONS), 0.7))
    ]
    ids = _ids("u", n_users)
    table = pa.table(
        {
            "user_id": ids,
            "age": pa.array(age),
            "gender": pa.array(gender, pa.string()),
            "occupation": pa.array(occupation, pa.string()),
        }
    )
    return _Users(ids, table, counts, favourite, focus, factors, bias)


def _activity(rng: np.random.Generator, n_users: int, total: int, cap: int) -> np.ndarray:
    """(U,) counts in [MIN_PER_USER, cap] summing to ``total``, the part above the minimum
    proportional to Pareto weights (water-filled under the cap, remainders by largest share)."""
    weights = rng.pareto(1.2, n_users) + 1e-3
    extra, room = total - MIN_PER_USER * n_users, cap - MIN_PER_USER
    if extra == 0 or room == 0:
        return np.full(n_users, MIN_PER_USER + (room if extra else 0), dtype=np.int64)
    low, high = 0.0, extra / weights.min()  # scale such that sum(min(scale * w, room)) = extra
    for _ in range(200):
        mid = (low + high) / 2
        if np.minimum(mid * weights, room).sum() <= extra:
            low = mid
        else:
            high = mid
    share = np.minimum(low * weights, room)
    counts = np.floor(share).astype(np.int64)
    left = extra - int(counts.sum())
    eligible = np.flatnonzero(counts < room)
    if left > len(eligible):
        raise AssertionError("activity allocation left more rows than users below the cap")
    fraction = share[eligible] - counts[eligible]
    counts[eligible[np.argsort(-fraction, kind="stable")[:left]]] += 1
    return counts + MIN_PER_USER


def _draw(
    rng: np.random.Generator, users: np.ndarray, state: _Users, items: _Items, uniform: bool
) -> np.ndarray:
    """One candidate item per entry of ``users``: from the favourite genre with probability
    ``focus``, else from the catalogue by popularity; ``uniform`` draws ignore popularity."""
    if uniform:
        return rng.integers(0, len(items.cdf), size=len(users))
    in_genre = rng.random(len(users)) < state.focus[users]
    genre = state.favourite[users]
    low = np.where(in_genre, items.genre_bounds[genre], 0)
    high = np.where(in_genre, items.genre_bounds[genre + 1], len(items.cdf))
    # Users whose favourite genre has no items fall back to the catalogue.
    empty = low == high
    low, high = np.where(empty, 0, low), np.where(empty, len(items.cdf), high)
    start = np.where(low > 0, items.cdf[np.maximum(low - 1, 0)], 0.0)
    stop = items.cdf[high - 1]
    target = start + rng.random(len(users)) * (stop - start)
    position = np.clip(np.searchsorted(items.cdf, target, side="right"), low, high - 1)
    return items.by_genre[position]


def _pick_items(
    rng: np.random.Generator, state: _Users, items: _Items
) -> tuple[np.ndarray, np.ndarray]:
    """(user_idx, item_idx), grouped by user, ``counts[u]`` distinct items for user ``u``.

    Each round draws ``1.3 x`` the missing items for the users still short (from the third
    round on twice as many, and after six rounds uniformly over the catalogue so that heavy
    users reach the tail), merges them with those users' kept picks, drops repeated pairs and
    keeps the earlier picks first, then random new ones, up to the user's count. Users who are
    complete leave the working set, so later rounds only touch the heavy users' rows.
    """
    n_items = len(items.cdf)
    counts = state.counts
    done: list[np.ndarray] = []
    kept = np.empty(0, dtype=np.int64)  # keys user * n_items + item of the unfinished users
    missing = counts.copy()
    for round_ in range(60):
        short = np.flatnonzero(missing > 0)
        if len(short) == 0:
            break
        factor = 1.3 if round_ < 2 else 2.0
        n_draw = np.ceil(missing[short] * factor).astype(np.int64) + 1
        draw_users = np.repeat(short, n_draw)
        draw_items = _draw(rng, draw_users, state, items, uniform=round_ >= 6)
        keys = np.concatenate([kept, draw_users * n_items + draw_items])
        # Kept picks first (priority 0), new ones after them in random order (0.5 to 1).
        priority = np.concatenate([np.zeros(len(kept)), 0.5 + 0.5 * rng.random(len(draw_users))])
        unique_keys, first = np.unique(keys, return_index=True)
        user = unique_keys // n_items
        order = np.argsort(user + 0.5 * priority[first])  # by user, then priority
        unique_keys, user = unique_keys[order], user[order]
        starts = np.searchsorted(user, np.arange(len(counts)))
        rank = np.arange(len(user)) - starts[user]
        picked = rank < counts[user]
        unique_keys, user = unique_keys[picked], user[picked]
        missing[short] = counts[short] - np.bincount(user, minlength=len(counts))[short]
        complete = missing[user] == 0
        done.append(unique_keys[complete])
        kept = unique_keys[~complete]
    else:
        raise AssertionError("could not draw enough distinct items per user")
    chosen = np.concatenate(done)
    # Grouped by user, items in random order: the order timestamps are then given in.
    order = np.argsort(chosen // n_items + 0.5 * rng.random(len(chosen)))
    chosen = chosen[order]
    return chosen // n_items, chosen % n_items


def _ratings(
    rng: np.random.Generator,
    user_idx: np.ndarray,
    item_idx: np.ndarray,
    users: _Users,
    items: _Items,
) -> np.ndarray:
    """Whole ratings 1-5 from a latent affinity, in row chunks to bound the gathered factors."""
    ratings = np.empty(len(user_idx), dtype=np.float64)
    scale = 0.6 / np.sqrt(_LATENT_DIM)
    for start in range(0, len(user_idx), _CHUNK_ROWS):
        u = user_idx[start : start + _CHUNK_ROWS]
        i = item_idx[start : start + _CHUNK_ROWS]
        affinity = np.einsum("nd,nd->n", users.factors[u], items.factors[i]) * scale  # (N,)
        match = 0.5 * (items.genre[i] == users.favourite[u])
        noise = rng.normal(0.0, 0.6, len(u))
        score = 3.3 + users.bias[u] + items.bias[i] + affinity + match + noise
        ratings[start : start + len(u)] = np.clip(np.round(score), 1, 5)
    return ratings


def _timestamps(rng: np.random.Generator, counts: np.ndarray) -> np.ndarray:
    """Increasing seconds within each user's block of ``counts[u]`` rows: a start in the period,
    an active span, and ordered positions in it from cumulative exponential gaps."""
    n_users = len(counts)
    first, last = PERIOD
    start = first + rng.random(n_users) * (last - first - 86_400)
    span = (last - start) * rng.beta(1.2, 2.0, n_users)
    gaps = rng.exponential(size=int(counts.sum()))
    cumulative = np.cumsum(gaps)
    ends = np.cumsum(counts)
    before = np.concatenate([[0.0], cumulative[ends[:-1] - 1]])  # (U,) sum before each block
    total = cumulative[ends - 1] - before + rng.exponential(size=n_users)  # a gap after the last
    row_user = np.repeat(np.arange(n_users), counts)
    fraction = (cumulative - before[row_user]) / total[row_user]  # (N,) in (0, 1), increasing
    return np.floor(start[row_user] + fraction * span[row_user]).astype(np.int64)
