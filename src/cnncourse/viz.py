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
