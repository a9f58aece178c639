"""Scale benchmark: the library's stages on synthetic logs of growing size.

For each size ``n`` (``--sizes``, default 100k, 1M and 10M interactions) a seeded synthetic log
(:mod:`bench.synthetic`: ``n / 50`` users, ``clip(n / 100, 1k, 50k)`` items) is generated
once and cached as Parquet under ``data/cache/synthetic/<n>/``. Then, in one fresh Python process
per size, these stages run in pipeline order, each timed:

- ``generate``: only when the cache was missing (its time is otherwise not measured);
- ``load``: :func:`mtrec.data.sources.read_generic` on the three Parquet files;
- ``validate``: :func:`mtrec.data.validation.validate_interactions` with the default
  ``ValidationConfig`` (Great Expectations on the whole frame);
- ``index``: :func:`mtrec.data.prepare.index_interactions` (ids to contiguous indices);
- ``split``: :func:`mtrec.data.split.split_interactions` with the default per-user ratio split;
- ``train_epoch``: one epoch of :func:`mtrec.training.trainer.train_multitask` (model built by
  :func:`mtrec.workflows.fit.build_model`) on the train part: the default tasks (watch, like,
  rating), a small shared-bottom network (embedding 32, hidden 64, towers 16) with the default
  ranking head (``model.ranking_interaction``), 4 negatives per positive, batch 4,096, random
  384-wide text embeddings standing in for MiniLM's; the id tables' gradients as
  ``--id-gradients`` says (``training.id_gradients``, default ``auto``: dense at 1M, sparse
  at 10M; ``sparse`` or ``dense`` at every size, recorded under ``scale_<value>_ids``);
- ``evaluate``: full ranking (:func:`mtrec.evaluation.metrics.evaluate_ranking`, every item
  scored, train items masked, top-K on tensors) for ``--eval-users`` test users, as users/s.

Memory: before each stage the process's resident high-water mark is reset (``5`` written to
``/proc/self/clear_refs``), so a stage's ``peak_rss_mb`` is the highest resident memory of the
process *during that stage*, including the imports and whatever earlier stages' outputs are
still held (as a pipeline step holds its inputs); ``start_rss_mb`` is the resident memory when
it began. The raw frames are dropped after indexing, as they would be between pipeline steps.
Where ``clear_refs`` cannot be written, peaks are the process's cumulative ``ru_maxrss``.

The scaling exponent of each stage is the least-squares slope of log(seconds) against log(n)
over every size recorded in the results (1 is linear; for ``evaluate``, seconds per evaluated
user, which grow with the catalogue); the memory exponent uses the stage's own growth (peak
minus start). Results merge into ``bench/results.json`` under ``"scale"``,
sizes measured earlier are kept, other keys are untouched.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("generate", "load", "validate", "index", "split", "train_epoch", "evaluate")
DEFAULT_SIZES = (100_000, 1_000_000, 10_000_000)
VALIDATION_NOW = 1_700_000_000
"""A fixed "now" for validation: the synthetic period ends in 2020."""


class _Meter:
    """Per-stage wall time and resident-memory high-water mark of this process."""

    def __init__(self) -> None:
        self.stages: dict[str, dict[str, float]] = {}
        self.per_stage_peaks = _reset_peak()

    def run(self, name: str, work: Callable[[], Any]) -> Any:
        gc.collect()
        self.per_stage_peaks = _reset_peak() and self.per_stage_peaks
        start_rss = _status_mb("VmRSS")
        started = time.perf_counter()
        value = work()
        seconds = time.perf_counter() - started
        peak = _status_mb("VmHWM") if self.per_stage_peaks else _ru_maxrss_mb()
        self.stages[name] = {
            "seconds": round(seconds, 4),
            "start_rss_mb": round(start_rss, 1),
            "peak_rss_mb": round(peak, 1),
        }
        print(f"  {name:<12} {seconds:8.2f} s  peak {peak:8.0f} MB", file=sys.stderr, flush=True)
        return value


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _status_mb(field: str) -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return _ru_maxrss_mb()


def _ru_maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_size(
    n: int,
    cache: Path,
    seed: int,
    eval_users: int,
    eval_batch: int | None,
    regenerate: bool,
    id_gradients: str = "auto",
) -> dict[str, Any]:
    """Every stage on ``n`` synthetic interactions, in this process."""
    import numpy as np
    import torch

    from bench.synthetic import cached_synthetic, is_cached, write_synthetic
    from mtrec.config import ModelConfig, SplitConfig, TrainingConfig, ValidationConfig
    from mtrec.data.prepare import index_interactions
    from mtrec.data.sources import read_generic
    from mtrec.data.split import split_interactions
    from mtrec.data.validation import validate_interactions
    from mtrec.evaluation.metrics import evaluate_ranking
    from mtrec.training.trainer import sparse_id_gradients, train_multitask
    from mtrec.workflows.fit import build_model

    meter = _Meter()
    baseline = _status_mb("VmRSS")
    folder = cache / str(n)
    if regenerate or not is_cached(folder, n, seed):
        meter.run("generate", partial(write_synthetic, folder, n, seed))
    files = cached_synthetic(folder, n, seed)
    raw = meter.run("load", partial(read_generic, files.interactions, files.items, files.users))
    validation = ValidationConfig()
    result = meter.run(
        "validate",
        partial(validate_interactions, raw.interactions, raw.items, validation, VALIDATION_NOW),
    )
    if not result.success:
        raise RuntimeError(f"synthetic data failed validation: {result.failures()}")
    data = meter.run("index", partial(index_interactions, raw.interactions, raw.items, raw.users))
    del raw
    split = meter.run("split", partial(split_interactions, data.interactions, SplitConfig()))

    rng = np.random.default_rng(seed)
    item_text = rng.normal(size=(len(data.items), 384)).astype(np.float32)
    user_text = rng.normal(size=(len(data.users), 384)).astype(np.float32)
    model_config = ModelConfig(
        architecture="shared_bottom", embedding_dim=32, hidden_dims=(64,), tower_dims=(16,)
    )
    training = TrainingConfig(epochs=1, patience=1, batch_size=4096, id_gradients=id_gradients)

    def train_epoch() -> Any:
        torch.manual_seed(seed)
        model = build_model(model_config, split.train, item_text, user_text)
        train_multitask(model, split.train, model_config.tasks, training, lambda _: {"ndcg@10": 0})
        return model

    model = meter.run("train_epoch", train_epoch)
    test_users = np.unique(split.test["user_idx"].to_numpy())
    chosen = np.sort(rng.choice(test_users, size=min(eval_users, len(test_users)), replace=False))

    def evaluate() -> dict[str, float]:
        truth = split.test[np.isin(split.test["user_idx"].to_numpy(), chosen)]
        seen = split.train[np.isin(split.train["user_idx"].to_numpy(), chosen)]
        with torch.inference_mode():
            means, _, _ = evaluate_ranking(
                model.catalogue_scorer(),
                len(data.items),
                truth["user_idx"].to_numpy(),
                truth["item_idx"].to_numpy(),
                seen["user_idx"].to_numpy(),
                seen["item_idx"].to_numpy(),
                (10, 20),
                batch_size=eval_batch,
            )
        return means

    metrics = meter.run("evaluate", evaluate)
    samples = len(split.train) * (1 + training.negatives_per_positive)
    return {
        "n_interactions": n,
        "n_users": len(data.users),
        "n_items": len(data.items),
        "n_train": len(split.train),
        "stages": meter.stages,
        "baseline_rss_mb": round(baseline, 1),
        "peak_rss_mb": max(stage["peak_rss_mb"] for stage in meter.stages.values()),
        "train_samples_per_s": round(samples / meter.stages["train_epoch"]["seconds"]),
        "eval_users": len(chosen),
        "eval_batch": eval_batch,
        "eval_users_per_s": round(len(chosen) / meter.stages["evaluate"]["seconds"], 1),
        "eval_ndcg@10": round(metrics["ndcg@10"], 4),
        "per_stage_peaks": meter.per_stage_peaks,
        "threads": torch.get_num_threads(),
        "id_gradients": id_gradients,
        "sparse_ids": sparse_id_gradients(training, len(data.users) + len(data.items)),
    }


def median_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One record per size: the median of each stage's time and peaks over the runs."""
    merged = dict(runs[-1])
    merged["stages"] = {
        stage: {
            key: round(statistics.median(r["stages"][stage][key] for r in runs), 4)
            for key in runs[-1]["stages"][stage]
        }
        for stage in runs[-1]["stages"]
        if all(stage in r["stages"] for r in runs)
    }
    for key in ("peak_rss_mb", "train_samples_per_s", "eval_users_per_s"):
        merged[key] = statistics.median(r[key] for r in runs)
    merged["runs"] = len(runs)
    return merged


def fit_exponent(sizes: list[int], values: list[float]) -> float | None:
    """Least-squares slope of log(value) against log(size); None with fewer than two sizes."""
    import numpy as np

    points = [(s, v) for s, v in zip(sizes, values, strict=True) if v > 0]
    if len({s for s, _ in points}) < 2:
        return None
    x = np.log([s for s, _ in points])
    y = np.log([v for _, v in points])
    slope = np.polyfit(x, y, 1)[0]
    return round(float(slope), 3)


def exponents(by_size: dict[str, dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    sizes = sorted(by_size, key=int)
    fitted: dict[str, dict[str, float | None]] = {}
    for stage in STAGES:
        have = [s for s in sizes if stage in by_size[s]["stages"]]
        records = [by_size[s]["stages"][stage] for s in have]
        # Small sizes have fewer than --eval-users test users: evaluation is fitted per user.
        per = [by_size[s]["eval_users"] if stage == "evaluate" else 1 for s in have]
        fitted[stage] = {
            "time": fit_exponent(
                [int(s) for s in have],
                [r["seconds"] / k for r, k in zip(records, per, strict=True)],
            ),
            "memory": fit_exponent(
                [int(s) for s in have], [r["peak_rss_mb"] - r["start_rss_mb"] for r in records]
            ),
        }
    fitted["total_peak_rss"] = {
        "memory": fit_exponent([int(s) for s in sizes], [by_size[s]["peak_rss_mb"] for s in sizes])
    }
    return fitted


def table(scale: dict[str, Any]) -> str:
    """Seconds and per-stage peak RSS per size, with the fitted exponents."""
    by_size = scale["sizes"]
    sizes = sorted(by_size, key=int)
    fitted = scale["exponents"]

    def exponent(value: float | None) -> str:
        return f"{value:>9.2f}" if value is not None else f"{'-':>9}"

    lines = [
        f"{'interactions':<13}"
        + "".join(f"{int(s):>20,}" for s in sizes)
        + "  exponent: time   mem",
        f"{'':<13}" + "".join(f"{'s / peak MB':>20}" for _ in sizes),
    ]
    for stage in STAGES:
        cells = []
        for s in sizes:
            record = by_size[s]["stages"].get(stage)
            cell = f"{record['seconds']:.2f} / {record['peak_rss_mb']:,.0f}" if record else "-"
            cells.append(f"{cell:>20}")
        exponents = exponent(fitted[stage]["time"]) + exponent(fitted[stage]["memory"])
        lines.append(f"{stage:<13}" + "".join(cells) + f"       {exponents}")
    rows = {
        "peak RSS MB": lambda r: f"{r['peak_rss_mb']:,.0f}",
        "train smp/s": lambda r: f"{r['train_samples_per_s']:,.0f}",
        "eval users/s": lambda r: f"{r['eval_users_per_s']:,.0f}",
        "users/items": lambda r: f"{r['n_users']:,} / {r['n_items']:,}",
    }
    for name, cell in rows.items():
        lines.append(f"{name:<13}" + "".join(f"{cell(by_size[s]):>20}" for s in sizes))
    peak = exponent(fitted["total_peak_rss"]["memory"])
    lines.append(f"time exponent: slope of log(s) on log(n); peak RSS exponent {peak.strip()}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-users", type=int, default=2000)
    parser.add_argument(
        "--eval-batch",
        type=int,
        help="users scored at once (default: the library's, about 2M user-item pairs a batch)",
    )
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument(
        "--id-gradients",
        choices=("auto", "sparse", "dense"),
        default="auto",
        help="training.id_gradients; other than auto, results go under scale_<value>_ids",
    )
    parser.add_argument("--repeats", type=int, default=1, help="runs per size; medians kept")
    parser.add_argument("--regenerate", action="store_true", help="ignore the data cache")
    parser.add_argument("--cache", type=Path, default=Path("data/cache/synthetic"))
    parser.add_argument("--results", type=Path, default=Path("bench/results.json"))
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # child: one size, JSON out
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))  # run as a script: bench.synthetic

    if args.one is not None:
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        record = measure_size(
            args.one,
            args.cache,
            args.seed,
            args.eval_users,
            args.eval_batch,
            args.regenerate,
            args.id_gradients,
        )
        print(json.dumps(record))
        return

    measured: dict[str, dict[str, Any]] = {}
    for n in args.sizes:
        runs = []
        for repeat in range(args.repeats):
            print(f"{n:,} interactions, run {repeat + 1}/{args.repeats}", file=sys.stderr)
            command = (
                [
                    sys.executable,
                    __file__,
                    "--one",
                    str(n),
                    "--seed",
                    str(args.seed),
                    "--eval-users",
                    str(args.eval_users),
                    "--cache",
                    str(args.cache),
                    "--id-gradients",
                    args.id_gradients,
                ]
                + (["--eval-batch", str(args.eval_batch)] if args.eval_batch else [])
                + (["--threads", str(args.threads)] if args.threads else [])
                + (["--regenerate"] if args.regenerate and repeat == 0 else [])
            )
            done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True)
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
        measured[str(n)] = median_runs(runs) | {
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "load_average": round(os.getloadavg()[0], 2),
        }

    # Read-modify-write: other benchmarks' keys and earlier sizes stay.
    results = json.loads(args.results.read_text()) if args.results.is_file() else {}
    key = "scale" if args.id_gradients == "auto" else f"scale_{args.id_gradients}_ids"
    scale = results.get(key, {})
    by_size = {**scale.get("sizes", {}), **measured}
    scale = {
        "method": (
            "one fresh process per size; per-stage peak = resident high-water mark during the "
            "stage (reset through /proc/self/clear_refs), including what earlier stages hold; "
            "exponent = least-squares slope of log(seconds) on log(n) over the recorded sizes"
        ),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "sizes": dict(sorted(by_size.items(), key=lambda item: int(item[0]))),
    }
    scale["exponents"] = exponents(scale["sizes"])
    results[key] = scale
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=2) + "\n")
    print(table(scale))


if __name__ == "__main__":
    main()
