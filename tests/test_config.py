"""Every YAML config loads into RunConfig; typos and invalid values are rejected on load."""

import tomllib
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from mtrec.config import (
    ConfigLoader,
    ModelConfig,
    RunConfig,
    TaskConfig,
    load_config,
    metric_direction,
)

ROOT = Path(__file__).resolve().parents[1]
STACK_FILES = sorted((ROOT / "configs" / "stacks").glob("*.yaml"))
CONFIG_FILES = sorted(set((ROOT / "configs").glob("**/*.yaml")) - set(STACK_FILES))


def _write(tmp_path: Path, raw: dict) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def test_configs_folder_is_not_empty() -> None:
    assert CONFIG_FILES, "no YAML files found under configs/"


@pytest.mark.parametrize("path", CONFIG_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_yaml_config_loads(path: Path) -> None:
    config = load_config(path)
    assert isinstance(config, RunConfig)
    raw = yaml.load(path.read_text(encoding="utf-8"), Loader=ConfigLoader) or {}
    # Every top-level section named in the file is a field of RunConfig and was read as such.
    assert set(raw) - {"base"} <= set(RunConfig.model_fields)
    assert "watch" in config.model.tasks
    assert abs(sum(config.split.ratios) - 1.0) < 1e-6


def test_default_yaml_values_are_read() -> None:
    config = load_config(ROOT / "configs" / "default.yaml")
    assert config.data.source == "movielens_100k"
    assert config.split.ratios == (0.8, 0.1, 0.1)
    assert config.evaluation.ks == (10, 20)
    assert config.model.hidden_dims == (128, 64)
    assert config.model.tasks["like"].weight == 0.5
    assert config.training.learning_rate == pytest.approx(0.01)
    assert config.encoder.model_path is None
    # default.yaml spells out the class defaults (reading one documents the other), and
    # declares the interest task, which the class default leaves out (it needs item topics).
    assert config.model.tasks["interest"] == TaskConfig(
        kind="interest", label="topics", weight=0.2, horizon=10
    )
    tasks = {name: task for name, task in config.model.tasks.items() if name != "interest"}
    # ... and turns the item-item component on, which the class default leaves off: a model
    # configured in code is the network alone unless it asks for the component.
    assert config.model.item_item.enabled and not RunConfig().model.item_item.enabled
    item_item = config.model.item_item.model_copy(update={"enabled": False})
    model = config.model.model_copy(update={"tasks": tasks, "item_item": item_item})
    assert config.model_copy(update={"model": model}) == RunConfig()


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("", encoding="utf-8")
    assert load_config(path) == RunConfig()


def test_unknown_top_level_key_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="trainig") as info:
        load_config(_write(tmp_path, {"trainig": {"epochs": 3}}))
    assert "Extra inputs are not permitted" in str(info.value)


def test_unknown_nested_key_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"training\.epoch\b") as info:
        load_config(_write(tmp_path, {"training": {"epoch": 3}}))
    assert "Extra inputs are not permitted" in str(info.value)


def test_unknown_key_inside_a_task_is_rejected(tmp_path: Path) -> None:
    raw = {"model": {"tasks": {"watch": {"weight": 1.0, "wieght": 2.0}}}}
    with pytest.raises(ValidationError, match="wieght"):
        load_config(_write(tmp_path, raw))


def test_unknown_task_name_is_rejected(tmp_path: Path) -> None:
    raw = {"model": {"tasks": {"watch": {"weight": 1.0}, "click": {"weight": 1.0}}}}
    with pytest.raises(ValidationError, match="click"):
        load_config(_write(tmp_path, raw))


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n", encoding="utf-8")
    with pytest.raises(ValueError, match="mapping"):
        load_config(path)


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ({"training": {"learning_rate": -0.01}}, "learning_rate"),
        ({"training": {"learning_rate": 0.0}}, "learning_rate"),
        ({"training": {"learning_rate_decay": 0.0}}, "learning_rate_decay"),
        ({"training": {"learning_rate_decay": 1.5}}, "learning_rate_decay"),
        ({"encoder": {"pack_tokens": 32, "max_length": 64}}, "pack_tokens \\(32\\) must be 0"),
        ({"encoder": {"pack_tokens": -1}}, "pack_tokens"),
        ({"training": {"epochs": 0}}, "epochs"),
        ({"evaluation": {"ks": [10, 0]}}, "evaluation.ks must be positive"),
        ({"evaluation": {"ks": []}}, "evaluation.ks must be positive"),
        (
            {"model": {"tasks": {"watch": {"weight": 0.0}, "like": {"weight": 0.0}}}},
            "weights are all zero",
        ),
        ({"model": {"tasks": {"like": {"weight": 1.0}}}}, "exactly one task of kind 'ranking'"),
        ({"model": {"tasks": {"watch": {"weight": -1.0}}}}, "weight"),
        ({"split": {"ratios": [0.8, 0.1, 0.2]}}, "sum to 1"),
        ({"split": {"ratios": [0.0, 0.5, 0.5]}}, "sum to 1"),
        ({"split": {"ratios": [1.2, -0.1, -0.1]}}, "non-negative"),
        ({"split": {"order": "shuffled"}}, r"split\.order"),
        ({"evaluation": {"baseline_max_memory_mb": 0}}, "baseline_max_memory_mb"),
        ({"evaluation": {"baselines": ["popularity", "svd"]}}, "baselines"),
        ({"validation": {"rating_min": 5, "rating_max": 5}}, "rating_min must be below"),
        ({"validation": {"rating_min": 6, "rating_max": 5}}, "rating_min must be below"),
        (
            {"validation": {"timestamp_min": 100, "timestamp_max": 100}},
            "timestamp_max must be after",
        ),
        ({"split": {"strategy": "time"}}, "needs split.valid_start and test_start"),
        ({"split": {"strategy": "time", "valid_start": 10}}, "needs split.valid_start"),
        (
            {"split": {"strategy": "time", "valid_start": 20, "test_start": 10}},
            "valid_start must not be after",
        ),
        ({"split": {"strategy": "predefined", "train_file": "a.csv"}}, "predefined' needs"),
        ({"data": {"source": "generic"}}, "needs data.interactions and data.items"),
        ({"data": {"source": "generic", "interactions": "i.csv"}}, "needs data.interactions"),
        ({"data": {"source": "grouplens"}}, "needs data.path"),
        ({"data": {"source": "kaggle"}}, "source"),
        ({"data": {"encoding": "utf-9"}}, "'utf-9' is not a known text encoding"),
        ({"data": {"delimiter": "\\t"}}, "delimiter"),  # YAML '\t': two characters, not a tab
        ({"encoder": {"max_length": 4}}, "max_length"),
        ({"model": {"dropout": 1.0}}, "dropout"),
        ({"model": {"tasks": {"watch": {}, "w2": {"kind": "ranking"}}}}, "found 2"),
        (
            {"model": {"tasks": {"watch": {}, "x": {"kind": "binary", "label": "rating"}}}},
            "needs a threshold",
        ),
        (
            {"model": {"tasks": {"watch": {}, "x": {"kind": "binary", "label": "interaction"}}}},
            "needs kind 'ranking'",
        ),
        (
            {
                "model": {
                    "tasks": {
                        "watch": {},
                        "x": {"kind": "binary", "label": "influence", "threshold": 1},
                    }
                }
            },
            "regression target",
        ),
        (
            {
                "model": {
                    "tasks": {
                        "watch": {},
                        "x": {"kind": "regression", "label": "rating", "metric": "auc"},
                    }
                }
            },
            "does not fit kind",
        ),
        (
            {
                "model": {
                    "tasks": {"watch": {}, "bad name": {"kind": "regression", "label": "rating"}}
                }
            },
            "identifier",
        ),
        ({"model": {"tasks": {"watch": {}, "x": {"kind": "ordinal"}}}}, "kind"),
        ({"training": {"monitor": "ndcg"}}, "training.monitor"),
        ({"training": {"monitor": "like_rmse"}}, "training.monitor"),
    ],
)
def test_invalid_values_are_rejected(tmp_path: Path, raw: dict, needle: str) -> None:
    with pytest.raises(ValidationError, match=needle):
        load_config(_write(tmp_path, raw))


def test_valid_variants_are_accepted(tmp_path: Path) -> None:
    raw = {
        "data": {"source": "generic", "interactions": "i.csv", "items": "m.parquet"},
        "split": {"strategy": "time", "valid_start": 10, "test_start": 10},
        "evaluation": {"ks": [20, 5, 20]},
        "model": {"tasks": {"watch": {"weight": 0.0}, "rating": {"weight": 1.0}}},
    }
    config = load_config(_write(tmp_path, raw))
    assert config.data.interactions == Path("i.csv")
    assert config.data.users is None
    assert config.split.valid_start == config.split.test_start == 10
    assert config.evaluation.ks == (5, 20)  # sorted and de-duplicated
    assert set(config.model.tasks) == {"watch", "rating"}


def test_config_is_frozen() -> None:
    config = RunConfig()
    with pytest.raises(ValidationError):
        config.training.epochs = 3  # type: ignore[misc]


def test_missing_file_raises_file_not_found(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        load_config(missing)


def test_promotion_metric_must_be_computed(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="is not computed"):
        load_config(_write(tmp_path, {"registry": {"promotion_metric": "test.ndcg@50"}}))
    with pytest.raises(ValidationError, match="must look like"):
        load_config(_write(tmp_path, {"registry": {"promotion_metric": "ndcg"}}))
    # valid always has NDCG@10 (early stopping reads it), whatever the evaluation ks.
    config = load_config(
        _write(
            tmp_path, {"evaluation": {"ks": [5]}, "registry": {"promotion_metric": "valid.ndcg@10"}}
        )
    )
    assert config.evaluation.ks == (5,)


def test_tasks_are_declared_and_builtins_fill_in() -> None:
    config = ModelConfig.model_validate(
        {
            "tasks": {
                "watch": {"weight": 2.0},
                "influence": {"weight": 0.1, "window_days": 7},
                "loved": {"kind": "binary", "label": "rating", "threshold": 5},
            }
        }
    )
    watch, influence, loved = (config.tasks[n] for n in ("watch", "influence", "loved"))
    assert (watch.kind, watch.label, watch.weight) == ("ranking", "interaction", 2.0)
    assert (influence.kind, influence.label, influence.window_days) == (
        "regression",
        "influence",
        7,
    )
    assert influence.user_level and not loved.user_level
    assert (loved.task_metric, loved.direction) == ("auc", "max")
    assert (influence.task_metric, influence.direction) == ("rmse", "min")
    assert config.ranking_task == "watch"


@pytest.mark.parametrize(
    ("metric", "direction"),
    [
        ("ndcg@10", "max"),
        ("valid.recall@20", "max"),
        ("watch_auc", "max"),
        ("rating_rmse", "min"),
        ("influence_rmse", "min"),
        ("loss", "min"),
    ],
)
def test_metric_direction(metric: str, direction: str) -> None:
    assert metric_direction(metric) == direction


def test_monitor_may_be_a_task_metric() -> None:
    config = RunConfig.model_validate({"training": {"monitor": "rating_rmse"}})
    assert config.training.monitor == "rating_rmse"


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ({"data": {"cache_dir": "data/../../outside"}}, "data.cache_dir"),
        ({"data": {"cache_dir": "/tmp"}}, "data.cache_dir"),
        ({"encoder": {"store_dir": "data/cache/../../.."}}, "encoder.store_dir"),
        ({"data": {"root": "data/cache/embeddings"}}, "data.cache_dir"),
    ],
)
def test_write_folders_may_not_escape_the_data_folder(tmp_path: Path, raw: dict, name: str):
    with pytest.raises(ValidationError, match=f"{name} .* outside the data folder"):
        load_config(_write(tmp_path, raw))


def test_a_symlink_out_of_the_data_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "data" / "link").symlink_to(tmp_path / "elsewhere")
    raw = {
        "data": {"root": str(tmp_path / "data"), "cache_dir": str(tmp_path / "data" / "link")},
        "encoder": {"store_dir": None},
    }
    with pytest.raises(ValidationError, match="data.cache_dir"):
        load_config(_write(tmp_path, raw))
    raw["data"]["cache_dir"] = str(tmp_path / "data" / "cache" / "nested")
    assert load_config(_write(tmp_path, raw)).data.cache_dir.name == "nested"


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda p: p.name)
def test_stack_run_configurations_are_valid_for_zenml(path: Path) -> None:
    from zenml.config.pipeline_run_configuration import PipelineRunConfiguration

    run_config = PipelineRunConfiguration.model_validate(yaml.safe_load(path.read_text()))
    assert run_config.schedule is not None
    minute, hour, day, month, weekday = run_config.schedule.cron_expression.split()
    assert minute.isdigit() and hour.isdigit() and weekday != "*"  # a weekly retrain


def test_retrain_config_replays_weekly_windows_under_its_own_model_name() -> None:
    config = load_config(ROOT / "configs" / "retrain.yaml")
    default = load_config(ROOT / "configs" / "default.yaml")
    assert config.retrain.window_days == 7 and config.retrain.every_windows >= 1
    assert config.registry.model_name != default.registry.model_name
    assert config.model == default.model  # the same model, on a timeline


def test_kubernetes_gpu_settings_are_valid_and_pair_with_the_multi_gpu_config() -> None:
    from zenml.config.pipeline_run_configuration import PipelineRunConfiguration
    from zenml.config.resource_settings import ResourceSettings
    from zenml.integrations.kubernetes.pod_settings import KubernetesPodSettings

    raw = yaml.safe_load((ROOT / "configs" / "stacks" / "kubernetes.yaml").read_text())
    run_config = PipelineRunConfiguration.model_validate(raw)
    train_settings = run_config.steps["train_model"].settings
    gpus = ResourceSettings.model_validate(train_settings["resources"].model_dump()).gpu_count
    # Converting pod settings needs the kubernetes client, which is not installed here, and
    # they accept unknown keys, so a typo would pass silently: check the names instead.
    pod = raw["steps"]["train_model"]["settings"]["orchestrator.kubernetes"]["pod_settings"]
    assert set(pod) <= set(KubernetesPodSettings.model_fields)
    assert pod["host_ipc"] is True
    assert pod["resources"]["limits"]["nvidia.com/gpu"] == str(gpus)
    config = load_config(ROOT / "configs" / "multi_gpu.yaml")
    assert (config.training.nproc, config.training.device) == (gpus, "cuda")
    assert config.model == load_config(ROOT / "configs" / "default.yaml").model


def test_rerank_and_interests_sections_are_read_and_checked(tmp_path: Path) -> None:
    raw = {
        "rerank": {"method": "dpp", "lambda": 0.3, "candidates": 50, "grid": [0.5, 0.0, 0.5]},
        "interests": {"topics": 8, "recent_n": 10, "recent_days": 30},
    }
    config = load_config(_write(tmp_path, raw))
    assert (config.rerank.method, config.rerank.lam, config.rerank.candidates) == ("dpp", 0.3, 50)
    assert config.rerank.grid == (0.0, 0.5)  # sorted and de-duplicated
    assert (config.interests.topics, config.interests.recent_days) == (8, 30.0)
    # A dumped config validates again (the CLI's backtest rebuilds configs that way).
    assert RunConfig.model_validate(config.model_dump()) == config
    bad = [
        ({"rerank": {"method": "xquad"}}, "method"),
        ({"rerank": {"lambda": 1.5}}, "lambda"),
        ({"rerank": {"candidates": 0}}, "candidates"),
        ({"rerank": {"grid": [0.1, 0.5]}}, "must include 0.0"),
        ({"rerank": {"grid": [0.0, 2.0]}}, r"must lie in \[0, 1\]"),
        ({"rerank": {"lamda": 0.2}}, "lamda"),
        ({"interests": {"topics": 0}}, "topics"),
        ({"interests": {"recent_days": 0}}, "recent_days"),
        ({"interests": {"window": 3}}, "window"),
    ]
    for entry, needle in bad:
        with pytest.raises(ValidationError, match=needle):
            load_config(_write(tmp_path, entry))


def test_a_variant_config_extends_its_base_and_overrides_apply_last(tmp_path: Path) -> None:
    (tmp_path / "shared").mkdir()
    base = {
        "training": {"epochs": 12, "learning_rate": 0.02},
        "evaluation": {"ks": [5, 10]},
        "model": {
            "tasks": {
                "watch": {"kind": "ranking", "label": "interaction"},
                "rating": {"kind": "regression", "label": "rating"},
            }
        },
    }
    (tmp_path / "shared" / "base.yaml").write_text(yaml.safe_dump(base), encoding="utf-8")
    variant = {
        "base": "shared/base.yaml",
        "training": {"epochs": 3},
        "evaluation": {"ks": [20]},
        "model": {"tasks": {"rating": {"weight": 0.5}}},
    }
    path = _write(tmp_path, variant)
    config = load_config(path)
    # Mappings merge key by key; lists and scalars replace.
    assert (config.training.epochs, config.training.learning_rate) == (3, 0.02)
    assert config.evaluation.ks == (20,)
    assert config.model.tasks["rating"].weight == 0.5
    assert config.model.tasks["rating"].label == "rating"
    assert set(config.model.tasks) == {"watch", "rating"}
    # --set values are YAML: numbers, lists, booleans, null; intermediate sections are made.
    config = load_config(
        path,
        [
            "training.epochs=7",
            "evaluation.ks=[10, 50]",
            "model.use_text=false",
            "interests.recent_days=30",
            "encoder.model_path=null",
        ],
    )
    assert (config.training.epochs, config.evaluation.ks) == (7, (10, 50))
    assert config.model.use_text is False and config.interests.recent_days == 30.0
    assert config.encoder.model_path is None
    # A typo in an override is rejected like one in a file, naming the key.
    with pytest.raises(ValidationError, match="epoch"):
        load_config(path, ["training.epoch=3"])
    with pytest.raises(ValidationError, match="epochs"):
        load_config(path, ["training.epochs=many"])
    with pytest.raises(ValueError, match="section.key=value"):
        load_config(path, ["training.epochs"])
    with pytest.raises(ValueError, match="training.epochs is 3, not a section"):
        load_config(path, ["training.epochs.max=3"])


def test_a_mapping_tagged_replace_replaces_the_base_s(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text(yaml.safe_dump({"model": {"embedding_dim": 16}}))
    path = tmp_path / "variant.yaml"
    path.write_text(
        "base: base.yaml\nmodel:\n  tasks: !replace\n    watch: {kind: ranking}\n", encoding="utf-8"
    )
    config = load_config(path)
    assert list(config.model.tasks) == ["watch"] and config.model.embedding_dim == 16
    assert config.model.label_columns() == {}  # an implicit log's tasks read no column
    implicit = load_config(ROOT / "configs" / "examples" / "implicit.yaml")
    assert list(implicit.model.tasks) == ["watch", "interest"]


def test_config_bases_that_are_missing_or_loop_are_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nowhere.yaml \(the base of .*run.yaml\)"):
        load_config(_write(tmp_path, {"base": "nowhere.yaml"}))
    (tmp_path / "a.yaml").write_text("base: b.yaml\n", encoding="utf-8")
    (tmp_path / "b.yaml").write_text("base: a.yaml\n", encoding="utf-8")
    with pytest.raises(ValueError, match="config base loop: .*a.yaml -> .*b.yaml -> .*a.yaml"):
        load_config(tmp_path / "a.yaml")
    with pytest.raises(ValueError, match="base must be a file path"):
        load_config(_write(tmp_path, {"base": ["a.yaml"]}))


def test_the_variant_configs_hold_only_their_differences() -> None:
    default = load_config(ROOT / "configs" / "default.yaml")
    cold = load_config(ROOT / "configs" / "cold_start.yaml")
    assert cold.split.strategy == "cold_items" and cold.model.dropout == 0.0
    assert cold.model.tasks == default.model.tasks and cold.rerank == default.rerank
    for name in ("cold_start", "retrain", "multi_gpu", "examples/explicit", "examples/implicit"):
        text = (ROOT / "configs" / f"{name}.yaml").read_text(encoding="utf-8")
        assert text.count("\nbase: ") == 1 and "default.yaml" in text
        assert len(text.splitlines()) <= 25, f"{name}.yaml repeats its base"


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda p: p.name)
def test_stack_images_install_the_project_and_leave_local_state_out(path: Path) -> None:
    """The Dockerfile ZenML renders from a stack's docker settings installs this project (and
    with it pyproject.toml's pinned dependencies) after copying the source root, and the
    build context skips the virtual environment, the ZenML store and the data caches."""
    from zenml.config import DockerSettings
    from zenml.utils.pipeline_docker_image_builder import PipelineDockerImageBuilder

    settings = DockerSettings.model_validate(yaml.safe_load(path.read_text())["settings"]["docker"])
    dockerfile = PipelineDockerImageBuilder._generate_zenml_pipeline_dockerfile(
        parent_image=settings.parent_image or "zenmldocker/zenml:0.98.0-py3.11",
        docker_settings=settings,
    ).splitlines()
    install = dockerfile.index("RUN pip install --no-cache-dir .")
    assert dockerfile.index("COPY . .") < install
    assert "ENV HF_HUB_OFFLINE='1'" in dockerfile
    assert settings.requirements is None  # nothing refers to a lock file the repo lacks
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv/", ".zenml/", "data/cache/", "reports/", ".git/"} <= set(ignored)
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "torch==2.13.0" in dependencies["dependencies"]


@pytest.mark.parametrize(
    ("text", "name", "k", "split", "key", "ranking", "direction"),
    [
        ("valid.ndcg@10", "ndcg", 10, "valid", "ndcg@10", True, "max"),
        ("ndcg@20", "ndcg", 20, None, "ndcg@20", True, "max"),
        ("test.rating_rmse", "rating_rmse", None, "test", "rating_rmse", False, "min"),
        ("interest_kl", "interest_kl", None, None, "interest_kl", False, "min"),
        ("watch_auc", "watch_auc", None, None, "watch_auc", False, "max"),
    ],
)
def test_a_metric_reference_is_parsed_once_into_its_parts(
    text, name, k, split, key, ranking, direction
):
    from mtrec.config import MetricRef

    metric = MetricRef.parse(text)
    assert (metric.name, metric.k, metric.split) == (name, k, split)
    assert (metric.key, metric.ranking, metric.direction) == (key, ranking, direction)
    assert str(metric) == text


@pytest.mark.parametrize("text", ["", "ndcg@", "ndcg@ten", "train.ndcg@10", "valid."])
def test_a_malformed_metric_reference_is_refused_by_name(text):
    from mtrec.config import MetricRef

    with pytest.raises(ValueError, match="is not a metric reference"):
        MetricRef.parse(text)
