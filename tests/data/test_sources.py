"""Readers for the generic, RecBole atomic and GroupLens layouts, on tiny hand-written files."""

from pathlib import Path

import pandas as pd
import pytest

from mtrec.config import DataConfig
from mtrec.data.sources import (
    DataSourceError,
    check_csv,
    check_readable,
    fingerprint,
    read_generic,
    read_grouplens,
    read_recbole_atomic,
)

INTERACTIONS = pd.DataFrame(
    {
        "user_id": [1, 1, 2, 10],
        "item_id": [100, 200, 100, 300],
        "rating": [4.0, 2.0, 5.0, 3.0],
        "timestamp": [880_000_000, 880_000_100, 880_000_200, 880_000_300],
    }
)
ITEMS = pd.DataFrame(
    {
        "item_id": [100, 200, 300],
        "title": [" Alpha ", "Beta", "Gamma"],
        "year": [1995, 2001, 1970],
        "genres": ["Action|Comedy", "Drama", "Sci-Fi"],
        "plot": ["p1", "p2", "p3"],
    }
)
USERS = pd.DataFrame({"user_id": [1, 2, 10], "age": [20, 30, 40]})


def _check_ids_are_strings(frame: pd.DataFrame, *columns: str) -> None:
    for column in columns:
        assert pd.api.types.is_string_dtype(frame[column]), column
        assert all(isinstance(v, str) for v in frame[column]), column


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_read_generic(tmp_path: Path, suffix: str) -> None:
    paths = {}
    for name, frame in (("inter", INTERACTIONS), ("items", ITEMS), ("users", USERS)):
        paths[name] = tmp_path / f"{name}{suffix}"
        if suffix == ".csv":
            frame.to_csv(paths[name], index=False)
        else:
            frame.to_parquet(paths[name], index=False)
    raw = read_generic(paths["inter"], paths["items"], paths["users"])

    _check_ids_are_strings(raw.interactions, "user_id", "item_id")
    assert raw.interactions["user_id"].tolist() == ["1", "1", "2", "10"]
    assert raw.interactions["item_id"].tolist() == ["100", "200", "100", "300"]
    assert raw.interactions["rating"].tolist() == [4.0, 2.0, 5.0, 3.0]
    assert raw.interactions["timestamp"].tolist() == INTERACTIONS["timestamp"].tolist()

    _check_ids_are_strings(raw.items, "item_id")
    assert list(raw.items.columns[:1]) == ["item_id"]
    assert {"title", "year", "genres", "plot"} <= set(raw.items.columns)
    assert raw.items["title"].tolist() == ["Alpha", "Beta", "Gamma"]  # stripped
    assert raw.items["year"].tolist() == ["1995", "2001", "1970"]
    assert raw.items["genres"].tolist() == ["Action|Comedy", "Drama", "Sci-Fi"]
    assert raw.items["plot"].tolist() == ["p1", "p2", "p3"]

    _check_ids_are_strings(raw.users, "user_id")
    assert raw.users["user_id"].tolist() == ["1", "2", "10"]
    assert raw.users["age"].tolist() == [20, 30, 40]


def test_read_generic_fills_missing_item_columns_and_users(tmp_path: Path) -> None:
    INTERACTIONS.to_csv(tmp_path / "inter.csv", index=False)
    (tmp_path / "items.csv").write_text("item_id,title\n100,A\n200,B\n300,\n", encoding="utf-8")
    raw = read_generic(tmp_path / "inter.csv", tmp_path / "items.csv", None)
    assert raw.items["title"].tolist() == ["A", "B", ""]
    assert raw.items["year"].tolist() == ["", "", ""]
    assert raw.items["genres"].tolist() == ["", "", ""]
    assert list(raw.users.columns) == ["user_id"]
    assert len(raw.users) == 0
    assert pd.api.types.is_string_dtype(raw.users["user_id"])


def test_read_generic_year_with_gaps_stays_a_plain_year(tmp_path: Path) -> None:
    """A CSV year column with an empty cell must still give "1995", not the float "1995.0"."""
    INTERACTIONS.to_csv(tmp_path / "inter.csv", index=False)
    (tmp_path / "items.csv").write_text(
        "item_id,title,year,genres\n100,A,1995,X\n200,B,,Y\n300,C,2001,\n", encoding="utf-8"
    )
    raw = read_generic(tmp_path / "inter.csv", tmp_path / "items.csv", None)
    assert raw.items["year"].tolist() == ["1995", "", "2001"]


def test_read_generic_items_without_title_is_an_error(tmp_path: Path) -> None:
    INTERACTIONS.to_csv(tmp_path / "inter.csv", index=False)
    (tmp_path / "items.csv").write_text("item_id,name\n100,A\n", encoding="utf-8")
    with pytest.raises(DataSourceError, match="title"):
        read_generic(tmp_path / "inter.csv", tmp_path / "items.csv", None)


def _write_atomic(folder: Path, with_user: bool = True) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ml.inter").write_text(
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
        "1\t10\t4\t881250949\n"
        "2\t20\t1\t881250950\n"
        "2\t10\t5\t881250951\n",
        encoding="utf-8",
    )
    (folder / "ml.item").write_text(
        "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
        "10\tToy Story\t1995\tAnimation Children's Comedy\n"
        "20\tGoldenEye\t1995\tSci-Fi\n"
        "30\tFour Rooms\t\t\n",
        encoding="utf-8",
    )
    if with_user:
        (folder / "ml.user").write_text(
            "user_id:token\tage:token\tgender:token\toccupation:token\n"
            "1\t24\tM\ttechnician\n"
            "2\t53\tF\tother\n",
            encoding="utf-8",
        )


def test_read_recbole_atomic(tmp_path: Path) -> None:
    _write_atomic(tmp_path)
    raw = read_recbole_atomic(tmp_path, "ml")

    assert list(raw.interactions.columns) == ["user_id", "item_id", "rating", "timestamp"]
    _check_ids_are_strings(raw.interactions, "user_id", "item_id")
    assert raw.interactions["item_id"].tolist() == ["10", "20", "10"]
    assert raw.interactions["rating"].tolist() == [4, 1, 5]
    assert pd.api.types.is_numeric_dtype(raw.interactions["rating"])
    assert raw.interactions["timestamp"].tolist() == [881250949, 881250950, 881250951]

    assert {"item_id", "title", "year", "genres"} <= set(raw.items.columns)
    assert "movie_title" not in raw.items and "class" not in raw.items
    assert raw.items["item_id"].tolist() == ["10", "20", "30"]
    assert raw.items["title"].tolist() == ["Toy Story", "GoldenEye", "Four Rooms"]
    assert raw.items["year"].tolist() == ["1995", "1995", ""]
    assert raw.items["genres"].tolist() == ["Animation|Children's|Comedy", "Sci-Fi", ""]

    _check_ids_are_strings(raw.users, "user_id")
    assert raw.users["user_id"].tolist() == ["1", "2"]
    assert raw.users["age"].tolist() == [24, 53]
    assert raw.users["occupation"].tolist() == ["technician", "other"]


def test_read_recbole_atomic_without_user_file(tmp_path: Path) -> None:
    _write_atomic(tmp_path, with_user=False)
    raw = read_recbole_atomic(tmp_path, "ml")
    assert len(raw.users) == 0
    assert list(raw.users.columns) == ["user_id"]
    assert len(raw.interactions) == 3


def _flags(*on: int) -> str:
    return "|".join("1" if i in on else "0" for i in range(19))


def _write_ml100k(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "u.data").write_text(
        "196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t242\t1\t878887116\n",
        encoding="utf-8",
    )
    # Genre flag order: unknown Action Adventure Animation Children's Comedy ... Western.
    lines = [
        f"242|Kolya (1996)|24-Jan-1997||http://x|{_flags(5)}",
        f"302|L.A. Confidential (1997)|01-Jan-1997||http://y|{_flags(1, 16)}",
        f"267|unknown||||{_flags(0)}",
        f"1|Café Noir (1995)|01-Jan-1995||http://z|{_flags(3, 4, 5)}",
    ]
    (folder / "u.item").write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    (folder / "u.user").write_text(
        "196|49|M|writer|55105\n186|39|F|executive|00000\n22|25|M|writer|40206\n",
        encoding="utf-8",
    )


def test_read_grouplens_ml100k(tmp_path: Path) -> None:
    _write_ml100k(tmp_path)
    raw = read_grouplens(tmp_path)

    _check_ids_are_strings(raw.interactions, "user_id", "item_id")
    assert raw.interactions["user_id"].tolist() == ["196", "186", "22"]
    assert raw.interactions["item_id"].tolist() == ["242", "302", "242"]
    assert raw.interactions["rating"].tolist() == [3, 3, 1]
    assert raw.interactions["timestamp"].tolist() == [881250949, 891717742, 878887116]

    items = raw.items.set_index("item_id")
    assert items.loc["242", "title"] == "Kolya"
    assert items.loc["242", "year"] == "1996"
    assert items.loc["242", "genres"] == "Comedy"
    assert items.loc["302", "title"] == "L.A. Confidential"
    assert items.loc["302", "genres"] == "Action|Thriller"
    assert items.loc["267", "title"] == "unknown"
    assert items.loc["267", "year"] == ""
    assert items.loc["267", "genres"] == "unknown"
    assert items.loc["1", "title"] == "Café Noir"  # latin-1 decoded
    assert items.loc["1", "genres"] == "Animation|Children's|Comedy"
    assert list(raw.items["item_id"]) == ["242", "302", "267", "1"]  # file order

    assert raw.users["user_id"].tolist() == ["196", "186", "22"]
    assert raw.users["zip_code"].tolist() == ["55105", "00000", "40206"]  # leading zeros kept
    assert raw.users["age"].tolist() == [49, 39, 25]


def _write_ml1m(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ratings.dat").write_text(
        "1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n",
        encoding="utf-8",
    )
    (folder / "movies.dat").write_bytes(
        "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n"
        "661::James and the Giant Peach (1996)::Animation|Children's|Musical\n"
        "73::Misérables, Les (1995)::Drama|Musical\n".encode("latin-1")
    )
    (folder / "users.dat").write_text("1::F::1::10::48067\n2::M::56::16::70072\n", encoding="utf-8")


def test_read_grouplens_ml1m(tmp_path: Path) -> None:
    _write_ml1m(tmp_path)
    raw = read_grouplens(tmp_path)

    _check_ids_are_strings(raw.interactions, "user_id", "item_id")
    assert raw.interactions["user_id"].tolist() == ["1", "1", "2"]
    assert raw.interactions["item_id"].tolist() == ["1193", "661", "1193"]
    assert raw.interactions["rating"].tolist() == [5, 3, 4]
    assert raw.interactions["timestamp"].tolist() == [978300760, 978302109, 978298413]

    assert raw.items["item_id"].tolist() == ["1193", "661", "73"]
    assert raw.items["title"].tolist() == [
        "One Flew Over the Cuckoo's Nest",
        "James and the Giant Peach",
        "Misérables, Les",
    ]
    assert raw.items["year"].tolist() == ["1975", "1996", "1995"]
    assert raw.items["genres"].tolist() == [
        "Drama",
        "Animation|Children's|Musical",
        "Drama|Musical",
    ]
    assert raw.users["user_id"].tolist() == ["1", "2"]
    assert raw.users["gender"].tolist() == ["F", "M"]
    assert raw.users["age"].tolist() == [1, 56]


def _write_ml_latest(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ratings.csv").write_text(
        "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,4.5,964981247\n"
        "7,1,0.5,964982224\n",
        encoding="utf-8",
    )
    (folder / "movies.csv").write_text(
        "movieId,title,genres\n"
        "1,Toy Story (1995),Adventure|Animation|Children\n"
        '3,"American President, The (1995) ",Comedy|Drama|Romance\n'
        "9,Some Film,(no genres listed)\n",
        encoding="utf-8",
    )


def test_read_grouplens_ml_latest(tmp_path: Path) -> None:
    _write_ml_latest(tmp_path)
    raw = read_grouplens(tmp_path)

    assert list(raw.interactions.columns) == ["user_id", "item_id", "rating", "timestamp"]
    _check_ids_are_strings(raw.interactions, "user_id", "item_id")
    assert raw.interactions["user_id"].tolist() == ["1", "1", "7"]
    assert raw.interactions["item_id"].tolist() == ["1", "3", "1"]
    assert raw.interactions["rating"].tolist() == [4.0, 4.5, 0.5]

    assert raw.items["item_id"].tolist() == ["1", "3", "9"]
    assert raw.items["title"].tolist() == ["Toy Story", "American President, The", "Some Film"]
    assert raw.items["year"].tolist() == ["1995", "1995", ""]
    assert raw.items["genres"].tolist() == [
        "Adventure|Animation|Children",
        "Comedy|Drama|Romance",
        "",
    ]
    assert len(raw.users) == 0 and list(raw.users.columns) == ["user_id"]


def test_read_grouplens_unknown_layout(tmp_path: Path) -> None:
    (tmp_path / "other.txt").write_text("x", encoding="utf-8")
    with pytest.raises(DataSourceError, match="no GroupLens layout"):
        read_grouplens(tmp_path)


@pytest.mark.parametrize(
    ("writer", "name"),
    [(_write_ml100k, "u.item"), (_write_ml1m, "movies.dat"), (_write_ml_latest, "movies.csv")],
)
def test_read_grouplens_missing_file_names_it(tmp_path: Path, writer, name: str) -> None:
    writer(tmp_path)
    (tmp_path / name).unlink()
    with pytest.raises(DataSourceError, match="not found") as info:
        read_grouplens(tmp_path)
    assert str(tmp_path / name) in str(info.value)


@pytest.mark.parametrize(
    ("writer", "name"),
    [(_write_ml100k, "u.data"), (_write_ml1m, "ratings.dat"), (_write_ml_latest, "ratings.csv")],
)
def test_read_grouplens_empty_file_names_it(tmp_path: Path, writer, name: str) -> None:
    writer(tmp_path)
    (tmp_path / name).write_text("", encoding="utf-8")
    with pytest.raises(DataSourceError, match="empty") as info:
        read_grouplens(tmp_path)
    assert str(tmp_path / name) in str(info.value)


@pytest.mark.parametrize("which", ["inter", "items", "users"])
def test_read_generic_empty_file_names_it(tmp_path: Path, which: str) -> None:
    paths = {name: tmp_path / f"{name}.csv" for name in ("inter", "items", "users")}
    INTERACTIONS.to_csv(paths["inter"], index=False)
    ITEMS.to_csv(paths["items"], index=False)
    USERS.to_csv(paths["users"], index=False)
    paths[which].write_text("", encoding="utf-8")
    with pytest.raises(DataSourceError, match="empty") as info:
        read_generic(paths["inter"], paths["items"], paths["users"])
    assert str(paths[which]) in str(info.value)


def test_read_generic_missing_file_names_it(tmp_path: Path) -> None:
    ITEMS.to_csv(tmp_path / "items.csv", index=False)
    missing = tmp_path / "nope.parquet"
    with pytest.raises(DataSourceError, match="not found") as info:
        read_generic(missing, tmp_path / "items.csv", None)
    assert str(missing) in str(info.value)


def test_read_generic_corrupt_parquet_names_it(tmp_path: Path) -> None:
    ITEMS.to_csv(tmp_path / "items.csv", index=False)
    bad = tmp_path / "inter.parquet"
    bad.write_bytes(b"not a parquet file at all")
    with pytest.raises(DataSourceError, match="could not read") as info:
        read_generic(bad, tmp_path / "items.csv", None)
    assert str(bad) in str(info.value)


@pytest.mark.parametrize("suffix", ["inter", "item"])
def test_read_recbole_atomic_empty_or_missing_names_it(tmp_path: Path, suffix: str) -> None:
    _write_atomic(tmp_path)
    path = tmp_path / f"ml.{suffix}"
    path.write_text("", encoding="utf-8")
    with pytest.raises(DataSourceError, match="empty") as info:
        read_recbole_atomic(tmp_path, "ml")
    assert str(path) in str(info.value)
    path.unlink()
    with pytest.raises(DataSourceError, match="not found") as info:
        read_recbole_atomic(tmp_path, "ml")
    assert str(path) in str(info.value)


def test_fingerprint_tracks_content(tmp_path: Path) -> None:
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text("user_id,item_id\n1,2\n", encoding="utf-8")
    second.write_text("item_id,title\n2,X\n", encoding="utf-8")
    original = fingerprint([first, second])

    assert len(original) == 16
    assert all(c in "0123456789abcdef" for c in original)
    assert fingerprint([first, second]) == original  # stable across calls

    first.write_text("user_id,item_id\n1,2\n", encoding="utf-8")  # same bytes rewritten
    assert fingerprint([first, second]) == original

    first.write_text("user_id,item_id\n1,3\n", encoding="utf-8")
    changed = fingerprint([first, second])
    assert changed != original

    first.write_text("user_id,item_id\n1,2\n", encoding="utf-8")
    assert fingerprint([first, second]) == original  # back to the same content
    assert fingerprint([first]) != original


def test_cache_manifest_detects_damaged_files(tmp_path: Path) -> None:
    from mtrec.data.sources import damaged_files, write_manifest

    files = [tmp_path / "a.inter", tmp_path / "a.item"]
    for file in files:
        file.write_text(f"contents of {file.name}\n" * 100)
    manifest = tmp_path / "manifest.json"
    assert damaged_files(files, manifest) == ["a.inter", "a.item"]  # no manifest yet
    write_manifest(files, manifest)
    assert damaged_files(files, manifest) == []
    damaged = bytearray(files[0].read_bytes())
    damaged[10] ^= 0xFF  # one flipped byte, same size
    files[0].write_bytes(bytes(damaged))
    assert damaged_files(files, manifest) == ["a.inter"]
    files[0].unlink()
    assert damaged_files(files, manifest) == ["a.inter"]
    manifest.write_text("[]")  # valid JSON, not a manifest
    assert damaged_files(files[1:], manifest) == ["a.item"]
    manifest.write_text("{not json")
    assert damaged_files(files[1:], manifest) == ["a.item"]


def _write_tab_separated(tmp_path: Path) -> dict[str, Path]:
    """Tab-separated files whose titles hold commas: read as CSV, pandas saw "Expected 1
    fields in line 3, saw 2" on the items file."""
    items = ITEMS.assign(title=["Alpha", "Beta, the second", "Gamma"])
    paths = {"inter": tmp_path / "inter.csv", "items": tmp_path / "items.csv"}
    INTERACTIONS.to_csv(paths["inter"], index=False, sep="\t")
    items.to_csv(paths["items"], index=False, sep="\t")
    return paths


def test_a_tab_separated_file_names_the_delimiter_to_set(tmp_path: Path) -> None:
    paths = _write_tab_separated(tmp_path)
    with pytest.raises(DataSourceError) as info:
        read_generic(paths["inter"], paths["items"], None)
    assert str(info.value) == (
        f"data file {paths['inter']} is not comma-separated: its header "
        "'user_id\\titem_id\\trating\\ttimestamp' is one column on ',' but 4 on '\\t' "
        '(detected by csv.Sniffer); set data.delimiter: "\\t"'
    )
    INTERACTIONS.to_csv(tmp_path / "comma.csv", index=False)
    with pytest.raises(DataSourceError, match="set data.delimiter") as info:
        read_generic(tmp_path / "comma.csv", paths["items"], None)  # pandas' parse error
    assert str(paths["items"]) in str(info.value) and "5 on '\\t'" in str(info.value)

    raw = read_generic(paths["inter"], paths["items"], None, delimiter="\t")
    assert raw.interactions["user_id"].tolist() == ["1", "1", "2", "10"]
    assert raw.items["title"].tolist() == ["Alpha", "Beta, the second", "Gamma"]


def test_a_semicolon_file_read_as_tab_separated_names_the_semicolon(tmp_path: Path) -> None:
    INTERACTIONS.to_csv(tmp_path / "inter.csv", index=False, sep=";")
    with pytest.raises(
        DataSourceError, match="not tab-separated: .* but 4 on ';' .*set data.delimiter: ';'"
    ):
        check_csv(tmp_path / "inter.csv", delimiter="\t")


def test_a_one_column_users_file_is_not_taken_for_a_delimiter_problem(tmp_path: Path) -> None:
    (tmp_path / "users.csv").write_text("user_id\n1\n2\n10\n", encoding="utf-8")
    check_csv(tmp_path / "users.csv")
    INTERACTIONS.to_csv(tmp_path / "inter.csv", index=False)
    ITEMS.to_csv(tmp_path / "items.csv", index=False)
    raw = read_generic(tmp_path / "inter.csv", tmp_path / "items.csv", tmp_path / "users.csv")
    assert raw.users["user_id"].tolist() == ["1", "2", "10"]


def test_latin1_text_names_the_byte_its_place_and_the_encoding_to_set(tmp_path: Path) -> None:
    text = ITEMS.assign(title=["Alpha", "Café", "Gamma"]).to_csv(index=False)
    (tmp_path / "items.csv").write_bytes(text.encode("latin-1"))
    INTERACTIONS.to_csv(tmp_path / "inter.csv", index=False)
    offset = text.encode("latin-1").index(b"\xe9")
    with pytest.raises(DataSourceError) as info:
        read_generic(tmp_path / "inter.csv", tmp_path / "items.csv", None)
    assert str(info.value) == (
        f"data file {tmp_path / 'items.csv'} is not valid UTF-8 text: byte 0xe9 at offset "
        f"{offset} (line 3); probably Latin-1 / Windows-1252 text, where it reads 'é'; "
        "set data.encoding: latin-1"
    )
    raw = read_generic(tmp_path / "inter.csv", tmp_path / "items.csv", None, encoding="latin-1")
    assert raw.items["title"].tolist() == ["Alpha", "Café", "Gamma"]


def test_a_bad_byte_past_the_first_block_has_its_file_offset(tmp_path: Path) -> None:
    # A two-byte character cut by the 1 MiB block boundary is fine; the bad byte after it is
    # placed by its offset in the file, not in its block.
    data = b"a,b\n" + b"x" * ((1 << 20) - 5) + "é".encode() + b"\nz,\xff\n"
    (tmp_path / "big.csv").write_bytes(data)
    with pytest.raises(DataSourceError, match=f"byte 0xff at offset {len(data) - 2} \\(line 3\\)"):
        check_csv(tmp_path / "big.csv")


def test_utf16_text_is_named_by_its_byte_order_mark(tmp_path: Path) -> None:
    (tmp_path / "items.csv").write_bytes(ITEMS.to_csv(index=False).encode("utf-16"))
    with pytest.raises(
        DataSourceError,
        match="byte 0xff at offset 0 \\(line 1\\); it starts "
        "with a UTF-16 byte-order mark; set data.encoding: utf-16",
    ):
        check_csv(tmp_path / "items.csv")
    check_csv(tmp_path / "items.csv", encoding="utf-16")


def test_check_readable_looks_at_the_csv_files_the_config_names(tmp_path: Path) -> None:
    paths = _write_tab_separated(tmp_path)
    INTERACTIONS.to_parquet(tmp_path / "inter.parquet", index=False)
    generic = {"source": "generic", "interactions": tmp_path / "inter.parquet"}
    with pytest.raises(DataSourceError, match="items.csv is not comma-separated"):
        check_readable(DataConfig(**generic, items=paths["items"]))
    check_readable(DataConfig(**generic, items=paths["items"], delimiter="\t"))
    with pytest.raises(DataSourceError, match="inter.csv is not comma-separated"):
        check_readable(DataConfig(edges=paths["inter"]))  # any source's edge table
