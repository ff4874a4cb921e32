"""The small nets of the built-in Fashion-MNIST pairs (a ResNet and a VGG-style net).

It follows the engine's pixel contract (RGB NCHW in [0, 1], normalization inside)
and torchvision's module names, so every stage treats it like any other ResNet.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock, conv1x1

WIDTHS = (16, 32, 64, 128)
STRIDES = (1, 2, 2, 2)
# Mean and std of the Fashion-MNIST training pixels in [0, 1]; training recomputes
# them, and loading a weights file overwrites them with the stored buffers.
FASHION_MEAN = 0.2860
FASHION_STD = 0.3530


def _stage(inplanes: int, planes: int, stride: int) -> nn.Sequential:
    """One BasicBlock, with a 1x1 projection shortcut where the shape changes (as torchvision)."""
    downsample = None
    if stride != 1 or inplanes != planes:
        downsample = nn.Sequential(conv1x1(inplanes, planes, stride), nn.BatchNorm2d(planes))
    return nn.Sequential(BasicBlock(inplanes, planes, stride, downsample))


class FashionResNet(nn.Module):
    """A 4-stage ResNet for 28x28 images: 3x3 stem, no max-pool, one BasicBlock per stage."""

    pixel_mean: torch.Tensor
    pixel_std: torch.Tensor
    layer1: nn.Module
    layer2: nn.Module
    layer3: nn.Module
    layer4: nn.Module

    def __init__(self, num_classes: int = 10, mean: float = FASHION_MEAN, std: float = FASHION_STD):
        super().__init__()
        # Persistent buffers, so a weights file alone reproduces the model's preprocessing.
        self.register_buffer("pixel_mean", torch.tensor(float(mean)))
        self.register_buffer("pixel_std", torch.tensor(float(std)))
        self.conv1 = nn.Conv2d(1, WIDTHS[0], kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(WIDTHS[0])
        self.relu = nn.ReLU(inplace=True)
        inplanes = WIDTHS[0]
        for i, (planes, stride) in enumerate(zip(WIDTHS, STRIDES), start=1):
            setattr(self, f"layer{i}", _stage(inplanes, planes, stride))
            inplanes = planes
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(inplanes, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        """torchvision's ResNet initialization, so training behaves like the familiar recipe."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """RGB in [0, 1] -> logits; the grey conversion lets RGB attacks and renders apply as-is."""
        x = x.mean(dim=1, keepdim=True)
        x = (x - self.pixel_mean) / self.pixel_std
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def _conv_bn_relu(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, kernel_size=3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


VGG_STAGES = ((16, 2), (32, 2), (64, 2), (128, 1))  # (width, 3x3 convs) per stage


class FashionVGG(nn.Module):
    """A small VGG-style net for 28x28 images: four stages of 3x3 conv + BN + ReLU (widths
    16/32/64/128), a 2x2 max-pool between stages (28 -> 14 -> 7 -> 3), global average pool, linear.

    ``stage1``..``stage4`` are the stage outputs after their last ReLU (before pooling), the layers
    a reader compares; the pools are separate modules (``pool1``..``pool3``).
    """

    pixel_mean: torch.Tensor
    pixel_std: torch.Tensor
    stage1: nn.Module
    stage2: nn.Module
    stage3: nn.Module
    stage4: nn.Module
    pool1: nn.Module
    pool2: nn.Module
    pool3: nn.Module

    def __init__(self, num_classes: int = 10, mean: float = FASHION_MEAN, std: float = FASHION_STD):
        super().__init__()
        self.register_buffer("pixel_mean", torch.tensor(float(mean)))
        self.register_buffer("pixel_std", torch.tensor(float(std)))
        cin = 1
        for i, (width, convs) in enumerate(VGG_STAGES, start=1):
            layers = []
            for _ in range(convs):
                layers += _conv_bn_relu(cin, width)
                cin = width
            setattr(self, f"stage{i}", nn.Sequential(*layers))
            if i < len(VGG_STAGES):
                setattr(self, f"pool{i}", nn.MaxPool2d(2))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """RGB in [0, 1] -> logits (grey conversion and normalization inside, as ``FashionResNet``)."""
        x = (x.mean(dim=1, keepdim=True) - self.pixel_mean) / self.pixel_std
        x = self.pool1(self.stage1(x))
        x = self.pool2(self.stage2(x))
        x = self.pool3(self.stage3(x))
        x = self.stage4(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))
