"""Notebook 12's model answers (AudioCNN1D, AudioCNN2D) are free architectures: their hidden tests' probes
observe the rules the exercises state (layers, size, any input length, batch independence, gradient), and a
submission that swallows its errors keeps no point for a model that breaks one."""
from __future__ import annotations

import nbformat
import pytest

from cnncourse import layout
from cnncourse.grader.grading import Grader
from cnncourse.grader.nbgrader_cli import generate_assignment
from tests.notebooks import make_course

NAME = "12_audio_cnns"
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("probes-12")]
BATCH_PEAK = ("\nAudioCNN1D.forward = (lambda f: (lambda self, x: f(self, x / x.abs().amax().clamp_min(1e-8))))"
              "(AudioCNN1D.forward)")  # normalised by the loudest clip of the batch: logits depend on the batch
NO_PADDING = ("\n_init = AudioCNN2D.__init__\ndef _valid(self, *a, **k):\n    _init(self, *a, **k)\n"
              "    for m in self.modules():\n        if isinstance(m, nn.Conv2d):\n            m.padding = (0, 0)\n"
              "AudioCNN2D.__init__ = _valid")  # too small for 16 x 16 spectrograms
SWALLOW = "get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)"


def _forger():
    nb = nbformat.read(layout.notebook_path(NAME), as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source += BATCH_PEAK if "class AudioCNN1D" in cell.source else ""
            cell.source += NO_PADDING if "class AudioCNN2D" in cell.source else ""
    imports = next(k for k, c in enumerate(nb.cells) if c.cell_type == "code" and "from cnncourse" in c.source)
    nb.cells.insert(imports + 1, nbformat.v4.new_code_cell(SWALLOW))
    return nb


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    root = tmp_path_factory.mktemp("probes12")
    course = make_course(root, [NAME])
    released = generate_assignment(NAME, course, release_dir=root / "notebooks")
    for student, nb in (("solution", nbformat.read(layout.notebook_path(NAME), 4)), ("blank", nbformat.read(released, 4)),
                        ("forger", _forger())):
        (root / "class" / student).mkdir(parents=True)
        nbformat.write(nb, root / "class" / student / f"{NAME}.ipynb")
    report = Grader(NAME, root / "class", root / "out", course_root=course, progress=False).run()
    assert report["summary"]["unverified_cells"] == [], "every cell of 12 has a call or a probe"
    return {r["student"]: r for r in report["students"]}


def test_the_solution_is_verified_everywhere(rows):
    row = rows["solution"]
    assert row["status"] == "graded" and row["total"] == row["max"] and row["unverified"] == [], row
    assert sorted(row["verified"]) == sorted(row["cells"])


def test_wrong_models_with_swallowed_errors_earn_nothing(rows):
    row = rows["forger"]
    assert row["status"] == "suspicious", row
    assert row["cells"]["test_AudioCNN1D"] == 0 and row["cells"]["test_AudioCNN2D"] == 0, row["cells"]
    assert row["total"] == row["max"] - 2 - 2, row["cells"]  # the spectrogram functions keep theirs
    assert "probe_AudioCNN1D returned a different result" in row["reason"]


def test_the_blank_copy_gets_zero(rows):
    assert rows["blank"]["total"] == 0, rows["blank"]
