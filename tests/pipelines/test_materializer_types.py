"""Our materializers load an artifact stored as the same class under ``src.mtrec.*`` (the path
ZenML records for this package installed editable under the source root), and nothing else."""

from __future__ import annotations

import pytest

from mtrec.evaluation.interests import Topics
from mtrec.evaluation.results import EvaluationResult
from mtrec.models.serialization import TrainedModel
from mtrec.retrain.windows import CycleRecord
from steps.materializers import (
    EvaluationResultMaterializer,
    TopicsMaterializer,
    TrainedModelMaterializer,
)
from steps.retrain.materializers import CycleRecordMaterializer


def _alias(cls: type, module: str) -> type:
    return type(cls.__name__, (), {"__module__": module, "__qualname__": cls.__qualname__})


@pytest.mark.parametrize(
    ("materializer", "cls"),
    [
        (TopicsMaterializer, Topics),
        (TrainedModelMaterializer, TrainedModel),
        (CycleRecordMaterializer, CycleRecord),
        (EvaluationResultMaterializer, EvaluationResult),
    ],
)
def test_the_src_alias_of_our_class_loads_and_other_classes_do_not(materializer, cls):
    assert materializer.can_load_type(cls)
    assert materializer.can_load_type(_alias(cls, f"src.{cls.__module__}"))
    assert not materializer.can_load_type(_alias(cls, "elsewhere.module"))
    assert not materializer.can_load_type(type("Other", (), {"__module__": cls.__module__}))
