"""GPU smoke test of the archaeo workbench image.

Prints torch / CUDA / cuDNN versions and the GPUs, runs a forward and backward pass of a small
ResNet-style network on random images, and pushes a batch through DataLoader worker processes (which
die with "bus error" when /dev/shm is Docker's 64 MB default). Exit codes: 0 pass, 1 fail,
0 with a "skip" line when torch is not installed (e.g. on a CI machine without the image).

ARCHAEO_EXPECT_GPU=1 turns a missing GPU into a failure (the workstation sets it).
"""
from __future__ import annotations

import os
import platform
import shutil
import sys
import time


def log(msg: str) -> None:
    print(f"smoke: {msg}", flush=True)


def shm_gib() -> float:
    try:
        return shutil.disk_usage("/dev/shm").total / 2**30
    except OSError:
        return 0.0


def main() -> int:
    expect_gpu = os.environ.get("ARCHAEO_EXPECT_GPU") == "1"
    try:
        import torch
        from torch import nn
    except ImportError:
        if expect_gpu:
            log("FAIL: torch is not installed but a GPU run was expected (ARCHAEO_EXPECT_GPU=1)")
            return 1
        log("skip: torch is not installed in this Python (run inside the workbench image for the real test)")
        return 0

    log(f"python {platform.python_version()}, torch {torch.__version__}, cuda {torch.version.cuda}, "
        f"cudnn {torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else 'n/a'}")
    log(f"/dev/shm {shm_gib():.1f} GiB")

    if torch.cuda.is_available():
        device = torch.device("cuda")
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            log(f"gpu {i}: {p.name}, {p.total_memory / 2**30:.1f} GiB, sm_{p.major}{p.minor}")
    elif expect_gpu:
        log("FAIL: a GPU was expected (ARCHAEO_EXPECT_GPU=1) but torch.cuda.is_available() is False; "
            "check 'docker run --gpus all', the NVIDIA driver (>= 570.26 for CUDA 12.8) and nvidia-smi")
        return 1
    else:
        device = torch.device("cpu")
        log("no GPU: running the CPU path")

    def block(cin: int, cout: int, stride: int) -> nn.Module:
        return nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        )

    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1),
        block(64, 64, 1), block(64, 128, 2), block(128, 256, 2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(256, 10),
    ).to(device)
    batch, size = (16, 224) if device.type == "cuda" else (4, 64)
    x = torch.randn(batch, 3, size, size, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)

    start = time.perf_counter()
    for _ in range(3):
        opt.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    if not torch.isfinite(loss) or any(g is None or not torch.isfinite(g).all() for g in grads):
        log("FAIL: non-finite loss or gradients")
        return 1
    log(f"forward+backward x3 on {device.type}: batch {batch}x3x{size}x{size}, loss {loss.item():.3f}, {elapsed:.2f} s")

    # DataLoader workers pass tensors through /dev/shm.
    from torch.utils.data import DataLoader, TensorDataset
    data = TensorDataset(torch.randn(64, 3, 64, 64), torch.randint(0, 10, (64,)))
    seen = sum(xb.shape[0] for xb, _ in DataLoader(data, batch_size=16, num_workers=2))
    if seen != 64:
        log(f"FAIL: DataLoader workers returned {seen} of 64 samples")
        return 1
    log("DataLoader with 2 workers: ok")
    log("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
