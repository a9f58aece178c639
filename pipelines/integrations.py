"""Which of ZenML's built-in integrations a run of these pipelines activates.

ZenML activates every installed integration when it compiles a pipeline, so that their
materializers are registered. Activating scikit-learn's imports scikit-learn (1.2-1.5 s on this
project's machines) and PyTorch's imports torch (about 1.6 s), in every run, a fully cached one
included, where nothing else needs them: the library imports scikit-learn inside the functions
that fit with it, and the steps import their torch-using library code when they run. No step
of these pipelines returns an estimator, a torch module or a data loader (the project's types
have the materializers of ``steps.materializers``), so both integrations are registered again
as ones whose activation registers nothing: defining a subclass of a ZenML integration
registers it under its ``NAME`` in place of the original (ZenML's ``IntegrationMeta``), so
importing this module is what does it.
"""

from __future__ import annotations

from zenml.integrations.integration import Integration
from zenml.integrations.pytorch import PytorchIntegration
from zenml.integrations.sklearn import SklearnIntegration


class SklearnWithoutMaterializers(SklearnIntegration):
    """ZenML's scikit-learn integration, still reported as installed, whose activation does
    not import its estimator materializer (nor, through it, scikit-learn)."""

    @classmethod
    def activate(cls) -> None:
        pass


class PytorchWithoutMaterializers(PytorchIntegration):
    """ZenML's PyTorch integration, still reported as installed, whose activation does not
    import its module and data-loader materializers (nor, through them, torch)."""

    @classmethod
    def activate(cls) -> None:
        pass


QUIET_INTEGRATIONS: tuple[type[Integration], ...] = (
    SklearnWithoutMaterializers,
    PytorchWithoutMaterializers,
)
"""Integrations activated without their materializers: they handle no type a step of these
pipelines returns (``tests/pipelines/test_integrations.py`` checks every step's outputs)."""
