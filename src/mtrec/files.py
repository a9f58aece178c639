"""Atomic writes and SHA-256 digests of files and text, written once for the whole package.

A write goes to a temporary file beside its target (same folder, so the same file system),
is flushed to disk, then renamed over the target with ``os.replace``: a reader sees the old
content or the new, never half a file, and a failed write leaves the old content and no
temporary file behind.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

_BLOCK = 1 << 20


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` for a writer that wants a file name (Parquet,
    safetensors, ``np.savez``): when the block ends, the file it wrote is flushed and replaces
    ``path``; when the block raises, the temporary file is removed and ``path`` is untouched.

    The temporary name is unique (concurrent writers of one target do not share it) and
    starts with a dot, so globs such as ``shard-*.npz`` never match it.
    """
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.partial")
    try:
        yield temporary
        with temporary.open("rb") as handle:  # fsync needs a descriptor, any mode
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_atomic(path: Path, data: str | bytes, encoding: str = "utf-8") -> None:
    """Write ``data`` (text is encoded with ``encoding``) to ``path`` atomically. The folder
    must exist."""
    payload = data.encode(encoding) if isinstance(data, str) else data
    with atomic_path(path) as temporary, temporary.open("xb") as handle:
        handle.write(payload)


def sha256_text(text: str) -> str:
    """Hex SHA-256 of ``text`` encoded as UTF-8."""
    return hashlib.sha256(text.encode()).hexdigest()


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    _update(digest, path)
    return digest.hexdigest()


def sha256_files(files: Iterable[tuple[str, Path]]) -> str:
    """Hex SHA-256 over several files in the given order, each as its label (a name or a
    relative path, UTF-8) followed by its bytes: renaming a file changes the digest too."""
    digest = hashlib.sha256()
    for label, path in files:
        digest.update(label.encode())
        _update(digest, path)
    return digest.hexdigest()


def _update(digest: hashlib._Hash, path: Path) -> None:
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            digest.update(block)
