"""Concurrent requests ranked together: one worker thread answers, in one
:func:`mtrec.serving.api.answer_many` call, every request that arrived while it was busy.

Scoring one user is mostly fixed costs (the user network, the (1, H) x (H, I) product, the
re-ranker's loop, each a few small tensor calls); scoring sixteen costs little more. Measured
in process (default model, calibrated re-ranking, one thread): 3.4 ms a request one at a time
against 0.29 ms in batches of 16 on MovieLens-100k, 7.4 ms against 1.3 ms over 100,000 items.
There is no waiting window: an idle worker answers a lone request at once, and batches form
only under load, where they are what keeps latency flat. One worker also keeps request threads
from fighting over the GIL.
"""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass

from mtrec.registry.recommend import Query
from mtrec.serving.api import RecommendRequest, RecommendResponse, ServedModel, answer_many

log = logging.getLogger(__name__)
MAX_BATCH = 64


@dataclass(frozen=True, eq=False)
class _Job:
    served: ServedModel
    request: RecommendRequest
    query: Query
    future: Future[RecommendResponse]


class Batcher:
    """Queue of prepared requests and the worker that answers them in batches of at most
    ``max_batch``; requests are grouped by the model they were prepared against (a swap never
    ranks a query with another version's catalogue), their ``k`` and re-ranking."""

    def __init__(self, max_batch: int = MAX_BATCH) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be positive, got {max_batch}")
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self.batches = 0
        self.answered = 0

    def submit(
        self, served: ServedModel, request: RecommendRequest, query: Query
    ) -> Future[RecommendResponse]:
        """The future answer of ``request`` (its exception: what ``answer_many`` raised)."""
        if self._thread is None:
            raise RuntimeError("the batcher is not running: call start() first")
        future: Future[RecommendResponse] = Future()
        self._queue.put(_Job(served, request, query, future))
        return future

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="ranker", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Answer what is queued, then stop the worker."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=60)
            self._thread = None

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            batch = [job]
            while len(batch) < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:  # stop once this batch is answered
                    self._queue.put(None)
                    break
                batch.append(more)
            self._answer(batch)

    def _answer(self, batch: list[_Job]) -> None:
        # One call per model, list length and re-ranking: a call that fails (a re-ranking
        # the model cannot do) fails only the requests that asked for the same thing.
        groups: dict[tuple[int, int, object], list[_Job]] = {}
        for job in batch:
            key = (id(job.served), job.request.k, job.request.rerank)
            groups.setdefault(key, []).append(job)
        for jobs in groups.values():
            try:
                answers = answer_many(
                    jobs[0].served, [j.request for j in jobs], [j.query for j in jobs]
                )
            except Exception as error:  # noqa: BLE001 - handed to each request's future
                for job in jobs:
                    job.future.set_exception(error)
                continue
            for job, result in zip(jobs, answers, strict=True):
                job.future.set_result(result)
        self.batches += 1
        self.answered += len(batch)
