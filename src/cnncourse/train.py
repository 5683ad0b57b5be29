"""Device choice, seeding and the course's own ``fit`` / ``evaluate`` pair.

Notebook 05 has students write ``train_epoch`` and ``evaluate`` themselves; every later notebook uses
these, so training loops look the same everywhere and always show progress.
"""
from __future__ import annotations

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


def train_one_epoch(model, loader, optimizer, loss_fn, device, bar=None) -> dict:
    """One pass over ``loader`` in train mode; returns mean loss and accuracy over the epoch."""
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
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{total_loss / count:.4f}", refresh=False)  # a redraw per batch is slow in Jupyter
    if count == 0:
        raise ValueError("fit() got an empty training loader")
    return {"loss": total_loss / count, "accuracy": correct / count}


def fit(model: nn.Module, train_loader, optimizer, epochs: int = 1, device="cpu", loss_fn=None,
        val_loader=None, scheduler=None, progress: bool = True) -> History:
    """Train for ``epochs`` with a tqdm bar over all batches; returns the per-epoch :class:`History`.

    ``scheduler.step()`` is called once per epoch. The model is moved to ``device``.
    """
    device = torch.device(device)
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    model.to(device)
    history = History()
    with tqdm(total=epochs * len(train_loader), desc="fit", disable=not progress, mininterval=0.5) as bar:
        for epoch in range(1, epochs + 1):
            start = time.perf_counter()
            train = train_one_epoch(model, train_loader, optimizer, loss_fn, device, bar)
            if scheduler is not None:
                scheduler.step()
            val = evaluate(model, val_loader, device, loss_fn) if val_loader is not None else {}
            history.append(epoch=epoch, train_loss=train["loss"], train_accuracy=train["accuracy"],
                           val_loss=val.get("loss", float("nan")),
                           val_accuracy=val.get("accuracy", float("nan")),
                           seconds=time.perf_counter() - start)
            bar.set_description(f"fit epoch {epoch}/{epochs}")
    return history
