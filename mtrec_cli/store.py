"""The ZenML store every command writes to: is it there, who holds it, what a killed run left.

Checked before a run starts, so an unreachable server, a damaged SQLite file or a store held
locked by another run is one clear line, not a traceback (README: Exit statuses).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from mtrec.config import RunConfig
from mtrec.data.sources import DataSourceError, check_readable, source_files
from mtrec.locking import held


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
        print(
            f"another mtrec run ({other or 'starting'}) holds the store; waiting for it to finish",
            file=sys.stderr,
            flush=True,
        )

    with held(store_folder() / "mtrec-run.lock", holder, waiting):
        problem = store_problem()
        if problem is None:
            mark_abandoned_runs()
        yield problem


def mark_abandoned_runs() -> None:
    """Mark failed the (re)training runs a killed process left running or initialising, so the
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
    runs = [
        run
        for pipeline in ("training_pipeline", "retraining_pipeline")
        for run in client.list_pipeline_runs(
            pipeline=pipeline, in_progress=True, size=100, hydrate=True
        ).items
    ]
    for run in runs:
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
        print(
            f"marked run {run.name} (started {started}) failed: the process that ran it is gone",
            file=sys.stderr,
            flush=True,
        )


def checked_inputs(config: RunConfig) -> list[Path] | int:
    """The data files, or the exit status when the store, the data or the encoder would fail
    the run: checked before a pipeline starts (failing inside it would leave a model version)."""
    problem = store_problem()
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 3
    try:
        files = source_files(config.data)
        check_readable(config.data)
    except DataSourceError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    encoder_path = config.encoder.model_path
    if encoder_path is not None and not (encoder_path / "config.json").is_file():
        print(
            f"error: encoder.model_path {encoder_path} is not a local transformers model folder "
            "(no config.json); models are never downloaded at run time",
            file=sys.stderr,
        )
        return 2
    return files
