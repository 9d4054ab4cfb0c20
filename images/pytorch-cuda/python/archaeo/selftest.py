"""archaeo-selftest: the training side of the image's smoke test, with the container's real flags.

1. /dev/shm: DataLoader workers hand every batch to the training process through shared memory
   (/dev/shm). A batch well over Docker's 64 MB default (128 MiB here) from several workers at once fails
   with "bus error" / "No space left on device" when the container was started without --shm-size or
   --ipc=host; a 3 MB batch (what a naive check uses) passes even then.
2. All-reduce: world_size processes join a process group (NCCL across the GPUs, or gloo on CPU) and sum
   a tensor, the collective DDP runs after every backward pass. NCCL needs >= 2 GPUs; gloo runs anywhere.
Exit status 0 when every check passed, 1 otherwise; one "selftest:" line per check.
check_shm and check_all_reduce are also the image's smoke test's checks 3 and 4 (images/pytorch-cuda/smoke.py,
with its own sizes and wording).
"""

import argparse
import os
import shutil
import socket
import sys
import time
from typing import List, Optional

from .errors import run_cli


def _log(msg: str) -> None:
    print(f"selftest: {msg}", flush=True)


class _BigBatches:
    """Item i: a float32 tensor of `mib` MiB filled with i, and the id of the process that made it."""

    def __init__(self, mib: int, count: int):
        self.numel = mib * 2**20 // 4
        self.count = count

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int):
        import torch

        return torch.full((self.numel,), float(index)), os.getpid()


def _first_line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:500]


def shm_size_mib() -> Optional[float]:
    try:
        return shutil.disk_usage("/dev/shm").total / 2**20
    except OSError:
        return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_shm(mib: int = 128, workers: int = 2, prefetch: int = 1, batches: Optional[int] = None) -> dict:
    """Moves `batches` (default 2 x `workers`) batches of `mib` MiB from `workers` DataLoader processes to
    this one, each worker `prefetch` batches ahead: about (workers x prefetch + 1) x mib of /dev/shm in use.
    Returns {ok, batches, mib, workers, seconds, shm_mib, worker_pids, error}; error is the exception
    (type and first line) a too-small /dev/shm raises (bus error, ENOSPC, a killed worker), else None."""
    from torch.utils.data import DataLoader

    started = time.perf_counter()
    result = {"ok": False, "mib": mib, "workers": workers, "batches": 0, "shm_mib": shm_size_mib(), "worker_pids": [],
              "error": None}
    count = 2 * workers if batches is None else batches
    try:
        pids = set()
        # prefetch 1 (the default): at most `workers` batches in flight, about what a real loader with big
        # images needs. (torch 2.x refuses prefetch_factor without workers.)
        extra = {"prefetch_factor": prefetch} if workers > 0 else {}
        loader = DataLoader(_BigBatches(mib, count), batch_size=1, num_workers=workers, **extra)
        for index, (batch, pid) in enumerate(loader):
            if batch.shape[1] != mib * 2**20 // 4 or float(batch[0, -1]) != float(index):
                raise RuntimeError(f"batch {index} arrived corrupted")
            pids.add(int(pid))
            result["batches"] += 1
        result["worker_pids"] = sorted(pids)
        if os.getpid() in pids or len(pids) != min(workers, count):
            raise RuntimeError(f"expected batches from {workers} worker processes, got pids {sorted(pids)}")
        if result["batches"] != count:
            raise RuntimeError(f"{result['batches']} of {count} batches arrived")
        result["ok"] = True
    except Exception as exc:  # noqa: BLE001 - bus error, ENOSPC, killed worker: all mean the same fix
        result["error"] = _first_line(exc)
    result["seconds"] = round(time.perf_counter() - started, 2)
    return result


def _all_reduce_worker(rank: int, world: int, backend: str, port: int, numel: int, timeout_s: int, queue) -> None:
    import datetime

    import torch
    import torch.distributed as dist

    try:
        if backend == "nccl":
            torch.cuda.set_device(rank)
            device = torch.device("cuda", rank)
        else:
            device = torch.device("cpu")
        dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world,
                                timeout=datetime.timedelta(seconds=timeout_s))
        tensor = torch.full((numel,), float(rank + 1), device=device)
        dist.all_reduce(tensor)
        expected = world * (world + 1) / 2
        good = bool((tensor == expected).all())
        answer = (rank, good, f"all_reduce gave {float(tensor[0])}, expected {expected}")
        dist.destroy_process_group()
    except Exception as exc:  # noqa: BLE001 - reported by the parent
        answer = (rank, False, _first_line(exc))
    queue.put(answer)


def check_all_reduce(backend: str, world: int, mib: int = 4, timeout_s: int = 120) -> dict:
    """`world` processes (one GPU each for NCCL) join a process group over `backend` and all_reduce a tensor
    of `mib` MiB; {ok, backend, world_size, mib, seconds, error}. A rank that does not finish within
    `timeout_s` + 30 s counts as hung and is killed."""
    import multiprocessing as mp

    started = time.perf_counter()
    # CUDA cannot be used in a forked child: NCCL ranks are spawned; gloo ranks fork (faster).
    ctx = mp.get_context("spawn" if backend == "nccl" else "fork")
    queue = ctx.SimpleQueue()
    port = free_port()
    args = (world, backend, port, mib * 2**20 // 4, timeout_s, queue)
    procs = [ctx.Process(target=_all_reduce_worker, args=(r, *args)) for r in range(world)]
    for p in procs:
        p.start()
    deadline = time.monotonic() + timeout_s + 30
    for p in procs:
        p.join(max(deadline - time.monotonic(), 1))
    hung = [p for p in procs if p.is_alive()]
    for p in hung:
        p.kill()
    answers = [queue.get() for _ in range(world) if not queue.empty()]
    failures = [f"rank {r}: {detail}" for r, good, detail in answers if not good]
    codes = [p.exitcode for p in procs]
    ok = not hung and len(answers) == world and not failures and all(c == 0 for c in codes)
    if ok:
        error = None
    elif hung:
        error = f"hung for {timeout_s + 30} s" + "".join(f"; {f}" for f in failures)
    else:
        error = "; ".join(failures) or f"workers exited {codes} with {len(answers)} of {world} answers"
    return {"ok": ok, "backend": backend, "world_size": world, "mib": mib,
            "seconds": round(time.perf_counter() - started, 2), "error": error}


def _at_least(low: int):
    """An argparse type: an integer >= low (0 workers or 0 MiB would pass without checking anything)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a whole number")
        if value < low:
            raise argparse.ArgumentTypeError(f"{value} checks nothing; give at least {low}")
        return value
    return parse


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="archaeo-selftest",
                                description="Check /dev/shm with big DataLoader batches and a DDP all_reduce.")
    p.add_argument("--shm-mib", type=_at_least(1), default=128, help="MiB per batch (default 128, twice Docker's 64 MB default)")
    p.add_argument("--workers", type=_at_least(1), default=2, help="DataLoader worker processes (default 2)")
    p.add_argument("--all-reduce", default="auto", choices=("auto", "nccl", "gloo", "skip"),
                   help="auto: NCCL over all GPUs when there are >= 2, else skipped (default); gloo: 2 CPU processes")
    return p


def _main(argv: Optional[List[str]]) -> int:
    args = build_parser().parse_args(argv)
    import torch

    failed = False
    shm = check_shm(args.shm_mib, args.workers)
    if shm["ok"]:
        _log(f"/dev/shm ({shm['shm_mib']:.0f} MiB): {shm['batches']} batches of {args.shm_mib} MiB from "
             f"{args.workers} DataLoader workers in {shm['seconds']} s: ok")
    else:
        size = "unknown" if shm["shm_mib"] is None else f"{shm['shm_mib']:.0f} MiB"
        _log(f"FAIL /dev/shm: {shm['error']} -- /dev/shm is {size}; DataLoader workers pass batches through it. "
             "Start the container with --shm-size=2g (or more) or --ipc=host, as the workbench services do")
        failed = True
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    mode = args.all_reduce
    if mode == "auto":
        mode = "nccl" if gpus >= 2 else "skip"
    if mode == "skip":
        _log(f"all_reduce: skipped ({gpus} GPU(s); NCCL needs 2 or more)")
    elif mode == "nccl" and gpus < 2:
        _log(f"FAIL all_reduce: --all-reduce nccl needs 2 or more GPUs, found {gpus}")
        failed = True
    else:
        world = gpus if mode == "nccl" else 2
        res = check_all_reduce(mode, world)
        if res["ok"]:
            _log(f"all_reduce over {mode}, {world} processes: ok ({res['seconds']} s)")
        else:
            _log(f"FAIL all_reduce over {mode}: {res['error']}")
            failed = True
    _log("FAIL" if failed else "PASS")
    return 1 if failed else 0


def main(argv: Optional[List[str]] = None) -> int:
    return run_cli("archaeo-selftest", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
