"""ZenML materializer for trained models: safetensors weights plus a JSON spec, never pickle."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

from zenml.enums import ArtifactType
from zenml.io import fileio
from zenml.materializers.base_materializer import BaseMaterializer

from mtrec.models.serialization import (
    SPEC_FILE,
    WEIGHTS_FILE,
    TrainedModel,
    load_trained_model,
    save_trained_model,
)


class TrainedModelMaterializer(BaseMaterializer):
    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (TrainedModel,)
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[ArtifactType] = ArtifactType.MODEL

    def load(self, data_type: type[Any]) -> TrainedModel:
        with self.get_temporary_directory(delete_at_exit=True) as tmp:
            for name in (WEIGHTS_FILE, SPEC_FILE):
                fileio.copy(os.path.join(self.uri, name), os.path.join(tmp, name), overwrite=True)
            return load_trained_model(Path(tmp))

    def save(self, data: TrainedModel) -> None:
        with self.get_temporary_directory(delete_at_exit=True) as tmp:
            save_trained_model(data, Path(tmp))
            for name in (WEIGHTS_FILE, SPEC_FILE):
                fileio.copy(os.path.join(tmp, name), os.path.join(self.uri, name), overwrite=True)

    def extract_metadata(self, data: TrainedModel) -> dict[str, Any]:
        n_parameters = sum(int(t.numel()) for t in data.state_dict.values())
        return {
            "n_users": data.spec.n_users,
            "n_items": data.spec.n_items,
            "n_tensor_values": n_parameters,
            "tasks": ",".join(data.spec.tasks),
        }
