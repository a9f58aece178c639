"""`make pipeline` end to end on MovieLens-100k, cold and warm, with the time of each step.

- Cold: a new, empty ZenML store (its first-use set-up included), an empty embedding store and
  an empty reports folder; only the MovieLens-100k files, in ``data/cache`` (``make data``),
  are reused. Every step computes.
- Warm: the same command again on the cold run's store: every step is a cache hit, so the
  figure is the fixed cost of a run (imports, store, caching checks, report export).

Each run is ``python run.py train`` in a fresh process (what ``make pipeline`` runs once the
venv exists), timed from outside. Step times come from the run's records in the ZenML store
(start to end of each step). Figures are medians over ``--cold-runs`` and ``--warm-runs``;
they merge into ``bench/results.json`` under ``pipeline``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from bench.steps import newest_run_steps

ROOT = Path(__file__).resolve().parent.parent


def run_pipeline(config_file: Path, store: Path) -> float:
    """Wall-clock seconds of one ``run.py train`` in a new process on ``store``."""
    env = {**os.environ, "ZENML_CONFIG_PATH": str(store)}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "run.py", "train", "--config", str(config_file)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"run.py train exited {done.returncode}:\n{done.stderr[-3000:]}")
    return seconds


def step_times(store: Path) -> dict[str, dict[str, float | bool]]:
    """Each step of the store's newest training run: seconds and whether it was cached."""
    steps = newest_run_steps(store).items()
    return {
        name: {"seconds": round(s["end"] - s["start"], 3), "cached": s["status"] == "cached"}
        for name, s in steps
    }


def bench_config(base: Path, scratch: Path, reports: Path) -> Path:
    """``base`` with the embedding store and reports moved into empty scratch folders."""
    config = yaml.safe_load(base.read_text())
    # Inside data.root, and named after the unique scratch folder, so a store left by an
    # interrupted benchmark is never reused.
    store = Path("data") / "bench-pipeline" / scratch.parent.name / scratch.name / "embeddings"
    config.setdefault("encoder", {})["store_dir"] = str(store)
    config["reports_dir"] = str(reports)
    path = scratch / "config.yaml"
    # Key order kept: it is the order tasks are declared in, which orders the model's modules
    # and so their seeded initial weights (a sorted copy trains a different model).
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def medians(runs: list[dict[str, dict[str, float | bool]]]) -> dict[str, float]:
    names = list(runs[0])
    return {
        name: statistics.median(float(run[name]["seconds"]) for run in runs if name in run)
        for name in names
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "default.yaml")
    parser.add_argument("--cold-runs", type=int, default=3)
    parser.add_argument("--warm-runs", type=int, default=3)
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results.json")
    args = parser.parse_args()

    cold_seconds, cold_steps, warm_seconds, warm_steps = [], [], [], []
    to_best, best_epochs = [], []
    scratch_root = Path(tempfile.mkdtemp(prefix="mtrec-bench-pipeline-"))
    try:
        for index in range(args.cold_runs):
            scratch = scratch_root / f"cold{index}"
            scratch.mkdir()
            store, reports = scratch / "zenml", scratch / "reports"
            config_file = bench_config(args.config, scratch, reports)
            cold_seconds.append(run_pipeline(config_file, store))
            cold_steps.append(step_times(store))
            training = json.loads((reports / "latest" / "metrics.json").read_text())["training"]
            to_best.append(training["seconds_to_best"])
            best_epochs.append(training["best_epoch"])
            print(f"cold run {index + 1}: {cold_seconds[-1]:.1f} s", flush=True)
            if index == args.cold_runs - 1:  # warm runs reuse the last cold run's store
                for warm in range(args.warm_runs):
                    warm_seconds.append(run_pipeline(config_file, store))
                    warm_steps.append(step_times(store))
                    print(f"warm run {warm + 1}: {warm_seconds[-1]:.1f} s", flush=True)
    finally:
        shutil.rmtree(scratch_root, ignore_errors=True)
        shutil.rmtree(ROOT / "data" / "bench-pipeline" / scratch_root.name, ignore_errors=True)

    cold_step_medians, warm_step_medians = medians(cold_steps), medians(warm_steps)
    result = {
        "method": "python run.py train in a new process, timed from outside; cold: new ZenML "
        "store, empty embedding store and reports (MovieLens-100k files already fetched); warm: "
        "the same store again, every step cached; step seconds from the run records; medians",
        "cold_seconds": statistics.median(cold_seconds),
        "warm_seconds": statistics.median(warm_seconds),
        "cold_runs": cold_seconds,
        "warm_runs": warm_seconds,
        "cold_steps": cold_step_medians,
        "warm_steps": warm_step_medians,
        "warm_steps_cached": all(s["cached"] for run in warm_steps for s in run.values()),
        "seconds_to_best_epoch": statistics.median(to_best),
        "best_epochs": best_epochs,
    }
    width = max(map(len, cold_step_medians))
    print(f"\n{'step':<{width}}  {'cold s':>8}  {'warm s':>8}")
    for name, seconds in cold_step_medians.items():
        print(f"{name:<{width}}  {seconds:8.1f}  {warm_step_medians.get(name, float('nan')):8.2f}")
    print(
        f"{'make pipeline (wall)':<{width}}  {result['cold_seconds']:8.1f}  "
        f"{result['warm_seconds']:8.2f}"
    )
    print(
        f"time to the best epoch: {result['seconds_to_best_epoch']:.1f} s "
        f"(best epochs {best_epochs})"
    )
    results = json.loads(args.results.read_text()) if args.results.is_file() else {}
    results["pipeline"] = result
    args.results.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
