#!/usr/bin/env python3
"""A SimCLR ResNet-18 training step on the CPU: PyTorch at its best beside ours.

Times one SimCLR step (two views of a batch through a ResNet-18 with the CIFAR
stem and the 512-512-128 projection head, NT-Xent, backward, SGD with momentum
and weight decay) in PyTorch and in our CPU backend (BenchmarkSimCLRStep in
this directory), for two networks:

  cifar   width 64, 32x32x3 images (the paper's CIFAR network)
  fmnist  width 8, 28x28x1 images (cmd/train's Fashion-MNIST CPU preset)

over a sweep of batch sizes and thread counts. PyTorch runs in every setting
its CPU performance guides recommend, each in a fresh process: NCHW and
channels_last, with glibc's malloc tuned (MALLOC_MMAP_MAX_=0,
MALLOC_TRIM_THRESHOLD_ large: no mmap/munmap of every large tensor), with
jemalloc and with tcmalloc preloaded when installed. The best of these is the
reference; PyTorch with glibc's default malloc is printed beside it for
context only. Every configuration is run --rounds times, the settings and ours
alternated (the order rotates each round), and the median of the rounds is
reported, so a burst of other work on the machine touches all of them alike.

    python3 bench/torch_cpu_step.py [--model cifar,fmnist] [--batch 32,64,128,256]
        [--threads 1,2] [--rounds 3] [--seconds 4]

It prints one line per run as it goes and a Markdown table at the end: pairs/s
(one pair = an image's two views) of each, ours / PyTorch's best, and the
fraction of the FMA peak (blas.MeasurePeak, measured by the Go benchmark) that
each reaches. --no-go prints PyTorch only; --go-only ours only. Needs Debian's
python3-torch (apt-get install python3-torch; libjemalloc2 and
libtcmalloc-minimal4 for the two preloaded allocators) and Go.
"""
import argparse
import glob
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

MODELS = {
    # name: (width, channels, size, Go benchmark suffix)
    "cifar": (64, 3, 32, "_w64"),
    "fmnist": (8, 1, 28, "_w8_fmnist"),
}

TUNED_GLIBC = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": "100000000000"}


def find_lib(name):
    for d in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib"):
        hits = sorted(glob.glob(os.path.join(d, name)))
        if hits:
            return hits[0]
    return None


def torch_settings(which):
    """(name, layout, env) of each PyTorch setting in which (a set of
    default, glibc, jemalloc, tcmalloc); the untuned one comes first."""
    out = [("default malloc, NCHW", "nchw", {})] if "default" in which else []
    allocs = [("tuned glibc", TUNED_GLIBC)] if "glibc" in which else []
    je = find_lib("libjemalloc.so.2")
    if je and "jemalloc" in which:
        allocs.append(("jemalloc", {"LD_PRELOAD": je}))
    tc = find_lib("libtcmalloc_minimal.so.4")
    if tc and "tcmalloc" in which:
        allocs.append(("tcmalloc", {"LD_PRELOAD": tc}))
    for aname, env in allocs:
        for layout in ("nchw", "channels_last"):
            out.append((f"{aname}, {'NCHW' if layout == 'nchw' else 'channels_last'}", layout, env))
    return out


# ---- the PyTorch step, run in a child process --------------------------------

def child(args):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    sys.path.insert(0, HERE)
    from torch_ref import ResNet18CIFAR  # the same model as the GPU comparison

    width, chans, size, _ = MODELS[args.model]
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    enc = ResNet18CIFAR(width=width, in_channels=chans)
    proj = nn.Sequential(nn.Linear(enc.dim, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Linear(512, 128))
    fmt = torch.channels_last if args.layout == "channels_last" else torch.contiguous_format
    enc = enc.to(memory_format=fmt)
    params = list(enc.parameters()) + list(proj.parameters())
    opt = torch.optim.SGD(params, lr=0.06, momentum=0.9, weight_decay=5e-4)
    batch = args.batch
    v1 = torch.randn(batch, chans, size, size).contiguous(memory_format=fmt)
    v2 = torch.randn(batch, chans, size, size).contiguous(memory_format=fmt)
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

    step()  # warm-up: buffers, momentum, the allocator's pools
    t0 = time.perf_counter()
    step()
    once = time.perf_counter() - t0
    steps = max(2, int(args.seconds / max(once, 1e-6) + 0.5))
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    print(f"rate {batch * steps / (time.perf_counter() - t0):.4f}", flush=True)
    return 0


def run_torch(model, threads, batch, layout, env, seconds):
    cmd = [sys.executable, os.path.abspath(__file__), "--child", "--model", model, "--threads", str(threads),
           "--batch", str(batch), "--layout", layout, "--seconds", str(seconds)]
    e = dict(os.environ, OMP_NUM_THREADS=str(threads), **env)
    out = subprocess.run(cmd, env=e, capture_output=True, text=True)
    m = re.search(r"^rate ([0-9.]+)$", out.stdout, re.M)
    if out.returncode != 0 or not m:
        sys.stderr.write(out.stdout + out.stderr)
        raise SystemExit(f"torch_cpu_step: the PyTorch step ({model}, {layout}, {env}) failed")
    return float(m.group(1))


# ---- ours ---------------------------------------------------------------------

def build_go(tmp):
    exe = os.path.join(tmp, "bench.test")
    out = subprocess.run(["go", "test", "-c", "-o", exe, "./bench"], cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        sys.stderr.write(out.stdout + out.stderr)
        raise SystemExit("torch_cpu_step: go test -c ./bench failed")
    return exe


def run_go(exe, model, threads, batch, seconds):
    name = f"b{batch}{MODELS[model][3]}"
    cmd = [exe, "-test.run", "^$", "-test.bench", f"^BenchmarkSimCLRStep$/^{name}$",
           "-test.benchtime", f"{seconds}s"]
    out = subprocess.run(cmd, cwd=HERE, env=dict(os.environ, GOMAXPROCS=str(threads)),
                         capture_output=True, text=True)
    rate = re.search(r"([0-9.]+) pairs/s", out.stdout)
    peak = re.search(r"([0-9.]+) of-peak", out.stdout)
    if out.returncode != 0 or not rate:
        sys.stderr.write(out.stdout + out.stderr)
        raise SystemExit(f"torch_cpu_step: the Go benchmark {name} failed")
    return float(rate.group(1)), float(peak.group(1)) if peak else None


# ---- the sweep ----------------------------------------------------------------

def ints(s):
    return [int(v) for v in s.split(",") if v]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="cifar,fmnist", help="cifar, fmnist or both (comma-separated)")
    ap.add_argument("--batch", default="32,64,128,256", help="batch sizes in pairs (comma-separated)")
    ap.add_argument("--threads", default="1,2", help="thread counts (comma-separated)")
    ap.add_argument("--rounds", type=int, default=3, help="alternated runs of each setting (the median is kept)")
    ap.add_argument("--seconds", type=float, default=4, help="timed seconds per run, after the warm-up")
    ap.add_argument("--allocators", default="default,glibc,jemalloc,tcmalloc",
                    help="PyTorch settings: default (untuned, for context), glibc (tuned), jemalloc, tcmalloc")
    ap.add_argument("--no-go", action="store_true", help="PyTorch only")
    ap.add_argument("--go-only", action="store_true", help="ours only")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--layout", default="nchw", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        args.batch = int(args.batch)
        args.threads = int(args.threads)
        return child(args)

    models = [m for m in args.model.split(",") if m]
    for m in models:
        if m not in MODELS:
            ap.error(f"--model {m!r}: want cifar or fmnist")
    batches, threads = ints(args.batch), ints(args.threads)
    if not batches or min(batches) < 2 or not threads or min(threads) < 1 or args.rounds < 1 or args.seconds <= 0:
        ap.error("--batch must be at least 2, --threads, --rounds and --seconds positive")

    which = set(a for a in args.allocators.split(",") if a)
    if not which <= {"default", "glibc", "jemalloc", "tcmalloc"} or not which - {"default"}:
        ap.error("--allocators: want some of default, glibc, jemalloc, tcmalloc, with at least one tuned")
    settings = [] if args.go_only else torch_settings(which)
    if not args.go_only:
        import torch
        print(f"# torch {torch.__version__}; settings: " + "; ".join(s[0] for s in settings), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        exe = None if args.no_go else build_go(tmp)
        rows = []
        for model in models:
            for t in threads:
                for b in batches:
                    runs = [(s[0], s) for s in settings] + ([] if exe is None else [("ours", None)])
                    rates = {name: [] for name, _ in runs}
                    peaks = []
                    for r in range(args.rounds):
                        k = r % len(runs)
                        for name, s in runs[k:] + runs[:k]:
                            if s is None:
                                rate, pk = run_go(exe, model, t, b, args.seconds)
                                if pk:
                                    peaks.append(pk / rate)  # of-peak per pair/s
                            else:
                                rate = run_torch(model, t, b, s[1], s[2], args.seconds)
                            rates[name].append(rate)
                            print(f"{model} threads={t} batch={b} round={r + 1} {name:34s} {rate:9.2f} pairs/s", flush=True)
                    med = {name: statistics.median(v) for name, v in rates.items()}
                    rows.append((model, t, b, med, statistics.median(peaks) if peaks else None))

    print()
    print("| network | threads | batch | PyTorch, default malloc | PyTorch's best (setting) | ours | ours / best | ours, of peak | PyTorch's best, of peak |")
    print("|---|---|---|---|---|---|---|---|---|")
    untuned = "default malloc, NCHW"
    for model, t, b, med, per in rows:
        tuned = {k: v for k, v in med.items() if k not in ("ours", untuned)}
        best = max(tuned.items(), key=lambda kv: kv[1]) if tuned else None
        default = med.get(untuned)
        ours = med.get("ours")
        cells = [model, str(t), str(b),
                 f"{default:.1f}" if default else "",
                 f"{best[1]:.1f} ({best[0]})" if best else "",
                 f"{ours:.1f}" if ours else "",
                 f"{ours / best[1]:.2f}" if ours and best else "",
                 f"{100 * per * ours:.0f} %" if per and ours else "",
                 f"{100 * per * best[1]:.0f} %" if per and best else ""]
        print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
