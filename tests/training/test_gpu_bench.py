"""`make bench-gpu`'s epoch measurement and its results file (on the CPU here: the same code
path with ``training.device`` switched)."""

import json
from pathlib import Path

from bench.gpu import _merge, epoch_on


def test_one_epoch_of_the_scale_model_is_measured_on_the_synthetic_log(tmp_path: Path) -> None:
    record = epoch_on("cpu", 20_000, tmp_path, seed=0)
    # 400 users of at least 5 interactions: the ratio split keeps about 80% for training.
    assert 14_000 < record["train_rows"] < 17_000
    assert record["seconds"] > 0
    # A sample is a row with its 4 negatives.
    assert abs(record["samples_per_s"] * record["seconds"] - 5 * record["train_rows"]) < (
        0.01 * 5 * record["train_rows"]
    )
    assert "gpu_peak_mb" not in record


def test_results_merge_per_size_and_device_and_keep_other_benchmarks(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"e2e": {"kept": True}}))
    _merge(path, "1000000", "cuda", {"seconds": 30.0})
    _merge(path, "1000000", "cpu", {"seconds": 45.0})
    _merge(path, "100000", "cuda", {"seconds": 3.0})
    results = json.loads(path.read_text())
    assert results["e2e"] == {"kept": True}
    sizes = results["gpu"]["sizes"]
    assert list(sizes) == ["100000", "1000000"]  # in size order
    assert sizes["1000000"] == {"cuda": {"seconds": 30.0}, "cpu": {"seconds": 45.0}}
