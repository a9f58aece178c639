"""Defining the training pipeline loads no torch: a run whose steps are all cached (the warm
`make pipeline`) and the command line's start pay for zenml alone, not for torch's ~2 s import.
Steps import the library code that needs torch when they run; the types in their signatures
(saved models, results, training records) live in modules without it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import importlib, sys
sys.path.insert(0, {root!r})
for name in sys.argv[1:]:
    importlib.import_module(name)
print(sorted(m for m in ("torch", "transformers", "evidently", "sklearn") if m in sys.modules))
"""


def _heavy_modules_after_importing(tmp_path: Path, *modules: str) -> str:
    # A script file, not ``python -c``: ZenML finds the source root from the main module's file.
    script = tmp_path / "probe.py"
    script.write_text(PROBE.format(root=str(ROOT)), encoding="utf-8")
    env = {
        **os.environ,
        "ZENML_CONFIG_PATH": str(tmp_path / "zenml"),
        "ZENML_ANALYTICS_OPT_IN": "false",
    }
    done = subprocess.run(
        [sys.executable, str(script), *modules],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return done.stdout.strip().splitlines()[-1]


def test_the_training_pipeline_and_the_command_line_are_defined_without_torch(tmp_path):
    loaded = _heavy_modules_after_importing(
        tmp_path, "pipelines.training", "mtrec_cli.main", "mtrec_cli.training"
    )
    assert loaded == "[]"


def test_saved_models_results_and_training_records_are_named_without_torch(tmp_path):
    loaded = _heavy_modules_after_importing(
        tmp_path,
        "mtrec.models.serialization",
        "mtrec.evaluation.results",
        "mtrec.training.history",
        "steps.materializers",
    )
    assert loaded == "[]"


def test_a_step_input_typed_as_a_saved_model_validates_without_torch(tmp_path):
    # ZenML checks every step's inputs with pydantic's validate_call, which resolves the
    # saved model's field annotations in its module: they must resolve without torch.
    script = tmp_path / "validate.py"
    script.write_text(
        f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
from pydantic import ConfigDict, validate_call
from mtrec.models.serialization import TrainedModel
from mtrec.models.spec import ModelSpec

@validate_call(config=ConfigDict(arbitrary_types_allowed=True))
def step(recommender: TrainedModel) -> int:
    return len(recommender.user_ids)

spec = ModelSpec(n_users=2, n_items=3, user_text_dim=4, item_text_dim=4)
print(step(TrainedModel(spec, {{}}, ("a", "b"), ("x", "y", "z"))), "torch" in sys.modules)
""",
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=True, timeout=300
    )
    assert done.stdout.split() == ["2", "False"]
