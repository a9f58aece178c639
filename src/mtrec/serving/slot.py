"""The served model, held in memory and replaced when the registry's production changes.

:class:`ModelSlot` loads the version its :class:`ModelSource` names, then checks every
``poll_seconds`` in a background thread whether the source names another one. A new version is
loaded beside the old one, which keeps answering, and then replaces it in one assignment: a
request reads :attr:`ModelSlot.current` once and keeps that model to the end, so no request
sees half a swap and none is dropped. A failed check or load keeps the current model and is
reported by :meth:`ModelSlot.status`.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Protocol

from mtrec.serving.api import ServedModel

log = logging.getLogger(__name__)


class ModelSource(Protocol):
    """Where served models come from (the ZenML registry; a fixed model in tests)."""

    def current_key(self) -> str | None:
        """The key of the version that should be served now (``None``: none is)."""
        ...

    def load(self, key: str) -> ServedModel:
        """The version ``key``, ready to answer."""
        ...


@dataclass(frozen=True)
class SlotStatus:
    """What ``/health`` reports about the served model and its background check."""

    version: str
    loaded_at: float
    swaps: int
    last_check: float | None
    last_error: str | None


class ModelSlot:
    """Holds the served model and swaps it when ``source`` names another version."""

    def __init__(self, source: ModelSource, poll_seconds: float = 5.0) -> None:
        if poll_seconds <= 0:
            raise ValueError(f"poll_seconds must be positive, got {poll_seconds}")
        self.source = source
        self.poll_seconds = poll_seconds
        self._current: ServedModel | None = None
        self._swaps = 0
        self._last_check: float | None = None
        self._last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._checking = threading.Lock()

    @property
    def current(self) -> ServedModel:
        """The model to answer with; read it once per request."""
        served = self._current
        if served is None:
            raise RuntimeError("no model loaded yet: call load_initial() first")
        return served

    def load_initial(self) -> ServedModel:
        """Load the source's current version; raises when it names none."""
        key = self.source.current_key()
        if key is None:
            raise LookupError("the model source has no version to serve")
        self._current = self.source.load(key)
        self._last_check = time.time()
        return self._current

    def check(self) -> bool:
        """Swap in the source's current version if it is another one; whether it swapped.
        Errors are recorded (``status().last_error``), never raised: serving goes on."""
        with self._checking:
            try:
                key = self.source.current_key()
                self._last_check = time.time()
                if key is None:
                    self._last_error = "the source names no version; serving the last one"
                    return False
                if self._current is not None and key == self._current.key:
                    self._last_error = None
                    return False
                served = self.source.load(key)
            except Exception as error:  # noqa: BLE001 - a failed check must not stop serving
                self._last_error = f"{type(error).__name__}: {error}"
                log.warning("model check failed, serving the current model: %s", error)
                return False
            previous = self._current
            self._current = served  # one assignment: requests see the old model or the new
            self._swaps += 1
            self._last_error = None
            log.warning(
                "serving model version %s (was %s)",
                served.version,
                previous.version if previous else None,
            )
            return True

    def start(self) -> None:
        """Check every ``poll_seconds`` in a daemon thread until :meth:`stop`."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="model-check", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def status(self) -> SlotStatus:
        served = self.current
        return SlotStatus(
            served.version, served.loaded_at, self._swaps, self._last_check, self._last_error
        )

    def _run(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            self.check()
