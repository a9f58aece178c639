"""``mtrec retrain`` and ``mtrec backtest``: the retraining cycle of
:mod:`mtrec.workflows.retraining` with ZenML as its registry."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from mtrec.config import RunConfig
from mtrec.models.serialization import TrainedModel
from mtrec.retrain.windows import CycleRecord
from mtrec.workflows.retraining import (
    REFUSED_BY_VALIDATION,
    describe_cycle,
    replay,
    retrain_cycle,
)
from mtrec.workflows.runs import TrainingRun
from mtrec_cli.store import store_problem
from mtrec_cli.training import train

EXIT_REFUSED_BY_VALIDATION = 4
"""``retrain``'s exit status when the window's data failed validation (README: Exit statuses)."""


class ZenMLRegistry:
    """The model registry of the active ZenML store; training runs the training pipeline."""

    def production(self, model_name: str) -> tuple[str, TrainedModel] | None:
        from zenml.client import Client
        from zenml.enums import ModelStages

        try:
            version = Client().get_model_version(model_name, ModelStages.PRODUCTION)
        except KeyError:
            return None
        return str(version.name), version.get_artifact("recommender").load()

    def train(self, config: RunConfig) -> tuple[int, TrainingRun | None]:
        return train(config)


def retrain(config: RunConfig, window_start: int | None) -> int:
    """One retraining cycle (the initial model when the ledger is empty); prints its record.
    Exits ``EXIT_REFUSED_BY_VALIDATION`` when the window's data failed validation, 1 when the
    cycle was refused because its training failed."""
    problem = store_problem()
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 3
    record = retrain_cycle(config, ZenMLRegistry(), window_start)
    print(describe_cycle(record))
    if record.refused == REFUSED_BY_VALIDATION:
        return EXIT_REFUSED_BY_VALIDATION
    return 1 if record.refused is not None else 0


def backtest(base: RunConfig, config_path: Path, windows: int, output: Path, fresh: bool) -> int:
    """Replay the initial model and ``windows`` cycles on the data's own timeline, then write
    ``output/index.html`` and ``output/timeline.json``."""
    from mtrec.reports.timeline import render_timeline_html

    # Its own ledger, so a replay never touches the ledger of the live `make retrain`.
    config = base.model_copy(
        update={
            "reports_dir": output,
            "retrain": base.retrain.model_copy(
                update={"ledger_dir": base.retrain.ledger_dir / "backtest"}
            ),
        }
    )
    problem = store_problem()
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 3

    def report(record: CycleRecord) -> None:
        print(f"[backtest] {describe_cycle(record)}", flush=True)

    ledger = replay(config, ZenMLRegistry(), windows, fresh, report)
    output.mkdir(parents=True, exist_ok=True)
    # The ledger's own format: one JSON object per cycle (CycleRecord.to_json).
    timeline = [cycle.to_json() for cycle in ledger.cycles]
    (output / "timeline.json").write_text(json.dumps(timeline, indent=1))
    notes = [
        f"config {config_path}; {config.retrain.window_days:g}-day windows; retrain every "
        f"{config.retrain.every_windows} window(s) or on drift={config.retrain.on_drift}",
        "production is scored on each window before anything is retrained; a candidate is "
        "trained on data before the window's validation days and gated head to head with "
        "production on the window (paired bootstrap over the users both know)",
    ]
    page = render_timeline_html(ledger.cycles, "Retraining backtest", notes, output)
    (output / "index.html").write_text(page, encoding="utf-8")
    print(f"backtest: {len(ledger.cycles)} cycles -> {output / 'index.html'}")
    return 0 if len(ledger.cycles) >= windows + 1 else 1
