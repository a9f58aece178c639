"""Floating-point settings and optimiser-cost rules shared by the trainers (the multi-task
trainer, BPR-MF)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def subnormals_flushed() -> Iterator[None]:
    """Flush subnormal floats to zero inside the block (or the decorated function), and turn
    flushing off again after it; a no-op where the CPU cannot flush.

    Weight decay sinks the Adam moments of rows the loss never reaches into subnormals, which
    x86 CPUs compute about a hundred times slower. Not reentrant: leaving an inner block turns
    flushing off for the rest of an outer one.
    """
    flushing = torch.set_flush_denormal(True)  # False where the CPU cannot
    try:
        yield
    finally:
        if flushing:
            torch.set_flush_denormal(False)


SPARSE_ROWS_PER_BATCH_ROW = 16
"""Id tables train with sparse gradients (a lazy Adam step over the batch's rows) above this
many table rows per batch row. A dense Adam step over ``R`` rows of width ``E`` costs about
what the batch's forward and backward cost once ``R`` reaches some ten times the batch
(MovieLens-100k: 2,625 rows, a dense step under 1% of the step; the synthetic 10M log:
250,000 rows, most of it). Below, dense stays: lazy moments learn the ids more slowly
(MovieLens-100k, seeds 42/7/1: best epochs 16/18/12 against 8/12/11), so more epochs cost
more than the lighter steps save."""


def sparse_rows_pay(table_rows: int, batch_size: int) -> bool:
    """Whether id tables of ``table_rows`` rows in all should train with sparse gradients at
    this batch size (:data:`SPARSE_ROWS_PER_BATCH_ROW`)."""
    return table_rows > SPARSE_ROWS_PER_BATCH_ROW * batch_size
