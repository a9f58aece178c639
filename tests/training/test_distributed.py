"""Distributed data-parallel training: two gloo processes on CPU against one process."""

import logging

import numpy as np
import pandas as pd
import pytest
import torch
from test_trainer import MODEL, TRAINING, _planted

from mtrec.config import TrainingConfig
from mtrec.evaluation.metrics import evaluate_ranking
from mtrec.workflows.fit import fit_recommender
from mtrec.workflows.inputs import ModelInputs


def _valid_ndcg(trained, split) -> float:
    model = trained.build()
    means, _, _ = evaluate_ranking(
        model.score_items,
        model.spec.n_items,
        split.valid["user_idx"].to_numpy(),
        split.valid["item_idx"].to_numpy(),
        split.train["user_idx"].to_numpy(),
        split.train["item_idx"].to_numpy(),
        (10,),
    )
    return float(means["ndcg@10"])


def test_two_processes_match_single_process_quality(caplog) -> None:
    split, item_emb, user_emb, user_ids, item_ids = _planted(n_users=40, n_items=40, per_user=12)
    training = TRAINING.model_copy(update={"epochs": 8, "patience": 8})
    single, single_result = fit_recommender(
        split.train,
        split.valid,
        ModelInputs(item_emb, user_emb, user_ids, item_ids),
        MODEL,
        training,
    )
    distributed = training.model_copy(update={"nproc": 2})
    with caplog.at_level(logging.INFO, logger="mtrec.workflows.distributed"):
        trained, result = fit_recommender(
            split.train,
            split.valid,
            ModelInputs(item_emb, user_emb, user_ids, item_ids),
            MODEL,
            distributed,
        )
    # Rank 0's epoch lines are streamed from the workers, one per epoch, rank 1's are not.
    epochs = [
        r.getMessage()
        for r in caplog.records
        if r.getMessage().startswith("[train, 2 processes] epoch ")
    ]
    assert len(epochs) == len(result.history)
    assert epochs[0].startswith("[train, 2 processes] epoch 1/8  loss ")
    # Same spec and ids come back from the workers, with a full history.
    assert trained.spec == single.spec and trained.item_ids == single.item_ids
    assert 1 <= result.best_epoch <= len(result.history) <= 8
    assert set(result.history[0].losses) == {"watch", "like", "rating", "total"}
    assert result.best_valid == result.history[result.best_epoch - 1].valid
    # The planted signal is learned as well as in one process .
    single_ndcg, ddp_ndcg = _valid_ndcg(single, split), _valid_ndcg(trained, split)
    assert single_ndcg == pytest.approx(single_result.best_valid["ndcg@10"], abs=1e-6)
    assert ddp_ndcg == pytest.approx(result.best_valid["ndcg@10"], abs=1e-6)
    generator = torch.Generator().manual_seed(0)
    random_ndcg = np.mean(
        [
            evaluate_ranking(
                lambda users: torch.rand(len(users), 40, generator=generator),
                40,
                split.valid["user_idx"].to_numpy(),
                split.valid["item_idx"].to_numpy(),
                split.train["user_idx"].to_numpy(),
                split.train["item_idx"].to_numpy(),
                (10,),
            )[0]["ndcg@10"]
            for _ in range(30)
        ]
    )
    assert ddp_ndcg > random_ndcg + 0.15
    assert abs(ddp_ndcg - single_ndcg) < 0.1
    # The training losses fall like the single process's.
    first, last = result.history[0].losses["total"], result.history[-1].losses["total"]
    assert last < 0.6 * first
    assert torch.isfinite(torch.stack(list(trained.state_dict.values())[0:1])).all()


def test_gradnorm_is_refused_for_distributed_training() -> None:
    with pytest.raises(ValueError, match="gradnorm"):
        TrainingConfig(nproc=2, task_weighting="gradnorm")


def test_a_failing_worker_reports_its_error() -> None:
    split, item_emb, user_emb, user_ids, item_ids = _planted()
    broken = split.train.drop(columns=["rating"])  # the rating task reads a missing column
    with pytest.raises(
        RuntimeError, match=r"distributed training failed(.|\n)*ValueError: .*rating"
    ):
        fit_recommender(
            broken,
            split.valid,
            ModelInputs(item_emb, user_emb, user_ids, item_ids),
            MODEL,
            TRAINING.model_copy(update={"nproc": 2}),
        )
    assert np.isfinite(item_emb).all()


def test_a_distributed_refit_starts_every_rank_from_the_given_weights() -> None:
    from mtrec.workflows.fit import refit_recommender

    split, item_emb, user_emb, user_ids, item_ids = _planted()
    inputs = ModelInputs(item_emb, user_emb, user_ids, item_ids)
    start, _ = fit_recommender(split.train, split.valid, inputs, MODEL, TRAINING)
    known = pd.concat([split.train, split.valid], ignore_index=True)
    # A vanishing rate: what comes back from the workers is the start, trained on nothing.
    still = TRAINING.model_copy(update={"nproc": 2, "refit_epochs": 2, "refit_learning_rate": 1e-9})
    refit, result = refit_recommender(known, inputs, MODEL, still, 6, start=start)
    assert len(result.history) == 2
    network = refit.build()
    for name, _ in network.named_parameters():
        assert torch.allclose(refit.state_dict[name], start.state_dict[name], atol=1e-6), name
    assert len(network.history_items) == len(known)
