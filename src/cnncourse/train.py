"""Device choice, seeding and the course's own ``fit`` / ``evaluate`` / ``predict``.

Notebook 05 has students write ``train_epoch`` and ``evaluate`` themselves; every later notebook uses
these, so training loops look the same everywhere and always show progress. Also here, so that no
notebook re-writes them: ``count_params``, ``validation_split`` and ``small_cnn``.
"""
from __future__ import annotations

import contextlib
import os
import random
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

DEVICES = ("auto", "cpu", "cuda", "mps")


def choose_device(name: str = "auto") -> torch.device:
    """``"auto"`` picks cuda, then mps, then cpu; an explicit name must be available."""
    name = str(name).lower()
    if name not in DEVICES:
        raise ValueError(f"DEVICE must be one of {DEVICES}, got {name!r}")
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    available = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available()}
    if not available[name]:
        raise RuntimeError(f"DEVICE={name!r} was asked for but is not available here; use DEVICE='auto'")
    return torch.device(name)


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed python, numpy and torch (all devices); returns a torch Generator seeded the same way."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds cuda and mps
    os.environ["PYTHONHASHSEED"] = str(seed)
    return torch.Generator().manual_seed(seed)


@dataclass
class History:
    """Per-epoch metrics of :func:`fit`, ready for :func:`cnncourse.viz.plot_history`."""

    epoch: list = field(default_factory=list)
    train_loss: list = field(default_factory=list)
    train_accuracy: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    val_accuracy: list = field(default_factory=list)
    seconds: list = field(default_factory=list)

    def append(self, **row) -> None:
        for key, value in row.items():
            getattr(self, key).append(value)

    def as_dict(self) -> dict:
        return {k: list(v) for k, v in self.__dict__.items()}

    def __len__(self) -> int:
        return len(self.epoch)


def _batch_stats(logits: torch.Tensor, y: torch.Tensor, loss: torch.Tensor) -> tuple[float, int, int]:
    """Summed loss, correct predictions and count of one batch (accuracy only for class targets)."""
    n = y.shape[0]
    correct = int((logits.argmax(1) == y).sum()) if logits.dim() == 2 and y.dim() == 1 else 0
    return float(loss) * n, correct, n


def evaluate(model: nn.Module, loader, device="cpu", loss_fn=None, progress: bool = False) -> dict:
    """Mean loss (when ``loss_fn`` is given) and accuracy of ``model`` over ``loader`` in eval mode."""
    device = torch.device(device)
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    model.eval()
    total_loss, correct, count = 0.0, 0, 0
    with torch.no_grad():
        for x, y in tqdm(loader, desc="eval", leave=False, disable=not progress):
            x, y = x.to(device), y.to(device)
            logits = model(x)
            batch_loss, batch_correct, n = _batch_stats(logits, y, loss_fn(logits, y))
            total_loss, correct, count = total_loss + batch_loss, correct + batch_correct, count + n
    if count == 0:
        raise ValueError("evaluate() got an empty loader")
    return {"loss": total_loss / count, "accuracy": correct / count}


def train_one_epoch(model, loader, optimizer, loss_fn, device, bar=None, after_step=None) -> dict:
    """One pass over ``loader`` in train mode; returns mean loss and accuracy over the epoch.

    ``after_step(loss)`` is called after every optimizer step with the batch's mean loss (a float).
    """
    model.train()
    total_loss, correct, count = 0.0, 0, 0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        optimizer.zero_grad(set_to_none=True)
        logits = model(x)
        loss = loss_fn(logits, y)
        loss.backward()
        optimizer.step()
        batch_loss, batch_correct, n = _batch_stats(logits.detach(), y, loss.detach())
        total_loss, correct, count = total_loss + batch_loss, correct + batch_correct, count + n
        if after_step is not None:
            after_step(batch_loss / n)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{total_loss / count:.4f}", refresh=False)  # a redraw per batch is slow in Jupyter
    if count == 0:
        raise ValueError("fit() got an empty training loader")
    return {"loss": total_loss / count, "accuracy": correct / count}


SCHEDULER_INTERVALS = ("epoch", "batch")


def fit(model: nn.Module, train_loader, optimizer, epochs: int = 1, device="cpu", loss_fn=None,
        val_loader=None, scheduler=None, progress: bool = True, scheduler_interval: str = "epoch",
        on_batch=None, threads: int | None = None, desc: str = "fit") -> History:
    """Train for ``epochs`` with a tqdm bar over all batches (live mean loss); returns the :class:`History`.

    * ``scheduler.step()`` is called once per epoch, or after every optimizer step with
      ``scheduler_interval="batch"`` (``OneCycleLR`` is built for that: ``total_steps = epochs * len(loader)``).
    * ``on_batch(step, loss)`` is called after every optimizer step: ``step`` counts the batches of the
      whole run from 0, ``loss`` is the batch's mean loss as a float (for curves finer than an epoch).
      It runs before the scheduler's step, so ``optimizer.param_groups[0]["lr"]`` is the rate just used.
    * ``threads`` runs the whole training with that many intra-op threads (``cnncourse.bench.torch_threads``)
      and restores the previous count afterwards; ``None`` leaves torch's setting alone.
    The model is moved to ``device``.
    """
    if scheduler_interval not in SCHEDULER_INTERVALS:
        raise ValueError(f"scheduler_interval must be one of {SCHEDULER_INTERVALS}, got {scheduler_interval!r}")
    from .bench import torch_threads

    device = torch.device(device)
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    model.to(device)
    history = History()
    step = 0

    def after_step(loss: float) -> None:
        nonlocal step
        if on_batch is not None:
            on_batch(step, loss)
        if scheduler is not None and scheduler_interval == "batch":
            scheduler.step()
        step += 1

    threads_ctx = torch_threads(threads) if threads is not None else contextlib.nullcontext()
    with threads_ctx, tqdm(total=epochs * len(train_loader), desc=desc, disable=not progress,
                           mininterval=0.5) as bar:
        for epoch in range(1, epochs + 1):
            start = time.perf_counter()
            train = train_one_epoch(model, train_loader, optimizer, loss_fn, device, bar, after_step)
            if scheduler is not None and scheduler_interval == "epoch":
                scheduler.step()
            val = evaluate(model, val_loader, device, loss_fn) if val_loader is not None else {}
            history.append(epoch=epoch, train_loss=train["loss"], train_accuracy=train["accuracy"],
                           val_loss=val.get("loss", float("nan")),
                           val_accuracy=val.get("accuracy", float("nan")),
                           seconds=time.perf_counter() - start)
            bar.set_description(f"{desc} epoch {epoch}/{epochs}")
    return history


def predict(model: nn.Module, data, batch_size: int = 500, device=None) -> torch.Tensor:
    """``model``'s outputs for ``data`` in eval mode, without gradients, ``batch_size`` inputs at a time.

    ``data`` is a tensor of inputs (N, ...) or an iterable of batches (a DataLoader: of ``(x, y)`` pairs
    or of inputs alone). Returns the concatenated outputs on the CPU (``.argmax(1)`` gives classes).
    The model runs on ``device`` (default: where its parameters are); its train/eval modes are restored.
    """
    if device is None:
        tensors = list(model.parameters()) + list(model.buffers())
        device = tensors[0].device if tensors else torch.device("cpu")
    batches = data.split(batch_size) if isinstance(data, torch.Tensor) else data
    modes = {module: module.training for module in model.modules()}
    model.eval()
    outputs = []
    try:
        with torch.no_grad():
            for batch in batches:
                x = batch[0] if isinstance(batch, (tuple, list)) else batch
                outputs.append(model(x.to(device)).cpu())
    finally:
        for module, mode in modes.items():
            module.training = mode
    if not outputs:
        raise ValueError("predict() got no inputs")
    return torch.cat(outputs)


def count_params(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of parameter elements of ``model`` (each shared tensor once); by default only trainable ones.

    This is notebook 04's exercise; later notebooks use it to display model sizes.
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


@torch.no_grad()
def fill_by_shape_(module: nn.Module, scale: float = 0.2) -> nn.Module:
    """Set every parameter to a fixed function of its shape, in place; returns the module.

    Two modules with the same layers then compute the same function, whatever order their layers were built
    or registered in: a way to compare two implementations (the grader's probes use it) without a seed.
    """
    for p in module.parameters():
        k = torch.arange(p.numel(), dtype=torch.float64)
        values = torch.sin(0.7 * k + 0.1 * p.numel() + sum(p.shape))
        p.copy_((scale * values).reshape(p.shape).to(p.dtype))
    return module


def validation_split(targets, n_val: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(train indices, validation indices): a class-balanced validation set of ``n_val`` items, the rest train.

    Model choices and early stopping are made on the validation part; the test set is read once, at the end.
    """
    from .data import balanced_indices

    targets = torch.as_tensor(targets)
    val = balanced_indices(targets, n_val, seed=seed)
    keep = torch.ones(len(targets), dtype=torch.bool)
    keep[val] = False
    return torch.nonzero(keep).flatten(), val


def small_cnn(widths=(16, 32, 64), p_drop: float = 0.1, num_classes: int = 10, in_channels: int = 1,
              image_size: int = 28, pools: int = 2) -> nn.Sequential:
    """A small BatchNorm CNN: per width a 3x3 conv (padding 1, no bias) -> BatchNorm -> ReLU, a 2x2 max-pool
    after each of the first ``pools`` blocks, then flatten -> dropout(``p_drop``) -> linear.

    The defaults are notebook 06's network (16 x 28 x 28 -> 32 x 14 x 14 -> 64 x 7 x 7 -> 10 logits);
    ``small_cnn((8, 16), p_drop=0.2)`` is the smaller one of the augmentation notebook. The convolutions
    have no bias because the BatchNorm after them subtracts any constant anyway (its beta is the shift).
    """
    layers, c_in, size = [], in_channels, image_size
    for k, width in enumerate(widths):
        layers += [nn.Conv2d(c_in, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
        if k < pools:
            layers.append(nn.MaxPool2d(2))
            size //= 2
        c_in = width
    layers += [nn.Flatten(), nn.Dropout(p_drop), nn.Linear(c_in * size * size, num_classes)]
    return nn.Sequential(*layers)
