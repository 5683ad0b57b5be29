"""The spectrogram plot helper of notebook 12."""
import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")

from cnncourse import viz  # noqa: E402


def test_show_spectrogram_axes_in_seconds_and_hz():
    spec = torch.rand(129, 50)
    ax = viz.show_spectrogram(spec, sample_rate=8000, hop_length=160, title="demo", f_max=4000,
                              colorbar_label="dB")
    image = ax.images[0]
    assert image.get_extent() == pytest.approx((0, 50 * 160 / 8000, 0, 4000))
    assert image.origin == "lower", "low frequencies at the bottom"
    np.testing.assert_array_equal(image.get_array(), spec.numpy())
    assert (ax.get_title(), ax.get_xlabel(), ax.get_ylabel()) == ("demo", "time (s)", "frequency (Hz)")
    assert len(ax.figure.axes) == 2, "a colorbar is drawn"


def test_show_spectrogram_bands_on_given_axes():
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2)
    ax = viz.show_spectrogram(np.zeros((40, 10)), 8000, 128, "mel", ax=axes[1], ylabel="mel band", vmin=-1, vmax=1)
    assert ax is axes[1] and ax.images[0].get_extent() == pytest.approx((0, 10 * 128 / 8000, 0, 40))
    assert ax.get_ylabel() == "mel band" and ax.images[0].get_clim() == (-1, 1)
    assert len(fig.axes) == 3, "one colorbar by default"
    viz.show_spectrogram(np.zeros((40, 10)), 8000, 128, "no bar", ax=axes[0], colorbar=False)
    assert len(fig.axes) == 3, "colorbar=False adds none"
    with pytest.raises(ValueError, match=r"spec must be 2-D \(frequency, frames\), got shape \(2, 3, 4\)"):
        viz.show_spectrogram(np.zeros((2, 3, 4)), 8000, 128, "bad")
