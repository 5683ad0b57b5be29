"""cnncourse.viz.layer_table: shapes and parameter counts of a walk through a model."""
from __future__ import annotations

import torch
from torch import nn

from cnncourse.viz import layer_table


def _lenet():
    return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 10))


def test_rows_follow_the_layers_with_shapes_and_params(capsys):
    model = _lenet()
    rows = layer_table(model, (1, 28, 28))
    assert [r["kind"] for r in rows] == [type(m).__name__ for m in model]
    assert [r["name"] for r in rows] == [str(k) for k in range(len(model))]
    x = torch.zeros(1, 1, 28, 28)
    for row, layer in zip(rows, model):
        x = layer(x)
        assert row["shape"] == tuple(x.shape[1:])
        assert row["params"] == sum(p.numel() for p in layer.parameters())
    out = capsys.readouterr().out
    assert f"{sum(p.numel() for p in model.parameters()):,}" in out and "(16, 5, 5)" in out


def test_kinds_filter_meta_device_and_modes_restored(capsys):
    with torch.device("meta"):
        model = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2), nn.BatchNorm2d(8), nn.Dropout(0.5), nn.Conv2d(8, 4, 1))
    model.train()
    model[1].eval()
    rows = layer_table(model, torch.empty(2, 3, 9, 9, device="meta"), kinds=nn.Conv2d, show=False)
    assert [(r["name"], r["shape"]) for r in rows] == [("0", (8, 4, 4)), ("3", (4, 4, 4))]
    assert model.training and not model[1].training and model[2].training
    assert capsys.readouterr().out == ""
    single = layer_table(nn.Conv2d(1, 2, 3), (1, 5, 5), show=False)
    assert single == [{"name": "", "kind": "Conv2d", "shape": (2, 3, 3), "params": 20}]
