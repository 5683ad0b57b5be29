"""cnncourse.bench: median timing and thread pinning."""
import time

import pytest
import torch

from cnncourse.bench import median_seconds, torch_threads


def test_median_seconds_counts_calls_and_takes_the_median(monkeypatch):
    """A fake clock: call k takes k seconds, so the result does not depend on how busy the machine is."""
    calls, now = [], [0.0]

    def work():
        calls.append(1)
        now[0] += len(calls)

    monkeypatch.setattr(time, "perf_counter", lambda: now[0])
    seconds = median_seconds(work, repeats=3, warmup=2)
    assert len(calls) == 5
    assert seconds == 4.0, "timed calls took 3, 4 and 5 fake seconds; warm-up calls are not timed"
    with pytest.raises(ValueError, match="repeats must be at least 1, got 0"):
        median_seconds(work, repeats=0)


def test_torch_threads_restores_even_after_an_error():
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError, match="inside"):  # the error raised below, not one of torch_threads'
        with torch_threads(1):
            assert torch.get_num_threads() == 1
            raise RuntimeError("inside")
    assert torch.get_num_threads() == before
