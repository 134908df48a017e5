#!/usr/bin/env python3
"""Checks a ResNet checkpoint written by package nn against PyTorch.

Usage: torch_check.py DIR...

Each DIR holds model.safetensors (the state_dict of a torchvision-named ResNet,
with its configuration in the metadata) and io.safetensors (an input and the
eval-mode output computed by the Go engine). The script parses the
safetensors files by hand (the format is an 8-byte little-endian header
length, a JSON header and raw little-endian data), builds the ResNet
(torchvision's when it is installed, else the same module tree written out
below), loads the state_dict with strict=True, runs the input in eval mode
and compares the output. It prints one line per DIR and exits with status 1
when, for any of them, the maximum absolute difference exceeds 1e-4 times
the largest output magnitude or the parameter counts differ.
"""
import json
import os
import struct
import sys

import torch
import torch.nn as nn

DTYPES = {"F32": (torch.float32, 4), "I64": (torch.int64, 8)}


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    data = raw[8 + n :]
    meta = header.pop("__metadata__", {})
    out = {}
    for name, e in header.items():
        dtype, size = DTYPES[e["dtype"]]
        b, end = e["data_offsets"]
        numel = 1
        for d in e["shape"]:
            numel *= d
        assert end - b == numel * size, (name, e)
        t = torch.frombuffer(bytearray(data[b:end]), dtype=dtype) if numel else torch.empty(0, dtype=dtype)
        out[name] = t.reshape(e["shape"]).clone()
    return out, meta


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """torchvision.models.resnet.ResNet for BasicBlock, with a stem choice."""

    def __init__(self, layers, width, in_channels, num_classes, stem):
        super().__init__()
        if stem == "cifar":
            self.conv1 = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
            self.maxpool = nn.Identity()
        else:
            self.conv1 = nn.Conv2d(in_channels, width, 7, 2, 3, bias=False)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.inplanes = width
        self.layer1 = self._make_layer(width, layers[0], 1)
        self.layer2 = self._make_layer(width * 2, layers[1], 2)
        self.layer3 = self._make_layer(width * 4, layers[2], 2)
        self.layer4 = self._make_layer(width * 8, layers[3], 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(width * 8, num_classes) if num_classes > 0 else None

    def _make_layer(self, planes, blocks, stride):
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes)
            )
        layers = [BasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        layers += [BasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = torch.flatten(self.avgpool(x), 1)
        return x if self.fc is None else self.fc(x)


def build(meta):
    depth = int(meta["depth"])
    layers = {18: [2, 2, 2, 2], 34: [3, 4, 6, 3]}[depth]
    width, in_ch = int(meta["width"]), int(meta["in_channels"])
    classes, stem = int(meta["num_classes"]), meta["stem"]
    try:
        import torchvision

        if stem == "imagenet" and width == 64 and in_ch == 3 and classes > 0:
            ctor = {18: torchvision.models.resnet18, 34: torchvision.models.resnet34}[depth]
            return ctor(num_classes=classes), "torchvision"
    except ImportError:
        pass
    return ResNet(layers, width, in_ch, classes, stem), "hand-built"


def check(d):
    state, meta = read_safetensors(os.path.join(d, "model.safetensors"))
    io, _ = read_safetensors(os.path.join(d, "io.safetensors"))
    torch.manual_seed(0)
    model, kind = build(meta)
    model.load_state_dict(state, strict=True)
    model.eval()
    nparams = sum(p.numel() for p in model.parameters())
    with torch.no_grad():
        y = model(io["input"])
    want = io["output"]
    if y.shape != want.shape:
        print(f"FAIL: torch output shape {tuple(y.shape)}, Go output {tuple(want.shape)}")
        return 1
    diff = (y - want).abs().max().item()
    scale = want.abs().max().item()
    rel = diff / max(scale, 1e-30)
    ok = rel <= 1e-4 and nparams == int(meta["num_params"])
    print(
        f"{'ok' if ok else 'FAIL'}: {kind} ResNet-{meta['depth']} stem={meta['stem']} width={meta['width']} "
        f"params={nparams} (Go {meta['num_params']}) max|diff|={diff:.3g} max|out|={scale:.3g} rel={rel:.3g}"
    )
    return 0 if ok else 1


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    status = 0
    for d in sys.argv[1:]:
        print(f"{os.path.basename(d)}: ", end="")
        status |= check(d)
    return status


if __name__ == "__main__":
    sys.exit(main())
