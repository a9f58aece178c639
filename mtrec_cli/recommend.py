"""``mtrec recommend`` (batch lists, a ZenML pipeline) and ``mtrec serve`` (the HTTP service)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from pydantic import ValidationError

from mtrec.config import RunConfig
from mtrec_cli.failures import failure_report
from mtrec_cli.store import store_problem


def recommend(
    config: RunConfig,
    output: Path,
    k: int,
    users: list[str] | None,
    stage: str,
    profiles_path: Path | None = None,
    events_path: Path | None = None,
    explain: bool = False,
) -> int:
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
        print(
            f"error: model {config.registry.model_name!r} has no {stage!r} version; "
            "run `make pipeline` first",
            file=sys.stderr,
        )
        return 2
    for name, path in (("profiles", profiles_path), ("events", events_path)):
        if path is not None and not path.is_file():  # before a pipeline run is started
            raise FileNotFoundError(f"{name} file not found: {path}")
    pipeline = batch_recommendation_pipeline(
        config,
        version.name,
        k,
        users,
        str(profiles_path) if profiles_path else None,
        str(events_path) if events_path else None,
        explain,
    )
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


def serve(
    config: RunConfig,
    host: str,
    port: int,
    stage: str,
    poll_seconds: float,
    max_k: int,
    threads: int,
) -> int:
    """The HTTP service over the registry's ``stage`` version (``POST /recommend``, ``GET
    /health``; see docs/serving.md): loaded once, swapped when the stage moves to another
    version. Binding a non-loopback ``host`` needs a bearer token in ``MTREC_SERVE_TOKEN``."""
    from mtrec.serving.settings import TOKEN_ENV, ServeSettings

    try:
        settings = ServeSettings(
            host=host,
            port=port,
            token=os.environ.get(TOKEN_ENV) or None,
            poll_seconds=poll_seconds,
            max_k=max_k,
            threads=threads,
        )
    except ValidationError as error:
        print(f"error: {error.errors()[0]['msg'].removeprefix('Value error, ')}", file=sys.stderr)
        return 2
    problem = store_problem()
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 3
    from serving.server import serve as run_server

    return run_server(config, settings, stage)
