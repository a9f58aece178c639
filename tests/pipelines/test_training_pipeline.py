"""The training pipeline through ZenML: a smoke run on tiny data, caching, validation stops,
and the real MovieLens-100k run."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import ROOT, make_interactions

import run as cli


def _write_config(folder: Path, encoder: Path | None, model_name: str, **data: object) -> Path:
    config = {
        "data": {
            "source": "generic",
            "root": str(folder),
            "cache_dir": str(folder / "cache"),
            **{k: str(v) for k, v in data.items()},
        },
        "validation": {"min_interactions_per_user": 5},
        "encoder": {
            "model_path": str(encoder) if encoder else None,
            "max_length": 16,
            "store_dir": str(folder / "embeddings"),
        },
        "model": {
            "embedding_dim": 8,
            "hidden_dims": [16],
            "tower_dims": [8],
            "tasks": {
                "watch": {"weight": 1.0},
                "like": {"weight": 0.5},
                "rating": {"weight": 0.2},
                "interest": {"weight": 0.2},
            },
        },
        "training": {"epochs": 2, "batch_size": 128, "patience": 2},
        "evaluation": {"ks": [5, 10], "recommendations_k": 10, "id_only_ablation": True},
        "drift": {"max_rows": 100},
        # Two epochs on 30 users do not beat popularity: the floor only asks for a non-zero
        # metric here (tests/registry/test_promotion.py tests the real floor).
        "registry": {"model_name": model_name, "min_lift_over_popularity": -1.0},
        "reports_dir": str(folder / "reports"),
    }
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def _tiny_dataset(folder: Path, **overrides: pd.DataFrame) -> dict[str, Path]:
    interactions, items, users = make_interactions(n_users=30, n_items=40, per_user=12)
    frames = {"interactions": interactions, "items": items, "users": users, **overrides}
    paths = {}
    for name, frame in frames.items():
        paths[name] = folder / f"{name}.csv"
        frame.to_csv(paths[name], index=False)
    return paths


def _versions(model_name: str) -> list[str]:
    from zenml.client import Client

    try:
        return [v.name for v in Client().list_model_versions(model_name, size=100).items]
    except KeyError:
        return []


def _production(model_name: str) -> str | None:
    from zenml.client import Client
    from zenml.enums import ModelStages

    try:
        return Client().get_model_version(model_name, ModelStages.PRODUCTION).name
    except KeyError:
        return None


def test_pipeline_trains_registers_and_caches(tmp_path, tiny_encoder_path, capsys):
    config = _write_config(tmp_path, tiny_encoder_path, "smoke", **_tiny_dataset(tmp_path))

    assert cli.main(["train", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    latest = tmp_path / "reports" / "latest"
    assert latest.is_symlink()
    assert "evaluation.html" in (tmp_path / "reports" / "index.html").read_text()
    pages = ("metrics.json", "recommendations_test.csv", "validation.html", "drift.html")
    for name in (*pages, "evaluation.html"):
        assert (latest / name).stat().st_size > 0, name
    metrics = json.loads((latest / "metrics.json").read_text())
    for key in ("ndcg@10", "recall@10", "hit@10", "mrr@10", "ndcg@5"):
        assert 0.0 <= metrics["test"][key] <= 1.0
        assert 0.0 <= metrics["baselines"]["popularity"][key] <= 1.0
    assert {"watch_auc", "like_auc", "rating_rmse", "interest_kl"} <= set(metrics["test"])
    # The interest task against its baselines, and every user's learned interests.
    forecast = metrics["interest"]
    assert set(forecast["kl"]) == {"model", "whole_history", "recent_history"}
    assert forecast["refit"] is True and forecast["users"] > 0
    assert all(value > 0 for value in forecast["kl"].values())
    interests = pd.read_csv(latest / "interests.csv")
    assert {"long_term_top", "recent_top", "shift", "latent_top", "predicted_top"} <= set(
        interests.columns
    )
    assert len(interests) == 30 and interests["latent_top"].str.contains("%").all()
    cold = metrics["slices"]["cold_items"]
    assert cold["max_train_interactions"] == 5 and cold["interactions"] >= 0
    id_only = metrics["ablations"]["id_only"]
    assert 0.0 <= id_only["test"]["ndcg@10"] <= 1.0
    assert id_only["training"]["best_epoch"] >= 1
    assert set(id_only["slices"]["cold_items"]) >= {"interactions", "users"}
    assert metrics["promotion"]["promote"] is True
    recommendations = pd.read_csv(latest / "recommendations_test.csv", dtype=str)
    assert list(recommendations.columns) == ["user_id", "item_id", "rank"]
    assert recommendations.groupby("user_id").size().eq(10).all()
    # The serving view: model and baselines refit on train + valid, scored on test.
    serving = metrics["serving"]
    assert serving["refit"] is True and 0.0 <= serving["test"]["ndcg@10"] <= 1.0
    assert set(serving["baselines"]) == set(metrics["baselines"]) >= {"popularity", "ease"}
    assert metrics["baseline_params"]["itemknn"]["params"]["k"] > 0
    serving_lists = pd.read_csv(latest / "recommendations_serving.csv", dtype=str)
    assert set(serving_lists["user_id"]) == set(recommendations["user_id"])
    assert recommendations["item_id"].str.startswith("i").all()
    assert "ndcg@10" in out and "popularity" in out
    versions = _versions("smoke")
    assert len(versions) == 1 and _production("smoke") == versions[0]

    output = tmp_path / "recs.csv"
    assert (
        cli.main(
            [
                "recommend",
                "--config",
                str(config),
                "--output",
                str(output),
                "--k",
                "3",
                "--users",
                "u0,u1,stranger",
            ]
        )
        == 0
    )
    recs = pd.read_csv(output, dtype=str)
    assert recs.groupby("user_id").size().to_dict() == {"stranger": 3, "u0": 3, "u1": 3}
    # The lists are also an artifact of the version that made them (a batch pipeline's run).
    from zenml.client import Client

    linked = Client().get_model_version("smoke", versions[0]).get_artifact("batch_recommendations")
    assert linked is not None
    pd.testing.assert_frame_equal(linked.load().astype(str), recs.astype(str))
    bad_events = tmp_path / "bad-events.csv"
    pd.DataFrame({"who": ["u0"], "what": ["i1"]}).to_csv(bad_events, index=False)
    assert (
        cli.main(
            [
                "recommend",
                "--config",
                str(config),
                "--output",
                str(output),
                "--events",
                str(bad_events),
            ]
        )
        == 2
    )
    assert "lacks columns ['item_id', 'user_id']" in capsys.readouterr().err
    assert set(recs.loc[recs["user_id"] == "stranger", "source"]) == {"popularity"}
    assert set(recs.loc[recs["user_id"] == "u0", "source"]) == {"model"}
    # What serves is the refit on every interaction; the evaluated model knows train only.
    version = Client().get_model_version("smoke", versions[0])
    served = version.get_artifact("served_recommender").load()
    evaluated = version.get_artifact("recommender").load()
    n_interactions = len(version.get_artifact("interactions").load())
    assert served.state_dict["history_items"].numel() == n_interactions
    assert evaluated.state_dict["history_items"].numel() == len(
        version.get_artifact("train").load()
    )
    # New interactions reach the lists with no retraining: they are not recommended again,
    # and the history input reads them.
    first = recs.loc[recs["user_id"] == "u0", "item_id"].tolist()
    events = tmp_path / "events.csv"
    pd.DataFrame({"user_id": "u0", "item_id": first}).to_csv(events, index=False)
    assert (
        cli.main(
            [
                "recommend",
                "--config",
                str(config),
                "--output",
                str(output),
                "--k",
                "3",
                "--users",
                "u0",
                "--events",
                str(events),
            ]
        )
        == 0
    )
    after = pd.read_csv(output, dtype=str)["item_id"].tolist()
    assert len(after) == 3 and not set(after) & set(first)
    profiles = tmp_path / "profiles.csv"
    pd.DataFrame({"user_id": ["newbie"], "text": ["loves sci-fi and the night"]}).to_csv(
        profiles, index=False
    )
    assert (
        cli.main(
            [
                "recommend",
                "--config",
                str(config),
                "--output",
                str(output),
                "--k",
                "3",
                "--users",
                "newbie,stranger",
                "--profiles",
                str(profiles),
            ]
        )
        == 0
    )
    recs = pd.read_csv(output, dtype=str)
    assert recs.groupby("user_id")["source"].first().to_dict() == {
        "newbie": "profile",
        "stranger": "popularity",
    }
    capsys.readouterr()

    started = time.perf_counter()
    assert cli.main(["train", "--config", str(config)]) == 0
    elapsed = time.perf_counter() - started
    out = capsys.readouterr().out
    assert "steps cached: 14/14" in out, out[-2000:]
    assert _versions("smoke") == versions, "a rerun of the same inputs must reuse its version"
    assert _production("smoke") == versions[0]
    print(f"cached rerun took {elapsed:.1f}s")

    # A training parameter change, here from the command line, reruns training and what
    # follows, nothing before it.
    assert cli.main(["train", "--config", str(config), "--set", "training.learning_rate=0.02"]) == 0
    out = capsys.readouterr().out
    cached_line = next(line for line in out.splitlines() if line.startswith("steps cached"))
    cached = set(cached_line.split("(", 1)[1].rstrip(")").split(", "))
    assert cached == {
        "load_data",
        "validate_data",
        "index_data",
        "split_data",
        "build_texts",
        "encode_texts",
        "mine_interests",
        "report_drift",
    }
    assert len(_versions("smoke")) == 2
    # The second version met production head to head: a paired bootstrap on shared users.
    promotion = json.loads((latest / "metrics.json").read_text())["promotion"]
    boot = promotion["evidence"]["bootstrap"]
    assert boot["users"] > 0 and boot["low"] <= boot["mean_difference"] <= boot["high"]
    assert ("beats" in promotion["reason"]) == promotion["promote"]
    assert (_production("smoke") == promotion["version"]) == promotion["promote"]


def test_pipeline_with_social_edges_and_declared_tasks(tmp_path, tiny_encoder_path, capsys):
    paths = _tiny_dataset(tmp_path)
    users = [f"u{i}" for i in range(30)]
    edges = pd.DataFrame({"user_id": users, "friend_id": users[1:] + users[:1]})
    edges = pd.concat(
        [edges, pd.DataFrame({"user_id": ["u0", "nobody"], "friend_id": ["u5", "u1"]})]
    )
    edges.to_csv(tmp_path / "edges.csv", index=False)
    config = _write_config(
        tmp_path, tiny_encoder_path, "social", **paths, edges=tmp_path / "edges.csv"
    )
    raw = yaml.safe_load(config.read_text())
    raw["model"]["tasks"] = {
        "watch": {"weight": 1.0},
        "rating": {"weight": 0.2},
        "influence": {"weight": 0.1, "window_days": 7},
        "friendship": {"weight": 0.5},
    }
    config.write_text(yaml.safe_dump(raw))

    assert cli.main(["train", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    metrics = json.loads((tmp_path / "reports" / "latest" / "metrics.json").read_text())
    assert {"watch_auc", "rating_rmse", "influence_rmse", "friendship_auc"} <= set(metrics["test"])
    assert "like_auc" not in metrics["test"]
    assert 0.0 <= metrics["test"]["friendship_auc"] <= 1.0
    top = metrics["top_users"]["influence"]
    assert len(top) == 10 and top[0]["measured"] >= top[-1]["measured"]
    assert "influence_rmse" in out and "friendship_auc" in out
    page = (tmp_path / "reports" / "latest" / "evaluation.html").read_text()
    assert "Most influential users" in page


@pytest.mark.parametrize(
    ("case", "expectation", "column"),
    [
        ("missing_column", "expect_column_to_exist", "rating"),
        ("rating_out_of_range", "expect_column_values_to_be_between", "rating"),
    ],
)
def test_bad_interactions_stop_at_validation(
    tmp_path, tiny_encoder_path, capsys, case, expectation, column
):
    interactions, _, _ = make_interactions(n_users=30, n_items=40, per_user=12)
    if case == "missing_column":
        interactions = interactions.drop(columns=["rating"])
    else:
        interactions.loc[[0, 5], "rating"] = 9.0
    model_name = f"bad-{case}"
    config = _write_config(
        tmp_path,
        tiny_encoder_path,
        model_name,
        **_tiny_dataset(tmp_path, interactions=interactions),
    )
    assert cli.main(["train", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert expectation in err and column in err
    if case == "rating_out_of_range":
        assert "9" in err
    else:  # the tasks that need the column are named, with the way out
        assert "read by tasks like, rating (model.tasks)" in err
    assert _versions(model_name) == []
    assert not (tmp_path / "reports" / "latest").exists()
    pages = list((tmp_path / "reports").glob("*/validation.html"))
    assert len(pages) == 1
    page = pages[0].read_text()
    assert expectation in page and "FAILED" in page


def test_an_implicit_log_without_ratings_trains_with_tasks_that_need_none(
    tmp_path, tiny_encoder_path, capsys
):
    interactions, _, _ = make_interactions(n_users=30, n_items=40, per_user=12)
    paths = _tiny_dataset(tmp_path, interactions=interactions.drop(columns=["rating"]))
    config = _write_config(tmp_path, tiny_encoder_path, "implicit", **paths)
    tasks = ["--set", "model.tasks={watch: {weight: 1.0}, interest: {weight: 0.2}}"]
    raw = yaml.safe_load(config.read_text())
    raw["model"].pop("tasks")  # the file's tasks read ratings; the command line declares others
    config.write_text(yaml.safe_dump(raw))
    assert cli.main(["train", "--config", str(config), *tasks]) == 0
    metrics = json.loads((tmp_path / "reports" / "latest" / "metrics.json").read_text())
    assert 0.0 < metrics["test"]["ndcg@10"] <= 1.0 and "watch_auc" in metrics["test"]
    assert not {"like_auc", "rating_rmse"} & set(metrics["test"])
    assert len(_versions("implicit")) == 1
    page = (tmp_path / "reports" / "latest" / "validation.html").read_text()
    assert "PASSED" in page
    capsys.readouterr()


@pytest.mark.parametrize("example", ["explicit", "implicit"])
def test_the_example_configs_run_as_the_quick_start_says(
    tmp_path, tiny_encoder_path, capsys, example
):
    config = ROOT / "configs" / "examples" / f"{example}.yaml"
    overrides = {  # the test's own folders and encoder; the data and settings are the example's
        "data.root": tmp_path,
        "data.cache_dir": tmp_path / "cache",
        "encoder.store_dir": tmp_path / "embeddings",
        "encoder.model_path": tiny_encoder_path,
        "reports_dir": tmp_path / "reports",
        "registry.model_name": f"example-{example}",
    }
    sets = [arg for key, value in overrides.items() for arg in ("--set", f"{key}={value}")]
    assert cli.main(["train", "--config", str(config), *sets]) == 0
    out = capsys.readouterr().out
    metrics = json.loads((tmp_path / "reports" / "latest" / "metrics.json").read_text())
    assert metrics["test"]["ndcg@10"] > 0 and metrics["interest"]["users"] == 60
    assert ("rating_rmse" in metrics["test"]) == (example == "explicit")
    assert "steps cached: 0/14" in out and len(_versions(f"example-{example}")) == 1


@pytest.mark.slow
def test_movielens_100k_end_to_end(tmp_path, capsys):
    """The real default run: MovieLens-100k, packaged MiniLM, full training."""
    config = yaml.safe_load((ROOT / "configs" / "default.yaml").read_text())
    config["reports_dir"] = str(tmp_path / "reports")
    config["registry"]["model_name"] = "ml100k-e2e"
    path = tmp_path / "default.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))  # the tasks' order is the model's

    assert cli.main(["train", "--config", str(path)]) == 0
    metrics = json.loads((tmp_path / "reports" / "latest" / "metrics.json").read_text())
    model, popularity = metrics["test"], metrics["baselines"]["popularity"]
    print(json.dumps({"model": model, "popularity": popularity}, indent=1))
    assert model["ndcg@10"] > popularity["ndcg@10"] * 1.15
    cold = metrics["slices"]["cold_items"]
    print(json.dumps({"cold_items": cold}))
    assert cold["interactions"] > 50
    assert 0.0 <= cold["model"]["recall@10"] <= 1.0
    assert "id_only" not in metrics.get("ablations", {})  # off by default: make compare has it
    assert model["recall@20"] > popularity["recall@20"]
    assert model["watch_auc"] > 0.75 and model["like_auc"] > 0.7 and model["rating_rmse"] < 1.1
    assert metrics["promotion"]["promote"] is True
    assert _production("ml100k-e2e") is not None
    recommendations = pd.read_csv(tmp_path / "reports" / "latest" / "recommendations_test.csv")
    assert recommendations["user_id"].nunique() == 943
    capsys.readouterr()

    assert cli.main(["train", "--config", str(path)]) == 0
    assert "steps cached: 14/14" in capsys.readouterr().out


def test_missing_encoder_path_is_refused_before_the_run(tmp_path, capsys):
    config = _write_config(
        tmp_path, tmp_path / "no-such-model", "no-encoder", **_tiny_dataset(tmp_path)
    )
    assert cli.main(["train", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "no-such-model" in err and "never downloaded" in err
    assert _versions("no-encoder") == []


def test_unreadable_data_file_names_the_file(tmp_path, capsys):
    paths = _tiny_dataset(tmp_path)
    paths["items"].write_bytes(b"item_id,title\n1,Caf\xe9 \xff\xfe\n")  # not UTF-8
    config = _write_config(tmp_path, None, "bad-bytes", **paths)
    # Refused before the run (README: Exit statuses), naming the file, the byte and the key.
    assert cli.main(["train", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "items.csv" in err and "not valid UTF-8" in err and "byte 0xe9" in err
    assert "set data.encoding: latin-1" in err
    assert _versions("bad-bytes") == []


def test_config_with_a_typo_is_rejected(tmp_path, capsys):
    path = tmp_path / "typo.yaml"
    path.write_text("trainig:\n  epochs: 3\n")
    assert cli.main(["train", "--config", str(path)]) == 2
    assert "trainig" in capsys.readouterr().err
