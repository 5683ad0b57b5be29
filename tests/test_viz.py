"""Plot helpers (cnncourse.viz)."""
from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")

from cnncourse import viz  # noqa: E402
from cnncourse.train import History  # noqa: E402


@pytest.mark.parametrize("image, shape", [(torch.rand(3, 5, 7), (5, 7, 3)), (torch.rand(1, 5, 7), (5, 7)),
                                          (np.zeros((5, 7, 3)), (5, 7, 3)), (np.zeros((5, 7)), (5, 7)),
                                          (torch.rand(5, 7, 1), (5, 7))])
def test_to_displayable_layouts(image, shape):
    assert viz.to_displayable(image).shape == shape


def test_show_images_grid_and_titles():
    fig = viz.show_images([torch.rand(1, 4, 4)] * 5, titles=list("abcde"), ncols=3, suptitle="grid")
    axes = fig.axes
    assert len(axes) == 6 and [ax.get_title() for ax in axes[:5]] == list("abcde")
    assert not axes[5].images, "the spare axis stays empty"
    assert fig._suptitle.get_text() == "grid"


def test_plot_history_labels_every_axis():
    history = History()
    for epoch in (1, 2):
        history.append(epoch=epoch, train_loss=1.0 / epoch, train_accuracy=0.5 * epoch, val_loss=float("nan"),
                       val_accuracy=float("nan"), seconds=1.0)
    fig = viz.plot_history(history, title="demo")
    assert [ax.get_ylabel() for ax in fig.axes] == ["loss", "accuracy"]
    for ax in fig.axes:
        assert ax.get_xlabel() == "epoch" and ax.get_ylabel() and ax.get_title().startswith("demo")
        assert len(ax.lines) == 1, "validation curves are skipped when there is no validation data"
