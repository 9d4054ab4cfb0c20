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
Exit codes: 0 pass, 1 fail. Without torch the test fails: the image always has torch.
"""
from __future__ import annotations

import datetime
import math
import os
import platform
import shutil
import socket
import sys
import time

SHM_BATCH_MIB = 160
SHM_WORKERS = 2
SHM_PREFETCH = 2
SAMPLE_SHAPE = (3, 512, 512)  # one float32 image: 3 MiB
COLLECTIVE_TIMEOUT_S = 120


def log(msg: str) -> None:
    print(f"smoke: {msg}", flush=True)


def shm_mib() -> float:
    try:
        return shutil.disk_usage("/dev/shm").total / 2**20
    except OSError:
        return 0.0


def batch_plan(target_mib: int = SHM_BATCH_MIB) -> tuple[int, float]:
    """Samples per batch and the batch size in MiB for at least `target_mib` MiB per batch."""
    sample_bytes = math.prod(SAMPLE_SHAPE) * 4
    per_batch = math.ceil(target_mib * 2**20 / sample_bytes)
    return per_batch, per_batch * sample_bytes / 2**20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _collective_worker(rank: int, world: int, port: int, backend: str, numel: int) -> None:
    import torch
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world))
    dist.init_process_group(backend, rank=rank, world_size=world, timeout=datetime.timedelta(seconds=COLLECTIVE_TIMEOUT_S))
    try:
        device = torch.device("cuda", rank) if backend == "nccl" else torch.device("cpu")
        if backend == "nccl":
            torch.cuda.set_device(device)
        t = torch.full((numel,), float(rank + 1), device=device)
        dist.all_reduce(t)
        expected = world * (world + 1) / 2
        if not bool((t == expected).all()):
            raise RuntimeError(f"rank {rank}: all_reduce gave {t[0].item()}, expected {expected}")
        if backend == "nccl":
            torch.cuda.synchronize()
    finally:
        dist.destroy_process_group()


def collective(backend: str, mib: int) -> tuple[bool, str]:
    """Runs a 2-rank all_reduce of `mib` MiB in child processes; (ok, message)."""
    import multiprocessing as mp

    # CUDA cannot be used in a forked child: NCCL ranks are spawned; gloo ranks fork (faster).
    ctx = mp.get_context("spawn" if backend == "nccl" else "fork")
    port, world, numel = free_port(), 2, mib * 2**20 // 4
    procs = [ctx.Process(target=_collective_worker, args=(r, world, port, backend, numel)) for r in range(world)]
    start = time.perf_counter()
    for p in procs:
        p.start()
    deadline = time.monotonic() + COLLECTIVE_TIMEOUT_S + 30
    for p in procs:
        p.join(max(deadline - time.monotonic(), 1))
    hung = [p for p in procs if p.is_alive()]
    for p in hung:
        p.kill()
    if hung:
        return False, f"{backend} all_reduce hung for {COLLECTIVE_TIMEOUT_S + 30} s"
    codes = [p.exitcode for p in procs]
    if any(c != 0 for c in codes):
        return False, f"{backend} all_reduce failed (exit codes {codes}); rerun with NCCL_DEBUG=INFO"
    return True, f"{backend} all_reduce of {mib} MiB over 2 ranks: ok ({time.perf_counter() - start:.1f} s)"


def dataloader_shm(torch) -> tuple[bool, str]:
    from torch.utils.data import DataLoader, Dataset

    per_batch, batch_mib = batch_plan()

    class Images(Dataset):
        def __len__(self) -> int:
            return per_batch * 3

        def __getitem__(self, i: int):
            return torch.full(SAMPLE_SHAPE, float(i % 251))

    loader = DataLoader(Images(), batch_size=per_batch, num_workers=SHM_WORKERS, prefetch_factor=SHM_PREFETCH)
    start = time.perf_counter()
    try:
        seen = sum(int(xb.shape[0]) for xb in loader)
    except RuntimeError as e:
        return False, (f"DataLoader workers could not move a {batch_mib:.0f} MiB batch through /dev/shm "
                       f"({shm_mib():.0f} MiB): {str(e).splitlines()[0]}; run the container with a larger "
                       f"--shm-size (the workbench uses a quarter of host memory, at least 2 GiB)")
    if seen != per_batch * 3:
        return False, f"DataLoader workers returned {seen} of {per_batch * 3} samples"
    return True, (f"DataLoader with {SHM_WORKERS} workers moved 3 batches of {batch_mib:.0f} MiB through "
                  f"/dev/shm ({shm_mib():.0f} MiB): ok ({time.perf_counter() - start:.1f} s)")


def main() -> int:
    expect_gpu = os.environ.get("ARCHAEO_EXPECT_GPU") == "1"
    try:
        import torch
        from torch import nn
    except ImportError as e:
        log(f"FAIL: torch cannot be imported with {sys.executable} ({e}); the workbench image must ship torch")
        return 1

    log(f"python {platform.python_version()}, torch {torch.__version__}, cuda {torch.version.cuda}, "
        f"cudnn {torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else 'n/a'}")
    log(f"/dev/shm {shm_mib():.0f} MiB; NCCL_CUMEM_HOST_ENABLE={os.environ.get('NCCL_CUMEM_HOST_ENABLE', '(unset)')}")

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

    ok, msg = dataloader_shm(torch)
    log(msg if ok else f"FAIL: {msg}")
    if not ok:
        return 1

    backend, mib = ("nccl", 64) if gpus >= 2 else ("gloo", 8)
    ok, msg = collective(backend, mib)
    log(msg if ok else f"FAIL: {msg}")
    if not ok:
        return 1
    log("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
