"""Cache keys that follow the library code, not only the step bodies.

ZenML hashes a step's own source; the logic lives in ``mtrec``, so a change there must also
invalidate cached results.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from zenml.config.cache_policy import CachePolicy

import mtrec


def library_code_hash() -> str:
    """SHA-256 over every module of the ``mtrec`` package, in path order."""
    root = Path(mtrec.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


LIBRARY_CACHE_POLICY = CachePolicy(cache_func=library_code_hash)
