"""Command line for the mtrec pipelines: ``python run.py train --config configs/default.yaml``."""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ZENML_ANALYTICS_OPT_IN", "false")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
# The project's own ZenML store, however the command is started (make, python run.py, cron),
# the same one the Makefile names; set before zenml is first imported, which reads it once.
os.environ.setdefault("ZENML_CONFIG_PATH", str(Path(__file__).resolve().parent / ".zenml"))

from pydantic import ValidationError  # noqa: E402

from mtrec.config import RunConfig, load_config  # noqa: E402
from mtrec.data.sources import (  # noqa: E402
    DataSourceError,
    check_readable,
    fingerprint,
    source_files,
)
from mtrec.locking import held  # noqa: E402
from mtrec.reports.export import (  # noqa: E402
    metrics_table,
    point_latest,
    write_index,
    write_run_reports,
)

EXIT_REFUSED_BY_VALIDATION = 4
"""``retrain``'s exit status when the window's data failed validation (README: Exit statuses)."""
TRAINING_COMMANDS = ("train", "retrain", "backtest")
"""The commands that run the training pipeline: one at a time per ZenML config folder
(README: Exit statuses)."""


def model_version_name(config: RunConfig, data_fingerprint: str, code_hash: str) -> str:
    """A version name fixed by data, config and code: rerunning the same inputs reuses it."""
    digest = hashlib.sha256(
        json.dumps([config.model_dump(mode="json"), data_fingerprint, code_hash]).encode()
    ).hexdigest()
    return f"{config.data.source}-{digest[:12]}"


def store_problem() -> str | None:
    """None when the ZenML store answers; otherwise which store failed, why, and what to do.

    Checked before a run starts, so an unreachable server, a damaged SQLite file or a store
    held locked by another run (ZenML waits 60 s for the lock) is one clear line, not a trace.
    """
    from zenml.client import Client
    from zenml.config.global_config import GlobalConfiguration

    url = "(unresolved)"
    try:
        # The first use creates the store: two processes doing it at once break each other.
        with held(store_folder() / "mtrec-init.lock", f"pid {os.getpid()}"):
            url = GlobalConfiguration().get_store_configuration().url
            Client().zen_store.get_store_info()
    except Exception as error:  # noqa: BLE001 - any failure here means "no store to write to"
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        hint = (
            "another process (a running pipeline?) holds it; retry when that finishes"
            if "locked" in reason.lower()
            else "check ZENML_STORE_URL / ZENML_CONFIG_PATH, or `zenml login --local`"
        )
        return f"the ZenML store at {url} is unavailable: {reason} ({hint})"
    return None


def store_folder() -> Path:
    """ZenML's config folder (``ZENML_CONFIG_PATH``), where run.py keeps its lock files."""
    from zenml.utils.io_utils import get_global_config_directory

    return Path(get_global_config_directory())


@contextlib.contextmanager
def holding_store(model_name: str) -> Iterator[str | None]:
    """Hold the store's run lock for a command that trains, and give what ``store_problem``
    says. A second such command, from a process on this machine with the same ZenML config
    folder, says who holds the lock and waits. Holding it, any training run the store still
    shows running was left by a process that is gone: it is marked failed."""
    holder = f"pid {os.getpid()}, started {time.strftime('%H:%M:%S')}, model {model_name}"

    def waiting(other: str) -> None:
        print(f"another mtrec run ({other or 'starting'}) holds the store; waiting for it to "
              "finish", file=sys.stderr, flush=True)  # fmt: skip

    with held(store_folder() / "mtrec-run.lock", holder, waiting):
        problem = store_problem()
        if problem is None:
            mark_abandoned_runs()
        yield problem


def mark_abandoned_runs() -> None:
    """Mark failed the training runs a killed process left running or initialising, so the
    store does not show them running forever. Only runs of the local orchestrator on a SQLite
    store: those ran in a process of this machine, which the run lock says has ended; a remote
    orchestrator's run outlives the command that submitted it."""
    from zenml.client import Client
    from zenml.config.global_config import GlobalConfiguration
    from zenml.enums import ExecutionStatus, StackComponentType
    from zenml.models import PipelineRunUpdate, StepRunUpdate
    from zenml.utils.time_utils import utc_now

    if not GlobalConfiguration().get_store_configuration().url.startswith("sqlite:"):
        return
    client = Client()
    runs = client.list_pipeline_runs(pipeline="training_pipeline", in_progress=True, size=100,
                                     hydrate=True)  # fmt: skip
    for run in runs.items:
        orchestrators = (
            run.stack.components.get(StackComponentType.ORCHESTRATOR, []) if run.stack else []
        )
        if run.status.is_finished or [o.flavor_name for o in orchestrators] != ["local"]:
            continue
        for step in run.steps.values():
            if not step.status.is_finished:
                client.zen_store.update_run_step(
                    step.id, StepRunUpdate(status=ExecutionStatus.FAILED, end_time=utc_now())
                )
        client.zen_store.update_run(run.id, PipelineRunUpdate(status=ExecutionStatus.FAILED))
        started = f"{run.start_time:%Y-%m-%d %H:%M:%S} UTC" if run.start_time else "never"
        print(f"marked run {run.name} (started {started}) failed: the process that ran it is "
              "gone", file=sys.stderr, flush=True)  # fmt: skip


def train(config: RunConfig, no_cache: bool = False, run_config: Path | None = None) -> int:
    return train_config(config, no_cache, run_config)[0]


def train_config(
    config: RunConfig, no_cache: bool = False, run_config: Path | None = None
) -> tuple[int, dict | None]:
    """Run the training pipeline on ``config``: the exit status, and the exported report
    (metrics, promotion decision, run name) when the run finished. ``run_config``: a ZenML
    run configuration (e.g. ``configs/stacks/kubeflow.yaml``: settings, a cron schedule)."""
    problem = store_problem()
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 3, None
    try:
        files = source_files(config.data)
        check_readable(config.data)
    except DataSourceError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2, None
    data_fingerprint = fingerprint(files)
    encoder_path = config.encoder.model_path
    if encoder_path is not None and not (encoder_path / "config.json").is_file():
        # Checked before the run starts: failing inside the pipeline would leave a model version.
        print(
            f"error: encoder.model_path {encoder_path} is not a local transformers model folder "
            "(no config.json); models are never downloaded at run time",
            file=sys.stderr,
        )
        return 2, None

    from pipelines.training import training_pipeline
    from steps.caching import library_code_hash

    version = model_version_name(config, data_fingerprint, library_code_hash())
    options: dict = {"enable_cache": not no_cache}
    if run_config is not None:
        options["config_path"] = str(run_config)
    pipeline = training_pipeline.with_options(**options)
    try:
        run = pipeline(config=config, data_fingerprint=data_fingerprint, model_version=version)
    except Exception as error:  # noqa: BLE001 - reported once, plainly (see QuietStepFailures)
        print(f"\n{failure_report(config, error)}", file=sys.stderr)
        return 1, None
    if run is None:  # a schedule was registered with the orchestrator; nothing ran yet
        print("pipeline scheduled on the active stack's orchestrator; runs will appear in ZenML")
        return 0, None
    return 0, export_run(run, config)


def failure_report(config: RunConfig, error: Exception, pipeline: str = "training_pipeline") -> str:
    """Why the newest run of ``pipeline`` failed, as one block: each failed step's own
    message (or ``error`` when no step failed), and where its validation page was written, if
    it has one."""
    from zenml.client import Client
    from zenml.enums import ExecutionStatus

    runs = Client().list_pipeline_runs(
        pipeline=pipeline, sort_by="desc:created", size=1, hydrate=True
    )
    run = runs.items[0] if runs.items else None
    steps = run.steps if run else {}
    failed = {name: step.exception_info for name, step in steps.items()
              if step.status == ExecutionStatus.FAILED and step.exception_info}  # fmt: skip
    what = pipeline.replace("_pipeline", "").replace("_", " ")
    lines = [
        f"error: the {what} pipeline failed in step {name}:\n{info.message or info.traceback}"
        for name, info in failed.items()
    ] or [f"error: the {what} pipeline failed: {error}"]
    validation = steps.get("validate_data")
    pages = validation.outputs.get("validation_report_failed", []) if validation else []
    if run and pages:
        run_dir = config.reports_dir / run.name
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "validation.html").write_text(str(pages[0].load()), encoding="utf-8")
        lines.append(f"validation report: {run_dir / 'validation.html'}")
    if not os.environ.get("MTREC_TRACEBACK"):
        lines.append("(MTREC_TRACEBACK=1 shows the traceback)")
    return "\n".join(lines)


class QuietStepFailures(logging.Filter):
    """ZenML logs a failed step's message, then its traceback, before run.py prints the
    message in its failure report: this filter drops both, so each failure reads once. The
    traceback stays in the store (the dashboard's step page) and ``MTREC_TRACEBACK=1`` keeps
    the filter off."""

    LOGGERS = ("zenml.orchestrators.step_launcher", "zenml.orchestrators.local.local_orchestrator")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == "Failed to run step `%s`: %s":  # the message run.py prints
            return False
        record.exc_info, record.exc_text = None, None
        return True


_QUIET_STEP_FAILURES = QuietStepFailures()


def _stage_of(config: RunConfig, version: str) -> str:
    """The version's stage as the registry holds it now (a cached decision may be older)."""
    from zenml.client import Client

    stage = Client().get_model_version(config.registry.model_name, version).stage
    return str(stage.value if hasattr(stage, "value") else stage or "none")


def export_run(run: object, config: RunConfig) -> dict:
    """Write the run's artifacts to ``reports/<run>/``, point ``latest`` there, print a summary;
    returns the run's report (``metrics.json``) with ``run_dir`` added."""
    from zenml.client import Client

    run = Client().get_pipeline_run(run.id)  # type: ignore[attr-defined]
    steps = run.steps
    metrics = steps["evaluate_model"].outputs["evaluation_metrics"][0].load()
    recommendations = steps["evaluate_model"].outputs["test_recommendations"][0].load()
    serving_recommendations = steps["evaluate_model"].outputs["serving_recommendations"][0].load()
    drift_summary = steps["report_drift"].outputs["drift_summary"][0].load()
    decision = steps["register_model"].outputs["promotion_decision"][0].load()
    history = steps["train_model"].outputs["training_history"][0].load()
    ablations = {}
    id_only = steps["train_model"].outputs["id_only_metrics"][0].load()
    if id_only:
        ablations["id_only"] = id_only
    report = {
        **metrics,
        "ablations": ablations,
        "training": {
            k: history[k]
            for k in ("best_epoch", "best_valid", "seconds", "seconds_to_best")
            if k in history
        },
        "drift": drift_summary,
        "promotion": decision,
        "run": {"name": run.name, "id": str(run.id)},
    }
    pages = {
        "validation.html": str(steps["validate_data"].outputs["validation_report"][0].load()),
        "drift.html": str(steps["report_drift"].outputs["drift_report"][0].load()),
        "evaluation.html": str(steps["render_report"].outputs["evaluation_report"][0].load()),
    }
    stage = _stage_of(config, decision["version"])
    report["stage"] = stage  # at export; a later promotion may archive it
    reports_dir = config.reports_dir
    run_dir = write_run_reports(reports_dir / run.name, report, recommendations, pages,
                                serving_recommendations)  # fmt: skip
    if "mine_interests" in steps:  # what each user watches, and what changed lately
        from mtrec.evaluation.interests import topics_frame

        interests = steps["mine_interests"].outputs
        topics = interests["item_topics"][0].load()
        # With the served model's latent (and predicted) interests where the run has them.
        described = steps.get("describe_interests")
        profiles = described.outputs["interests"] if described else interests["user_interests"]
        profiles[0].load().to_csv(run_dir / "interests.csv", index=False)
        topics_frame(topics).to_csv(run_dir / "topics.csv", index=False)
    point_latest(reports_dir, run_dir)
    write_index(reports_dir)
    cached = [
        name for name, s in steps.items() if str(s.status) in ("cached", "ExecutionStatus.CACHED")
    ]
    print()
    print(metrics_table(metrics, config.evaluation.ks, ablations.get("id_only")))
    print()
    print(f"steps cached: {len(cached)}/{len(steps)} ({', '.join(sorted(cached)) or 'none'})")
    print(f"drift: {drift_summary['n_drifted']}/{drift_summary['n_columns']} columns drifted, "
          f"detected={drift_summary['drift_detected']}")  # fmt: skip
    text_drift = drift_summary.get("embedding_drift")
    if text_drift:
        detail = (f"AUC {text_drift['auc']:.3f}" if text_drift["status"] == "tested"
                  else text_drift["status"])  # fmt: skip
        print(f"text-embedding drift: {text_drift['new_items']} new items, {detail}, "
              f"detected={text_drift['drift_detected']}")  # fmt: skip
    when = "registered earlier, decision" if "register_model" in cached else "decision"
    print(f"model version {decision['version']}: {when}: promote={decision['promote']} "
          f"({decision['reason']}); stage now: {stage}")  # fmt: skip
    print(f"reports: {run_dir} (also {reports_dir / 'latest'})")
    return {**report, "run_dir": str(run_dir), "stage": stage}


def recommend_cmd(
    config: RunConfig, output: Path, k: int, users: list[str] | None, stage: str,
    profiles_path: Path | None = None, events_path: Path | None = None, explain: bool = False,
) -> int:  # fmt: skip
    """Top-K recommendations from the registry's ``stage`` version, to CSV or Parquet.

    The version's served model (refit on every interaction; the evaluated model when the run
    did not refit) ranks each user's unseen items, reading their newest known interactions.
    ``profiles_path``: CSV or Parquet ``user_id,text`` of profile texts; users the model does
    not know are scored from theirs (encoded with the run's encoder) instead of popularity.
    ``events_path``: CSV or Parquet ``user_id,item_id[,timestamp]`` interactions that arrived
    after training: they join the known history, so they move the users' lists (and are not
    recommended again) with no retraining.

    The lists are re-ranked as the config's ``rerank`` section says (the function evaluation
    measured); ``explain`` adds a ``reason`` column from each user's recent topic shares, with
    topics clustered from the served model's item text embeddings (``interests`` section)."""
    from zenml.client import Client

    from pipelines.batch_recommendation import batch_recommendation_pipeline

    problem = store_problem()
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 3
    try:
        version = Client().get_model_version(config.registry.model_name, stage)
    except KeyError:
        print(f"error: model {config.registry.model_name!r} has no {stage!r} version; "
              "run `make pipeline` first", file=sys.stderr)  # fmt: skip
        return 2
    for name, path in (("profiles", profiles_path), ("events", events_path)):
        if path is not None and not path.is_file():  # before a pipeline run is started
            raise FileNotFoundError(f"{name} file not found: {path}")
    pipeline = batch_recommendation_pipeline(
        config, version.name, k, users, str(profiles_path) if profiles_path else None,
        str(events_path) if events_path else None, explain,
    )  # fmt: skip
    try:
        run = pipeline()
    except RuntimeError as error:  # a step failed (a malformed events file): its own message
        print(failure_report(config, error, "batch_recommendation_pipeline"), file=sys.stderr)
        return 2
    frame = run.steps["recommend_batch"].outputs["batch_recommendations"][0].load()
    output.parent.mkdir(parents=True, exist_ok=True)
    if output.suffix in (".parquet", ".pq"):
        frame.to_parquet(output, index=False)
    else:
        frame.to_csv(output, index=False)
    by_source = frame.drop_duplicates("user_id")["source"].value_counts().to_dict()
    print(
        f"model version {version.name} ({stage}): top {k} for {frame['user_id'].nunique()} "
        f"users {by_source} -> {output} (artifact batch_recommendations of the version)"
    )
    return 0


def serve_cmd(
    config: RunConfig, host: str, port: int, stage: str, poll_seconds: float, max_k: int,
    threads: int,
) -> int:  # fmt: skip
    """The HTTP service over the registry's ``stage`` version (``POST /recommend``, ``GET
    /health``; see docs/serving.md): loaded once, swapped when the stage moves to another
    version. Binding a non-loopback ``host`` needs a bearer token in ``MTREC_SERVE_TOKEN``."""
    from mtrec.serving.settings import TOKEN_ENV, ServeSettings

    try:
        settings = ServeSettings(host=host, port=port, token=os.environ.get(TOKEN_ENV) or None,
                                 poll_seconds=poll_seconds, max_k=max_k,
                                 threads=threads)  # fmt: skip
    except ValidationError as error:
        print(f"error: {error.errors()[0]['msg'].removeprefix('Value error, ')}",
              file=sys.stderr)  # fmt: skip
        return 2
    problem = store_problem()
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 3
    from serving.server import serve

    return serve(config, settings, stage)


def compare_cmd(config: RunConfig, config_path: Path, output: Path, only: list[str] | None) -> int:
    """Every architecture x weighting, the single-task models and the baselines on one split:
    ``output/metrics.json`` (``comparison`` section) and ``output/index.html``. Resumable."""
    from mtrec.evaluation.baselines import BASELINES
    from mtrec.experiments.comparison import (
        compare,
        comparison_table,
        default_variants,
        load_rows,
        prepare,
    )  # fmt: skip
    from mtrec.reports.comparison import render_comparison_html

    variants = default_variants(config)
    if only:
        unknown = sorted(set(only) - set(variants) - set(BASELINES))
        if unknown:
            print(f"error: unknown variants {unknown}; choose from "
                  f"{sorted(variants) + list(BASELINES)}", file=sys.stderr)  # fmt: skip
            return 2
        variants = {name: variants[name] for name in only if name in variants}  # in that order
    output.mkdir(parents=True, exist_ok=True)
    metrics_path = output / "metrics.json"
    rows = load_rows(metrics_path)

    def save(name: str, row: dict[str, object]) -> None:
        rows[name] = row
        tmp = metrics_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"config": str(config_path), "comparison": rows}, indent=1))
        os.replace(tmp, metrics_path)
        if "skipped" in row:
            print(f"{name:<26} skipped: {row['skipped']}", flush=True)
            return
        print(f"{name:<26} ndcg@10 {row.get('ndcg@10', float('nan')):.4f}  "
              f"{row.get('train_seconds', 0):.0f} s", flush=True)  # fmt: skip

    baselines = [b for b in BASELINES if not only or b in only]
    result = compare(config, prepare(config), variants, rows, save, baselines)
    table = comparison_table({**rows, **result})  # earlier rows of the file included
    notes = [
        f"config {config_path}; split {config.split.strategy}; test metrics, full-catalogue "
        "ranking with train and valid items masked; train_seconds on this machine",
        f"default model: {config.model.architecture} + {config.training.task_weighting}",
        "baselines: parameters chosen on valid NDCG@10 and fitted on train (train_seconds: the "
        "search); serving_ndcg@10: the chosen parameters refit on train + valid",
    ]
    page = render_comparison_html(table, "Model comparison", notes)
    (output / "index.html").write_text(page, encoding="utf-8")
    print(table.to_string(float_format=lambda v: f"{v:.4f}"))
    print(f"comparison: {output / 'index.html'}")
    return 0


def retrain_cmd(config: RunConfig, window_start: int | None) -> int:
    """One retraining cycle (the initial model when the ledger is empty); prints its record.
    Exits ``EXIT_REFUSED_BY_VALIDATION`` when the window's data failed validation, 1 when the
    cycle was refused because its training failed."""
    from pipelines.retraining import REFUSED_BY_VALIDATION, retrain_cycle

    problem = store_problem()
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 3
    record = retrain_cycle(config, train_config, window_start)
    print(describe_cycle(record))
    if record.get("refused") == REFUSED_BY_VALIDATION:
        return EXIT_REFUSED_BY_VALIDATION
    return 1 if str(record.get("status", "")).startswith("refused") else 0


def describe_cycle(record: dict) -> str:
    parts = [f"window {record.get('window')}: {record.get('status')}"]
    if "production_ndcg@10" in record:
        parts.append(f"production ndcg@10 {record['production_ndcg@10']:.4f} on "
                     f"{record.get('scored_users')} users")  # fmt: skip
    drift = record.get("drift") or {}
    if "drifted_share" in drift:
        parts.append(f"drifted share {drift['drifted_share']:.2f} "
                     f"(detected={drift['drift_detected']})")  # fmt: skip
    if record.get("retrained"):
        parts.append(f"retrained ({record.get('trigger')}): candidate "
                     f"{record.get('candidate_version')} promoted={record.get('promoted')} - "
                     f"{record.get('reason')}")  # fmt: skip
    elif "retrained" in record:
        parts.append("not retrained (no drift, not scheduled)")
    return "; ".join(parts)


def backtest_cmd(
    base: RunConfig, config_path: Path, windows: int, output: Path, fresh: bool
) -> int:
    """Replay the initial model and ``windows`` cycles on the data's own timeline, then write
    ``output/index.html`` and ``output/timeline.json``."""
    from mtrec.reports.timeline import render_timeline_html
    from mtrec.retrain.windows import Ledger
    from pipelines.retraining import ledger_path, retrain_cycle

    # Its own ledger, so a replay never touches the ledger of the live `make retrain`.
    config = RunConfig.model_validate({
        **base.model_dump(), "reports_dir": output,
        "retrain": {**base.retrain.model_dump(),
                    "ledger_dir": base.retrain.ledger_dir / "backtest"},
    })  # fmt: skip
    problem = store_problem()
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 3
    path = ledger_path(config)
    if fresh:
        path.unlink(missing_ok=True)
    while True:
        ledger = Ledger.load(path)
        if len(ledger.cycles) >= windows + 1:  # the initial model, then the windows
            break
        record = retrain_cycle(config, train_config)
        print(f"[backtest] {describe_cycle(record)}", flush=True)
        if record.get("status") != "done":
            break
    ledger = Ledger.load(path)
    output.mkdir(parents=True, exist_ok=True)
    (output / "timeline.json").write_text(json.dumps(ledger.cycles, indent=1, default=str))
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


def main(argv: list[str] | None = None) -> int:
    from zenml.utils import source_utils

    # Steps and pipelines are imported by module path relative to the project root, whatever
    # the working directory or the entry point (pytest, make, cron).
    source_utils.set_custom_source_root(str(Path(__file__).resolve().parent))
    if not os.environ.get("MTREC_TRACEBACK"):
        for name in QuietStepFailures.LOGGERS:
            logging.getLogger(name).addFilter(_QUIET_STEP_FAILURES)  # once, however many calls
    parser = argparse.ArgumentParser(prog="mtrec", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    train_cmd = commands.add_parser("train", help="run the training pipeline")
    train_cmd.add_argument("--config", type=Path, default=Path("configs/default.yaml"))
    train_cmd.add_argument("--no-cache", action="store_true", help="rerun every step")
    train_cmd.add_argument("--run-config", type=Path,
                           help="ZenML run configuration: stack settings, schedule")  # fmt: skip
    rec_cmd = commands.add_parser("recommend", help="top-K items per user from the registry")
    rec_cmd.add_argument("--config", type=Path, default=Path("configs/default.yaml"))
    rec_cmd.add_argument("--output", type=Path, default=Path("reports/recommendations.csv"))
    rec_cmd.add_argument("--k", type=int, default=10)
    rec_cmd.add_argument("--users", help="comma-separated user ids (default: all known users)")
    rec_cmd.add_argument("--stage", default="production")
    rec_cmd.add_argument("--profiles", type=Path, help="user_id,text profiles for new users")
    rec_cmd.add_argument(
        "--events", type=Path, help="user_id,item_id[,timestamp] interactions since training"
    )
    rec_cmd.add_argument(
        "--explain", action="store_true", help="add a reason column: the item's topic share"
    )
    srv_cmd = commands.add_parser("serve", help="HTTP service: POST /recommend, GET /health")
    srv_cmd.add_argument("--config", type=Path, default=Path("configs/default.yaml"))
    srv_cmd.add_argument("--host", default="127.0.0.1",
                         help="another host needs MTREC_SERVE_TOKEN")  # fmt: skip
    srv_cmd.add_argument("--port", type=int, default=8000)
    srv_cmd.add_argument("--stage", default="production")
    srv_cmd.add_argument("--poll-seconds", type=float, default=5.0,
                         help="how often the registry is checked for a new version")  # fmt: skip
    srv_cmd.add_argument("--max-k", type=int, default=100, help="the longest list served")
    srv_cmd.add_argument("--threads", type=int, default=1, help="torch threads per request")
    cmp_cmd = commands.add_parser("compare", help="architectures x weightings vs baselines")
    cmp_cmd.add_argument("--config", type=Path, default=Path("configs/default.yaml"))
    cmp_cmd.add_argument("--output", type=Path, default=Path("reports/comparison"))
    cmp_cmd.add_argument("--only", help="comma-separated variant names (default: all)")
    retrain_parser = commands.add_parser("retrain", help="one scheduled retraining cycle")
    retrain_parser.add_argument("--config", type=Path, default=Path("configs/retrain.yaml"))
    retrain_parser.add_argument("--window-start", type=int, help="redo the window starting here")
    backtest_parser = commands.add_parser("backtest", help="replay retraining on the timeline")
    backtest_parser.add_argument("--config", type=Path, default=Path("configs/retrain.yaml"))
    backtest_parser.add_argument("--windows", type=int, default=6)
    backtest_parser.add_argument("--output", type=Path, default=Path("reports/backtest"))
    backtest_parser.add_argument("--fresh", action="store_true", help="start from no ledger")
    for command in commands.choices.values():
        command.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override a config value, e.g. training.epochs=5 (repeatable)",
        )
    args = parser.parse_args(argv)
    try:
        args.loaded = load_config(args.config, args.set)
        if args.command in TRAINING_COMMANDS:
            with holding_store(args.loaded.registry.model_name) as problem:
                if problem:  # checked once: a locked store takes ZenML 60 s to give up on
                    print(f"error: {problem}", file=sys.stderr)
                    return 3
                return run_command(args)
        return run_command(args)
    except ValidationError as error:
        print(f"error: invalid config {args.config}: {error}", file=sys.stderr)
        return 2
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def run_command(args: argparse.Namespace) -> int:
    """Dispatch the parsed command line to its command."""
    if args.command == "retrain":
        return retrain_cmd(args.loaded, args.window_start)
    if args.command == "backtest":
        return backtest_cmd(args.loaded, args.config, args.windows, args.output, args.fresh)
    if args.command == "compare":
        only = [v.strip() for v in args.only.split(",")] if args.only else None
        return compare_cmd(args.loaded, args.config, args.output, only)
    if args.command == "serve":
        return serve_cmd(args.loaded, args.host, args.port, args.stage, args.poll_seconds,
                         args.max_k, args.threads)  # fmt: skip
    if args.command == "recommend":
        users = [u.strip() for u in args.users.split(",")] if args.users else None
        return recommend_cmd(args.loaded, args.output, args.k, users, args.stage,
                             args.profiles, args.events, args.explain)  # fmt: skip
    if args.run_config is not None and not args.run_config.is_file():
        raise FileNotFoundError(f"ZenML run configuration not found: {args.run_config}")
    return train(args.loaded, no_cache=args.no_cache, run_config=args.run_config)


if __name__ == "__main__":
    sys.exit(main())
