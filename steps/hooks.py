"""The hooks of every pipeline: ``on_start`` hands free memory back, ``on_failure`` records.

A static pipeline (``@pipeline(on_start=..., on_failure=...)``) sets them on each step; a
dynamic one (the retraining cycle) runs them once for the run, so its steps are given them
themselves. A failed step records its error as step metadata, which the
dashboard shows on the step's page and ``mtrec_cli.failures`` can read, and posts to the
stack's alerter (Slack, Discord...) when the active stack has one; called for a dynamic run, it
records the error that ended the run as run metadata."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
import logging

import psutil
import pyarrow
from zenml import get_step_context, log_metadata
from zenml.client import Client
from zenml.steps.step_context import StepContext

log = logging.getLogger(__name__)

COLLECT_ABOVE_BYTES = 2 * 2**30
"""Resident memory from which a step's start also runs a full garbage collection."""


def release_memory() -> None:
    """``on_start`` of every step: hand the free pages of the C heap and of Arrow's memory
    pool back to the OS before the step body runs (collecting garbage first when the process
    is large). The local orchestrator runs every step in one process, and both allocators
    keep what a step freed, so without this each step's peak sat on the leftovers of all
    before it (docs/benchmarks.md, memory between steps). Logs the resident memory it leaves.
    Elsewhere than glibc: no heap trim."""
    process = psutil.Process()
    before = process.memory_info().rss
    # A full collection costs about 0.2 s with ZenML and torch loaded, every step; it pays
    # only when a large heap may hold cycles worth freeing.
    if before >= COLLECT_ABOVE_BYTES:
        gc.collect()
    # Arrow's own pool (mimalloc) keeps what Parquet reads and writes freed, out of
    # malloc_trim's reach.
    pyarrow.default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError, TypeError):  # no C library, not glibc
        ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim(0)
    after = process.memory_info().rss
    log.info(
        "Resident memory at the step's start: %.0f MB (%.0f MB handed back to the system).",
        after / 2**20,
        (before - after) / 2**20,
    )


def record_failure(exception: BaseException) -> None:
    try:
        error = f"{type(exception).__name__}: {exception}"[:2000]
        if StepContext.get() is None:
            _record_run_failure(error)
            return
        step = get_step_context().step_run.name
        log_metadata({"failure": {"step": step, "error": error}})
        if Client().active_stack.alerter is not None:
            from zenml.hooks import alerter_failure_hook

            alerter_failure_hook(exception)
    except Exception as error:  # noqa: BLE001 - a hook must never hide the step's own failure
        log.warning("the failure hook could not record the failure: %s", error)


def _record_run_failure(error: str) -> None:
    """A dynamic pipeline's run hook: the failed step (if a step failed) has recorded its own
    error; this one goes on the run, named after the failed steps."""
    # Experimental ZenML API (0.98): the context of the dynamic run the hook is called in.
    from zenml.execution.pipeline.dynamic.run_context import DynamicPipelineRunContext

    context = DynamicPipelineRunContext.get()
    if context is None:
        log.warning("the failure hook ran outside a step or a dynamic run: %s", error)
        return
    run = Client().get_pipeline_run(context.run.id)
    failed = [name for name, step in run.steps.items() if step.status.is_failed]
    log_metadata(
        {"failure": {"step": ", ".join(failed) or "(the pipeline function)", "error": error}},
        run_id_name_or_prefix=run.id,
    )
