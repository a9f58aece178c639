"""ZenML materializers for the retraining cycle's plan and record: JSON in the ledger's own
format, never pickle. Apart from :mod:`steps.materializers` because the plan's module imports
Great Expectations (seconds), which the training steps need not load."""

from __future__ import annotations

import json
import os
from typing import Any, ClassVar

from zenml.enums import ArtifactType
from zenml.materializers.base_materializer import BaseMaterializer

from mtrec.retrain.windows import CycleRecord, Window
from mtrec.workflows.retraining import CyclePlan
from steps.materializers import SourceAliasLoading, read_text, write_text

RECORD, PLAN = "cycle_record.json", "cycle_plan.json"


class CycleRecordMaterializer(SourceAliasLoading, BaseMaterializer):
    """A retraining cycle's record in the ledger's own JSON format (``CycleRecord.to_json``)."""

    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (CycleRecord,)
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[ArtifactType] = ArtifactType.DATA

    def load(self, data_type: type[Any]) -> CycleRecord:
        return CycleRecord.from_json(json.loads(read_text(os.path.join(self.uri, RECORD))))

    def save(self, data: CycleRecord) -> None:
        write_text(os.path.join(self.uri, RECORD), json.dumps(data.to_json(), indent=1))

    def extract_metadata(self, data: CycleRecord) -> dict[str, Any]:
        return {"window": data.window, "status": data.status}


class CyclePlanMaterializer(SourceAliasLoading, BaseMaterializer):
    """A cycle's plan as JSON: its kind, window, record (the ledger's format) and schedule."""

    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (CyclePlan,)
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[ArtifactType] = ArtifactType.DATA

    def load(self, data_type: type[Any]) -> CyclePlan:
        raw = json.loads(read_text(os.path.join(self.uri, PLAN)))
        return CyclePlan(
            kind=raw["kind"],
            window=Window(int(raw["window"]["start"]), int(raw["window"]["end"])),
            record=CycleRecord.from_json(raw["record"]),
            retrain_due=bool(raw["retrain_due"]),
            train_ends={str(k): int(v) for k, v in raw["train_ends"].items()},
        )

    def save(self, data: CyclePlan) -> None:
        plan = {
            "kind": data.kind,
            "window": {"start": data.window.start, "end": data.window.end},
            "record": data.record.to_json(),
            "retrain_due": data.retrain_due,
            "train_ends": data.train_ends,
        }
        write_text(os.path.join(self.uri, PLAN), json.dumps(plan, indent=1))
