"""Which of ZenML's built-in integrations a run of these pipelines activates.

ZenML activates every installed integration when it compiles a pipeline, so that their
materializers are registered. Activating scikit-learn's imports scikit-learn: 1.2-1.5 s on
this project's machines, in every run, a fully cached one included, where nothing else needs
it (the library imports it only inside the functions that fit with it). No step of these
pipelines returns an estimator, so the integration is registered again, through ZenML's
``register_integration``, as one whose activation registers nothing.
"""

from __future__ import annotations

from zenml.integrations.registry import integration_registry
from zenml.integrations.sklearn import SklearnIntegration


class SklearnWithoutMaterializers(SklearnIntegration):
    """ZenML's scikit-learn integration, still reported as installed, whose activation does
    not import its estimator materializer (nor, through it, scikit-learn)."""

    @classmethod
    def activate(cls) -> None:
        pass


QUIET_INTEGRATIONS: tuple[type[SklearnIntegration], ...] = (SklearnWithoutMaterializers,)
"""Integrations activated without their materializers: they handle no type a step of these
pipelines returns (``tests/pipelines/test_integrations.py`` checks every step's outputs)."""


def quiet_unused_integrations() -> None:
    """Register :data:`QUIET_INTEGRATIONS` in place of ZenML's own, so that compiling a
    pipeline in this process does not import what only their materializers need. Idempotent."""
    for integration in QUIET_INTEGRATIONS:
        integration_registry.register_integration(integration.NAME, integration)
