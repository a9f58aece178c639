"""The steps of the newest training run in a ZenML store: start and end (unix seconds) and
status, for `make bench-pipeline` and `make bench-e2e`. Read in a child process: ZenML binds
one store per process, and the benchmarks' runs each have their own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def newest_run_steps(store: Path) -> dict[str, dict[str, Any]]:
    """``{step: {"start", "end", "status"}}`` of the store's newest ``training_pipeline`` run
    (steps that never started are left out)."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.steps"],
        cwd=ROOT,
        env={**os.environ, "ZENML_CONFIG_PATH": str(store)},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _print_newest_run_steps() -> None:
    from zenml.client import Client

    run = (
        Client()
        .list_pipeline_runs(
            pipeline_name="training_pipeline", sort_by="desc:created", size=1, hydrate=True
        )
        .items[0]
    )
    steps = {
        name: {
            # ZenML stores naive UTC datetimes.
            "start": step.start_time.replace(tzinfo=UTC).timestamp(),
            "end": step.end_time.replace(tzinfo=UTC).timestamp(),
            "status": str(step.status.value),
        }
        for name, step in run.steps.items()
        if step.start_time is not None and step.end_time is not None
    }
    print(json.dumps(steps))


if __name__ == "__main__":
    _print_newest_run_steps()
