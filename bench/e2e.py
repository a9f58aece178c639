"""`make pipeline` end to end at scale: each step's seconds and peak memory, per log size.

For each size ``n`` (``--sizes``, default 1M and 10M interactions) the seeded synthetic log of
:mod:`bench.synthetic` is generated once into ``data/cache/synthetic/<n>/`` (as ``make
bench-scale`` does), then ``python run.py train --config configs/scale.yaml`` runs on it in a
fresh process, cold: a new ZenML store, an empty embedding store, empty reports. The config
is the default model and pipeline on the generic source; only the file paths (set here for
each size) and what the size changes (``configs/scale.yaml``) differ.

Memory: the run's process and its children (the refits train in worker processes) are
sampled every ``--interval`` seconds (resident set size, summed over the process tree), and
each step's peak is the highest sample between its start and end as the ZenML store records
them; the run's peak is the highest sample of all. Seconds come from the same records; the
total is the wall time of the command, imports and ZenML's set-up included. Results merge into
``bench/results.json`` under ``e2e`` (one entry per size; sizes measured earlier are kept).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import yaml

from bench.steps import newest_run_steps

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SIZES = (1_000_000, 10_000_000)


class MemorySampler:
    """Resident memory of a process and its descendants, sampled on a thread: ``(unix time,
    MB)`` pairs."""

    def __init__(self, pid: int, interval: float):
        self.process = psutil.Process(pid)
        self.interval = interval
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            total = 0
            try:
                tree = [self.process, *self.process.children(recursive=True)]
            except psutil.Error:
                return  # the run has exited
            for process in tree:
                # A worker may exit between the listing and the reading.
                with contextlib.suppress(psutil.Error):
                    total += process.memory_info().rss
            self.samples.append((time.time(), total / 2**20))
            self._stop.wait(self.interval)

    def peak(self, start: float = float("-inf"), end: float = float("inf")) -> float:
        """The highest sample in ``[start, end]`` (the nearest sample before ``start`` counts
        too: a step shorter than the interval still gets a figure)."""
        before = [mb for t, mb in self.samples if t < start]
        inside = [mb for t, mb in self.samples if start <= t <= end]
        candidates = inside + before[-1:]
        return round(max(candidates), 1) if candidates else float("nan")


def scale_config(base: Path, folder: Path, scratch: Path, n: int) -> Path:
    """``base`` reading the log in ``folder``, with its embedding store and reports in empty
    scratch folders."""
    config = yaml.safe_load(base.read_text())
    if "base" in config:  # written elsewhere: the base path is relative to the original
        config["base"] = str((base.parent / config["base"]).resolve())
    data = config.setdefault("data", {})
    for table in ("interactions", "items", "users"):
        data[table] = str(folder / f"{table}.parquet")
    # Inside data.root, named after the unique scratch folder: never a store left by an
    # interrupted benchmark.
    store = Path("data") / "bench-e2e" / scratch.name / "embeddings"
    config.setdefault("encoder", {})["store_dir"] = str(store)
    config["reports_dir"] = str(scratch / "reports")
    config.setdefault("registry", {})["model_name"] = f"mtrec-e2e-{n}"
    path = scratch / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def measure(
    n: int, config: Path, cache: Path, interval: float, log: Path, limit_s: float | None = None
) -> dict[str, Any]:
    """One cold ``run.py train`` on the ``n``-interaction log: per step and in all. A run
    still going after ``limit_s`` is stopped and recorded as far as it got (the steps that
    finished, the peak so far, ``completed: false``): a size over the goal is still measured."""
    from bench.synthetic import cached_synthetic

    folder = cache / str(n)
    cached_synthetic(folder, n)
    scratch = Path(tempfile.mkdtemp(prefix="mtrec-bench-e2e-"))
    store = scratch / "zenml"
    try:
        config_file = scale_config(config, folder.resolve(), scratch, n)
        env = {**os.environ, "ZENML_CONFIG_PATH": str(store), "HF_HUB_OFFLINE": "1"}
        command = [sys.executable, "run.py", "train", "--config", str(config_file)]
        started = time.perf_counter()
        completed = True
        with log.open("w") as output:
            child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=output)
            with MemorySampler(child.pid, interval) as memory:
                try:
                    status = child.wait(timeout=limit_s)
                except subprocess.TimeoutExpired:
                    completed, status = False, 0
                    for process in [*psutil.Process(child.pid).children(recursive=True), child]:
                        with contextlib.suppress(psutil.NoSuchProcess):
                            process.kill()
                    child.wait()
        total = time.perf_counter() - started
        if status != 0:
            raise RuntimeError(f"run.py train exited {status} at {n:,}; see {log}")
        steps = {
            name: {
                "seconds": round(record["end"] - record["start"], 1),
                "peak_rss_mb": memory.peak(record["start"], record["end"]),
                "status": record["status"],
            }
            for name, record in newest_run_steps(store).items()  # those that ended
        }
        report = scratch / "reports" / "latest" / "metrics.json"
        metrics = json.loads(report.read_text()) if completed else {}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(ROOT / "data" / "bench-e2e" / scratch.name, ignore_errors=True)
    return {
        "interactions": n,
        "completed": completed,
        "total_seconds": round(total, 1),
        "peak_rss_mb": memory.peak(),
        "steps": steps,
        "test_ndcg@10": metrics.get("test", {}).get("ndcg@10"),
        "serving_ndcg@10": metrics.get("serving", {}).get("test", {}).get("ndcg@10"),
        "baselines_ndcg@10": {
            name: value.get("ndcg@10") for name, value in metrics.get("baselines", {}).items()
        },
        "baselines_skipped": metrics.get("baselines_skipped", {}),
        "method": "python run.py train --config configs/scale.yaml on the synthetic log, cold "
        "(new ZenML store, empty embedding store and reports), in a new process timed from "
        f"outside; resident memory of the process tree sampled every {interval:g} s; step "
        "times from the run records"
        + ("" if completed else f"; stopped after {limit_s:g} s, the finished steps recorded"),
    }


def table(entry: dict[str, Any]) -> str:
    width = max(map(len, entry["steps"]))
    lines = [f"{'step':<{width}}  {'s':>8}  {'peak MB':>8}"]
    for name, step in entry["steps"].items():
        lines.append(f"{name:<{width}}  {step['seconds']:8.1f}  {step['peak_rss_mb']:8.0f}")
    lines.append(
        f"{'whole run (wall)':<{width}}  {entry['total_seconds']:8.1f}  {entry['peak_rss_mb']:8.0f}"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES))
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "scale.yaml")
    parser.add_argument("--cache", type=Path, default=ROOT / "data" / "cache" / "synthetic")
    parser.add_argument("--interval", type=float, default=0.5)
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results.json")
    parser.add_argument("--log-dir", type=Path, default=ROOT / "data" / "bench-e2e")
    parser.add_argument(
        "--limit-minutes",
        type=float,
        default=None,
        help="stop a run after this long and record the steps it finished",
    )
    args = parser.parse_args()
    args.log_dir.mkdir(parents=True, exist_ok=True)
    for n in args.sizes:
        log = args.log_dir / f"run-{n}.log"
        print(f"{n:,} interactions: run.py train, output in {log}", flush=True)
        entry = measure(
            n,
            args.config,
            args.cache,
            args.interval,
            log,
            None if args.limit_minutes is None else args.limit_minutes * 60,
        )
        print(table(entry), flush=True)
        results = json.loads(args.results.read_text()) if args.results.is_file() else {}
        results.setdefault("e2e", {})[str(n)] = entry
        args.results.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
