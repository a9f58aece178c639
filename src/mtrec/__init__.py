"""mtrec: multi-task recommenders enriched by language-model features."""

from __future__ import annotations

import hashlib
from pathlib import Path


def code_fingerprint() -> str:
    """SHA-256 over every module of the ``mtrec`` package, in path order: results computed by
    one version of the code are never taken for another's."""
    root = Path(__file__).parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
