"""An exclusive lock on a file that names its holder, so that a waiting process can say whom
it waits for.

The lock is ``flock``: the kernel drops it when the holding process exits, however it exits
(``kill -9`` included), so a lock file left behind never blocks anyone. It is not re-entrant:
a process that takes the same file's lock twice waits for itself.
"""

from __future__ import annotations

import fcntl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def held(path: Path, holder: str, on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the lock on ``path`` for the block, with ``holder`` written in the file. When
    another process holds it, ``on_wait`` gets what that process wrote (empty when it has not
    written yet), then this one waits until the lock is free."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                handle.seek(0)
                on_wait(handle.read().strip())
            fcntl.flock(handle, fcntl.LOCK_EX)
        handle.truncate(0)
        handle.write(holder)
        handle.flush()
        try:
            yield
        finally:
            handle.truncate(0)  # a waiter that reads between two holders reads no stale name
            handle.flush()
            fcntl.flock(handle, fcntl.LOCK_UN)
