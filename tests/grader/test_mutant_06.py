"""Notebook 06's conv_bn_relu and kaiming_init_ (a module, a function of a module) are verified by their hidden
tests' probes: a submission that swallows its errors keeps no point for a block with a conv bias or an init from
fan_out."""
from __future__ import annotations

import pytest

from tests.notebooks import mutant_rows, replaced_solution

NAME = "06_training_cnns"
pytestmark = pytest.mark.slow  # one scope with the contract checks of NAME (tests/conftest.py)
WRONG = {"conv_bn_relu": ("padding=1, bias=False", "padding=1, bias=True"),
         "kaiming_init_": ("layer.weight[0].numel()", "layer.weight[:, 0].numel()")}  # fan_out instead of fan_in


def mutant():
    return replaced_solution(NAME, WRONG)


@pytest.fixture(scope="session")  # once per test process: see tests/notebooks.py
def rows(tmp_path_factory):
    return mutant_rows(NAME, tmp_path_factory)


def test_wrong_block_and_init_with_swallowed_errors_earn_nothing(rows):
    row = rows["mutant"]
    assert row["status"] == "suspicious", row
    assert row["cells"]["test_conv_bn_relu"] == 0 and row["cells"]["test_kaiming_init_"] == 0, row["cells"]
    assert row["total"] == row["max"] - 2 - 3, row["cells"]  # the other cells keep theirs
    assert "probe_conv_bn_relu returned a different result" in row["reason"]
    assert "probe_kaiming_init_ returned a different result" in row["reason"]
