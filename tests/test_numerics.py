"""Floating-point settings: subnormals flushed inside a block or a decorated function only."""

import pytest
import torch

from mtrec.numerics import subnormals_flushed

TINY = torch.tensor([1e-30]), torch.tensor([1e-10])  # their product, 1e-40, is subnormal


def _product() -> float:
    return float(TINY[0] * TINY[1])


def test_subnormals_flushed_as_block_and_decorator_then_off_again() -> None:
    supported = torch.set_flush_denormal(False)  # returns whether this CPU can flush
    inside = 0.0 if supported else pytest.approx(1e-40, rel=1e-3)
    with subnormals_flushed():
        assert _product() == inside
    assert _product() == pytest.approx(1e-40, rel=1e-3)
    assert subnormals_flushed()(_product)() == inside
    assert _product() == pytest.approx(1e-40, rel=1e-3)
    with pytest.raises(RuntimeError), subnormals_flushed():
        raise RuntimeError("an error inside the block")
    assert _product() == pytest.approx(1e-40, rel=1e-3)  # off again after an error too
