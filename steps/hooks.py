"""The ``on_failure`` hook of every pipeline (``@pipeline(on_failure=...)`` sets it on each
step): a failed step records its error as step metadata, which the dashboard shows on the
step's page and ``mtrec_cli.failures`` can read, and posts to the stack's alerter (Slack,
Discord...) when the active stack has one."""

from __future__ import annotations

import logging

from zenml import get_step_context, log_metadata
from zenml.client import Client

log = logging.getLogger(__name__)


def record_failure(exception: BaseException) -> None:
    try:
        step = get_step_context().step_run.name
        error = f"{type(exception).__name__}: {exception}"
        log_metadata({"failure": {"step": step, "error": error[:2000]}})
        if Client().active_stack.alerter is not None:
            from zenml.hooks import alerter_failure_hook

            alerter_failure_hook(exception)
    except Exception as error:  # noqa: BLE001 - a hook must never hide the step's own failure
        log.warning("the failure hook could not record the failure: %s", error)
