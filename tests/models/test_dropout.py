"""The models' CPU dropout: the statistics of ``nn.Dropout`` with a cheaper random mask."""

from __future__ import annotations

import pytest
import torch

from mtrec.models.layers import Dropout, mlp


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5, 0.9])
def test_drop_rate_and_scale_match_p_rounded_to_a_256th(p):
    torch.manual_seed(0)
    layer = Dropout(p).train()
    out = layer(torch.ones(400, 500))
    dropped = float((out == 0).float().mean())
    used = round(p * 256) / 256
    # 200,000 independent draws: the share's standard error is below 0.0012.
    assert dropped == pytest.approx(used, abs=0.005)
    survivors = out[out != 0]
    assert torch.allclose(survivors, torch.full_like(survivors, 1 / (1 - used)))
    # Expectation preserved, within four standard errors of the mean.
    standard_error = (used * (1 - used)) ** 0.5 / (1 - used) / out.numel() ** 0.5
    assert float(out.mean()) == pytest.approx(1.0, abs=4 * standard_error)


def test_masks_are_independent_across_elements_and_calls():
    torch.manual_seed(0)
    layer = Dropout(0.5).train()
    first, second = layer(torch.ones(200, 256)) > 0, layer(torch.ones(200, 256)) > 0
    assert not torch.equal(first, second)
    # Neighbouring elements come from neighbouring bytes of one 64-bit draw: uncorrelated.
    left, right = first[:, :-1].float(), first[:, 1:].float()
    correlation = torch.corrcoef(torch.stack([left.flatten(), right.flatten()]))[0, 1]
    assert abs(float(correlation)) < 0.02
    # Every byte position of a draw is used alike (the top byte of a 64-bit word included).
    per_position = first.flatten().view(-1, 8).float().mean(dim=0)
    assert torch.allclose(per_position, torch.full_like(per_position, 0.5), atol=0.02)


def test_identity_in_eval_and_at_zero_and_gradient_follows_the_mask():
    x = torch.randn(64, 32, requires_grad=True)
    assert torch.equal(Dropout(0.3).eval()(x), x)
    assert torch.equal(Dropout(0.0).train()(x), x)
    torch.manual_seed(1)
    out = Dropout(0.3).train()(x)
    out.sum().backward()
    kept = out != 0
    assert torch.allclose(x.grad[kept], torch.full_like(x.grad[kept], 256 / (256 - 77)))
    assert torch.equal(x.grad[~kept], torch.zeros_like(x.grad[~kept]))


def test_seeded_runs_repeat_and_invalid_rates_are_refused():
    torch.manual_seed(3)
    first = Dropout(0.3).train()(torch.ones(10, 10))
    torch.manual_seed(3)
    assert torch.equal(Dropout(0.3).train()(torch.ones(10, 10)), first)
    with pytest.raises(ValueError, match="dropout"):
        Dropout(1.0)
    nearly_all = Dropout(0.999).train()(torch.ones(100, 100))  # 255/256 dropped, not all
    assert torch.isfinite(nearly_all).all() and (nearly_all == 256).any()
    assert isinstance(mlp([4, 3], 0.2)[2], Dropout)
