"""Tests of cnncourse.data: bundled data against independent readers, integrity checks, generated
sets, and the torchvision paths on small files in the real formats. The network is switched off."""

import gzip
import hashlib
import importlib.util
import io
import os
import pickle
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import wave
from pathlib import Path

import numpy as np
import pytest
import torch

from cnncourse import data, layout, pretrained

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO.parent / "shared" / "datasets"  # read-only originals; absent outside the course workspace
needs_source = pytest.mark.skipif(not SOURCE.is_dir(), reason="../shared/datasets not available")


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any connection attempt fails like a machine without network: this is what 'offline' means here."""
    def refuse(*args, **kwargs):
        raise OSError("network disabled in tests")

    for name in ("create_connection", "getaddrinfo"):
        monkeypatch.setattr(socket, name, refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.delenv("CNNCOURSE_OFFLINE", raising=False)


@pytest.fixture(scope="module")
def fashion():
    return {split: data.fashion_mnist(split) for split in ("train", "test")}


@pytest.fixture(scope="module")
def spoken():
    return {split: data.fsdd(split) for split in ("train", "test")}


def write_idx(path: Path, array: np.ndarray) -> None:
    """The IDX format written by hand: 0, 0, type 0x08 (uint8), ndim, big-endian int32 sizes, payload."""
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">i4").tobytes()
    path.write_bytes(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def stderr_lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


# --------------------------------------------------------------------------- Fashion-MNIST


@pytest.mark.parametrize("split, n", [("train", 60_000), ("test", 10_000)])
def test_fashion_mnist_matches_torchvision_reader(fashion, tmp_path, split, n):
    from torchvision.datasets.mnist import read_image_file, read_label_file

    raw = []
    for rel in data.FASHION_FILES[split]:
        target = tmp_path / Path(rel).stem  # un-gzipped, as torchvision keeps them in raw/
        target.write_bytes(gzip.decompress((data.DATA_DIR / rel).read_bytes()))
        raw.append(target)
    ds = fashion[split]
    assert len(ds) == n
    assert ds.data.shape == (n, 28, 28) and ds.data.dtype == torch.uint8
    assert ds.targets.dtype == torch.int64
    assert torch.equal(ds.data, read_image_file(str(raw[0])))
    assert torch.equal(ds.targets, read_label_file(str(raw[1])))
    assert torch.equal(torch.bincount(ds.targets), torch.full((10,), n // 10))  # Fashion-MNIST is balanced
    assert ds.classes == data.FASHION_CLASSES and len(ds.classes) == 10


def test_fashion_mnist_items_and_transforms(fashion):
    ds = fashion["test"]
    x, y = ds[17]
    assert x.shape == (1, 28, 28) and x.dtype == torch.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert torch.allclose(x[0] * 255, ds.data[17].float()) and y == int(ds.targets[17]) and isinstance(y, int)
    seen = []
    tds = data.fashion_mnist("test", transform=lambda t: (seen.append(t.dtype), t.flip(-1))[1],
                             target_transform=lambda label: ds.classes[label])
    tx, ty = tds[17]
    assert seen == [torch.float32]  # the transform gets the float tensor, not a PIL image
    assert torch.equal(tx, x.flip(-1)) and ty == ds.classes[y]


def test_fashion_mnist_tensors_equal_stacked_items():
    ds = data.fashion_mnist("test", subset=50, seed=3)
    xs, ys = ds.tensors()
    assert xs.shape == (50, 1, 28, 28) and ys.dtype == torch.int64
    assert torch.equal(xs, torch.stack([ds[i][0] for i in range(50)]))
    flipped = data.fashion_mnist("test", subset=50, seed=3, transform=lambda t: t.flip(-2))
    assert torch.equal(flipped.tensors()[0], xs.flip(-2))


def test_fashion_mnist_subset_is_balanced_seeded_and_nested(fashion):
    full = fashion["train"]
    small = data.fashion_mnist("train", subset=1000, seed=5)
    assert len(small) == 1000 and torch.equal(torch.bincount(small.targets), torch.full((10,), 100))
    assert torch.equal(small.data, full.data[small.indices]) and torch.equal(small.targets, full.targets[small.indices])
    assert torch.equal(small.indices, data.balanced_indices(full.targets, 1000, seed=5))  # same seed, same images
    assert not torch.equal(small.indices, data.balanced_indices(full.targets, 1000, seed=6))
    larger = data.balanced_indices(full.targets, 2503, seed=5)
    counts = torch.bincount(full.targets[larger])
    assert len(larger) == 2503 and set(counts.tolist()) == {250, 251} and int((counts == 251).sum()) == 3
    assert set(small.indices.tolist()) <= set(larger.tolist())


@pytest.mark.parametrize("n", [0, -1, 60_001])
def test_subset_size_out_of_range(n):
    with pytest.raises(ValueError, match="subset"):
        data.balanced_indices(torch.arange(60_000) % 10, n)


def test_balanced_indices_needs_enough_of_each_class():
    targets = torch.tensor([0] * 10 + [1] * 2)
    with pytest.raises(ValueError, match="class 1 has 2"):
        data.balanced_indices(targets, 8)


@pytest.mark.parametrize("loader", [data.fashion_mnist, data.fsdd, data.digits])
def test_unknown_split(loader):
    with pytest.raises(ValueError, match="split"):
        loader("validation")


def test_read_idx_rejects_bad_files(tmp_path):
    bad = tmp_path / "bad.gz"
    bad.write_bytes(gzip.compress(b"\x00\x00\x0d\x01\x00\x00\x00\x01abcd"))  # type 0x0d = float
    with pytest.raises(data.DataError, match="not a uint8 IDX"):
        data.read_idx_gz(bad)
    short = io.BytesIO()
    write_idx(tmp_path / "x", np.zeros((3, 4), np.uint8))
    short.write((tmp_path / "x").read_bytes()[:-1])
    bad.write_bytes(gzip.compress(short.getvalue()))
    with pytest.raises(data.DataError, match="does not match its header"):
        data.read_idx_gz(bad)


# --------------------------------------------------------------------------- FSDD


def test_fsdd_official_split(spoken):
    train, test = spoken["train"], spoken["test"]
    assert (len(train), len(test)) == (2700, 300)
    assert set(test.takes.tolist()) == set(range(5)) and set(train.takes.tolist()) == set(range(5, 50))
    for ds, takes in ((train, 45), (test, 5)):
        assert ds.targets.dtype == torch.int64 and set(ds.targets.tolist()) == set(range(10))
        pairs = list(zip(ds.speakers, ds.targets.tolist(), strict=True))
        assert len(set(pairs)) == 60 and all(pairs.count(p) == takes for p in set(pairs[:20]))
        assert len(ds.speakers) == len(ds) == len(ds.lengths) and int(ds.lengths.sum()) == len(ds.audio)
    assert set(train.speakers) == set(test.speakers) == set(train.speaker_info)
    assert train.speaker_info["nicolas"] == {"gender": "male", "accent": "BEL/French", "language": "english"}
    assert train.sample_rate == 8000 and train.classes == data.DIGIT_CLASSES


@needs_source
def test_fsdd_equals_every_wav_file(spoken):
    """Every recording against the stdlib `wave` reader on the original tar (the build used soundfile)."""
    items = {}
    for split, ds in spoken.items():
        for i in range(len(ds)):
            items[(int(ds.targets[i]), ds.speakers[i], int(ds.takes[i]))] = (split, i)
    with tarfile.open(SOURCE / "fsdd" / "recordings.tar.gz") as tar:
        for member in tar:
            if not member.name.endswith(".wav"):
                continue
            digit, speaker, take = Path(member.name).stem.split("_")
            split, i = items.pop((int(digit), speaker, int(take)))
            assert (split == "test") == (int(take) < 5)
            with wave.open(tar.extractfile(member)) as w:
                assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
                pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
            x, y = spoken[split][i]
            assert y == int(digit) and x.dtype == torch.float32
            assert torch.equal(x, torch.from_numpy(pcm.astype(np.float32)) / 32768)
    assert not items  # no recording in the dataset that is not in the tar


def test_fsdd_items_in_range_and_fixed_length(spoken):
    ds = spoken["test"]
    long_i, short_i = int(ds.lengths.argmax()), int(ds.lengths.argmin())
    x_long, x_short = ds[long_i][0], ds[short_i][0]
    assert x_long.dim() == 1 and len(x_long) == int(ds.lengths[long_i])
    assert -1.0 <= x_long.min() and x_long.max() < 1.0
    n = (len(x_long) + len(x_short)) // 2
    fixed = data.fsdd("test", length=n, transform=lambda t: t * 2, target_transform=str)
    (cropped, y_long), (padded, _) = fixed[long_i], fixed[short_i]
    assert cropped.shape == padded.shape == (n,) and y_long == str(ds[long_i][1])
    assert torch.equal(cropped, 2 * x_long[:n])  # crop keeps the start
    assert torch.equal(padded[: len(x_short)], 2 * x_short) and not padded[len(x_short):].any()
    with pytest.raises(ValueError, match="length"):
        data.fsdd("test", length=0)


# --------------------------------------------------------------------------- integrity


def copy_of_datasets(tmp_path: Path) -> Path:
    """datasets/ with links to the real (large) files, so that a test can break one of them."""
    out = tmp_path / "datasets"
    shutil.copyfile(data.DATA_DIR / data.MANIFEST, (out.mkdir() or out) / data.MANIFEST)
    for rel in data.read_manifest():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).symlink_to(data.DATA_DIR / rel)
    return out


def test_manifest_matches_files_readme_and_budget():
    manifest = data.read_manifest()
    built = {*data.FASHION_FILES["train"], *data.FASHION_FILES["test"], data.FSDD_FILE}  # scripts/build_datasets.py
    assert set(manifest) == built | {pretrained.SOURCE_FILE}  # + scripts/pretrain_source.py's checkpoint
    for rel, digest in manifest.items():
        assert hashlib.sha256((data.DATA_DIR / rel).read_bytes()).hexdigest() == digest
    readme = (data.DATA_DIR / "README.md").read_text()
    rows = re.findall(r"^\| `([^`]+)` \| ([\d,]+) \| `([0-9a-f]{64})` \|$", readme, flags=re.M)
    assert {rel: d for rel, _, d in rows} == manifest
    assert all(int(size.replace(",", "")) == (data.DATA_DIR / rel).stat().st_size for rel, size, _ in rows)
    total = sum(p.stat().st_size for p in data.DATA_DIR.rglob("*") if p.is_file())
    assert total <= 60_000_000
    assert sorted(data.verify()) == sorted(manifest) and data.verify("fsdd") == [data.FSDD_FILE]


def test_corrupted_file_is_named_with_a_fix(tmp_path, monkeypatch):
    root = copy_of_datasets(tmp_path)
    rel = data.FASHION_FILES["test"][1]
    blob = bytearray((data.DATA_DIR / rel).read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    (root / rel).unlink()
    (root / rel).write_bytes(bytes(blob))
    monkeypatch.setattr(data, "DATA_DIR", root)
    with pytest.raises(data.DataError) as err:
        data.fashion_mnist("test")
    message = str(err.value)
    assert str(root / rel) in message and "corrupted" in message
    assert f"git checkout -- datasets/{rel}" in message and "build_datasets.py" in message
    assert data.verify("fashion-mnist/train-labels-idx1-ubyte.gz") == ["fashion-mnist/train-labels-idx1-ubyte.gz"]
    with pytest.raises(data.DataError, match="t10k-labels"):
        data.verify()


def test_missing_file_and_missing_manifest(tmp_path, monkeypatch):
    root = copy_of_datasets(tmp_path)
    (root / data.FSDD_FILE).unlink()
    monkeypatch.setattr(data, "DATA_DIR", root)
    with pytest.raises(data.DataError, match=r"fsdd\.npz: missing\. Restore it with `git checkout"):
        data.fsdd("train")
    with pytest.raises(ValueError, match="matches 'cifar'"):
        data.verify("cifar")
    (root / data.MANIFEST).write_text("not a manifest line\n")
    with pytest.raises(data.DataError, match="line 1"):
        data.verify()
    (root / data.MANIFEST).unlink()
    with pytest.raises(data.DataError, match="MANIFEST.sha256 is missing"):
        data.fashion_mnist("test")


def test_data_dir_default_and_env_override(tmp_path, monkeypatch):
    monkeypatch.delenv("CNNCOURSE_DATA", raising=False)  # the default is checked whatever the caller's environment
    monkeypatch.delenv(layout.ENV, raising=False)
    monkeypatch.chdir(REPO)
    assert data.locate_data() == (REPO / "datasets", "course")
    code = "import cnncourse.data as d; print(d.DATA_DIR)"
    env = {**os.environ, "CNNCOURSE_DATA": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(tmp_path)


@needs_source
def test_build_script_reproduces_datasets():
    spec = importlib.util.spec_from_file_location("build_datasets", REPO / "scripts" / "build_datasets.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    assert build.check(SOURCE, data.DATA_DIR) == []


# --------------------------------------------------------------------------- scikit-learn / scikit-image


def test_digits_splits_are_stratified_and_seeded():
    from sklearn.datasets import load_digits

    bunch = load_digits()
    full, train, test = (data.digits(split) for split in ("all", "train", "test"))
    assert (len(full), len(train), len(test)) == (1797, 1437, 360)
    assert torch.allclose(full.data.double(), torch.from_numpy(bunch.images)) and full.data.dtype == torch.uint8
    assert set(train.indices.tolist()).isdisjoint(test.indices.tolist())
    assert sorted(train.indices.tolist() + test.indices.tolist()) == list(range(1797))
    per_class = torch.bincount(full.targets)
    assert (torch.bincount(test.targets) - per_class * 0.2).abs().max() <= 1
    assert torch.equal(test.indices, data.digits("test").indices)
    assert not torch.equal(test.indices, data.digits("test", seed=1).indices)
    x, y = train[3]
    assert x.shape == (1, 8, 8) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    assert torch.allclose(x[0] * 16, torch.from_numpy(bunch.images[int(train.indices[3])]).float())
    assert y == bunch.target[int(train.indices[3])] and train.classes == data.DIGIT_CLASSES


def test_sample_photos_load_without_network():
    import skimage.data
    from sklearn.datasets import load_sample_image

    for name in data.SAMPLE_PHOTOS:
        img = data.sample_photo(name)
        assert img.dtype == np.uint8 and (img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 3)), name
    assert data.sample_photo("camera").ndim == 2
    assert np.array_equal(data.sample_photo(), skimage.data.astronaut())
    assert np.array_equal(data.sample_photo("flower"), load_sample_image("flower.jpg"))
    with pytest.raises(ValueError, match="astronaut.*china"):
        data.sample_photo("eagle")  # a scikit-image image that would need a download


# --------------------------------------------------------------------------- generated


def test_gaussian_blobs_widths_labels_and_gausnet_sizes():
    ds = data.gaussian_blobs(40, noise=0.0, center_std=0.0, seed=3)
    assert ds.data.shape == (40, 91, 91) and ds.data.dtype == torch.float32
    assert torch.equal(torch.bincount(ds.targets), torch.tensor([20, 20]))
    # Centred, noise-free blobs: recover sigma from the profile, exp(-d^2 / 2 sigma^2), at d = 1.
    axis = np.linspace(-4, 4, 91)
    k = int(np.argmin(np.abs(axis - 1.0)))
    profile = ds.data[:, 45, k].double()
    sigma = axis[k] / torch.sqrt(-2 * torch.log(profile))
    assert torch.allclose(sigma, torch.tensor([1.8, 2.4], dtype=torch.float64)[ds.targets], atol=1e-3)
    x = torch.stack([ds[i][0] for i in range(4)])
    layers = [torch.nn.Conv2d(1, 6, 3, padding=1), torch.nn.AvgPool2d(2), torch.nn.Conv2d(6, 4, 3, padding=1),
              torch.nn.AvgPool2d(2)]
    sizes = [x.shape[-1]] + [(x := layer(x)).shape[-1] for layer in layers]
    assert sizes[::2] == [91, 45, 22]  # the GausNet sizes of the design (seed 003)


def test_gaussian_blobs_reproducible_and_noisy():
    a, b, c = data.gaussian_blobs(30, seed=1), data.gaussian_blobs(30, seed=1), data.gaussian_blobs(30, seed=2)
    assert torch.equal(a.data, b.data) and torch.equal(a.targets, b.targets)
    assert not torch.equal(a.data, c.data)
    residual = a.data - data.gaussian_blobs(30, seed=1, noise=0.0).data
    assert 0.15 < residual.std() < 0.25 and a.classes == ("sigma=1.8", "sigma=2.4")


def test_shapes_classes_are_the_drawn_shapes():
    ds = data.shapes(90, size=64, seed=4)
    assert ds.data.shape == (90, 64, 64) and ds.classes == data.SHAPE_CLASSES
    assert torch.equal(torch.bincount(ds.targets), torch.tensor([30, 30, 30]))
    assert set(torch.unique(ds.data).tolist()) == {0.0, 1.0}
    fill = []
    for img in ds.data.bool():
        rows, cols = torch.nonzero(img.any(1)).flatten(), torch.nonzero(img.any(0)).flatten()
        box = (rows[-1] - rows[0] + 1) * (cols[-1] - cols[0] + 1)
        fill.append(float(img.sum() / box))  # square ~1, circle ~pi/4, triangle ~1/2
    predicted = torch.bucketize(torch.tensor(fill), torch.tensor([0.65, 0.9]))
    assert torch.equal(predicted, torch.tensor([1, 2, 0])[ds.targets])  # bucket of circle, square, triangle
    assert torch.equal(ds.data, data.shapes(90, size=64, seed=4).data)
    noisy = data.shapes(90, size=64, seed=4, noise=0.1)
    assert torch.equal(noisy.targets, ds.targets) and 0.08 < (noisy.data - ds.data).std() < 0.12


# --------------------------------------------------------------------------- online extras


def fake_mnist(root: Path, n_train=7, n_test=3) -> dict:
    """Tiny MNIST in torchvision's layout (root/MNIST/raw, un-gzipped IDX files)."""
    rng = np.random.default_rng(0)
    raw, arrays = root / "MNIST" / "raw", {}
    raw.mkdir(parents=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images, labels = rng.integers(0, 256, (n, 28, 28)), rng.integers(0, 10, n)
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
        arrays[prefix] = (images, labels)
    return arrays


def test_mnist_reads_torchvision_layout(tmp_path, capsys):
    arrays = fake_mnist(tmp_path)
    for train, prefix in ((True, "train"), (False, "t10k")):
        ds = data.mnist(root=tmp_path, train=train, download=True)  # files present: no download attempted
        images, labels = arrays[prefix]
        assert torch.equal(ds.data, torch.from_numpy(images.astype(np.uint8)))
        assert ds.targets.tolist() == labels.tolist() and ds.classes[0] == "0 - zero"
        x, y = ds[1]
        assert x.shape == (1, 28, 28) and x.dtype == torch.float32
        assert torch.equal(x[0], torch.from_numpy(images[1]).float() / 255) and y == labels[1]
    assert stderr_lines(capsys) == []


@pytest.mark.parametrize("offline_flag", [False, True])
def test_mnist_offline_falls_back_to_fashion_mnist(tmp_path, monkeypatch, capsys, offline_flag):
    if offline_flag:
        monkeypatch.setenv("CNNCOURSE_OFFLINE", "1")
    ds = data.mnist(root=tmp_path, train=False, download=True)
    assert len(ds) == 10_000 and ds.classes == data.FASHION_CLASSES and ds[0][0].shape == (1, 28, 28)
    lines = stderr_lines(capsys)
    assert len(lines) == 1 and "MNIST unavailable" in lines[0] and "Fashion-MNIST" in lines[0]
    assert capsys.readouterr().out == ""


def fake_cifar10(root: Path, monkeypatch, n=4) -> tuple:
    """Tiny CIFAR-10 in the pickled batch format, with torchvision's md5 list pointed at these files."""
    from torchvision.datasets import CIFAR10

    folder, rng = root / "cifar-10-batches-py", np.random.default_rng(1)
    folder.mkdir(parents=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    batches = {}
    for name in names:  # rows are planar: 1024 red, then green, then blue values, row-major
        batch = {"batch_label": name, "labels": rng.integers(0, 10, n).tolist(),
                 "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                 "filenames": [f"{name}_{i}.png" for i in range(n)]}
        (folder / name).write_bytes(pickle.dumps(batch))
        batches[name] = batch
    label_names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": label_names, "num_vis": 3072}))
    md5 = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    monkeypatch.setattr(CIFAR10, "train_list", [[f, md5[f]] for f in names[:5]])
    monkeypatch.setattr(CIFAR10, "test_list", [["test_batch", md5["test_batch"]]])
    monkeypatch.setattr(CIFAR10, "meta", {**CIFAR10.meta, "md5": md5["batches.meta"]})
    return batches, label_names


def test_cifar10_reads_pickled_batches(tmp_path, monkeypatch, capsys):
    batches, label_names = fake_cifar10(tmp_path, monkeypatch)
    train = data.cifar10(root=tmp_path, train=True, download=False)
    test = data.cifar10(root=tmp_path, train=False)
    assert (len(train), len(test)) == (20, 4) and list(train.classes) == label_names
    expected = np.concatenate([batches[f"data_batch_{i}"]["data"] for i in range(1, 6)])
    for i in (0, 7, 19):
        x, y = train[i]
        assert x.shape == (3, 32, 32) and x.dtype == torch.float32
        assert torch.equal(x, torch.from_numpy(expected[i].reshape(3, 32, 32)).float() / 255)
    assert y == batches["data_batch_5"]["labels"][3]
    assert test.targets.tolist() == batches["test_batch"]["labels"]
    assert train.tensors()[0].shape == (20, 3, 32, 32) and stderr_lines(capsys) == []


def test_cifar10_offline_is_a_clear_error(tmp_path):
    with pytest.raises(data.DataError, match=r"CIFAR-10 is not bundled.*" + re.escape(str(tmp_path))):
        data.cifar10(root=tmp_path, download=True)


@pytest.fixture
def hub_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))
    return tmp_path / "hub"


@pytest.mark.parametrize("offline_flag", [False, True])
def test_resnet18_uses_cached_imagenet_weights(hub_dir, monkeypatch, capsys, offline_flag):
    from torchvision.models import ResNet18_Weights, resnet18

    if offline_flag:
        monkeypatch.setenv("CNNCOURSE_OFFLINE", "1")
    torch.manual_seed(0)
    state = resnet18().state_dict()
    checkpoint = hub_dir / "checkpoints" / ResNet18_Weights.DEFAULT.url.rsplit("/", 1)[1]
    checkpoint.parent.mkdir(parents=True)
    torch.save(state, checkpoint)
    model = data.resnet18_imagenet()
    assert model.pretrained is True and stderr_lines(capsys) == []
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())


@pytest.mark.parametrize("offline_flag", [False, True])
def test_resnet18_offline_falls_back_to_random_init(hub_dir, monkeypatch, capsys, offline_flag):
    if offline_flag:
        monkeypatch.setenv("CNNCOURSE_OFFLINE", "1")
    model = data.resnet18_imagenet()
    out = capsys.readouterr()
    lines = out.err.strip().splitlines()
    assert model.pretrained is False and len(lines) == 1 and "random initialisation" in lines[0]
    assert out.out == ""
    assert model(torch.zeros(1, 3, 64, 64)).shape == (1, 1000)
    assert not (hub_dir / "checkpoints").exists() or not any((hub_dir / "checkpoints").iterdir())
