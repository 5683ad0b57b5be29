"""Notebook 12's model answers (AudioCNN1D, AudioCNN2D) are free architectures: their hidden tests' probes
observe the rules the exercises state (layers, size, any input length, batch independence, gradient), and a
submission that swallows its errors keeps no point for a model that breaks one."""
from __future__ import annotations

import nbformat
import pytest

from cnncourse import layout
from tests.notebooks import mutant_rows, SWALLOW, with_own_cell

NAME = "12_audio_cnns"
pytestmark = pytest.mark.slow  # one scope with the contract checks of NAME (tests/conftest.py)
BATCH_PEAK = ("\nAudioCNN1D.forward = (lambda f: (lambda self, x: f(self, x / x.abs().amax().clamp_min(1e-8))))"
              "(AudioCNN1D.forward)")  # normalised by the loudest clip of the batch: logits depend on the batch
NO_PADDING = ("\n_init = AudioCNN2D.__init__\ndef _valid(self, *a, **k):\n    _init(self, *a, **k)\n"
              "    for m in self.modules():\n        if isinstance(m, nn.Conv2d):\n            m.padding = (0, 0)\n"
              "AudioCNN2D.__init__ = _valid")  # too small for 16 x 16 spectrograms


def mutant():
    nb = nbformat.read(layout.notebook_path(NAME), as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source += BATCH_PEAK if "class AudioCNN1D" in cell.source else ""
            cell.source += NO_PADDING if "class AudioCNN2D" in cell.source else ""
    return with_own_cell(nb, SWALLOW)


@pytest.fixture(scope="session")  # once per test process: see tests/notebooks.py
def rows(tmp_path_factory):
    return mutant_rows(NAME, tmp_path_factory)


def test_wrong_models_with_swallowed_errors_earn_nothing(rows):
    row = rows["mutant"]
    assert row["status"] == "suspicious", row
    assert row["cells"]["test_AudioCNN1D"] == 0 and row["cells"]["test_AudioCNN2D"] == 0, row["cells"]
    assert row["total"] == row["max"] - 2 - 2, row["cells"]  # the spectrogram functions keep theirs
    assert "probe_AudioCNN1D returned a different result" in row["reason"]
