"""mtrec: multi-task recommenders enriched by language-model features."""

from __future__ import annotations

from pathlib import Path

from mtrec.files import sha256_files


def code_fingerprint() -> str:
    """SHA-256 over every module of the ``mtrec`` package, in path order: results computed by
    one version of the code are never taken for another's."""
    root = Path(__file__).parent
    modules = sorted(root.rglob("*.py"))
    return sha256_files((str(path.relative_to(root)), path) for path in modules)[:16]
