"""Atomic writes and SHA-256 digests: known digests, old content kept on failure, no leftovers."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from mtrec.files import atomic_path, sha256_file, sha256_files, sha256_text, write_atomic

ABC = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"  # FIPS 180-2, "abc"
EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_known_digests(tmp_path: Path) -> None:
    file = tmp_path / "abc.txt"
    file.write_bytes(b"abc")
    assert sha256_file(file) == ABC
    assert sha256_text("abc") == ABC
    (tmp_path / "empty").write_bytes(b"")
    assert sha256_file(tmp_path / "empty") == EMPTY


def test_file_digest_streams_past_one_block(tmp_path: Path) -> None:
    data = bytes(range(256)) * 10_000  # 2.56 MB: three 1 MiB blocks
    file = tmp_path / "big.bin"
    file.write_bytes(data)
    assert sha256_file(file) == hashlib.sha256(data).hexdigest()


def test_digest_of_several_files_is_label_then_bytes_in_order(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"first")
    b.write_bytes(b"second")
    expected = hashlib.sha256(b"a" + b"first" + b"b" + b"second").hexdigest()
    assert sha256_files([("a", a), ("b", b)]) == expected
    assert sha256_files([("b", b), ("a", a)]) != expected  # order counts
    assert sha256_files([("x", a), ("b", b)]) != expected  # so do the labels
    assert sha256_files([]) == EMPTY


def test_write_atomic_writes_text_and_bytes(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    write_atomic(path, "caf\u00e9\n")
    assert path.read_bytes() == b"caf\xc3\xa9\n"
    write_atomic(path, b"\x00\xff")
    assert path.read_bytes() == b"\x00\xff"
    write_atomic(path, "caf\u00e9", encoding="latin-1")
    assert path.read_bytes() == b"caf\xe9"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_failed_write_keeps_the_old_content_and_leaves_no_partial_file(tmp_path: Path) -> None:
    path = tmp_path / "ledger.json"
    write_atomic(path, "old")
    with pytest.raises(RuntimeError, match="disk full"), atomic_path(path) as temporary:
        temporary.write_text("half of the new cont")
        assert temporary.parent == tmp_path and temporary.name.startswith(".")
        raise RuntimeError("disk full")
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ledger.json"]

    with pytest.raises(UnicodeEncodeError):
        write_atomic(path, "\u2603", encoding="ascii")  # fails before anything is written
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ledger.json"]


def test_a_failed_first_write_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    with pytest.raises(OSError), atomic_path(path) as temporary:
        temporary.write_bytes(b"weights")
        raise OSError("killed")
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_replaces_with_what_the_writer_wrote(tmp_path: Path) -> None:
    path = tmp_path / "table.bin"
    path.write_bytes(b"before")
    with atomic_path(path) as temporary:
        temporary.write_bytes(b"after")
        assert path.read_bytes() == b"before"  # readers see the old file until the end
    assert path.read_bytes() == b"after"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.bin"]


def test_write_into_a_missing_folder_fails_without_creating_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_atomic(tmp_path / "absent" / "file.txt", "x")
    assert not (tmp_path / "absent").exists()
