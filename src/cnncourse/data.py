"""Datasets of the course: bundled real data first, the network only for optional extras.

Bundled (``datasets/``, checked against ``datasets/MANIFEST.sha256``): Fashion-MNIST and the Free
Spoken Digit Dataset. The folder is found by ``locate_data``: $CNNCOURSE_DATA, else the course's
``datasets/``, else a user cache filled and checked by ``cnncourse data fetch`` (the manifest ships inside
the package, so an installed wheel knows what to expect). From installed packages: scikit-learn's
digits and sample photos, scikit-image's photos. Generated from a seed: Gaussian blobs (GausNet) and simple shapes. Online extras (MNIST,
CIFAR-10, ImageNet ResNet-18 weights) go through torchvision and fall back offline with a one-line
notice. Every loader returns a ``torch.utils.data.Dataset`` whose ``transform`` receives the float32
tensor (so torchvision v2 transforms apply) and whose ``.classes`` names the labels.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import hashlib
import io
import os
import shutil
import sys
import tarfile
import zipfile
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import torch
from torch.utils.data import Dataset

from . import layout

MANIFEST = layout.DATA_MANIFEST
CACHE_DIR = layout.cache_dir()
FETCH_HINT = "`cnncourse data fetch SOURCE` (SOURCE: a release archive URL, or a course clone, datasets/ folder or archive on disk)"


FASHION_FILES = {
    "train": ("fashion-mnist/train-images-idx3-ubyte.gz", "fashion-mnist/train-labels-idx1-ubyte.gz"),
    "test": ("fashion-mnist/t10k-images-idx3-ubyte.gz", "fashion-mnist/t10k-labels-idx1-ubyte.gz"),
}
FSDD_FILE = "fsdd/fsdd.npz"

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
DIGIT_CLASSES = tuple(str(d) for d in range(10))
FSDD_TEST_TAKES = range(0, 5)  # the official split: takes 0-4 test, 5-49 train
# Quick mode (CI, first run on a laptop): None = the whole split. See datasets/README.md.
QUICK_SUBSETS = {"fashion_mnist": {"train": 12_000, "test": None}, "fsdd": {"train": None, "test": None}}

_SKIMAGE_PHOTOS = ("astronaut", "brick", "camera", "cell", "chelsea", "clock", "coffee", "coins",
                   "colorwheel", "grass", "gravel", "hubble_deep_field", "immunohistochemistry",
                   "microaneurysms", "moon", "page", "retina", "rocket", "text")  # shipped in the wheel
_SKLEARN_PHOTOS = ("china", "flower")
SAMPLE_PHOTOS = _SKIMAGE_PHOTOS + _SKLEARN_PHOTOS


class DataError(RuntimeError):
    """A bundled file is missing or corrupted, or a dataset cannot be had offline."""


def notice(message: str) -> None:
    """One line on stderr: the fallbacks must be visible without flooding a notebook."""
    print(f"cnncourse: {message}", file=sys.stderr, flush=True)


def offline() -> bool:
    """CNNCOURSE_OFFLINE=1 (set in CI) skips every download attempt."""
    return os.environ.get("CNNCOURSE_OFFLINE", "") not in ("", "0")


# --------------------------------------------------------------------------- integrity


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _restore_hint(rel: str) -> str:
    if DATA_ORIGIN != "course":
        return (f"Fill {CACHE_DIR / 'datasets'} with {FETCH_HINT}, or set CNNCOURSE_DATA to a copy of the "
                "course's datasets/ folder.")
    script = "scripts/pretrain_source.py" if rel.startswith("pretrained/") else "scripts/build_datasets.py"
    return (f"Restore it with `git checkout -- datasets/{rel}` in the course repository, or rebuild it with "
            f"`python {script}` (see datasets/README.md).")


def read_manifest() -> dict[str, str]:
    """{relative path: sha256} from DATA_DIR/MANIFEST.sha256 (the format of `sha256sum`)."""
    path = DATA_DIR / MANIFEST
    if not path.is_file():
        raise DataError(f"{path} is missing: no bundled data can be checked. "
                        f"{_restore_hint(MANIFEST)} Or point CNNCOURSE_DATA at a copy of datasets/.")
    return _parse_manifest(path.read_text(), path)


_verified: dict[tuple[str, str], tuple[int, int]] = {}  # (path, sha256) -> (size, mtime) already hashed


def _problem(path: Path, expected: str) -> str | None:
    if not path.is_file():
        return "missing"
    stat = path.stat()
    key, seen = (str(path), expected), (stat.st_size, stat.st_mtime_ns)
    if _verified.get(key) == seen:
        return None
    actual = sha256_file(path)
    if actual != expected:
        return f"corrupted (sha256 {actual[:12]}..., manifest says {expected[:12]}...)"
    _verified[key] = seen
    return None


def verify(name: str | None = None) -> list[str]:
    """Check bundled files against the manifest; `name` is a dataset folder ("fsdd"), a file, or None (all).

    Returns the checked relative paths; raises DataError naming every bad file and how to restore it.
    """
    manifest = read_manifest()
    wanted = None if name is None else {name.strip("/"), name.strip("/").replace("_", "-")}
    files = [rel for rel in manifest
             if wanted is None or any(rel == w or rel.startswith(w + "/") for w in wanted)]
    if not files:
        raise ValueError(f"nothing in {DATA_DIR / MANIFEST} matches {name!r}; entries: {sorted(manifest)}")
    bad = [(rel, p) for rel in files if (p := _problem(DATA_DIR / rel, manifest[rel]))]
    if bad:
        lines = [f"{DATA_DIR / rel}: {p}. {_restore_hint(rel)}" for rel, p in bad]
        raise DataError("\n".join(lines))
    return files


def _checked(rel: str) -> Path:
    verify(rel)
    return DATA_DIR / rel


# --------------------------------------------------------------------------- where the data is


def _parse_manifest(text: str, where) -> dict[str, str]:
    manifest = {}
    for number, line in enumerate(text.splitlines(), 1):
        parts = line.split(maxsplit=1)
        if len(parts) == 2 and len(parts[0]) == 64:
            manifest[parts[1].strip().lstrip("*")] = parts[0].lower()
        elif parts:
            raise DataError(f"{where}, line {number}: expected '<sha256>  <file>', got {line!r}. "
                            f"{_restore_hint(MANIFEST)}")
    return manifest


def packaged_manifest() -> dict[str, str]:
    """The checksums this version of the package expects (package data, the same as datasets/'s)."""
    from importlib.resources import files

    resource = files("cnncourse").joinpath(MANIFEST)
    return _parse_manifest(resource.read_text(encoding="utf-8"), f"cnncourse/{MANIFEST}")


def locate_data() -> tuple[Path, str]:
    """(folder, origin): see ``layout.locate_data``; the cache is this module's ``CACHE_DIR``."""
    return layout.locate_data(CACHE_DIR)


DATA_DIR, DATA_ORIGIN = locate_data()


def _source_folder(source: Path, manifest: dict[str, str], scratch: Path) -> Path:
    """The folder holding the manifest's files: a datasets/ folder, a course clone, or an unpacked archive."""
    if source.is_file():
        if zipfile.is_zipfile(source):
            with zipfile.ZipFile(source) as archive:
                archive.extractall(scratch)
        elif tarfile.is_tarfile(source):
            with tarfile.open(source) as archive:
                archive.extractall(scratch, filter="data")
        else:
            raise DataError(f"{source} is neither a folder nor a .zip/.tar.gz archive")
        source = scratch
    first = next(iter(manifest))
    depth = len(Path(first).parts)
    for folder in (source, source / "datasets", *(p.parents[depth - 1] for p in source.rglob(Path(first).name))):
        if (folder / first).is_file():
            return folder
    raise DataError(f"{source} holds no course data (looked for {first} in it, its datasets/ and below)")


def _download(url: str, target: Path) -> Path:
    if offline():
        raise DataError(f"CNNCOURSE_OFFLINE=1: not downloading {url}. Download it on a machine with a "
                        "network and run `cnncourse data fetch PATH-TO-ARCHIVE`.")
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(target, "wb") as out:
            for chunk in iter(lambda: response.read(1 << 20), b""):
                out.write(chunk)
    except OSError as err:  # URLError, HTTPError, timeouts: no network or no such release
        raise DataError(f"could not download {url} ({_reason(err)}). Offline? Copy the archive (or a course "
                        "clone) here and run `cnncourse data fetch PATH`.") from err
    return target


def fetch(source: str | Path, dest: Path | None = None) -> list[str]:
    """Fill the cache (default CACHE_DIR/datasets) from a URL or a local folder/archive, every file checked.

    Nothing is written unless every file of the packaged manifest is present with its sha256.
    """
    import tempfile

    manifest, dest = packaged_manifest(), Path(dest or CACHE_DIR / "datasets")
    with tempfile.TemporaryDirectory(prefix="cnncourse-fetch-") as tmp:
        tmp = Path(tmp)
        text = str(source)
        if urlparse(text).scheme in ("http", "https", "file"):
            name = Path(urlparse(text).path).name or "data.tar.gz"
            source = _download(text, tmp / name)
        source = Path(source).expanduser()
        if not source.exists():
            raise DataError(f"{source} does not exist; give a release URL, a course clone, a datasets/ "
                            "folder or an archive")
        folder = _source_folder(source, manifest, tmp / "unpacked")
        bad = [f"{rel}: {p}" for rel, digest in manifest.items() if (p := _problem(folder / rel, digest))]
        if bad:
            raise DataError(f"{source} does not match this version of cnncourse; nothing was copied:\n  "
                            + "\n  ".join(bad))
        for rel in manifest:
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            partial = dest / f"{rel}.partial"
            shutil.copyfile(folder / rel, partial)
            partial.replace(dest / rel)
        (dest / MANIFEST).write_text("".join(f"{d}  {rel}\n" for rel, d in manifest.items()))
    return list(manifest)


def pack(out: Path) -> Path:
    """A .tar.gz of the checked data files (and manifest): the archive ``fetch`` takes from a release."""
    files = verify()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out, "w:gz") as archive:
        for rel in [MANIFEST, *files]:
            archive.add(DATA_DIR / rel, arcname=f"datasets/{rel}")
    return out

# --------------------------------------------------------------------------- datasets


class _Base(Dataset):
    """Holds the two torchvision-style transforms and `.classes`."""

    def __init__(self, classes, transform=None, target_transform=None):
        self.classes = tuple(classes)
        self.transform, self.target_transform = transform, target_transform

    def _pair(self, x: torch.Tensor, y: int):
        if self.transform is not None:
            x = self.transform(x)
        if self.target_transform is not None:
            y = self.target_transform(y)
        return x, y


class ArrayDataset(_Base):
    """Images held in memory: `data` is N x H x W (gray) or N x H x W x C, items are float32 C x H x W.

    Items are `data[i] / scale`, so uint8 images land in [0, 1]; `indices` maps back to the full split.
    """

    def __init__(self, data, targets, classes, transform=None, target_transform=None, scale=255.0,
                 indices=None):
        super().__init__(classes, transform, target_transform)
        self.data = torch.as_tensor(data)
        self.targets = torch.as_tensor(targets, dtype=torch.int64)
        if len(self.data) != len(self.targets):
            raise ValueError(f"{len(self.data)} images but {len(self.targets)} targets")
        self.scale = scale
        self.indices = torch.arange(len(self.targets)) if indices is None else torch.as_tensor(indices)

    def __len__(self) -> int:
        return len(self.targets)

    def _to_chw(self, x: torch.Tensor) -> torch.Tensor:
        """One image or a batch: gray data gains a channel axis, colour data moves it to the front."""
        x = x.unsqueeze(-3) if self.data.dim() == 3 else x.movedim(-1, -3)
        return x.to(torch.float32).div_(self.scale)  # in place: one float copy of a whole split, not two

    def __getitem__(self, i):
        return self._pair(self._to_chw(self.data[i]), int(self.targets[i]))

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All items at once (N x C x H x W float32, N int64): full-batch work without a DataLoader."""
        if self.transform is None and self.target_transform is None:
            return self._to_chw(self.data), self.targets
        xs, ys = zip(*(self[i] for i in range(len(self))), strict=True)
        return torch.stack(xs), torch.as_tensor(ys)


def balanced_indices(targets, n: int, seed: int = 0) -> torch.Tensor:
    """Sorted indices of a class-balanced subset of size n, the same for the same seed.

    Each class gets n // C items, the first n % C classes in a seeded order one more; growing n only
    adds items (a smaller subset is part of a larger one with the same seed).
    """
    targets = torch.as_tensor(targets)
    labels = torch.unique(targets)
    if not 0 < n <= len(targets):
        raise ValueError(f"subset must be in 1..{len(targets)}, got {n}")
    g = torch.Generator().manual_seed(seed)
    extra = set(labels[torch.randperm(len(labels), generator=g)[: n % len(labels)]].tolist())
    chosen = []
    for c in labels.tolist():
        members = torch.nonzero(targets == c).flatten()
        k = n // len(labels) + (c in extra)
        if k > len(members):
            raise ValueError(f"class {c} has {len(members)} items, a balanced subset of {n} needs {k}")
        chosen.append(members[torch.randperm(len(members), generator=g)[:k]])
    return torch.sort(torch.cat(chosen)).values


def read_idx_gz(path: Path) -> np.ndarray:
    """A gzip-compressed IDX file (the MNIST format: big-endian header, uint8 payload) as an array."""
    with gzip.open(path, "rb") as f:
        header = f.read(4)
        if len(header) != 4 or header[:3] != b"\x00\x00\x08":
            raise DataError(f"{path}: not a uint8 IDX file (header {header!r})")
        shape = tuple(int(d) for d in np.frombuffer(f.read(4 * header[3]), dtype=">i4"))
        out = np.empty(shape, dtype=np.uint8)
        if f.readinto(memoryview(out).cast("B")) != out.size or f.read(1):
            raise DataError(f"{path}: payload does not match its header shape {shape}")
    return out


def fashion_mnist(split="train", transform=None, target_transform=None, subset=None, seed=0):
    """Fashion-MNIST (bundled, all 60,000/10,000): items (float32 1x28x28 in [0,1], int label).

    `subset=n` keeps a class-balanced subset of n chosen by `seed` (see `balanced_indices`).
    """
    if split not in FASHION_FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    images, labels = (read_idx_gz(_checked(rel)) for rel in FASHION_FILES[split])
    data, targets = torch.from_numpy(images), torch.from_numpy(labels).to(torch.int64)
    indices = None
    if subset is not None:
        indices = balanced_indices(targets, subset, seed)
        data, targets = data[indices], targets[indices]
    return ArrayDataset(data, targets, FASHION_CLASSES, transform, target_transform, indices=indices)


class SpokenDigits(_Base):
    """FSDD recordings as float32 waveforms in [-1, 1); `length` crops or zero-pads at the end."""

    sample_rate = 8000

    def __init__(self, audio, offsets, targets, speakers, takes, speaker_info,
                 transform=None, target_transform=None, length=None):
        super().__init__(DIGIT_CLASSES, transform, target_transform)
        if length is not None and length < 1:
            raise ValueError(f"length must be a positive number of samples, got {length}")
        self.audio, self.offsets = audio, offsets  # int16 concatenation of all clips, N + 1 boundaries
        self.targets, self.takes, self.speakers = targets, takes, speakers
        self.speaker_info, self.length = speaker_info, length

    @property
    def lengths(self) -> torch.Tensor:
        return self.offsets[1:] - self.offsets[:-1]

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i):
        start, stop = int(self.offsets[i]), int(self.offsets[i + 1])
        x = self.audio[start:stop].to(torch.float32) / 32768.0
        if self.length is not None:
            x = torch.nn.functional.pad(x[: self.length], (0, max(0, self.length - len(x))))
        return self._pair(x, int(self.targets[i]))


def fsdd(split="train", transform=None, target_transform=None, length=None):
    """Free Spoken Digit Dataset (bundled, 8 kHz): 2,700 train / 300 test recordings, official split.

    Attributes: `.targets`, `.speakers` (names), `.takes`, `.lengths`, `.speaker_info`, `.sample_rate`.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    with np.load(_checked(FSDD_FILE), allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    keep = np.isin(arrays["takes"], FSDD_TEST_TAKES) == (split == "test")
    clip_lengths = np.diff(arrays["offsets"])
    audio = arrays["audio"][np.repeat(keep, clip_lengths)]  # this split's samples only
    offsets = np.concatenate([[0], np.cumsum(clip_lengths[keep])])
    rows = csv.DictReader(io.StringIO(str(arrays["speakers_csv"])))  # speakers.csv, verbatim
    info = {row.pop("speaker"): row for row in rows}
    names = list(info)  # `speakers` in the archive index the rows of speakers.csv
    return SpokenDigits(torch.from_numpy(audio), torch.from_numpy(offsets), torch.from_numpy(arrays["digits"][keep]),
                        [names[s] for s in arrays["speakers"][keep]], torch.from_numpy(arrays["takes"][keep]),
                        info, transform, target_transform, length)


def digits(split="all", transform=None, target_transform=None, seed=0):
    """scikit-learn's 1,797 8x8 digits: items (float32 1x8x8 in [0,1], int); train/test = 80/20 stratified."""
    if split not in ("all", "train", "test"):
        raise ValueError(f"split must be 'all', 'train' or 'test', got {split!r}")
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    images, targets = torch.from_numpy(bunch.images.astype(np.uint8)), torch.from_numpy(bunch.target)
    indices = torch.arange(len(targets))
    if split != "all":
        train, test = train_test_split(np.arange(len(targets)), test_size=0.2, stratify=bunch.target,
                                       random_state=seed)
        indices = torch.from_numpy(np.sort(train if split == "train" else test))
    return ArrayDataset(images[indices], targets[indices], DIGIT_CLASSES, transform, target_transform,
                        scale=16.0, indices=indices)  # pixel values are counts 0..16


def sample_photo(name="astronaut") -> np.ndarray:
    """A photo shipped with scikit-image or scikit-learn: uint8 H x W x 3, or H x W for gray ones."""
    if name in _SKLEARN_PHOTOS:
        from sklearn.datasets import load_sample_image

        return load_sample_image(f"{name}.jpg")
    if name not in _SKIMAGE_PHOTOS:
        raise ValueError(f"unknown photo {name!r}; choose one of {', '.join(SAMPLE_PHOTOS)}")
    import skimage.data

    return getattr(skimage.data, name)()


# --------------------------------------------------------------------------- generated


def gaussian_blobs(n=1000, size=91, widths=(1.8, 2.4), noise=0.2, center_std=1.5, extent=4.0, seed=0,
                   transform=None, target_transform=None):
    """GausNet's data: one 2-D Gaussian per size x size image, label = which width (sigma) it has.

    The image spans [-extent, extent]^2, the centre is N(0, center_std^2) per axis and N(0, noise^2)
    pixel noise is added, so the classes overlap and the task is not trivial. Balanced labels.
    """
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % len(widths))
    axis = np.linspace(-extent, extent, size, dtype=np.float32)
    centers = rng.normal(0.0, center_std, size=(n, 2, 1)).astype(np.float32)
    dx2 = (axis[None, None, :] - centers[:, 0:1]) ** 2  # n x 1 x size
    dy2 = (axis[None, :, None] - centers[:, 1:2]) ** 2  # n x size x 1
    sigma = np.asarray(widths, dtype=np.float32)[labels][:, None, None]
    images = np.exp(-(dx2 + dy2) / (2 * sigma**2)) + noise * rng.standard_normal((n, size, size), np.float32)
    return ArrayDataset(torch.from_numpy(images.astype(np.float32)), torch.from_numpy(labels),
                        [f"sigma={w}" for w in widths], transform, target_transform, scale=1.0)


SHAPE_CLASSES = ("circle", "square", "triangle")


def shapes(n=1000, size=32, noise=0.0, seed=0, transform=None, target_transform=None):
    """Filled circles, squares and triangles of random size and position on a black size x size image.

    Pixel values are 1 inside the shape, 0 outside, plus N(0, noise^2); balanced labels.
    """
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % len(SHAPE_CLASSES))
    r = rng.uniform(size / 8, size / 3, size=(n, 1, 1))
    cx, cy = (rng.uniform(r, size - 1 - r) for _ in range(2))  # keeps every shape inside the image
    x, y = np.arange(size)[None, None, :], np.arange(size)[None, :, None]
    masks = np.stack([
        (x - cx) ** 2 + (y - cy) ** 2 <= r**2,
        (np.abs(x - cx) <= 0.8 * r) & (np.abs(y - cy) <= 0.8 * r),
        (y <= cy + r) & (np.abs(x - cx) <= (y - (cy - r)) / 2),  # apex up, base 2r wide
    ])[labels, np.arange(n)]
    images = masks + noise * rng.standard_normal((n, size, size))
    return ArrayDataset(torch.from_numpy(images.astype(np.float32)), torch.from_numpy(labels),
                        SHAPE_CLASSES, transform, target_transform, scale=1.0)


# --------------------------------------------------------------------------- online extras


def _quiet():
    """Drops the 'Downloading ...' lines torchvision and torch.hub print (progress bars, on stderr, stay)."""
    return contextlib.redirect_stdout(io.StringIO())


def _torchvision_dataset(cls, root, train: bool, download: bool):
    with _quiet():
        return cls(str(Path(root or CACHE_DIR)), train=train, download=download and not offline())


def _reason(err: Exception) -> str:
    """The error on one short line (torchvision's download errors span several)."""
    text = " ".join(str(err).split()) or type(err).__name__
    if offline():
        text = f"CNNCOURSE_OFFLINE=1: {text}"
    return text if len(text) <= 160 else text[:157] + "..."


def mnist(root=None, train=True, transform=None, target_transform=None, download=True):
    """MNIST through `torchvision.datasets.MNIST` (cached under `root`, default CACHE_DIR).

    Offline (no files, no network, or CNNCOURSE_OFFLINE=1) it falls back to the bundled Fashion-MNIST:
    the same 1x28x28 uint8 format and split sizes, so the code runs; `.classes` tells which one you got.
    """
    from torchvision.datasets import MNIST

    try:
        tv = _torchvision_dataset(MNIST, root, train, download)
    except (RuntimeError, OSError) as err:
        notice(f"MNIST unavailable ({_reason(err)}); using the bundled Fashion-MNIST instead.")
        return fashion_mnist("train" if train else "test", transform, target_transform)
    return ArrayDataset(tv.data, tv.targets, tv.classes, transform, target_transform)


def cifar10(root=None, train=True, transform=None, target_transform=None, download=True):
    """CIFAR-10 through `torchvision.datasets.CIFAR10`: items (float32 3x32x32 in [0,1], int).

    Not bundled (170 MB) and nothing bundled resembles it, so offline it raises DataError.
    """
    from torchvision.datasets import CIFAR10

    try:
        tv = _torchvision_dataset(CIFAR10, root, train, download)
    except (RuntimeError, OSError) as err:
        raise DataError(f"CIFAR-10 is not bundled and could not be loaded ({_reason(err)}). Run once with a "
                        f"network, or put cifar-10-batches-py/ under {Path(root or CACHE_DIR)}.") from err
    return ArrayDataset(torch.from_numpy(tv.data), tv.targets, tv.classes, transform, target_transform)


def resnet18_imagenet_weights():
    """ImageNet state dict of torchvision's ResNet-18 (`ResNet18_Weights.DEFAULT`), or None offline.

    Cached by torch.hub (TORCH_HOME); `ResNet18_Weights.DEFAULT.transforms()` and its `meta`
    (categories) need no download.
    """
    from torchvision.models import ResNet18_Weights

    weights = ResNet18_Weights.DEFAULT
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(weights.url).path).name
    if offline() and not cached.is_file():
        notice("ResNet-18 ImageNet weights not cached and CNNCOURSE_OFFLINE=1; using random initialisation.")
        return None
    try:
        with _quiet():
            return weights.get_state_dict(progress=False, check_hash=True)
    except OSError as err:  # URLError and socket errors: no network
        notice(f"ResNet-18 ImageNet weights unavailable ({_reason(err)}); using random initialisation.")
        return None


def resnet18_imagenet():
    """torchvision ResNet-18 with ImageNet weights when they can be had; `.pretrained` says which."""
    from torchvision.models import resnet18

    model, state = resnet18(), resnet18_imagenet_weights()
    if state is not None:
        model.load_state_dict(state)
    model.pretrained = state is not None
    return model
