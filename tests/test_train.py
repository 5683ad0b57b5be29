"""cnncourse.train: device choice, seeding, fit/evaluate against hand computations."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from cnncourse.train import (History, choose_device, count_params, evaluate, fit, predict, seed_everything,
                             small_cnn, validation_split)


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


def _one_cycle(model, lr=0.1, total_steps=None):
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    return optimizer, torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=total_steps)


def test_per_batch_scheduler_follows_one_cycle_stepped_by_hand():
    loader = DataLoader(_blobs(50), batch_size=8)  # 7 batches, the last one of 2
    epochs = 3
    model = nn.Linear(2, 3)
    optimizer, scheduler = _one_cycle(model, total_steps=epochs * len(loader))
    used = []
    fit(model, loader, optimizer, epochs=epochs, scheduler=scheduler, scheduler_interval="batch",
        on_batch=lambda step, loss: used.append(optimizer.param_groups[0]["lr"]), progress=False)

    by_hand_optimizer, by_hand = _one_cycle(nn.Linear(2, 3), total_steps=epochs * len(loader))
    expected = []
    for _ in range(epochs * len(loader)):
        expected.append(by_hand_optimizer.param_groups[0]["lr"])
        by_hand_optimizer.step()
        by_hand.step()
    assert len(used) == 21
    np.testing.assert_allclose(used, expected, rtol=1e-12)
    assert max(used) == pytest.approx(0.1, rel=0.01) and used[0] < 0.01 and used[-1] < 1e-3, "a real warm-up and anneal"


def test_per_batch_training_equals_a_manual_loop():
    data = _blobs(45, seed=3)
    runs = []
    for manual in (False, True):
        seed_everything(0)
        model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 3))
        loader = DataLoader(data, batch_size=10, shuffle=True, generator=torch.Generator().manual_seed(1))
        optimizer, scheduler = _one_cycle(model, lr=0.5, total_steps=2 * len(loader))
        losses = []
        if manual:
            for _ in range(2):
                for x, y in loader:
                    optimizer.zero_grad()
                    loss = nn.functional.cross_entropy(model(x), y)
                    loss.backward()
                    optimizer.step()
                    scheduler.step()
                    losses.append(loss.item())
        else:
            fit(model, loader, optimizer, epochs=2, scheduler=scheduler, scheduler_interval="batch",
                on_batch=lambda step, loss: losses.append(loss), progress=False)
        runs.append((losses, [p.detach().clone() for p in model.parameters()]))
    (fit_losses, fit_params), (manual_losses, manual_params) = runs
    assert len(fit_losses) == len(manual_losses) == 2 * 5, "two epochs of 5 batches each"
    np.testing.assert_allclose(fit_losses, manual_losses, rtol=1e-6)
    for a, b in zip(fit_params, manual_params):
        torch.testing.assert_close(a, b)


def test_on_batch_is_called_once_per_batch_with_the_batch_loss():
    model = nn.Linear(2, 3)
    data = _blobs(30)
    loader = DataLoader(data, batch_size=8)  # 8, 8, 8, 6
    calls = []
    snapshots = []

    def on_batch(step, loss):
        calls.append((step, loss))

    # the loss of a batch is that of the model *before* its step: replay with a copy updated by hand
    reference = nn.Linear(2, 3)
    reference.load_state_dict(model.state_dict())
    ref_optimizer = torch.optim.SGD(reference.parameters(), lr=0.2)
    for x, y in DataLoader(data, batch_size=8):
        snapshots.append(nn.functional.cross_entropy(reference(x), y).item())
        ref_optimizer.zero_grad()
        nn.functional.cross_entropy(reference(x), y).backward()
        ref_optimizer.step()
    history = fit(model, loader, torch.optim.SGD(model.parameters(), lr=0.2), epochs=1, on_batch=on_batch,
                  progress=False)
    assert [step for step, _ in calls] == [0, 1, 2, 3]
    assert all(isinstance(loss, float) for _, loss in calls)
    np.testing.assert_allclose([loss for _, loss in calls], snapshots, rtol=1e-5)
    weighted = np.average(snapshots, weights=[8, 8, 8, 6])
    assert history.train_loss[0] == pytest.approx(weighted, rel=1e-5), "the epoch mean weights batches by size"


def test_epoch_interval_is_still_the_default():
    model = nn.Linear(2, 3)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    fit(model, DataLoader(_blobs(32), batch_size=8), optimizer, epochs=2, scheduler=scheduler, progress=False)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.25), "two epochs: two steps, not eight"
    with pytest.raises(ValueError, match="scheduler_interval"):
        fit(model, DataLoader(_blobs(8), batch_size=8), optimizer, scheduler=scheduler, scheduler_interval="step",
            progress=False)


def test_threads_apply_during_training_and_are_restored():
    before = torch.get_num_threads()
    seen = []
    model = nn.Linear(2, 3)
    fit(model, DataLoader(_blobs(16), batch_size=8), torch.optim.SGD(model.parameters(), lr=0.1), threads=1,
        on_batch=lambda step, loss: seen.append(torch.get_num_threads()), progress=False)
    assert seen == [1, 1]
    assert torch.get_num_threads() == before

    def fail(step, loss):
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        fit(model, DataLoader(_blobs(16), batch_size=8), torch.optim.SGD(model.parameters(), lr=0.1), threads=1,
            on_batch=fail, progress=False)
    assert torch.get_num_threads() == before, "restored after an error too"
    seen.clear()
    fit(model, DataLoader(_blobs(8), batch_size=8), torch.optim.SGD(model.parameters(), lr=0.1),
        on_batch=lambda step, loss: seen.append(torch.get_num_threads()), progress=False)
    assert seen == [before], "threads=None leaves the setting alone"


def test_predict_matches_one_big_forward_pass_and_restores_modes():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 8), nn.BatchNorm1d(8), nn.Dropout(0.5), nn.Linear(8, 3))
    model.train()
    model(torch.randn(64, 2))  # running statistics away from 0 / 1
    x = torch.randn(103, 2)
    with torch.no_grad():
        expected = model.eval()(x)
    model.train()
    model[1].eval()  # a frozen BatchNorm inside a training model keeps its mode
    for batch_size in (1, 10, 103, 1000):
        out = predict(model, x, batch_size=batch_size)
        torch.testing.assert_close(out, expected)
        assert not out.requires_grad
    assert model.training and not model[1].training and model[2].training
    loader = DataLoader(TensorDataset(x, torch.zeros(103)), batch_size=17)
    torch.testing.assert_close(predict(model, loader), expected)
    with pytest.raises(ValueError, match="no inputs"):
        predict(model, [])


def test_count_params_counts_shared_tensors_once_and_skips_frozen_ones():
    shared = nn.Linear(4, 4)
    model = nn.Sequential(shared, nn.ReLU(), shared, nn.BatchNorm1d(4), nn.Linear(4, 2, bias=False))
    manual = 4 * 4 + 4 + 2 * 4 + 4 * 2  # shared linear once, BN gamma/beta, last linear
    assert count_params(model) == manual
    model[3].requires_grad_(False)
    assert count_params(model) == manual - 8
    assert count_params(model, trainable_only=False) == manual


def test_validation_split_is_disjoint_balanced_and_seeded():
    targets = torch.arange(100) % 4
    train, val = validation_split(targets, 20, seed=3)
    assert len(val) == 20 and len(train) == 80
    assert set(train.tolist()).isdisjoint(val.tolist()) and set(train.tolist()) | set(val.tolist()) == set(range(100))
    assert torch.bincount(targets[val]).tolist() == [5, 5, 5, 5]
    again = validation_split(targets, 20, seed=3)
    assert torch.equal(again[1], val) and not torch.equal(validation_split(targets, 20, seed=4)[1], val)


def test_small_cnn_has_the_documented_layers_and_sizes():
    model = small_cnn()
    convs = [m for m in model if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(1, 16), (16, 32), (32, 64)]
    assert all(c.bias is None and c.kernel_size == (3, 3) and c.padding == (1, 1) for c in convs)
    assert sum(isinstance(m, nn.MaxPool2d) for m in model) == 2
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    expected = sum(9 * a * b + 2 * b for a, b in [(1, 16), (16, 32), (32, 64)]) + 64 * 7 * 7 * 10 + 10
    assert count_params(model) == expected
    assert model[-2].p == 0.1
    smaller = small_cnn((8, 16), p_drop=0.2, num_classes=5, in_channels=3, image_size=32)
    assert smaller(torch.zeros(2, 3, 32, 32)).shape == (2, 5)
    assert smaller[-1].in_features == 16 * 8 * 8 and smaller[-2].p == 0.2


def test_fill_by_shape_makes_the_function_independent_of_construction_order():
    from cnncourse.train import fill_by_shape_

    class Net(nn.Module):
        def __init__(self, first_head: bool):
            super().__init__()
            if first_head:
                self.head = nn.Linear(6, 2)
            self.body = nn.Conv2d(3, 6, 3)
            if not first_head:
                self.head = nn.Linear(6, 2)

        def forward(self, x):
            return self.head(self.body(x).mean(dim=(2, 3)))

    torch.manual_seed(0)
    a, b = Net(True), Net(False)
    x = torch.randn(2, 3, 5, 5)
    assert not torch.allclose(a(x), b(x)), "seeded alike, the two orders start with different weights"
    torch.testing.assert_close(fill_by_shape_(a)(x), fill_by_shape_(b)(x), rtol=0, atol=0)
    weights = [p.detach().clone() for p in a.parameters()]
    fill_by_shape_(a)
    assert all(torch.equal(w, p) for w, p in zip(weights, a.parameters())), "the same values every time"
    assert all(float(p.abs().max()) <= 0.2 for p in a.parameters()) and len({float(p.std()) for p in a.parameters()}) > 1
