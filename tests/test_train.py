"""cnncourse.train: device choice, seeding, fit/evaluate against hand computations."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from cnncourse.train import History, choose_device, evaluate, fit, seed_everything


def test_auto_device_follows_availability(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert choose_device("auto") == torch.device("cpu")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert choose_device("auto") == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert choose_device("AUTO") == torch.device("cuda")


def test_explicit_device_must_exist(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert choose_device("cpu") == torch.device("cpu")
    with pytest.raises(RuntimeError, match="not available"):
        choose_device("cuda")
    with pytest.raises(ValueError, match="DEVICE must be one of"):
        choose_device("tpu")


def test_seeding_reproduces_python_numpy_torch():
    def draw():
        generator = seed_everything(123)
        return (random.random(), np.random.rand(), torch.rand(3), torch.rand(2, generator=generator))

    first, second = draw(), draw()
    assert first[0] == second[0] and first[1] == second[1]
    assert torch.equal(first[2], second[2]) and torch.equal(first[3], second[3])
    seed_everything(124)
    assert torch.rand(3).ne(first[2]).any()


def _blobs(n=400, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    centers = torch.tensor([[3.0, 0.0], [-3.0, 0.0], [0.0, 3.0]])
    return TensorDataset(centers[y] + 0.5 * torch.randn(n, 2, generator=g), y)


def test_evaluate_matches_a_hand_computation():
    torch.manual_seed(0)
    model = nn.Linear(2, 3)
    data = _blobs(101)
    x, y = data.tensors
    with torch.no_grad():
        logits = model(x)
    expected_acc = (logits.argmax(1) == y).float().mean().item()
    expected_loss = nn.functional.cross_entropy(logits, y).item()
    result = evaluate(model, DataLoader(data, batch_size=17), "cpu")  # uneven last batch
    assert result["accuracy"] == pytest.approx(expected_acc)
    assert result["loss"] == pytest.approx(expected_loss, rel=1e-5)


def test_evaluate_restores_nothing_but_uses_eval_mode():
    model = nn.Sequential(nn.Linear(2, 8), nn.Dropout(0.9), nn.Linear(8, 3))
    loader = DataLoader(_blobs(64), batch_size=64)
    assert evaluate(model, loader)["loss"] == evaluate(model, loader)["loss"], "dropout must be off"
    assert not model.training


def test_fit_learns_and_records_history():
    seed_everything(0)
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 3))
    train = DataLoader(_blobs(300, seed=1), batch_size=32, shuffle=True)
    val = DataLoader(_blobs(200, seed=2), batch_size=64)
    before = evaluate(model, val)["accuracy"]
    history = fit(model, train, torch.optim.Adam(model.parameters(), lr=0.05), epochs=4, val_loader=val,
                  progress=False)
    assert isinstance(history, History) and len(history) == 4 and history.epoch == [1, 2, 3, 4]
    assert history.train_loss[-1] < history.train_loss[0]
    assert history.val_accuracy[-1] > max(0.9, before)
    assert history.val_accuracy[-1] == pytest.approx(evaluate(model, val)["accuracy"])
    assert all(s > 0 for s in history.seconds)
    assert set(history.as_dict()) == {"epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "seconds"}


def test_fit_steps_the_scheduler_per_epoch():
    model = nn.Linear(2, 3)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    history = fit(model, DataLoader(_blobs(32), batch_size=8), optimizer, epochs=3, scheduler=scheduler,
                  progress=False)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.125)
    assert np.isnan(history.val_loss).all()


def test_empty_loaders_are_clear_errors():
    empty = DataLoader(TensorDataset(torch.zeros(0, 2), torch.zeros(0, dtype=torch.long)), batch_size=4)
    with pytest.raises(ValueError, match="empty"):
        evaluate(nn.Linear(2, 3), empty)
    with pytest.raises(ValueError, match="empty"):
        fit(nn.Linear(2, 3), empty, torch.optim.SGD(nn.Linear(2, 3).parameters(), lr=0.1), progress=False)
