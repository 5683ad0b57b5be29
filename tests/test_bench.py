"""cnncourse.bench: median timing and thread pinning."""
import time

import pytest
import torch

from cnncourse.bench import median_seconds, torch_threads


def test_median_seconds_counts_calls_and_measures_sleep():
    calls = []

    def work():
        calls.append(1)
        time.sleep(0.01)

    seconds = median_seconds(work, repeats=3, warmup=2)
    assert len(calls) == 5
    assert 0.009 <= seconds < 0.5
    with pytest.raises(ValueError):
        median_seconds(work, repeats=0)


def test_torch_threads_restores_even_after_an_error():
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError):
        with torch_threads(1):
            assert torch.get_num_threads() == 1
            raise RuntimeError("inside")
    assert torch.get_num_threads() == before
