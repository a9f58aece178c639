"""ZenML's scikit-learn and PyTorch integrations are activated without their materializers:
no step returns what those materializers handle, and compiling a pipeline imports neither
library for them (together about 3 s of every run, a fully cached one included)."""

from __future__ import annotations

import importlib
import os
import pkgutil
import subprocess
import sys
import typing
from pathlib import Path

import pytest
from zenml.steps import BaseStep

import pipelines
import steps
from pipelines.integrations import QUIET_INTEGRATIONS

ROOT = Path(__file__).resolve().parents[2]


def _all_steps() -> list[BaseStep]:
    for package in (steps, pipelines):
        for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            importlib.import_module(module.name)
    found = {
        id(value): value
        for name, module in list(sys.modules.items())
        if name.startswith("steps.")
        for value in vars(module).values()
        if isinstance(value, BaseStep)
    }
    return list(found.values())


def _classes(annotation: object) -> list[type]:
    """The classes an output annotation may hold (``X | None``, ``Annotated[X, ...]``...)."""
    if isinstance(annotation, type) and typing.get_origin(annotation) is None:
        return [annotation]
    return [cls for arg in typing.get_args(annotation) for cls in _classes(arg)]


def _associated_types(integration: str) -> tuple[type, ...]:
    module = importlib.import_module(f"zenml.integrations.{integration}.materializers")
    return tuple(
        cls
        for materializer in vars(module).values()
        if isinstance(materializer, type)
        for cls in getattr(materializer, "ASSOCIATED_TYPES", ())
    )


@pytest.mark.parametrize("integration", [cls.NAME for cls in QUIET_INTEGRATIONS])
def test_no_step_returns_a_type_of_a_quiet_integration(integration):
    handled = _associated_types(integration)
    assert handled, f"{integration}'s materializers handle no type: the check would pass vacuously"
    found = _all_steps()
    assert len(found) >= 20, [step.name for step in found]
    returned = {
        (step.name, name): _classes(output.resolved_annotation)
        for step in found
        for name, output in step.entrypoint_definition.outputs.items()
    }
    assert any(classes for classes in returned.values())
    clashes = {
        where: cls.__name__
        for where, classes in returned.items()
        for cls in classes
        if issubclass(cls, handled)
    }
    assert clashes == {}


@pytest.mark.parametrize(
    ("pipeline", "absent"),
    [
        # The warm `make pipeline`: neither library is loaded.
        ("pipelines.training", ["sklearn", "torch"]),
        # The comparison's and the cycle's data steps import torch-using library code.
        ("pipelines.comparison", ["sklearn"]),
        ("pipelines.retraining", ["sklearn"]),
        ("pipelines.batch_recommendation", ["sklearn"]),
    ],
)
def test_compiling_a_pipeline_imports_nothing_for_the_quiet_integrations(
    tmp_path, pipeline, absent
):
    from zenml.integrations.pytorch import PytorchIntegration
    from zenml.integrations.sklearn import SklearnIntegration

    # Installed: ZenML's own integrations would be activated and import their libraries.
    assert SklearnIntegration.check_installation() and PytorchIntegration.check_installation()
    script = tmp_path / "compile_pipeline.py"
    script.write_text(
        "import importlib, sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        f"importlib.import_module({pipeline!r})\n"
        "from zenml.integrations.registry import integration_registry\n"
        "integration_registry.activate_integrations()  # what compiling a pipeline does\n"
        "quiet = [integration_registry.integrations[n] for n in ('sklearn', 'pytorch')]\n"
        "installed = all(integration.check_installation() for integration in quiet)\n"
        f"print(installed, [name for name in {absent!r} if name in sys.modules])\n"
    )
    env = {**os.environ, "ZENML_CONFIG_PATH": str(tmp_path / "store")}
    done = subprocess.run(
        [sys.executable, str(script)], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "True []"  # installed, yet not imported
