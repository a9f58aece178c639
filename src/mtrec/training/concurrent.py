"""Independent trainings side by side, each in its own process with its share of the cores.

A training step on a small model is a long chain of small tensor operations, which two
threads speed up far less than twofold. Two such trainings, one thread each, finish sooner
than one after the other with two threads each (measured in docs/benchmarks.md). Each process
gets ``cores // n`` threads, so the cores are never oversubscribed.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

import torch

T = TypeVar("T")


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _start_worker(threads: int, log_level: int) -> None:
    """A spawned worker: its share of the cores, and this library's log lines (training
    progress) on its stderr at the parent's level, since a spawned process has no handlers."""
    torch.set_num_threads(threads)
    progress = logging.getLogger("mtrec")
    progress.addHandler(logging.StreamHandler(sys.stderr))
    progress.setLevel(log_level)


def run_concurrently(calls: Sequence[Callable[[], T]], cores: int | None = None) -> list[T]:
    """``[call() for call in calls]``, the calls side by side when there are cores for more
    than one: every call but the last in a fresh (spawned) process, the last in this one, each
    with ``cores // len(calls)`` torch threads. Calls must be picklable (module-level
    functions, ``functools.partial`` of them) and independent; results come back in order.
    With one call or one core they simply run in turn, here."""
    cores = cores or available_cores()
    if len(calls) <= 1 or cores < 2:
        return [call() for call in calls]
    workers = min(len(calls), cores)
    threads = max(1, cores // workers)
    if workers < len(calls):  # more calls than cores: in rounds of ``workers``
        results: list[T] = []
        for start in range(0, len(calls), workers):
            results += run_concurrently(calls[start : start + workers], cores)
        return results
    # spawn, not fork: a forked child inherits torch's OpenMP state and can hang in it.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=workers - 1,
        mp_context=context,
        initializer=_start_worker,
        initargs=(threads, logging.getLogger("mtrec").getEffectiveLevel()),
    ) as pool:
        futures = [pool.submit(call) for call in calls[:-1]]
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            last = calls[-1]()
        finally:
            torch.set_num_threads(previous)
        return [future.result() for future in futures] + [last]
