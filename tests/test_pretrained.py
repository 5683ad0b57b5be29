"""The course's pre-trained source network (notebook 09): architecture, checkpoint integrity, quality."""

import shutil

import pytest
import torch

from cnncourse import data, pretrained

# Printed by `python scripts/pretrain_source.py` (and quoted in datasets/README.md): test accuracy of the
# shipped checkpoint on the 5,000 Fashion-MNIST test images of classes 0-4.
SCRIPT_ACCURACY = 0.9300
MARGIN = 0.005  # room for another CPU's last float bits, not for a different model


@pytest.fixture(scope="module")
def source():
    return pretrained.source_model()


def test_classes_split_fashion_mnist_in_two():
    assert set(pretrained.SOURCE_CLASSES).isdisjoint(pretrained.TARGET_CLASSES)
    assert sorted(pretrained.SOURCE_CLASSES + pretrained.TARGET_CLASSES) == list(range(len(data.FASHION_CLASSES)))


def test_architecture_shapes_and_torchvision_names():
    from torchvision.models import resnet18

    model = pretrained.SmallResNet(num_classes=7).eval()
    names = [name for name, _ in model.named_children()]
    assert names == [name for name, _ in resnet18().named_children()], "the names of torchvision's ResNets"
    with torch.no_grad():
        x = torch.zeros(3, 1, 28, 28)
        assert model(x).shape == (3, 7)
        h = model.maxpool(model.relu(model.bn1(model.conv1(x))))
        sizes = []
        for k in range(1, 5):
            h = getattr(model, f"layer{k}")(h)
            sizes.append(tuple(h.shape[1:]))
    assert sizes == [(8, 14, 14), (16, 7, 7), (32, 4, 4), (64, 2, 2)]
    assert model.layer1.downsample is None and model.layer2.downsample is not None  # projection when shapes change


def test_source_model_is_the_checkpoint(source):
    path = data.DATA_DIR / pretrained.SOURCE_FILE
    assert path.stat().st_size < 1_500_000
    state = torch.load(path, map_location="cpu", weights_only=True)
    assert {v.dtype for v in state.values()} <= {torch.float32, torch.int64}  # float32 weights, BN counters
    assert isinstance(source, pretrained.SmallResNet) and not source.training, "loaded in eval mode"
    assert source.fc.out_features == len(pretrained.SOURCE_CLASSES)
    assert source.state_dict().keys() == state.keys()
    assert all(torch.equal(v, state[k]) for k, v in source.state_dict().items())


def test_checkpoint_accuracy_on_the_source_classes(source):
    x, y = data.fashion_mnist("test").tensors()
    keep = torch.isin(y, torch.tensor(pretrained.SOURCE_CLASSES))
    assert int(keep.sum()) == 5000
    with torch.no_grad():
        accuracy = float((source(x[keep]).argmax(1) == y[keep]).float().mean())
    assert accuracy >= SCRIPT_ACCURACY - MARGIN, accuracy


def test_checkpoint_is_in_the_manifest():
    manifest = data.read_manifest()
    assert pretrained.SOURCE_FILE in manifest
    assert data.sha256_file(data.DATA_DIR / pretrained.SOURCE_FILE) == manifest[pretrained.SOURCE_FILE]
    assert data.verify("pretrained") == [pretrained.SOURCE_FILE]


def test_altered_or_missing_checkpoint_raises(tmp_path, monkeypatch):
    root = tmp_path / "datasets"
    (root / "pretrained").mkdir(parents=True)
    shutil.copyfile(data.DATA_DIR / data.MANIFEST, root / data.MANIFEST)
    blob = bytearray((data.DATA_DIR / pretrained.SOURCE_FILE).read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    (root / pretrained.SOURCE_FILE).write_bytes(bytes(blob))
    monkeypatch.setattr(data, "DATA_DIR", root)
    with pytest.raises(data.DataError, match="corrupted") as err:
        pretrained.source_model()
    assert f"git checkout -- datasets/{pretrained.SOURCE_FILE}" in str(err.value)
    (root / pretrained.SOURCE_FILE).unlink()
    with pytest.raises(data.DataError, match="missing"):
        pretrained.source_model()
