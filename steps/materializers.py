"""ZenML materializers for the project's own types, so none of them is pickled: trained models
(safetensors weights plus a JSON spec), item topics (npz plus JSON labels) and the evaluation
result (pydantic JSON); the retraining cycle's are in :mod:`steps.retrain.materializers`.
Data frames get :class:`FrameMaterializer`, registered here for every step."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from zenml.enums import ArtifactType
from zenml.integrations.pandas.materializers.pandas_materializer import PandasMaterializer
from zenml.io import fileio
from zenml.materializers.base_materializer import BaseMaterializer
from zenml.materializers.materializer_registry import materializer_registry
from zenml.materializers.pydantic_materializer import PydanticMaterializer

from mtrec.evaluation.interests import Topics
from mtrec.evaluation.results import EvaluationResult
from mtrec.models.serialization import (
    SPEC_FILE,
    WEIGHTS_FILE,
    TrainedModel,
    load_trained_model,
    save_trained_model,
)


class SourceAliasLoading:
    """Put before ``BaseMaterializer``: the materializer also loads an artifact whose stored
    type is its class imported as ``src.mtrec.*``. ZenML stores a type by its path under the
    source root, which for this package installed editable is ``src.mtrec...``, and loads an
    input typed ``X | None`` by that stored path: a second copy of the module. (A mixin, not a
    base class: ZenML refuses a materializer class without associated types.)"""

    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = ()

    @classmethod
    def can_load_type(cls, data_type: type[Any]) -> bool:
        return super().can_load_type(data_type) or any(  # type: ignore[misc]
            data_type.__qualname__ == known.__qualname__
            and data_type.__module__.removeprefix("src.") == known.__module__
            for known in cls.ASSOCIATED_TYPES
        )


def read_shared_strings(source: Any) -> pd.DataFrame:
    """``pd.read_parquet(source)``, the same frame, but a ``string`` column holds each distinct
    value once: read as it is, each row gets a Python string of its own, which for the id
    columns of a large log is most of the frame's memory. Such columns go through Arrow's
    dictionary encoding, so the strings are made once per distinct value."""
    table = pq.read_table(source)
    pandas_meta = json.loads((table.schema.metadata or {}).get(b"pandas", b"{}"))
    index_fields = {
        field for field in pandas_meta.get("index_columns", []) if isinstance(field, str)
    }
    strings = [
        (column["field_name"], column["name"])
        for column in pandas_meta.get("columns", [])
        if column.get("numpy_type") == "string"
        and column["field_name"] not in index_fields
        and pa.types.is_string(table.schema.field(column["field_name"]).type)
    ]
    for field, _ in strings:
        position = table.schema.get_field_index(field)
        table = table.set_column(position, field, table.column(field).dictionary_encode())
    frame = table.to_pandas()
    for _, name in strings:  # categorical after the encoding: back to strings, shared
        frame[name] = frame[name].astype("string")
    return frame


class FrameMaterializer(PandasMaterializer):
    """ZenML's pandas materializer with zstd instead of gzip Parquet: writing a 10M-row
    interaction frame takes 7 s instead of 68 s, at the same size on disk; each data step of a
    large log writes several. Loading shares equal strings (:func:`read_shared_strings`).
    Artifacts an earlier version wrote with gzip still load."""

    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (pd.DataFrame, pd.Series)
    FILENAME: ClassVar[str] = "df.parquet"

    def load(self, data_type: type[Any]) -> pd.DataFrame | pd.Series:
        path = os.path.join(self.uri, self.FILENAME)
        if not self.artifact_store.exists(path):
            return super().load(data_type)
        with self.artifact_store.open(path, mode="rb") as handle:
            frame = read_shared_strings(handle)
        if issubclass(data_type, pd.Series):
            return frame[frame.columns[0]]
        return frame

    def save(self, df: pd.DataFrame | pd.Series) -> None:
        frame = df.to_frame(name="series") if isinstance(df, pd.Series) else df
        with self.artifact_store.open(os.path.join(self.uri, self.FILENAME), mode="wb") as handle:
            frame.to_parquet(handle, compression="zstd")


# Every step's frames, not only those of steps that name it: ZenML otherwise picks the pandas
# integration's materializer, whichever of the two registers first.
for frame_type in FrameMaterializer.ASSOCIATED_TYPES:
    materializer_registry.register_and_overwrite_type(frame_type, FrameMaterializer)


class TrainedModelMaterializer(SourceAliasLoading, BaseMaterializer):
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


class TopicsMaterializer(SourceAliasLoading, BaseMaterializer):
    """Item topics as ``topics.npz`` (assignment, centroids, sizes) and ``labels.json``."""

    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (Topics,)
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[ArtifactType] = ArtifactType.DATA

    def load(self, data_type: type[Any]) -> Topics:
        with fileio.open(os.path.join(self.uri, "topics.npz"), "rb") as handle:
            arrays = np.load(io.BytesIO(handle.read()), allow_pickle=False)
            assignment, centroids, sizes = (arrays[k] for k in ("assignment", "centroids", "sizes"))
        labels = tuple(json.loads(read_text(os.path.join(self.uri, "labels.json"))))
        return Topics(assignment, centroids, labels, sizes)

    def save(self, data: Topics) -> None:
        buffer = io.BytesIO()
        np.savez(buffer, assignment=data.assignment, centroids=data.centroids, sizes=data.sizes)
        with fileio.open(os.path.join(self.uri, "topics.npz"), "wb") as handle:
            handle.write(buffer.getvalue())
        write_text(os.path.join(self.uri, "labels.json"), json.dumps(list(data.labels)))

    def extract_metadata(self, data: Topics) -> dict[str, Any]:
        return {"n_topics": data.n_topics, "n_items": data.n_items}


class EvaluationResultMaterializer(SourceAliasLoading, PydanticMaterializer):
    """The evaluation result as ZenML's pydantic JSON (NaN kept), loaded as this package's
    class whatever type path it was stored under."""

    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (EvaluationResult,)

    def load(self, data_type: type[Any]) -> EvaluationResult:
        result = super().load(EvaluationResult)
        assert isinstance(result, EvaluationResult)
        return result


def read_text(path: str) -> str:
    with fileio.open(path, "r") as handle:
        return str(handle.read())


def write_text(path: str, text: str) -> None:
    with fileio.open(path, "w") as handle:
        handle.write(text)
