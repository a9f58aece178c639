"""``mtrec retrain`` and ``mtrec backtest``: each cycle one run of the retraining pipeline
(``pipelines/retraining.py``), its record read back from the run's ``cycle_record`` artifact."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from mtrec.config import RunConfig
from mtrec.data.sources import fingerprint
from mtrec.retrain.windows import CycleRecord, Ledger, Window, cycle_run_config
from mtrec.workflows.retraining import (
    REFUSED_BY_VALIDATION,
    describe_cycle,
    ledger_path,
    refused_by_training,
    replay,
)
from mtrec_cli.failures import failure_report
from mtrec_cli.store import checked_inputs
from mtrec_cli.training import export_run

EXIT_REFUSED_BY_VALIDATION = 4
"""``retrain``'s exit status when the window's data failed validation (README: Exit statuses)."""
PIPELINE = "retraining_pipeline"


def retrain(config: RunConfig, window_start: int | None) -> int:
    """One retraining cycle (the initial model when the ledger is empty); prints its record.
    Exits ``EXIT_REFUSED_BY_VALIDATION`` when the window's data failed validation, 1 when the
    cycle was refused because its training failed."""
    files = checked_inputs(config)
    if isinstance(files, int):
        return files
    record = run_cycle(config, fingerprint(files), window_start)
    if record is None:
        return 1
    print(describe_cycle(record))
    if record.refused == REFUSED_BY_VALIDATION:
        return EXIT_REFUSED_BY_VALIDATION
    return 1 if record.refused is not None else 0


def run_cycle(
    config: RunConfig, data_fingerprint: str, window_start: int | None = None
) -> CycleRecord | None:
    """Run the retraining pipeline once and return the cycle's record; when it retrained,
    export the training's reports as ``mtrec train`` does. A failed run is reported on stderr:
    a failure in training gives the cycle refused by training, any other None."""
    # A damaged ledger is a bad input (exit 2, with how to fix it), not a failed run.
    Ledger.load(ledger_path(config))
    from zenml.client import Client

    from pipelines.retraining import retraining_pipeline

    try:
        run = retraining_pipeline(
            config=config, data_fingerprint=data_fingerprint, window_start=window_start
        )
    except Exception as error:  # noqa: BLE001 - reported once, plainly (see QuietStepFailures)
        print(f"\n{failure_report(config, error, PIPELINE)}", file=sys.stderr)
        return _refused_by_training()
    steps = Client().get_pipeline_run(run.id).steps
    record: CycleRecord = _output(steps, "record_cycle", "cycle_record")
    if record.done and record.retrained:
        window = Window(record.window_start, record.window_end)
        export_run(run.id, cycle_run_config(config, window))
    return record


def _refused_by_training() -> CycleRecord | None:
    """The cycle of the newest, failed run, refused by training when it failed in training
    (after its decision to retrain); None when it failed before."""
    from zenml.client import Client

    runs = Client().list_pipeline_runs(
        pipeline=PIPELINE, sort_by="desc:created", size=1, hydrate=True
    )
    if not runs.items or "decide_retraining" not in runs.items[0].steps:
        return None
    decided: CycleRecord = _output(runs.items[0].steps, "decide_retraining", "decided_cycle")
    return refused_by_training(decided, 1) if decided.retrained else None


def _output(steps: Any, step: str, name: str) -> Any:
    return steps[step].outputs[name][0].load()


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
    files = checked_inputs(config)
    if isinstance(files, int):
        return files
    data_fingerprint = fingerprint(files)

    def report(record: CycleRecord) -> None:
        print(f"[backtest] {describe_cycle(record)}", flush=True)

    ledger = replay(config, lambda c: run_cycle(c, data_fingerprint), windows, fresh, report)
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
