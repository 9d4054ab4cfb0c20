"""DDP plumbing: the environment torchrun sets, process-group start/stop, sums across ranks.

torchrun (torch.distributed.run) exports RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR and
MASTER_PORT to every worker; init_method "env://" reads MASTER_ADDR/MASTER_PORT (and RANK/WORLD_SIZE).
Anything that starts workers with the same variables (a Kubernetes Job, a test) works the same way.
"""

import datetime
from dataclasses import dataclass
from typing import List, Mapping, Sequence

from .errors import ArchaeoError

# Rank 0 hashes the data manifest while the other ranks wait in the first collective; large datasets
# on an S3 mount can take minutes, longer than NCCL's 10-minute default.
PROCESS_GROUP_TIMEOUT = datetime.timedelta(minutes=60)


@dataclass(frozen=True)
class DistEnv:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    local_world_size: int = 1

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _int(env: Mapping[str, str], key: str, default: int) -> int:
    value = env.get(key, "")
    if value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ArchaeoError(f"environment variable {key}={value!r}: must be an integer (set by torchrun)") from None


def from_env(env: Mapping[str, str]) -> DistEnv:
    """The process's place in a torchrun job; a single process when WORLD_SIZE is unset or 1."""
    world = _int(env, "WORLD_SIZE", 1)
    if world <= 1:
        return DistEnv()
    rank = _int(env, "RANK", -1)
    local_rank = _int(env, "LOCAL_RANK", rank)
    missing = [k for k in ("RANK", "MASTER_ADDR", "MASTER_PORT") if not env.get(k)]
    if missing:
        raise ArchaeoError(
            f"WORLD_SIZE={world} but {', '.join(missing)} not set: start distributed training with "
            "`torchrun --nproc-per-node N archaeo-train ...` (or python -m torch.distributed.run), which sets them"
        )
    if not 0 <= rank < world:
        raise ArchaeoError(f"RANK={rank} is outside 0..{world - 1} (WORLD_SIZE={world})")
    return DistEnv(rank=rank, local_rank=local_rank, world_size=world,
                   local_world_size=_int(env, "LOCAL_WORLD_SIZE", world))


def backend_for(device_type: str) -> str:
    """NCCL between GPUs, gloo between CPU processes."""
    return "nccl" if device_type == "cuda" else "gloo"


def init(denv: DistEnv, device_type: str) -> str:
    """Joins the process group (env:// rendezvous); returns the backend."""
    import torch
    import torch.distributed as dist

    backend = backend_for(device_type)
    if backend == "nccl":
        torch.cuda.set_device(denv.local_rank)
    dist.init_process_group(backend=backend, init_method="env://", rank=denv.rank, world_size=denv.world_size,
                            timeout=PROCESS_GROUP_TIMEOUT)
    return backend


def barrier(denv: DistEnv, device_type: str) -> None:
    if not denv.distributed:
        return
    import torch.distributed as dist

    if device_type == "cuda":  # tell NCCL which GPU this rank uses (else it guesses and warns)
        dist.barrier(device_ids=[denv.local_rank])
    else:
        dist.barrier()


def sum_across(denv: DistEnv, values: Sequence[float], device) -> List[float]:
    """Element-wise sum of `values` over all ranks (the input unchanged in a single process)."""
    if not denv.distributed:
        return [float(v) for v in values]
    import torch
    import torch.distributed as dist

    tensor = torch.tensor([float(v) for v in values], dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor.tolist()


def all_ok(denv: DistEnv, ok: bool, device) -> bool:
    """True when `ok` holds on every rank (so all ranks can stop together after one rank's failure)."""
    return sum_across(denv, [0.0 if ok else 1.0], device)[0] == 0.0


def any_flag(denv: DistEnv, flag: bool, device) -> bool:
    """True on every rank when `flag` is set on any (a SIGTERM seen by one rank stops all at the same batch)."""
    return not all_ok(denv, not flag, device)


def shutdown(denv: DistEnv) -> None:
    if not denv.distributed:
        return
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
