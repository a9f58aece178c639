import operator
from functools import partial

import torch

from mtrec.training.concurrent import run_concurrently


def test_results_come_back_in_order_from_side_by_side_processes():
    calls = [partial(operator.mul, i, 10) for i in range(3)]
    assert run_concurrently(calls, cores=2) == [0, 10, 20]  # 3 calls, 2 cores: two rounds


def test_each_process_gets_its_share_of_the_cores_and_this_one_gets_its_threads_back():
    before = torch.get_num_threads()
    assert run_concurrently([torch.get_num_threads] * 2, cores=4) == [2, 2]
    assert torch.get_num_threads() == before


def test_one_core_runs_the_calls_in_turn_here():
    before = torch.get_num_threads()
    assert run_concurrently([torch.get_num_threads] * 2, cores=1) == [before, before]
