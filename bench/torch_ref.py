#!/usr/bin/env python3
"""PyTorch timings of the operations that bench/cuda_test.go times.

Prints one line per operation, "<key> <ms per op>", where key is the name of
the matching Go benchmark without its "Benchmark" prefix, e.g.
"CUDASgemm/cuda-tf32/4096x4096x4096 1.234". scripts/gpu-check.sh joins the two
outputs into a table of ratios ours/PyTorch.

The references: torch.mm (cuBLAS) in fp32 and TF32; F.conv2d and its two
gradients (cuDNN, TF32 as PyTorch's default, cudnn.benchmark on); an unfused
InfoNCE (normalise, matmul, mask, cross-entropy, backward); and one SimCLR
training step of a ResNet-18 with the CIFAR stem at batch 512 on 32x32
images (the same model, head, loss and SGD as the Go benchmark).
"""
import argparse
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def timed(fn, min_time=0.2, max_iters=200, warmup=3):
    """Returns milliseconds per call of fn, timed with CUDA events."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    iters, total = 0, 0.0
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    n = 1
    while total < min_time * 1e3 and iters < max_iters:
        start.record()
        for _ in range(n):
            fn()
        end.record()
        end.synchronize()
        total += start.elapsed_time(end)
        iters += n
        n = min(n * 2, max_iters - iters) or 1
    return total / iters


def emit(key, ms):
    print(f"{key} {ms:.6f}", flush=True)


SGEMM_SHAPES = [
    (1024, 1024, 1024), (2048, 2048, 2048), (4096, 4096, 4096),
    (524288, 64, 576), (131072, 128, 1152), (8192, 512, 4608),
]

# n, c, h, w, k, r, stride, pad: ResNet-18 with the CIFAR stem at batch 512.
CONV_SHAPES = [
    (512, 3, 32, 32, 64, 3, 1, 1),
    (512, 64, 32, 32, 64, 3, 1, 1),
    (512, 64, 32, 32, 128, 3, 2, 1),
    (512, 64, 32, 32, 128, 1, 2, 0),
    (512, 128, 16, 16, 128, 3, 1, 1),
    (512, 256, 8, 8, 256, 3, 1, 1),
    (512, 512, 4, 4, 512, 3, 1, 1),
]

# name, anchors, keys, queue, dim, in-batch negatives
INFONCE_CASES = [
    ("simclr_a1024_d128", 1024, 1024, 0, 128, True),
    ("simclr-hal_a2048_d128", 2048, 1024, 0, 128, True),
    ("moco_a512_q65536_d128", 512, 512, 65536, 128, False),
]


def bench_sgemm(dev):
    for mode in ("cuda-fp32", "cuda-tf32"):
        torch.backends.cuda.matmul.allow_tf32 = mode == "cuda-tf32"
        for m, n, k in SGEMM_SHAPES:
            a = torch.randn(m, k, device=dev)
            b = torch.randn(k, n, device=dev)
            c = torch.empty(m, n, device=dev)
            emit(f"CUDASgemm/{mode}/{m}x{n}x{k}", timed(lambda: torch.mm(a, b, out=c)))
            del a, b, c
    torch.backends.cuda.matmul.allow_tf32 = False


def conv_key(s):
    n, c, h, w, k, r, stride, pad = s
    return f"n{n}_c{c}_{h}x{w}_k{k}_{r}x{r}_s{stride}_p{pad}"


def bench_conv(dev):
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = True
    for s in CONV_SHAPES:
        n, c, h, w, k, r, stride, pad = s
        x = torch.randn(n, c, h, w, device=dev)
        wt = torch.randn(k, c, r, r, device=dev) * 0.1
        y = F.conv2d(x, wt, stride=stride, padding=pad)
        dy = torch.randn_like(y)
        key = "CUDAConv2d/" + conv_key(s)
        emit(key + "/fwd", timed(lambda: F.conv2d(x, wt, stride=stride, padding=pad)))
        emit(key + "/bwd-data", timed(
            lambda: torch.nn.grad.conv2d_input(x.shape, wt, dy, stride=stride, padding=pad)))
        emit(key + "/bwd-filter", timed(
            lambda: torch.nn.grad.conv2d_weight(x, wt.shape, dy, stride=stride, padding=pad)))
        del x, wt, y, dy


def bench_infonce(dev):
    torch.backends.cuda.matmul.allow_tf32 = False
    for name, a, b, nq, d, in_batch in INFONCE_CASES:
        q = torch.randn(a, d, device=dev, requires_grad=True)
        k = torch.randn(b, d, device=dev, requires_grad=True)
        queue = F.normalize(torch.randn(nq, d, device=dev), dim=1) if nq else None
        rows = torch.arange(a, device=dev)
        if in_batch:
            pos = (rows ^ 1) % b
            self_idx = rows % b
            self_mask = torch.zeros(a, b, dtype=torch.bool, device=dev)
            keep = self_idx != pos
            self_mask[rows[keep], self_idx[keep]] = True
        else:
            pos = rows % b

        def step():
            qn, kn = F.normalize(q, dim=1), F.normalize(k, dim=1)
            t = 0.2
            if in_batch:
                logits = (qn @ kn.t()) / t
                logits = logits.masked_fill(self_mask, float("-inf"))
                if queue is not None:
                    logits = torch.cat([logits, (qn @ queue.t()) / t], 1)
                loss = F.cross_entropy(logits, pos)
            else:
                lpos = (qn * kn[pos]).sum(1, keepdim=True) / t
                lneg = (qn @ queue.t()) / t
                logits = torch.cat([lpos, lneg], 1)
                loss = F.cross_entropy(logits, torch.zeros(a, dtype=torch.long, device=dev))
            gq, gk = torch.autograd.grad(loss, (q, k))
            return loss, gq, gk

        emit(f"CUDAInfoNCE/{name}", timed(step))
        del q, k, queue


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (x if self.down is None else self.down(x)))


class ResNet18CIFAR(nn.Module):
    """ResNet-18 with the CIFAR stem (3x3 stride-1 conv, no max pool)."""

    def __init__(self, width=64, in_channels=3):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        layers, cin = [], width
        for i, cout in enumerate([width, 2 * width, 4 * width, 8 * width]):
            stride = 1 if i == 0 else 2
            layers += [BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)]
            cin = cout
        self.layers = nn.Sequential(*layers)
        self.dim = cin

    def forward(self, x):
        return torch.flatten(F.adaptive_avg_pool2d(self.layers(self.stem(x)), 1), 1)


def bench_simclr(dev, batch=512):
    torch.backends.cuda.matmul.allow_tf32 = True  # as the Go backend's default
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = True
    enc = ResNet18CIFAR().to(dev)
    proj = nn.Sequential(nn.Linear(enc.dim, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Linear(512, 128)).to(dev)
    params = list(enc.parameters()) + list(proj.parameters())
    opt = torch.optim.SGD(params, lr=0.06, momentum=0.9, weight_decay=5e-4)
    v1 = torch.randn(batch, 3, 32, 32, device=dev)
    v2 = torch.randn(batch, 3, 32, 32, device=dev)
    n2 = 2 * batch
    labels = (torch.arange(n2, device=dev) + batch) % n2
    diag = torch.eye(n2, dtype=torch.bool, device=dev)

    def step():
        opt.zero_grad(set_to_none=True)
        z = proj(enc(torch.cat([v1, v2], 0)))
        z = F.normalize(z, dim=1)
        logits = (z @ z.t()) / 0.5
        logits = logits.masked_fill(diag, float("-inf"))
        loss = F.cross_entropy(logits, labels)
        loss.backward()
        opt.step()

    emit(f"CUDASimCLRStep/b{batch}", timed(step, min_time=1.0, max_iters=20))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help="comma-separated subset of sgemm,conv,infonce,simclr")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("torch_ref: no CUDA device", file=sys.stderr)
        return 1
    dev = torch.device("cuda")
    print(f"# torch {torch.__version__}, {torch.cuda.get_device_name(0)}", flush=True)
    want = set(filter(None, args.only.split(","))) or {"sgemm", "conv", "infonce", "simclr"}
    t0 = time.time()
    for name, fn in (("sgemm", bench_sgemm), ("conv", bench_conv), ("infonce", bench_infonce),
                     ("simclr", bench_simclr)):
        if name in want:
            fn(dev)
            torch.cuda.empty_cache()
    print(f"# torch_ref: {time.time() - t0:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
