"""The file lock that names its holder: a second process waits, and learns whom for."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from mtrec.locking import held

HOLD = """
import sys, time
from pathlib import Path
from mtrec.locking import held
with held(Path(sys.argv[1]), sys.argv[2]):
    print("holding", flush=True)
    time.sleep(float(sys.argv[3]))
"""


def _holder(lock: Path, name: str, seconds: float) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(lock), name, str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdout.readline() == "holding\n"
    return process


def test_a_second_holder_hears_who_holds_the_lock_and_waits_for_it(tmp_path: Path) -> None:
    lock = tmp_path / "nested" / "run.lock"
    other = _holder(lock, "pid 1, model smoke", 1.5)
    heard: list[str] = []
    started = time.monotonic()
    with held(lock, f"pid {os.getpid()}", heard.append):
        waited = time.monotonic() - started
        assert lock.read_text() == f"pid {os.getpid()}"
    assert heard == ["pid 1, model smoke"]
    assert waited >= 1.0  # the other held it for 1.5 s after saying so
    assert other.wait(timeout=30) == 0
    assert lock.read_text() == ""  # released: no stale name for the next waiter


def test_a_free_lock_is_taken_without_waiting(tmp_path: Path) -> None:
    heard: list[str] = []
    with held(tmp_path / "run.lock", "first", heard.append):
        pass
    with held(tmp_path / "run.lock", "second", heard.append):
        assert (tmp_path / "run.lock").read_text() == "second"
    assert heard == []


def test_a_holder_killed_with_sigkill_leaves_the_lock_free(tmp_path: Path) -> None:
    lock = tmp_path / "run.lock"
    other = _holder(lock, "doomed", 600)
    other.send_signal(signal.SIGKILL)
    other.wait(timeout=30)
    assert lock.read_text() == "doomed"  # its name stays in the file, its lock does not
    heard: list[str] = []
    started = time.monotonic()
    with held(lock, "next", heard.append):
        assert lock.read_text() == "next"
    assert heard == [] and time.monotonic() - started < 5
