"""The course's own pre-trained network, the source model of transfer learning (notebook 09).

`SmallResNet` is a ResNet-style CNN for 1 x 28 x 28 images. It uses the names of torchvision's ResNets
(`conv1`, `bn1`, `relu`, `maxpool`, `layer1` ... `layer4`, `avgpool`, `fc`, and `conv1`, `bn1`, `conv2`,
`bn2`, `downsample` inside a block), so code that freezes or replaces layers by name runs unchanged on
torchvision's `resnet18`. `scripts/pretrain_source.py` trains it on the Fashion-MNIST classes 0-4
(`SOURCE_CLASSES`) and writes `datasets/pretrained/fashion04_source.pt`, which is listed with its
sha256 in `datasets/MANIFEST.sha256`; `source_model()` checks that digest and loads it. The classes 5-9
(`TARGET_CLASSES`) are never seen in pre-training: notebook 09 transfers the network to them.
"""
from __future__ import annotations

import torch
from torch import nn

from . import data

SOURCE_FILE = "pretrained/fashion04_source.pt"
SOURCE_CLASSES = (0, 1, 2, 3, 4)  # T-shirt/top, Trouser, Pullover, Dress, Coat
TARGET_CLASSES = (5, 6, 7, 8, 9)  # Sandal, Shirt, Sneaker, Bag, Ankle boot
WIDTHS = (8, 16, 32, 64)


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with a shortcut (1x1 conv-BN when the shape changes), ReLU after the sum."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class SmallResNet(nn.Module):
    """ResNet-style CNN for 1x28x28 inputs: stem (3x3 conv, 2x2 max-pool) then four residual stages.

    Feature maps: 28 -> 14 (stem) -> 14, 7, 4, 2 (layer1..layer4, `widths` channels), global average
    pool, `fc`. With the default widths it has 77,533 parameters and costs about 0.9M multiply-adds
    per image, small enough to train on a laptop CPU.
    """

    def __init__(self, num_classes: int = len(SOURCE_CLASSES), widths=WIDTHS, in_channels: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(2)
        channels = widths[0]
        for k, width in enumerate(widths, start=1):
            setattr(self, f"layer{k}", BasicBlock(channels, width, stride=1 if k == 1 else 2))
            channels = width
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        for m in self.modules():  # torchvision's ResNet initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def source_model(device="cpu") -> SmallResNet:
    """The pre-trained SmallResNet (5 outputs: the classes SOURCE_CLASSES), in eval mode.

    The checkpoint is checked against datasets/MANIFEST.sha256 first: a missing or altered file raises
    `cnncourse.data.DataError` naming it and how to restore it.
    """
    path = data._checked(SOURCE_FILE)
    state = torch.load(path, map_location=device, weights_only=True)
    model = SmallResNet(num_classes=len(SOURCE_CLASSES)).to(device)
    model.load_state_dict(state)
    return model.eval()
