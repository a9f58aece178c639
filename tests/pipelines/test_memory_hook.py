"""The steps' ``on_start`` hook hands memory that earlier steps freed back to the OS."""

import io
import platform

import numpy as np
import pandas as pd
import psutil
import pytest

from steps.hooks import release_memory


@pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's; elsewhere only gc runs"
)
def test_memory_freed_inside_the_heap_goes_back_to_the_os() -> None:
    process = psutil.Process()
    chunks = [bytes(1000 + i % 7) for i in range(200_000)]  # ~200 MB of malloc'd blocks
    later = [bytes(1000) for _ in range(10)]  # allocated above them: the heap cannot shrink
    del chunks
    before = process.memory_info().rss
    release_memory()
    assert before - process.memory_info().rss > 100 * 2**20
    assert len(later) == 10


def test_what_a_parquet_round_trip_left_in_arrows_pool_goes_back_to_the_os() -> None:
    process = psutil.Process()
    frame = pd.DataFrame(
        {"a": np.arange(3_000_000), "b": np.random.default_rng(0).random(3_000_000)}
    )
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    read = pd.read_parquet(io.BytesIO(buffer.getvalue()))
    del read, frame
    before = process.memory_info().rss
    release_memory()
    assert before - process.memory_info().rss > 30 * 2**20
