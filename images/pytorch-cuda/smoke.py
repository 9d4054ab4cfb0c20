"""Smoke test of the archaeo workbench image, run with the same container flags as the services.

Checks, each of which fails on a bug researchers actually hit:
1. torch / CUDA / cuDNN versions and the GPUs; with ARCHAEO_EXPECT_GPU=1 a missing GPU is a failure.
2. A forward and backward pass of a small ResNet-style network.
3. DataLoader workers moving batches of SHM_BATCH_MIB (160 MiB, well over Docker's 64 MB default
   /dev/shm) to the main process: workers build each batch in shared memory, so a small /dev/shm
   kills them with "bus error" / "No space left on device". Needs about
   (workers x prefetch + 1) x batch = 5 x 160 MiB of /dev/shm; the services get a quarter of the
   host's memory and at least 2 GiB.
4. A 2-rank all_reduce: NCCL across two GPUs when there are at least two (the transports NCCL picks
   between GPUs, including its /dev/shm and cuMem host paths), otherwise gloo on the CPU.
Checks 3 and 4 are archaeo-selftest's (archaeo.selftest, installed in the image) with the sizes here.
Exit codes: 0 pass, 1 fail. Without torch or the archaeo package the test fails: the image has both.
"""
from __future__ import annotations

import os
import platform
import sys
import time

SHM_BATCH_MIB = 160
SHM_WORKERS = 2
SHM_PREFETCH = 2
SHM_BATCHES = 3
COLLECTIVE_TIMEOUT_S = 120


def log(msg: str) -> None:
    print(f"smoke: {msg}", flush=True)


def main() -> int:
    expect_gpu = os.environ.get("ARCHAEO_EXPECT_GPU") == "1"
    try:
        import torch
        from torch import nn
    except ImportError as e:
        log(f"FAIL: torch cannot be imported with {sys.executable} ({e}); the workbench image must ship torch")
        return 1
    try:
        from archaeo.selftest import check_all_reduce, check_shm, shm_size_mib
    except ImportError as e:
        log(f"FAIL: the archaeo package cannot be imported with {sys.executable} ({e}); the workbench image "
            "must ship it")
        return 1
    shm_mib = shm_size_mib() or 0.0

    log(f"python {platform.python_version()}, torch {torch.__version__}, cuda {torch.version.cuda}, "
        f"cudnn {torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else 'n/a'}")
    log(f"/dev/shm {shm_mib:.0f} MiB; NCCL_CUMEM_HOST_ENABLE={os.environ.get('NCCL_CUMEM_HOST_ENABLE', '(unset)')}")

    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if gpus:
        device = torch.device("cuda")
        for i in range(gpus):
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
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    if not torch.isfinite(loss) or any(g is None or not torch.isfinite(g).all() for g in grads):
        log("FAIL: non-finite loss or gradients")
        return 1
    log(f"forward+backward x3 on {device.type}: batch {batch}x3x{size}x{size}, loss {loss.item():.3f}, "
        f"{time.perf_counter() - start:.2f} s")

    shm = check_shm(SHM_BATCH_MIB, SHM_WORKERS, SHM_PREFETCH, SHM_BATCHES)
    if not shm["ok"]:
        log(f"FAIL: DataLoader workers could not move a {SHM_BATCH_MIB} MiB batch through /dev/shm ({shm_mib:.0f} MiB): "
            f"{shm['error']}; run the container with a larger --shm-size (the workbench uses a quarter of host "
            "memory, at least 2 GiB)")
        return 1
    log(f"DataLoader with {SHM_WORKERS} workers moved {SHM_BATCHES} batches of {SHM_BATCH_MIB} MiB through "
        f"/dev/shm ({shm_mib:.0f} MiB): ok ({shm['seconds']:.1f} s)")

    backend, mib = ("nccl", 64) if gpus >= 2 else ("gloo", 8)
    ar = check_all_reduce(backend, 2, mib, COLLECTIVE_TIMEOUT_S)
    if not ar["ok"]:
        log(f"FAIL: {backend} all_reduce of {mib} MiB over 2 ranks failed: {ar['error']}; rerun with NCCL_DEBUG=INFO")
        return 1
    log(f"{backend} all_reduce of {mib} MiB over 2 ranks: ok ({ar['seconds']:.1f} s)")
    log("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
