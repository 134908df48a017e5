#!/usr/bin/env python3
"""A SimCLR ResNet-18 training step on the CPU: PyTorch beside our backend.

Times one SimCLR step of PyTorch (two views of a batch of 32x32x3 images
through a ResNet-18 with the CIFAR stem and the 512-512-128 projection head,
NT-Xent at temperature 0.5, backward, SGD with momentum and weight decay) in
its default (NCHW) layout and in channels_last, with a fixed number of threads,
then runs the same step of the Go benchmark (BenchmarkSimCLRStep in this
directory) and prints pairs/s of each and the ratios ours / PyTorch.

    python3 bench/torch_cpu_step.py [--threads 2] [--batch 128] [--steps 6]

--no-go skips the Go benchmark (PyTorch figures only); --go-only skips
PyTorch. The Go side runs `go test` in the repository root, with GOMAXPROCS
set to --threads.
"""
import argparse
import os
import re
import subprocess
import sys
import time


def torch_step_rate(threads, batch, steps, channels_last):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from torch_ref import ResNet18CIFAR  # the same model as the GPU comparison

    torch.set_num_threads(threads)
    torch.manual_seed(0)

    enc = ResNet18CIFAR()
    proj = nn.Sequential(nn.Linear(enc.dim, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Linear(512, 128))
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    enc = enc.to(memory_format=fmt)
    params = list(enc.parameters()) + list(proj.parameters())
    opt = torch.optim.SGD(params, lr=0.06, momentum=0.9, weight_decay=5e-4)
    v1 = torch.randn(batch, 3, 32, 32).contiguous(memory_format=fmt)
    v2 = torch.randn(batch, 3, 32, 32).contiguous(memory_format=fmt)
    n2 = 2 * batch
    labels = (torch.arange(n2) + batch) % n2
    diag = torch.eye(n2, dtype=torch.bool)

    def step():
        opt.zero_grad(set_to_none=True)
        x = torch.cat([v1, v2], 0).contiguous(memory_format=fmt)
        z = F.normalize(proj(enc(x)), dim=1)
        logits = (z @ z.t()) / 0.5
        logits = logits.masked_fill(diag, float("-inf"))
        F.cross_entropy(logits, labels).backward()
        opt.step()

    step()  # warm-up
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return batch * steps / (time.perf_counter() - t0)


def go_step_rate(threads, batch, steps):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, GOMAXPROCS=str(threads))
    cmd = ["go", "test", "-run", "^$", "-bench", f"^BenchmarkSimCLRStep$/^b{batch}_w64$",
           "-benchtime", f"{steps}x", "./bench"]
    out = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        sys.stderr.write(out.stdout + out.stderr)
        raise SystemExit(f"torch_cpu_step: {' '.join(cmd)} failed")
    m = re.search(r"([0-9.]+) pairs/s", out.stdout)
    if not m:
        sys.stderr.write(out.stdout)
        raise SystemExit("torch_cpu_step: no pairs/s in the Go benchmark's output")
    return float(m.group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=128, help="images per step (pairs)")
    ap.add_argument("--steps", type=int, default=6, help="timed steps after one warm-up step")
    ap.add_argument("--no-go", action="store_true", help="PyTorch only")
    ap.add_argument("--go-only", action="store_true", help="the Go benchmark only")
    args = ap.parse_args()
    if args.batch < 2 or args.steps < 1 or args.threads < 1:
        ap.error("--batch must be at least 2, --steps and --threads at least 1")

    rows = []
    if not args.go_only:
        import torch
        print(f"# torch {torch.__version__}, {args.threads} threads, batch {args.batch} pairs", flush=True)
        for name, cl in (("pytorch (NCHW)", False), ("pytorch (channels_last)", True)):
            rate = torch_step_rate(args.threads, args.batch, args.steps, cl)
            print(f"{name:26s} {rate:8.2f} pairs/s", flush=True)
            rows.append((name, rate))
    if not args.no_go:
        ours = go_step_rate(args.threads, args.batch, args.steps)
        print(f"{'hallucinator (cpu)':26s} {ours:8.2f} pairs/s", flush=True)
        for name, rate in rows:
            print(f"ratio ours / {name:26s} {ours / rate:6.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
