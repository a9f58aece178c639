"""The library's layers: which subpackage may import which. Lower layers never import higher
ones, training and evaluation are siblings (neither imports the other: the fit-and-validate
sequence lives above both, in ``workflows``), and nothing in ``src/mtrec`` imports zenml or the
project's ZenML side (steps, pipelines, the command line, the web layer)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "mtrec"
BASE = {"config", "files", "numerics", "locking"}
ALLOWED = {
    "__init__": BASE,
    "config": set(),
    "files": set(),
    "numerics": set(),
    "locking": set(),
    "data": BASE,
    "features": BASE,
    "models": BASE | {"data"},
    "training": BASE | {"data", "models"},
    "evaluation": BASE | {"data", "models"},
    "registry": BASE | {"data", "features", "models", "evaluation"},
    "reports": BASE | {"data", "training", "evaluation"},
    "retrain": BASE | {"data", "models", "evaluation", "registry"},
    "serving": BASE | {"data", "features", "models", "evaluation", "registry"},
    "workflows": BASE
    | {"data", "features", "models", "training", "evaluation", "registry", "reports", "retrain"},
}
FORBIDDEN_ROOTS = {"zenml", "steps", "pipelines", "mtrec_cli", "serving"}


def imports_by_subpackage() -> dict[str, set[str]]:
    """Subpackage (or top-level module) -> the other subpackages and outside roots it imports,
    module-level and function-level imports alike."""
    found: dict[str, set[str]] = defaultdict(set)
    for path in SRC.rglob("*.py"):
        owner = path.relative_to(SRC).parts[0].removesuffix(".py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                parts = name.split(".")
                if parts[0] == "mtrec" and len(parts) > 1 and parts[1] != owner:
                    found[owner].add(parts[1])
                elif parts[0] in FORBIDDEN_ROOTS:
                    found[owner].add(f"<{parts[0]}>")
    return found


def test_every_subpackage_is_declared_in_the_layer_map():
    packages = {p.relative_to(SRC).parts[0].removesuffix(".py") for p in SRC.rglob("*.py")}
    assert packages == set(ALLOWED), packages ^ set(ALLOWED)


def test_no_subpackage_imports_a_higher_layer_or_the_zenml_side():
    found = imports_by_subpackage()
    assert found["workflows"], "the scan found no imports at all: it is broken"
    breaches = {
        owner: sorted(names - ALLOWED[owner])
        for owner, names in found.items()
        if names - ALLOWED[owner]
    }
    assert breaches == {}


def test_training_and_evaluation_are_siblings():
    found = imports_by_subpackage()
    assert "evaluation" not in found["training"] and "training" not in found["evaluation"]
