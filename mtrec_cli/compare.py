"""``mtrec compare``: every architecture x weighting, the single-task models and the baselines,
as the comparison pipeline."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from mtrec.config import RunConfig
from mtrec.data.sources import fingerprint
from mtrec.files import write_atomic
from mtrec_cli.failures import failure_report
from mtrec_cli.store import checked_inputs


def compare(config: RunConfig, config_path: Path, output: Path, only: list[str] | None) -> int:
    """Every architecture x weighting, the single-task models and the baselines on one split,
    run as the comparison pipeline (``pipelines/comparison.py``): ``output/metrics.json``
    (``comparison`` section) and ``output/index.html``, holding this run's rows.

    Each baseline and each variant is one step, and the local orchestrator runs the steps one
    after another. Resuming is ZenML's cache: a rerun after an interruption, or with one more
    variant, runs only the steps not yet finished on the same data, texts, encoder, settings
    and library code; a change to any of those runs again the steps it feeds."""
    from mtrec.evaluation.baselines import BASELINES
    from mtrec.workflows.comparison import default_variants

    variants = default_variants(config)
    if only:
        unknown = sorted(set(only) - set(variants) - set(BASELINES))
        if unknown:
            choices = sorted(variants) + list(BASELINES)
            print(f"error: unknown variants {unknown}; choose from {choices}", file=sys.stderr)
            return 2
        variants = {name: variants[name] for name in only if name in variants}  # in that order
    baselines = [b for b in BASELINES if not only or b in only]
    files = checked_inputs(config)
    if isinstance(files, int):
        return files

    from pipelines.comparison import comparison_pipeline

    try:
        run = comparison_pipeline(
            config=config,
            data_fingerprint=fingerprint(files),
            variants=variants,
            baselines=baselines,
        )
    except Exception as error:  # noqa: BLE001 - reported once, plainly (see QuietStepFailures)
        print(f"\n{failure_report(config, error, 'comparison_pipeline')}", file=sys.stderr)
        return 1
    rows, cached = _rows(run.id, baselines, list(variants))
    for name, row in rows.items():
        print(_row_line(name, row))
    _write_outputs(config, config_path, output, rows)
    print(f"{cached} of {len(rows)} rows from ZenML's cache; comparison: {output / 'index.html'}")
    return 0


def _rows(
    run_id: Any, baselines: list[str], variants: list[str]
) -> tuple[dict[str, dict[str, Any]], int]:
    """Each baseline's and variant's row, read from its step's ``comparison_row`` artifact,
    and how many of those steps were cached."""
    from zenml.client import Client
    from zenml.enums import ExecutionStatus

    from pipelines.comparison import baseline_step_id, variant_step_id

    steps = Client().get_pipeline_run(run_id).steps
    step_ids = {name: baseline_step_id(name) for name in baselines}
    step_ids |= {name: variant_step_id(name) for name in variants}
    rows = {
        name: steps[step].outputs["comparison_row"][0].load() for name, step in step_ids.items()
    }
    cached = sum(steps[step].status == ExecutionStatus.CACHED for step in step_ids.values())
    return rows, cached


def _row_line(name: str, row: dict[str, Any]) -> str:
    if "skipped" in row:
        return f"{name:<26} skipped: {row['skipped']}"
    ndcg, seconds = row.get("ndcg@10", float("nan")), row.get("train_seconds", 0)
    return f"{name:<26} ndcg@10 {ndcg:.4f}  {seconds:.0f} s"


def _write_outputs(
    config: RunConfig, config_path: Path, output: Path, rows: dict[str, dict[str, Any]]
) -> None:
    from mtrec.reports.comparison import render_comparison_html
    from mtrec.workflows.comparison import comparison_table

    output.mkdir(parents=True, exist_ok=True)
    report = {"config": str(config_path), "comparison": rows}
    write_atomic(output / "metrics.json", json.dumps(report, indent=1))
    table = comparison_table(rows)
    notes = [
        f"config {config_path}; split {config.split.strategy}; test metrics, full-catalogue "
        "ranking with train and valid items masked; train_seconds on this machine",
        f"default model: {config.model.architecture} + {config.training.task_weighting}",
        "baselines: parameters chosen on valid NDCG@10 and fitted on train (train_seconds: the "
        "search); serving_ndcg@10: the chosen parameters refit on train + valid",
    ]
    page = render_comparison_html(table, "Model comparison", notes)
    write_atomic(output / "index.html", page)
    print(table.to_string(float_format=lambda v: f"{v:.4f}"))
