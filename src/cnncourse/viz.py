"""Plots shared by the notebooks: image grids and training curves."""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch


def to_displayable(image) -> np.ndarray:
    """CxHxW / HxWxC / HxW tensor or array → HxW[x3] numpy that ``imshow`` understands."""
    array = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    if array.ndim == 3 and array.shape[0] in (1, 3) and array.shape[-1] not in (1, 3):
        array = np.moveaxis(array, 0, -1)  # channels first → channels last
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    return array


def show_images(images, titles=None, ncols: int = 4, cmap: str = "gray", suptitle: str | None = None,
                size: float = 2.5, vmin=None, vmax=None, colorbar: bool = False):
    """Show a list of images in a grid (axes off, one title each); returns the figure."""
    images = list(images)
    nrows = math.ceil(len(images) / ncols)
    ncols = min(ncols, len(images))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k >= len(images):
            continue
        shown = ax.imshow(to_displayable(images[k]), cmap=cmap, vmin=vmin, vmax=vmax)
        if titles is not None:
            ax.set_title(str(titles[k]), fontsize=9)
        if colorbar:
            fig.colorbar(shown, ax=ax, fraction=0.046)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def plot_history(history, title: str = "Training curves"):
    """Loss and accuracy per epoch from :class:`cnncourse.train.History` (or its ``as_dict()``)."""
    h = history.as_dict() if hasattr(history, "as_dict") else history
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.5))
    for split in ("train", "val"):
        if not np.all(np.isnan(h[f"{split}_loss"])):
            ax_loss.plot(h["epoch"], h[f"{split}_loss"], marker="o", label=split)
            ax_acc.plot(h["epoch"], h[f"{split}_accuracy"], marker="o", label=split)
    for ax, name in ((ax_loss, "loss"), (ax_acc, "accuracy")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.set_title(f"{title}: {name}")
        ax.legend()
    fig.tight_layout()
    return fig


def show_spectrogram(spec, sample_rate: int, hop_length: int, title: str, ax=None, f_max: float | None = None,
                     ylabel: str | None = None, cmap: str = "magma", colorbar_label: str | None = None,
                     colorbar: bool = True, **imshow_kw):
    """Draw a (frequency, frames) spectrogram as an image, time in seconds on x, low frequencies at the bottom.

    With ``f_max`` (Hz) the y axis spans 0…f_max Hz (a linear-frequency STFT); without it the y axis is the
    row index (a mel band, a channel). ``colorbar=False`` leaves the colorbar out (small multiples); extra
    keywords go to ``imshow`` (vmin, vmax, …). Returns the axes.
    """
    array = spec.detach().cpu().numpy() if isinstance(spec, torch.Tensor) else np.asarray(spec)
    if array.ndim != 2:
        raise ValueError(f"spec must be 2-D (frequency, frames), got shape {array.shape}")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3))
    seconds = array.shape[1] * hop_length / sample_rate
    top = f_max if f_max is not None else array.shape[0]
    shown = ax.imshow(array, origin="lower", aspect="auto", cmap=cmap, extent=(0, seconds, 0, top), **imshow_kw)
    ax.set_xlabel("time (s)")
    ax.set_ylabel(ylabel or ("frequency (Hz)" if f_max is not None else "band"))
    ax.set_title(title)
    if colorbar:
        bar = ax.figure.colorbar(shown, ax=ax, fraction=0.046)
        if colorbar_label:
            bar.set_label(colorbar_label)
    return ax


def layer_table(model, x, kinds=None, show: bool = True) -> list[dict]:
    """Walk one input through ``model`` and list every leaf layer (or every layer of ``kinds``) it runs.

    ``x`` is an input batch, or a shape (C, H, W) for a batch of one zero image on the model's device
    (``meta`` works: shapes only). Each row is ``{"name", "kind", "shape", "params"}``, ``shape`` without
    the batch dimension, ``params`` the layer's own parameter elements, in the order the layers ran.
    With ``show`` the rows are printed as a table with the total (each shared parameter counted once).
    Forward hooks do the work; they are removed afterwards, and the model runs in eval mode under
    ``no_grad`` (its modes are restored).
    """
    if not isinstance(x, torch.Tensor):
        tensors = list(model.parameters()) + list(model.buffers())
        like = {"device": tensors[0].device, "dtype": tensors[0].dtype} if tensors else {}
        if like and not like["dtype"].is_floating_point:
            like["dtype"] = torch.float32
        x = torch.zeros(1, *x, **like)
    chosen = [(name, m) for name, m in model.named_modules()
              if (isinstance(m, kinds) if kinds is not None else not list(m.children()) and m is not model)]
    if not chosen and kinds is None:
        chosen = [("", model)]  # a single layer
    rows = []

    def hook(module, inputs, output, name):
        shape = tuple(output.shape[1:]) if isinstance(output, torch.Tensor) else None
        rows.append({"name": name, "kind": type(module).__name__, "shape": shape,
                     "params": sum(p.numel() for p in module.parameters())})

    handles = [m.register_forward_hook(lambda m, i, o, name=name: hook(m, i, o, name)) for name, m in chosen]
    modes = {m: m.training for m in model.modules()}
    try:
        with torch.no_grad():
            model.eval()(x)
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes.items():
            m.training = mode
    if show:
        print(f"{'layer':<28} {'output shape':<20} {'params':>12}")
        print(f"{'input':<28} {str(tuple(x.shape[1:])):<20}")
        for row in rows:
            print(f"{(row['name'] + ' ' + row['kind']).strip():<28} {str(row['shape']):<20} {row['params']:>12,}")
        print(f"{'total':<49} {sum(p.numel() for p in model.parameters()):>12,}")
    return rows
