#!/usr/bin/env python
"""Pre-train the source network of notebook 09 (transfer learning), reproducibly.

    python scripts/pretrain_source.py            # train, write datasets/pretrained/fashion04_source.pt,
                                                 # its line in MANIFEST.sha256 and the README table
    python scripts/pretrain_source.py --check    # train again in memory and compare with the committed file

`cnncourse.pretrained.SmallResNet` is trained from a fixed seed on the 30,000 Fashion-MNIST training
images of classes 0-4 (T-shirt/top, Trouser, Pullover, Dress, Coat); the classes 5-9 are left for the
transfer experiment. AdamW with a one-cycle learning rate and light augmentation (random horizontal
flips; a random 28 x 28 crop of the zero-padded batch, one offset per batch), which makes the features
less specific to the five source classes. Two CPU threads (thread
count and CPU model can change the last bits of float sums, so `--check` compares the test accuracy and
the predictions, not the bytes). The checkpoint is a float32 state_dict read with
`torch.load(..., weights_only=True)`. About 1-2 minutes on two otherwise idle CPU cores.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))  # works from a checkout without `pip install -e .`
sys.path.insert(0, str(REPO / "scripts"))
from cnncourse import data  # noqa: E402
from cnncourse.pretrained import SOURCE_CLASSES, SOURCE_FILE, SmallResNet  # noqa: E402
from cnncourse.train import evaluate, fit, seed_everything  # noqa: E402

SEED, EPOCHS, BATCH, PEAK_LR, WEIGHT_DECAY, THREADS = 0, 6, 128, 0.01, 5e-4, 2
PAD = 2  # crop offsets 0..2*PAD


def source_split(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Images and labels of the source classes (labels stay 0-4: the classes are 0-4 already)."""
    x, y = data.fashion_mnist(split).tensors()
    keep = torch.isin(y, torch.tensor(SOURCE_CLASSES))
    return x[keep], y[keep]


class Augmented:
    """Wraps a DataLoader: flips each image with probability 1/2, then crops the zero-padded batch."""

    def __init__(self, loader, generator):
        self.loader, self.generator = loader, generator

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        for x, y in self.loader:
            flip = torch.rand(len(x), generator=self.generator) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
            top, left = torch.randint(0, 2 * PAD + 1, (2,), generator=self.generator).tolist()
            yield F.pad(x, (PAD, PAD, PAD, PAD))[..., top:top + x.shape[-2], left:left + x.shape[-1]], y


def train() -> tuple[SmallResNet, float, float]:
    """The trained model, its test accuracy on the source classes, and the training seconds."""
    torch.set_num_threads(THREADS)
    x_train, y_train = source_split("train")
    x_test, y_test = source_split("test")
    seed_everything(SEED)
    model = SmallResNet(num_classes=len(SOURCE_CLASSES))
    loader = DataLoader(TensorDataset(x_train, y_train), batch_size=BATCH, shuffle=True,
                        generator=torch.Generator().manual_seed(SEED))
    optimizer = torch.optim.AdamW(model.parameters(), lr=PEAK_LR, weight_decay=WEIGHT_DECAY)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=PEAK_LR, total_steps=EPOCHS * len(loader))
    optimizer.register_step_post_hook(lambda *args: scheduler.step())  # one-cycle steps after every batch
    start = time.perf_counter()
    fit(model, Augmented(loader, torch.Generator().manual_seed(SEED + 1)), optimizer, epochs=EPOCHS, progress=False)
    seconds = time.perf_counter() - start
    test = evaluate(model, DataLoader(TensorDataset(x_test, y_test), batch_size=1000))
    print(f"{len(x_train):,} training images, {EPOCHS} epochs in {seconds:.0f} s; "
          f"test accuracy on the {len(x_test):,} test images of classes 0-4: {test['accuracy']:.4f}")
    return model.eval(), test["accuracy"], seconds


def write_manifest_entry(rel: str) -> dict[str, str]:
    """Set (or add) rel's line in MANIFEST.sha256, keep the others, rewrite the README table."""
    from build_datasets import update_readme, write_manifest

    manifest = write_manifest(data.DATA_DIR, [rel])  # keeps the entries build_datasets.py owns
    update_readme(data.DATA_DIR, manifest)
    return manifest


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="retrain and compare with the committed checkpoint")
    args = parser.parse_args(argv)
    model, accuracy, _ = train()
    state = {k: v.detach().to(torch.float32) if v.is_floating_point() else v for k, v in model.state_dict().items()}
    path = data.DATA_DIR / SOURCE_FILE
    if args.check:
        from cnncourse.pretrained import source_model

        committed = source_model()
        x_test, _ = source_split("test")
        with torch.no_grad():
            agree = float((committed(x_test).argmax(1) == model(x_test).argmax(1)).float().mean())
        largest = max(float((state[k].float() - v.float()).abs().max()) for k, v in committed.state_dict().items())
        print(f"fresh run vs {path}: predictions agree on {agree:.2%} of the test images, "
              f"largest weight difference {largest:.2e}")
        return 0 if agree >= 0.98 else 1
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    write_manifest_entry(SOURCE_FILE)
    print(f"wrote {path} ({path.stat().st_size:,} bytes, sha256 {data.sha256_file(path)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
