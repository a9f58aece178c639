"""Floating-point settings shared by the trainers (the multi-task trainer, BPR-MF)."""

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
