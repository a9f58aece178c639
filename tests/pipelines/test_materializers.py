"""The project's own artifact types go through their JSON / npz materializers, never pickle:
each round trip gives back an equal value."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mtrec.evaluation.interests import Topics
from mtrec.retrain.windows import CycleDrift, CycleRecord, GateFigures, Window
from mtrec.workflows.retraining import CyclePlan
from steps.materializers import TopicsMaterializer
from steps.retrain.materializers import CyclePlanMaterializer, CycleRecordMaterializer

DAY = 86_400


def _record() -> CycleRecord:
    window = Window(10 * DAY, 11 * DAY)
    return CycleRecord(
        window=window.label(),
        window_start=window.start,
        window_end=window.end,
        production_version="v1",
        production_metric="ndcg@10",
        production_score=float("nan"),  # production knew none of the window's users
        drift=CycleDrift(drifted_share=0.25, drift_detected=False, n_drifted=1, n_columns=4),
        retrained=True,
        trigger="schedule",
        candidate_version="v2",
        candidate_metric="ndcg@10",
        candidate_score=0.2,
        promoted=True,
        gate=GateFigures(users=30, mean_difference=0.01, low=0.001, high=0.02),
        status="done",
    )


def test_topics_round_trip_as_arrays_and_labels(tmp_path):
    topics = Topics(
        assignment=np.array([0, 1, 1, 0]),
        centroids=np.eye(2, 3, dtype=np.float32),
        labels=("Drama, war", "Comedy"),
        sizes=np.array([2, 2]),
    )
    materializer = TopicsMaterializer(str(tmp_path))
    materializer.save(topics)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.json", "topics.npz"]
    again = materializer.load(Topics)
    assert again.labels == topics.labels
    for name in ("assignment", "centroids", "sizes"):
        np.testing.assert_array_equal(getattr(again, name), getattr(topics, name))
        assert getattr(again, name).dtype == getattr(topics, name).dtype
    assert materializer.extract_metadata(topics) == {"n_topics": 2, "n_items": 4}


def test_cycle_record_is_stored_in_the_ledger_format(tmp_path):
    record = _record()
    materializer = CycleRecordMaterializer(str(tmp_path))
    materializer.save(record)
    stored = json.loads((tmp_path / "cycle_record.json").read_text())
    assert stored["candidate_ndcg@10"] == 0.2 and stored["gate"]["users"] == 30
    again = materializer.load(CycleRecord)
    assert np.isnan(again.production_score)
    assert again.to_json().keys() == record.to_json().keys()
    assert again == CycleRecord(**{**record.__dict__, "production_score": again.production_score})


@pytest.mark.parametrize("kind", ["initial", "window"])
def test_cycle_plan_round_trip(tmp_path, kind):
    plan = CyclePlan(
        kind=kind,
        window=Window(10 * DAY, 11 * DAY),
        record=CycleRecord.for_window(Window(10 * DAY, 11 * DAY), "running"),
        retrain_due=kind == "initial",
        train_ends={"v1": 9 * DAY},
    )
    materializer = CyclePlanMaterializer(str(tmp_path))
    materializer.save(plan)
    assert materializer.load(CyclePlan) == plan


def test_evaluation_result_round_trips_as_json_and_loads_as_our_class(tmp_path):
    from zenml.client import Client

    from mtrec.evaluation.results import (
        ColdItemSlice,
        EvaluationResult,
        ServingMetrics,
        SliceBucket,
        Slices,
        TopUser,
    )
    from steps.materializers import EvaluationResultMaterializer

    result = EvaluationResult(
        valid={"ndcg@10": 0.3},
        test={"ndcg@10": 0.25, "like_auc": float("nan")},  # an AUC without both labels
        baselines={"popularity": {"ndcg@10": 0.2}},
        slices=Slices(
            cold_items=ColdItemSlice(max_train_interactions=5, interactions=0, users=0),
            user_activity=(SliceBucket(bucket="1-3", count=4, value=0.5),),
        ),
        serving=ServingMetrics(test={"ndcg@10": 0.28}, refit=True),
        top_users={
            "influence": (TopUser(user_id="u1", measured=2, predicted=1.5, interactions=3),)
        },
        rerank={"method": "none", "rows": [{"lam": 0.0, "ndcg": 0.25}]},
    )
    # ZenML's own materializer writes only inside the artifact store.
    uri = Path(Client().active_stack.artifact_store.path) / tmp_path.name
    uri.mkdir(parents=True)
    materializer = EvaluationResultMaterializer(str(uri))
    materializer.save(result)
    stored = (uri / "data_v2.json").read_text()
    assert '"like_auc": NaN' in stored and '"user_activity_ndcg@10"' in stored
    # Whatever type path the artifact was stored under (src.mtrec.* for an editable install).
    alias = type("EvaluationResult", (), {"__module__": "src.mtrec.evaluation.evaluate"})
    assert type(materializer.load(alias)) is EvaluationResult
    again = materializer.load(EvaluationResult)
    assert np.isnan(again.test["like_auc"])
    assert again.model_dump(exclude={"test"}) == result.model_dump(exclude={"test"})
    assert again.to_json().keys() == result.to_json().keys()
    assert "like_auc" in again.test and again.test["ndcg@10"] == 0.25


def test_frames_round_trip_as_zstd_parquet_for_every_step():
    from zenml.client import Client
    from zenml.integrations.pandas.materializers.pandas_materializer import PandasMaterializer
    from zenml.materializers.materializer_registry import materializer_registry

    from steps.materializers import FrameMaterializer

    assert materializer_registry[pd.DataFrame] is FrameMaterializer
    assert materializer_registry[pd.Series] is FrameMaterializer
    frame = pd.DataFrame(
        {
            "user_idx": np.array([0, 1, 1], dtype=np.int32),
            "rating": [4.0, np.nan, 2.5],
            "title": ["a", "b", None],
            "seen": pd.Categorical(["x", "y", "x"]),
        }
    )
    # The materializer reads and writes through the artifact store, inside its root only.
    root = Path(Client().active_stack.artifact_store.path) / "frame-test"
    new, old = root / "new", root / "old"
    new.mkdir(parents=True)
    old.mkdir()
    materializer = FrameMaterializer(str(new))
    materializer.save(frame)
    assert [p.name for p in new.iterdir()] == ["df.parquet"]
    pd.testing.assert_frame_equal(materializer.load(pd.DataFrame), frame)
    materializer.save(frame["rating"])
    pd.testing.assert_series_equal(materializer.load(pd.Series), frame["rating"].rename("series"))
    # Ids as the data steps type them: the same frame as pandas reads, each distinct string
    # held once (read as it is, every row gets a string object of its own).
    ids = pd.DataFrame(
        {"user_id": pd.array(["u1", "u2", "u1", None, "u1"], dtype="string"), "x": range(5)},
        index=pd.Index([5, 6, 7, 8, 9], name="row"),
    )
    materializer.save(ids)
    loaded = materializer.load(pd.DataFrame)
    pd.testing.assert_frame_equal(loaded, ids)
    pd.testing.assert_frame_equal(loaded, pd.read_parquet(new / "df.parquet"))
    assert len({id(value) for value in loaded["user_id"].dropna()}) == 2
    # An artifact the pandas integration wrote (gzip Parquet) still loads.
    PandasMaterializer(str(old)).save(frame)
    pd.testing.assert_frame_equal(FrameMaterializer(str(old)).load(pd.DataFrame), frame)
