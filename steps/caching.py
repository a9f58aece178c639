"""Cache keys that follow the library code, not only the step bodies.

ZenML hashes a step's own source; the logic lives in ``mtrec``, so a change there must also
invalidate cached results.
"""

from __future__ import annotations

from zenml.config.cache_policy import CachePolicy

import mtrec


def library_code_hash() -> str:
    """SHA-256 over every module of the ``mtrec`` package, in path order."""
    return mtrec.code_fingerprint()


LIBRARY_CACHE_POLICY = CachePolicy(cache_func=library_code_hash)
