"""archaeo-train: fine-tune a torchvision classifier on an image folder, on one GPU/CPU or under torchrun (DDP).

Writes to --output-dir: last.pt (every epoch), best.pt (best validation accuracy), metrics.jsonl (one
line per epoch) and run.json (provenance); TensorBoard events to <log dir>/<run name> where tensorboard
is installed. The library entry point is fit(TrainConfig(...)), which the notebooks call.

Randomness: the model starts from --seed; each epoch's shuffling is seeded from (--seed, epoch) and each
image's augmentation from (--seed, epoch, index), so neither depends on the number of DataLoader workers
nor on an interruption: a run resumed from last.pt, even one stopped mid-epoch by SIGTERM, ends with the
weights an uninterrupted run ends with.

The collection is read once before training (archaeo.collection.vet): unreadable, truncated, empty,
oversized and non-image files are excluded with the reason (listed, and in run.json), duplicates kept out
of validation, and training goes on; --strict stops instead.
"""

import argparse
import json
import math
import os
import random
import shutil
import signal
import sys
import time
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from typing import Callable, List, Mapping, Optional

from . import __version__
from .device import DEVICE_CHOICES, pick_device
from .errors import ArchaeoError, run_cli

MONITORS = ("val_loss", "val_acc")
# A resumed run must keep these (the split, model shape and optimiser depend on them).
RESUME_MUST_MATCH = ("model", "image_size", "seed", "val_fraction", "freeze_backbone", "lr", "weight_decay")


# torch.compile builds code with the system's compilers: Triton its launcher with a C compiler
# (triton/runtime/build.py: $CC, else gcc or clang on PATH), Inductor's CPU kernels with a C++ one.
# The workbench image ships none (images/pytorch-cuda/check_lean.py), so there --compile trains in
# eager mode with a warning instead of failing at the first batch.
COMPILERS = ("cc", "gcc", "clang", "c++", "g++", "clang++")


def compile_unavailable(environ: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """Why torch.compile cannot work here (no compiler on PATH), or None when it can."""
    env = os.environ if environ is None else environ
    path = env.get("PATH", "")
    cc = env.get("CC")
    if (cc and shutil.which(cc, path=path)) or any(shutil.which(c, path=path) for c in COMPILERS):
        return None
    return "no C/C++ compiler on PATH (torch.compile's Triton and Inductor backends build code with one)"

@dataclass
class TrainConfig:
    """Everything a run depends on; the CLI flags map one to one (data_dir <-> --data-dir)."""

    data_dir: str
    output_dir: str
    model: str = "resnet18"
    epochs: int = 10
    batch_size: int = 32  # per process (per GPU under torchrun)
    lr: float = 3e-4
    weight_decay: float = 0.05
    freeze_backbone: bool = False
    amp: Optional[bool] = None  # None: on for CUDA (bfloat16 where supported), off on CPU
    resume: bool = False
    val_fraction: float = 0.2
    seed: int = 42
    workers: Optional[int] = None  # None: min(8, CPUs per process)
    patience: int = 5  # epochs without improvement of `monitor` before stopping; 0 = never stop early
    monitor: str = "val_loss"
    pretrained: bool = True
    image_size: int = 224
    log_dir: Optional[str] = None  # TensorBoard root; None: $TENSORBOARD_LOGDIR or /workspace/runs
    run_name: Optional[str] = None  # None: the output folder's name
    s3_versions: bool = False
    device: str = "auto"
    strict: bool = False  # stop when any file is excluded, instead of training without it
    exclude_class: Optional[List[str]] = None
    min_images: int = 2  # classes with fewer usable images are left out
    max_megapixels: float = 89.5  # Pillow's own decompression-bomb limit
    compile: bool = False
    sync_bn: bool = False
    checkpoint_every: int = 1  # epochs between last.pt saves (the final epoch and a SIGTERM always save)


def validate(config: TrainConfig) -> List[str]:
    """Every problem with a config, each naming its flag and the fix."""
    from .models import validate_model_args

    errors = []
    if config.epochs < 1:
        errors.append(f"--epochs {config.epochs}: must be at least 1")
    if config.batch_size < 1:
        errors.append(f"--batch-size {config.batch_size}: must be at least 1")
    if not (config.lr >= 0 and math.isfinite(config.lr)):
        errors.append(f"--lr {config.lr}: must be a number >= 0 (e.g. 3e-4)")
    if config.weight_decay < 0:
        errors.append(f"--weight-decay {config.weight_decay}: must be >= 0")
    if not 0.0 < config.val_fraction < 1.0:
        errors.append(f"--val-fraction {config.val_fraction}: must be between 0 and 1 (e.g. 0.2 keeps 20% for validation)")
    if config.workers is not None and config.workers < 0:
        errors.append(f"--workers {config.workers}: must be >= 0 (0 loads images in the training process)")
    if config.patience < 0:
        errors.append(f"--patience {config.patience}: must be >= 0 (0 turns early stopping off)")
    if config.monitor not in MONITORS:
        errors.append(f"--monitor {config.monitor}: choose one of {', '.join(MONITORS)}")
    if config.checkpoint_every < 1:
        errors.append(f"--checkpoint-every {config.checkpoint_every}: must be at least 1 (epochs between saves of last.pt)")
    if config.min_images < 2:
        errors.append(f"--min-images {config.min_images}: must be at least 2 (a class needs an image for training and one for validation)")
    if not config.max_megapixels > 0:
        errors.append(f"--max-megapixels {config.max_megapixels}: must be > 0 (Pillow's default limit is 89.5)")
    if config.device not in DEVICE_CHOICES:
        errors.append(f"--device {config.device}: choose auto, cpu or cuda")
    errors.extend(validate_model_args(config.model, config.image_size, config.pretrained))
    return errors


def build_parser() -> argparse.ArgumentParser:
    from .models import MODELS

    d = TrainConfig("", "")
    p = argparse.ArgumentParser(
        prog="archaeo-train",
        description="Fine-tune an image classifier on DATA_DIR/<class>/<images>. Under torchrun it trains on "
                    "N GPUs (DDP): `torchrun --nproc-per-node N -m archaeo.train ...` (or "
                    "`torchrun --nproc-per-node N --no-python archaeo-train ...`).",
    )
    p.add_argument("--data-dir", required=True, help="folder with one sub-folder of images per class")
    p.add_argument("--output-dir", required=True, help="where last.pt, best.pt, metrics.jsonl and run.json go")
    p.add_argument("--model", default=d.model, choices=list(MODELS), help=f"backbone (default {d.model})")
    p.add_argument("--epochs", type=int, default=d.epochs, help=f"epochs to train (default {d.epochs})")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help=f"images per step per process (default {d.batch_size})")
    p.add_argument("--lr", type=float, default=d.lr, help=f"AdamW learning rate, cosine-decayed (default {d.lr})")
    p.add_argument("--weight-decay", type=float, default=d.weight_decay, help=f"AdamW weight decay (default {d.weight_decay})")
    p.add_argument("--freeze-backbone", action="store_true", help="train only the new classification head")
    p.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                   help="mixed precision: on by default on CUDA GPUs (bfloat16 where supported, else float16); --no-amp trains in float32")
    p.add_argument("--resume", action="store_true", help="continue the run in --output-dir from its last.pt")
    p.add_argument("--val-fraction", type=float, default=d.val_fraction,
                   help=f"share of each class held out for validation (default {d.val_fraction})")
    p.add_argument("--seed", type=int, default=d.seed, help=f"seed for the split, initialisation and augmentation (default {d.seed})")
    p.add_argument("--workers", type=int, default=None, help="data-loading processes per training process (default min(8, CPUs))")
    p.add_argument("--patience", type=int, default=d.patience,
                   help=f"stop after this many epochs without improvement of --monitor; 0 = off (default {d.patience})")
    p.add_argument("--monitor", default=d.monitor, choices=MONITORS, help=f"metric for early stopping (default {d.monitor})")
    p.add_argument("--pretrained", action=argparse.BooleanOptionalAction, default=True,
                   help="start from ImageNet weights (default); --no-pretrained trains from scratch, no download")
    p.add_argument("--image-size", type=int, default=d.image_size, help=f"square input size in pixels (default {d.image_size})")
    p.add_argument("--log-dir", default=None, help="TensorBoard root (default $TENSORBOARD_LOGDIR or /workspace/runs)")
    p.add_argument("--run-name", default=None, help="TensorBoard run name (default: the --output-dir folder name)")
    p.add_argument("--s3-versions", action="store_true",
                   help="record S3 object version ids of files on S3 mounts in run.json (needs boto3 and credentials)")
    p.add_argument("--device", default=d.device, choices=DEVICE_CHOICES, help="default: cuda when available")
    p.add_argument("--gpu", dest="device", action="store_const", const="cuda", help="the same as --device cuda")
    p.add_argument("--strict", action="store_true",
                   help="stop when any file must be excluded (unreadable, truncated, too large, ...) instead of training without it")
    p.add_argument("--exclude-class", action="append", default=None, metavar="NAME",
                   help="leave this class folder out (repeatable): for folders on a read-only /data")
    p.add_argument("--min-images", type=int, default=d.min_images,
                   help=f"leave out classes with fewer usable images than this (default {d.min_images})")
    p.add_argument("--max-megapixels", type=float, default=d.max_megapixels,
                   help=f"exclude images larger than this (default {d.max_megapixels}, Pillow's limit); tile orthomosaics first")
    p.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every, metavar="N",
                   help="save last.pt every N epochs (default 1); the last epoch and a SIGTERM always save. Large models save seconds per epoch")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (faster epochs after a slower first one); needs a C compiler, which the workbench image does not ship: ignored there")
    p.add_argument("--sync-bn", action="store_true",
                   help="under DDP, synchronise BatchNorm statistics across GPUs (advised when the per-GPU batch is small)")
    return p


def config_from_args(ns: argparse.Namespace) -> TrainConfig:
    names = {f.name for f in fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in vars(ns).items() if k in names})


def _utcnow() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else (f"{minutes}m{secs:02d}s" if minutes else f"{seconds:.1f}s")


def _seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def _epoch_seed(seed: int, epoch: int, rank: int) -> int:
    return (seed * 1_000_003 + epoch * 10_007 + rank) % (2**63)


def _cosine(epochs: int) -> Callable[[int], float]:
    """LR factor for epoch e (0-based): half a cosine from 1 down towards 0 over the run. A closed form
    (not CosineAnnealingLR's recursion), so extending --epochs on resume gives a consistent schedule."""
    return lambda e: 0.5 * (1.0 + math.cos(math.pi * min(e, epochs) / epochs))


def _output_problems(config: TrainConfig, mounts) -> List[str]:
    from .provenance import mount_of

    problems = []
    on_mount = mount_of(config.output_dir, mounts)
    if on_mount:
        problems.append(
            f"--output-dir {config.output_dir} is on the S3 mount {on_mount[0]} ({on_mount[1]}), which cannot "
            "append, rename or overwrite files (checkpoints and metrics need all three). Write to /workspace "
            f"(e.g. --output-dir /workspace/models/<name>) and copy the finished run there with `cp -r`."
        )
    last = os.path.join(config.output_dir, "last.pt")
    if os.path.exists(last) and not config.resume:
        problems.append(
            f"--output-dir {config.output_dir} already holds a run ({last}); pass --resume to continue it "
            "or choose another --output-dir"
        )
    return problems


class _TensorBoard:
    """SummaryWriter where torch.utils.tensorboard imports (the image has tensorboard); else a no-op
    with the reason, recorded in run.json. metrics.jsonl is written either way."""

    def __init__(self, logdir: str):
        self.logdir: Optional[str] = None
        self.reason: Optional[str] = None
        self._writer = None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except Exception as exc:  # noqa: BLE001 - ImportError, or a tensorboard/protobuf mismatch
            self.reason = f"torch.utils.tensorboard is not importable here ({type(exc).__name__}: {exc})"
            return
        try:
            os.makedirs(logdir, exist_ok=True)
            self._writer = SummaryWriter(log_dir=logdir)
            self.logdir = logdir
        except OSError as exc:
            self.reason = f"cannot write TensorBoard logs to {logdir} ({exc}); set --log-dir"

    def scalars(self, epoch: int, values: Mapping[str, float]) -> None:
        if self._writer is not None:
            for tag, value in values.items():
                self._writer.add_scalar(tag, value, epoch)
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


# Set by SIGTERM (what auto-stop, eviction and a spot reclaim send): training stops at the next batch boundary.
_STOP = False


def _on_sigterm(_signum, _frame) -> None:
    global _STOP
    _STOP = True


def _install_stop_handler():
    """SIGTERM sets _STOP instead of killing the process; returns the previous handler (only the main
    thread may set one: elsewhere, e.g. a notebook's worker thread, nothing is installed)."""
    global _STOP
    _STOP = False
    try:
        return signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:
        return signal.getsignal(signal.SIGTERM)


def _restore_handler(handler) -> None:
    try:
        signal.signal(signal.SIGTERM, handler if handler is not None else signal.SIG_DFL)
    except (ValueError, TypeError):
        pass


def package_digest() -> str:
    """sha256 over this package's own source files (name and bytes, sorted): the code that trained a model,
    which a methods section can cite even outside the image (where run.json's image digest says it all)."""
    import hashlib

    here = os.path.dirname(os.path.abspath(__file__))
    digest = hashlib.sha256()
    for name in sorted(n for n in os.listdir(here) if n.endswith(".py")):
        with open(os.path.join(here, name), "rb") as handle:
            digest.update(name.encode() + b"\0" + handle.read() + b"\0")
    return digest.hexdigest()


def _worker_init(_worker_id: int) -> None:
    """DataLoader workers leave SIGTERM and SIGINT to the training process, which stops them after saving."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _failures(path: str) -> List[dict]:
    """Files that became unreadable during the run (written by the DataLoader's processes), once each."""
    seen, out = set(), []
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if entry.get("path") not in seen:
                    seen.add(entry.get("path"))
                    out.append(entry)
    except OSError:
        pass
    return out


def _read_json(path: str) -> Optional[dict]:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def _clean_stale_temporaries(folder: str) -> List[str]:
    """Removes `<file>.tmp-<pid>` left by a process that no longer exists (a SIGKILL during a save leaves
    up to a checkpoint's size behind); returns what it removed."""
    import re

    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        m = re.search(r"\.tmp-(\d+)$", name)
        if not m:
            continue
        pid = int(m.group(1))
        path = os.path.join(folder, name)
        try:
            # A save takes seconds: a file untouched for 10 minutes is left over, whatever its pid means here (a
            # writer in another container sharing /workspace has its own pid namespace).
            if time.time() - os.stat(path).st_mtime < 600:
                os.kill(pid, 0)
            else:
                raise ProcessLookupError
            continue  # still running (another process writing): leave it
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        try:
            os.remove(os.path.join(folder, name))
            removed.append(name)
        except OSError:
            pass
    return removed


def _previous_split(manifest: List[dict], scan, hashes, data_dir: str, excluded_before=frozenset()):
    """The split a resumed run used (from its run.json manifest), for the files still usable: (train, val,
    indices to leave out). A file the run excluded stays out (repaired since, it would still be data the run
    did not start with); a file gone since (deleted, now unreadable) just drops out; a file that is new, or
    whose content changed, refuses the resume (the model would be trained on data run.json does not describe)."""
    from .data import printable

    before = {e["path"]: e for e in manifest}
    train_idx, val_idx, changed, still_out = [], [], [], []
    for i, (rel, _label) in enumerate(scan.samples):
        key = printable(rel).replace(os.sep, "/")
        entry = before.get(key)
        if entry is None and key in excluded_before:
            still_out.append(i)
            continue
        if entry is None or entry.get("sha256") != hashes[rel][0]:
            changed.append(key)
            continue
        (val_idx if entry.get("split") == "val" else train_idx).append(i)
    if changed:
        raise ArchaeoError(
            f"--resume: {len(changed)} image(s) in --data-dir {data_dir} are new or changed since this run started "
            f"({', '.join(changed[:5])}{' ...' if len(changed) > 5 else ''}); start a new run in another --output-dir so "
            "that run.json describes the data each model was trained on (files that disappeared are fine: they are left out). "
            "If you changed --max-megapixels, --exclude-class or --min-images, use the run's values"
        )
    return train_idx, val_idx, still_out


def _read_metrics(path: str, up_to_epoch: int) -> List[dict]:
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    return [r for r in rows if r.get("epoch", 0) <= up_to_epoch]


def _write_metrics(path: str, rows: List[dict]) -> None:
    from .provenance import write_text_atomic

    write_text_atomic(path, "".join(json.dumps(row) + "\n" for row in rows))


def _agree(denv, device, fn):
    """Runs fn on rank 0 only; every rank learns whether it raised, so all stop together."""
    from .distributed import all_ok

    error = None
    result = None
    if denv.is_main:
        try:
            result = fn()
        except ArchaeoError as exc:
            error = exc
        except OSError as exc:  # an unreadable image or an unwritable --output-dir
            error = ArchaeoError(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc))
    if not all_ok(denv, error is None, device):
        raise error or ArchaeoError("rank 0 stopped the run; see its error message")
    return result


def fit(config: TrainConfig, argv: Optional[List[str]] = None, env: Optional[Mapping[str, str]] = None,
        log: Callable[[str], None] = print) -> dict:
    """Trains per `config`; returns {output_dir, best_val_acc, best_epoch, epochs_completed,
    stopped_early, final, history, best_checkpoint, last_checkpoint, run_json, tensorboard}.
    Raises ArchaeoError for problems the user can fix."""
    env = os.environ if env is None else env
    config = TrainConfig(**asdict(config))
    config.data_dir = os.path.abspath(config.data_dir)
    config.output_dir = os.path.abspath(config.output_dir)
    problems = validate(config)
    if problems:
        raise ArchaeoError("\n  ".join(["invalid arguments:"] + problems))

    from . import distributed as ddp
    from .provenance import MOUNTS_ENV, parse_data_mounts

    denv = ddp.from_env(env)
    mounts = parse_data_mounts(env.get(MOUNTS_ENV))
    problems = _output_problems(config, mounts)
    if problems:
        raise ArchaeoError("\n  ".join(problems))

    device = pick_device(config.device, denv.local_rank)
    say = log if denv.is_main else (lambda _msg: None)
    amp = config.amp is not False and device.type == "cuda"
    if config.amp and not amp:
        say("archaeo-train: --amp ignored: mixed precision needs a CUDA GPU (training in float32 on CPU)")
    backend = ddp.init(denv, device.type) if denv.distributed else None
    # SIGTERM from the start (a stop while the collection is read is not lost either) until fit returns or fails.
    previous_handler = _install_stop_handler()
    try:
        return _fit(config, denv, device, backend, amp, mounts, argv, env, say)
    finally:
        _restore_handler(previous_handler)
        ddp.shutdown(denv)


def _fit(config, denv, device, backend, amp, mounts, argv, env, say) -> dict:
    import torch
    import torch.nn as nn
    from torch.utils.data import DataLoader, DistributedSampler

    from . import checkpoint as ckpt
    from . import distributed as ddp
    from .collection import vet
    from .compat import amp_dtype, autocast, grad_scaler
    from .data import (ClassSelection, EpochTaggedSampler, ImageListDataset, ImageFolderScan, build_transforms, printable,
                       scan_image_folder, stratified_split)
    from .models import build_model, freeze_backbone, keep_backbone_norm_frozen
    from .provenance import (add_s3_versions, build_manifest, container_info, git_info, hardware_info,
                             manifest_digest, s3_prefix_for_dir, script_path, software_info, write_json_atomic)

    started = time.time()
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input size: let cuDNN pick the fastest kernels once
    out = config.output_dir
    paths = {k: os.path.join(out, f) for k, f in
             (("last", "last.pt"), ("best", "best.pt"), ("metrics", "metrics.jsonl"), ("run", "run.json"))}
    _clean_stale_temporaries(out)
    resume_state = None
    if config.resume and os.path.exists(paths["last"]):
        resume_state = ckpt.load(paths["last"], flag="--resume")
    previous_run = _read_json(paths["run"]) if resume_state is not None else None

    # The collection, read once: every file decoded and hashed (cached), what cannot be used excluded with why.
    excluded: List[dict] = []
    scan = scan_image_folder(config.data_dir, selection=ClassSelection(tuple(config.exclude_class or ()), config.min_images), skipped=excluded)
    if denv.is_main:
        say(f"archaeo-train: reading {len(scan.samples)} image(s) in {len(scan.classes)} class folder(s) of {scan.root} once ...")
    vetted = vet(scan.root, [rel for rel, _ in scan.samples], config.max_megapixels,
                 progress=(lambda done, total: say(f"archaeo-train: checked {done}/{total} new or changed image(s)")) if denv.is_main else None)
    hashes = {}
    usable = []
    for (rel, label), verdict in zip(scan.samples, vetted.verdicts):
        if verdict.ok:
            usable.append((rel, label))
            hashes[rel] = (verdict.sha256, verdict.bytes)
        else:
            excluded.append({"path": printable(rel), "reason": verdict.reason})
    # Classes with too few usable images are left out (a class needs images on both sides of the split).
    per_class = {}
    for rel, label in usable:
        per_class[label] = per_class.get(label, 0) + 1
    thin = [i for i in range(len(scan.classes)) if per_class.get(i, 0) < config.min_images]
    for i in thin:
        excluded.append({"path": printable(scan.classes[i]) + "/", "reason": f"{per_class.get(i, 0)} usable image(s), fewer than --min-images {config.min_images}: class left out"})
    kept = [i for i in range(len(scan.classes)) if i not in thin]
    if len(kept) < 2:
        raise ArchaeoError(f"--data-dir {config.data_dir}: only {len(kept)} class(es) have at least --min-images {config.min_images} usable images; "
                           "a classifier needs 2. Excluded:\n  " + "\n  ".join(f"{e['path']}: {e['reason']}" for e in excluded))
    remap = {old: new for new, old in enumerate(kept)}
    scan = ImageFolderScan(root=scan.root, classes=tuple(scan.classes[i] for i in kept),
                           samples=tuple((rel, remap[label]) for rel, label in usable if label in remap))
    if excluded and denv.is_main:
        say(f"archaeo-train: {len(excluded)} file(s) or folder(s) left out (listed in run.json; --strict stops instead):")
        for e in excluded:
            say(f"  excluded {e['path']}: {e['reason']}")
    if excluded and config.strict:
        raise ArchaeoError(f"--strict: {len(excluded)} file(s) or folder(s) cannot be used:\n  " + "\n  ".join(f"{e['path']}: {e['reason']}" for e in excluded))
    kept_paths = {printable(r) for r, _ in scan.samples}
    duplicates = [g for g in ([p for p in group if p in kept_paths] for group in vetted.duplicates) if len(g) > 1]
    thin_warn = {c: n for c, n in scan.counts().items() if n < 10}
    if thin_warn and denv.is_main:
        say("archaeo-train: warning: few images in " + ", ".join(f"{printable(c)} ({n})" for c, n in thin_warn.items())
            + "; their validation accuracy rests on one or two images")

    labels = scan.labels
    if previous_run is not None and (previous_run.get("data") or {}).get("manifest"):
        # A resumed run keeps its split: files now excluded (deleted, unreadable) drop out, nothing moves.
        before_out = frozenset(e.get("path") for e in (previous_run["data"].get("excluded") or []))
        train_idx, val_idx, still_out = _previous_split(previous_run["data"]["manifest"], scan, hashes, config.data_dir, before_out)
        if still_out:
            # Files the run excluded and that read fine now: left out again (renumbered, the split kept).
            keep = [i for i in range(len(scan.samples)) if i not in set(still_out)]
            renumber = {old: new for new, old in enumerate(keep)}
            scan = ImageFolderScan(root=scan.root, classes=scan.classes, samples=tuple(scan.samples[i] for i in keep))
            train_idx = [renumber[i] for i in train_idx]
            val_idx = [renumber[i] for i in val_idx]
            labels = scan.labels
    else:
        train_idx, val_idx = stratified_split(labels, config.val_fraction, config.seed)
        # The same image twice (same sha256) must not be in validation while a copy trains: all copies train.
        index_of = {printable(rel): i for i, (rel, _) in enumerate(scan.samples)}
        dup_idx = {index_of[p] for g in duplicates for p in g}
        moved = sorted(set(val_idx) & dup_idx)
        val_idx = sorted(set(val_idx) - dup_idx)
        train_idx = sorted(set(train_idx) | set(moved))
    if duplicates and denv.is_main:
        say(f"archaeo-train: {len(duplicates)} group(s) of identical images (same sha256), kept out of validation:")
        for g in duplicates:
            classes = sorted({g_path.split('/')[0] for g_path in g})
            say(f"  duplicate: {', '.join(g)}" + (f"  (in different classes: {', '.join(classes)})" if len(classes) > 1 else ""))
    split_of = {i: "train" for i in train_idx}
    split_of.update({i: "val" for i in val_idx})
    counts = {"train": scan.counts(train_idx), "val": scan.counts(val_idx), "total": scan.counts()}

    if resume_state is not None:
        mismatched = [f"--{k.replace('_', '-')} {getattr(config, k)} (the run used {resume_state['config'].get(k)})"
                      for k in RESUME_MUST_MATCH if resume_state["config"].get(k) != getattr(config, k)]
        if resume_state.get("partial") and resume_state["config"].get("batch_size") != config.batch_size:
            mismatched.append(f"--batch-size {config.batch_size} (the run stopped mid-epoch with {resume_state['config'].get('batch_size')}: "
                              "the batches already done are counted in its batches)")
        if list(resume_state["class_names"]) != list(scan.classes):
            mismatched.append(f"classes {list(scan.classes)} (the run used {resume_state['class_names']})")
        if mismatched:
            raise ArchaeoError("--resume: these differ from the run in --output-dir: " + "; ".join(mismatched)
                               + ". Use the original values, or start a new run in another --output-dir.")

    # Model: local rank 0 fetches pretrained weights (a download at most once per machine), then the others.
    # A resumed run takes every weight from last.pt, so it needs no pretrained file (nor a network).
    _seed_everything(config.seed)

    def make_model(allow_download: bool):
        return build_model(config.model, len(scan.classes), config.image_size,
                           config.pretrained and resume_state is None, allow_download=allow_download,
                           progress=sys.stderr.isatty())

    built = None
    error = None
    if denv.local_rank == 0:
        try:
            built = make_model(True)
        except ArchaeoError as exc:
            error = exc
    if not ddp.all_ok(denv, error is None, device):
        raise error or ArchaeoError("another process could not load the pretrained weights; see rank 0's message")
    if built is None:
        built = make_model(False)

    # Rank 0: the data manifest (file hashes) and run.json; on resume, the data must be unchanged.
    def provenance():
        os.makedirs(out, exist_ok=True)
        manifest = build_manifest(scan.root, [rel for rel, _ in scan.samples],
                                  [scan.classes[label] for _, label in scan.samples],
                                  [split_of[i] for i in range(len(scan.samples))], mounts,
                                  hashed=[hashes[rel] for rel, _ in scan.samples])
        digest = manifest_digest(manifest)
        if resume_state is not None and resume_state.get("data_digest") != digest and previous_run is None:
            raise ArchaeoError(
                f"--resume: the images in --data-dir {config.data_dir} changed since this run started (manifest "
                f"sha256 {digest[:12]}... vs {str(resume_state.get('data_digest'))[:12]}...) and run.json, which "
                "would tell what changed, is missing; start a new run in another --output-dir"
            )
        warning = add_s3_versions(manifest) if config.s3_versions else None
        if warning:
            say(f"archaeo-train: warning: {warning}")
        return manifest, digest, warning

    prov = _agree(denv, device, provenance)
    manifest, digest, s3_warning = prov if prov else (None, None, None)

    model, weights_record = built
    if config.freeze_backbone:
        freeze_backbone(model, config.model)
    if denv.distributed and config.sync_bn:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    elif denv.distributed and config.batch_size < 16 and any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        say(f"archaeo-train: warning: {config.batch_size} images per GPU: each GPU's BatchNorm sees only its own small batch, "
            "which usually costs accuracy against one process with the same global batch; add --sync-bn, or a larger --batch-size")
    # Channels-last memory format: the fast layout for convolutions on tensor cores (CNNs on CUDA only).
    channels_last = device.type == "cuda" and not config.model.startswith("vit")
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    net = model
    if denv.distributed:
        net = nn.parallel.DistributedDataParallel(model, device_ids=[denv.local_rank] if device.type == "cuda" else None)
    compiled = False
    if config.compile:
        why_not = compile_unavailable()
        if why_not:
            say(f"archaeo-train: warning: --compile ignored: {why_not}; training in eager mode")
        else:
            net = torch.compile(net)
            compiled = True
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _cosine(config.epochs))
    precision = amp_dtype(device) if amp else None
    # bfloat16 keeps float32's exponent range: no loss scaling. float16 needs the gradient scaler.
    scaler = grad_scaler() if amp and precision == torch.float16 else None
    criterion = nn.CrossEntropyLoss()

    start_epoch, best_acc, best_epoch = 0, -1.0, 0
    monitor_best = math.inf if config.monitor == "val_loss" else -math.inf
    bad_epochs, stopped_early = 0, False
    history: List[dict] = []
    if resume_state is not None:
        model.load_state_dict(resume_state["state_dict"])
        optimizer.load_state_dict(resume_state["optimizer"])
        scheduler.load_state_dict(resume_state["scheduler"])
        # The closed form for this run's --epochs (it may extend the original run), applied now.
        scheduler.lr_lambdas = [_cosine(config.epochs) for _ in optimizer.param_groups]
        for group, base in zip(optimizer.param_groups, scheduler.base_lrs):
            group["lr"] = base * _cosine(config.epochs)(scheduler.last_epoch)
        if scaler is not None and resume_state.get("scaler"):
            scaler.load_state_dict(resume_state["scaler"])
        start_epoch = int(resume_state["epoch"])
        best_acc, best_epoch = float(resume_state["best_val_acc"]), int(resume_state["best_epoch"])
        monitor_best, bad_epochs = float(resume_state["monitor_best"]), int(resume_state["bad_epochs"])
        history = _read_metrics(paths["metrics"], start_epoch)
        say(f"archaeo-train: resuming {out} after epoch {start_epoch} (best val acc {best_acc:.3f} at epoch {best_epoch})")
    elif config.resume:
        say(f"archaeo-train: --resume: no last.pt in {out} yet; starting a new run")

    run_name = config.run_name or (resume_state or {}).get("run_name") or os.path.basename(out.rstrip("/"))
    tb_root = config.log_dir or env.get("TENSORBOARD_LOGDIR") or "/workspace/runs"
    tensorboard = _TensorBoard(os.path.join(tb_root, run_name)) if denv.is_main else None

    # DataLoaders: the training shard of this rank (DistributedSampler, also for one process so that
    # shuffling is the same function of (seed, epoch)); validation split round-robin over ranks.
    workers = config.workers if config.workers is not None else min(8, max(1, (os.cpu_count() or 1) // denv.local_world_size))
    label_of = scan.labels
    failures = os.path.join(out, "unreadable-during-run.jsonl")
    train_transform = build_transforms(config.image_size, train=True)
    eval_transform = build_transforms(config.image_size, train=False)
    train_set = ImageListDataset(scan.paths(train_idx), [label_of[i] for i in train_idx], train_transform, config.image_size,
                                 seed=config.seed, failures=failures)
    mine = val_idx[denv.rank::denv.world_size]
    val_set = ImageListDataset(scan.paths(mine), [label_of[i] for i in mine], eval_transform, config.image_size, failures=failures)
    partial = (resume_state or {}).get("partial")
    base_sampler = DistributedSampler(train_set, num_replicas=denv.world_size, rank=denv.rank, shuffle=True, seed=config.seed)
    sampler = EpochTaggedSampler(base_sampler, skip=int(partial["batches"]) * config.batch_size if partial else 0)
    # Own generators: creating a DataLoader iterator draws its base seed from the loader's generator, which
    # would otherwise be the process's global one (and shift dropout draws between a resumed and an
    # uninterrupted run, whose persistent workers' iterator is created once).
    loader_args = dict(num_workers=workers, pin_memory=device.type == "cuda", persistent_workers=workers > 0,
                       worker_init_fn=_worker_init if workers > 0 else None)
    # A last batch of one image breaks BatchNorm in training mode; drop it when it would occur.
    train_loader = DataLoader(train_set, batch_size=config.batch_size, sampler=sampler, generator=torch.Generator(),
                              drop_last=len(base_sampler) % config.batch_size == 1 and len(base_sampler) > 1, **loader_args)
    val_loader = DataLoader(val_set, batch_size=config.batch_size, shuffle=False, generator=torch.Generator(), **loader_args)

    run = {} if not denv.is_main else {
        "format": "archaeo-run/1",
        "run_name": run_name,
        "status": "running",
        **container_info(env),
        "software": software_info(),
        "hardware": hardware_info(device.type),
        "mixed_precision": str(precision).replace("torch.", "") if precision is not None else None,
        "code": {"archaeo": __version__, "package_sha256": package_digest()},
        "training": {
            "train_transforms": repr(train_transform), "eval_transforms": repr(eval_transform),
            "optimizer": {"name": type(optimizer).__name__, **{k: v for k, v in optimizer.defaults.items() if isinstance(v, (int, float, bool, str, tuple)) or v is None}},
            "schedule": f"cosine: lr x 0.5 (1 + cos(pi e / {config.epochs})) after epoch e, stepped per epoch (LambdaLR)",
            "loss": type(criterion).__name__,
            "channels_last": channels_last, "compiled": compiled, "sync_batchnorm": bool(denv.distributed and config.sync_bn),
            "determinism": {"seed": config.seed, "model_init": "torch.manual_seed(seed)",
                            "shuffle": "DistributedSampler(seed + epoch)", "augmentation": "per image: torch.manual_seed(f(seed, epoch, index))",
                            "cudnn_benchmark": device.type == "cuda", "note": "bit-identical on CPU whatever --workers; on CUDA cuDNN's kernel choice may differ run to run"},
        },
        "data_loading": {"workers": workers, "workers_flag": config.workers, "batch_size": config.batch_size},
        "distributed": {"world_size": denv.world_size, "backend": backend, "batch_size_per_process": config.batch_size,
                        "global_batch_size": config.batch_size * denv.world_size},
        "git": git_info(script_path(), os.getcwd()),
        "command": {"argv": list(argv) if argv is not None else None, "cwd": os.getcwd(),
                    "entry": "archaeo-train" if argv is not None else "archaeo.train.fit"},
        "arguments": asdict(config),
        "pretrained": weights_record,
        "data": {
            "root": scan.root,
            "root_s3_uri": s3_prefix_for_dir(scan.root, mounts),
            "classes": list(scan.classes),
            "counts": counts,
            "n_files": len(scan.samples),
            "split": {"method": "stratified", "val_fraction": config.val_fraction, "seed": config.seed},
            "manifest_sha256": digest,
            "s3_versions_warning": s3_warning,
            "manifest": manifest,
            "excluded": excluded,
            "duplicates": duplicates,
            "read_once": {"files": len(vetted.verdicts), "decoded_now": len(vetted.verdicts) - vetted.cache_hits,
                          "from_cache": vetted.cache_hits, "seconds": round(vetted.seconds, 3), "cache": vetted.cache_file,
                          "max_megapixels": config.max_megapixels},
        },
        "started_at": _utcnow(),
        "finished_at": None,
        "resumed": [],
        "epochs_completed": start_epoch,
        "stopped_early": False,
        "best": None,
        "final_metrics": None,
        "outputs": {"last": paths["last"], "best": paths["best"], "metrics": paths["metrics"],
                    "tensorboard": tensorboard.logdir if tensorboard else None,
                    "tensorboard_skipped": tensorboard.reason if tensorboard else None},
    }
    if denv.is_main:
        if resume_state is not None and os.path.exists(paths["run"]):
            with open(paths["run"], encoding="utf-8") as handle:
                previous = json.load(handle)
            run["started_at"] = previous.get("started_at", run["started_at"])
            run["pretrained"] = previous.get("pretrained")
            still = {e["path"] for e in manifest or []}
            gone = [e["path"] for e in (previous.get("data") or {}).get("manifest") or [] if e["path"] not in still]
            run["resumed"] = previous.get("resumed", []) + [{"at": _utcnow(), "from_epoch": start_epoch,
                                                              "from_batch": int(partial["batches"]) if partial else 0,
                                                              "argv": run["command"]["argv"], "files_gone": gone}]
            if gone:
                say(f"archaeo-train: {len(gone)} file(s) of this run are gone or unreadable now and are left out: {', '.join(gone[:5])}")
        write_json_atomic(paths["run"], run)
        _write_metrics(paths["metrics"], history)
        n_train, n_val = len(train_idx), len(val_idx)
        frozen = " (backbone frozen)" if config.freeze_backbone else ""
        source = f"pretrained {weights_record['weights']}" if weights_record else "trained from scratch"
        say(f"archaeo-train: {config.model}{frozen}, {source}; {len(scan.classes)} classes "
            f"({', '.join(scan.classes)}); {n_train} train / {n_val} val images; device {device}"
            + (f" x{denv.world_size} ({backend})" if denv.distributed else "") + (", mixed precision" if amp else ""))
        if tensorboard and tensorboard.logdir:
            say(f"archaeo-train: TensorBoard logs in {tensorboard.logdir}")

    if config.patience and resume_state is not None and resume_state.get("stopped_early") \
            and config.epochs <= resume_state["config"]["epochs"]:
        start_epoch = config.epochs  # that run already finished (stopped early); nothing left to do
        stopped_early = True
    if start_epoch >= config.epochs:
        say(f"archaeo-train: the run in {out} already finished at epoch {start_epoch}; pass a larger --epochs to train more")

    def run_epoch(loader, train: bool, start=None):
        """(stats, batches done, interrupted): stats are loss sum, correct, images. A training epoch stops at the
        next batch boundary after SIGTERM (single process; under DDP at the epoch's end, where all ranks agree)."""
        stats = torch.tensor(start["stats"] if start else [0.0, 0.0, 0.0], dtype=torch.float64, device=device)
        batches = int(start["batches"]) if start else 0
        net.train(train)  # the DDP wrapper and the model it holds
        if train and config.freeze_backbone:
            keep_backbone_norm_frozen(model, config.model)
        with torch.set_grad_enabled(train):
            for images, labels in loader:
                # Under DDP the ranks agree at every batch (one tiny all_reduce beside the gradients'), so all stop at
                # the same batch: torchrun forwards SIGTERM and kills 30 s later (torch.distributed.elastic).
                if train and (ddp.any_flag(denv, _STOP, device) if denv.distributed else _STOP):
                    return stats.tolist(), batches, True
                images = images.to(device, non_blocking=True)
                if channels_last:
                    images = images.contiguous(memory_format=torch.channels_last)
                labels = labels.to(device, non_blocking=True)
                with autocast(device.type, amp, precision):
                    logits = net(images)
                    loss = criterion(logits, labels)
                if train:
                    optimizer.zero_grad(set_to_none=True)
                    if scaler is not None:
                        scaler.scale(loss).backward()
                        scaler.step(optimizer)
                        scaler.update()
                    else:
                        loss.backward()
                        optimizer.step()
                n = labels.shape[0]
                stats += torch.stack([loss.detach().double() * n, (logits.argmax(1) == labels).sum().double(),
                                      torch.tensor(float(n), dtype=torch.float64, device=device)])
                batches += 1
        return stats.tolist(), batches, False

    def checkpoint_payload(epoch: int, kind: str) -> dict:
        payload = {
            # str(): torch.__version__ is a TorchVersion (a str subclass) that weights_only=True refuses.
            "format": ckpt.FORMAT, "kind": kind, "archaeo": __version__, "torch": str(torch.__version__),
            "model": config.model, "class_names": list(scan.classes), "num_classes": len(scan.classes),
            "image_size": config.image_size, "state_dict": model.state_dict(), "epoch": epoch,
            "best_val_acc": best_acc, "best_epoch": best_epoch, "monitor": config.monitor,
            "monitor_best": monitor_best, "bad_epochs": bad_epochs, "stopped_early": stopped_early,
            "config": asdict(config), "data_digest": digest, "run_name": run_name,
        }
        if kind == "last":
            payload.update(optimizer=optimizer.state_dict(), scheduler=scheduler.state_dict(),
                           scaler=scaler.state_dict() if scaler is not None else None)
        return payload

    interrupted = None
    try:
        for epoch in range(start_epoch + 1, config.epochs + 1):
            start = partial if partial and int(partial["epoch"]) == epoch else None
            if start is not None:
                torch.set_rng_state(start["rng"])  # where the interrupted epoch's random stream stood
                say(f"archaeo-train: continuing epoch {epoch} after batch {start['batches']}")
            else:
                _seed_everything(_epoch_seed(config.seed, epoch, denv.rank))
            sampler.set_epoch(epoch)
            lr = optimizer.param_groups[0]["lr"]
            t0 = time.perf_counter()
            stats, batches, stopped = run_epoch(train_loader, True, start)
            if stopped:
                interrupted = {"epoch": epoch, "batches": batches}
                if denv.is_main:
                    payload = checkpoint_payload(epoch - 1, "last")
                    payload["partial"] = {"epoch": epoch, "batches": batches, "stats": stats, "rng": torch.get_rng_state()}
                    ckpt.save(payload, paths["last"])
                break
            tr_loss, tr_correct, tr_n = ddp.sum_across(denv, stats, device)
            train_seconds = time.perf_counter() - t0
            va_loss, va_correct, va_n = ddp.sum_across(denv, run_epoch(val_loader, False)[0], device)
            seconds = time.perf_counter() - t0
            scheduler.step()
            row = {
                "epoch": epoch, "epochs": config.epochs,
                "train_loss": tr_loss / max(tr_n, 1), "train_acc": tr_correct / max(tr_n, 1),
                "val_loss": va_loss / max(va_n, 1), "val_acc": va_correct / max(va_n, 1),
                "lr": lr, "seconds": round(seconds, 3), "train_images": int(tr_n), "val_images": int(va_n),
                "images_per_s": round(tr_n / max(train_seconds, 1e-9), 1), "time": _utcnow(),
            }
            is_best = row["val_acc"] > best_acc
            if is_best:
                best_acc, best_epoch = row["val_acc"], epoch
            current = row[config.monitor]
            improved = current < monitor_best if config.monitor == "val_loss" else current > monitor_best
            if improved:
                monitor_best, bad_epochs = current, 0
            else:
                bad_epochs += 1
            stopped_early = bool(config.patience) and bad_epochs >= config.patience and epoch < config.epochs
            row["best"] = is_best
            history.append(row)
            if denv.is_main:
                if is_best:
                    ckpt.save(checkpoint_payload(epoch, "best"), paths["best"])
                _write_metrics(paths["metrics"], history)
                # Also in an epoch with a new best: a resume from last.pt must know the best it would otherwise forget.
                if epoch % config.checkpoint_every == 0 or epoch == config.epochs or stopped_early or _STOP or is_best:
                    ckpt.save(checkpoint_payload(epoch, "last"), paths["last"])
                tensorboard.scalars(epoch, {"loss/train": row["train_loss"], "loss/val": row["val_loss"],
                                            "accuracy/train": row["train_acc"], "accuracy/val": row["val_acc"],
                                            "lr": lr, "throughput/images_per_s": row["images_per_s"]})
                say(f"epoch {epoch}/{config.epochs}  train loss {row['train_loss']:.4f} acc {row['train_acc']:.3f}  "
                    f"val loss {row['val_loss']:.4f} acc {row['val_acc']:.3f}  lr {lr:.2e}  {seconds:.1f}s  "
                    f"{row['images_per_s']:.0f} img/s" + ("  *best" if is_best else ""))
            ddp.barrier(denv, device.type)
            if denv.distributed and not ddp.all_ok(denv, not _STOP, device):
                interrupted = {"epoch": epoch + 1, "batches": 0}  # every rank stops together, after this epoch's save
                break
            if stopped_early:
                say(f"archaeo-train: early stop: {config.monitor} has not improved for {bad_epochs} epochs "
                    f"(--patience {config.patience})")
                break
    except BaseException as exc:
        if denv.is_main:
            run.update(status="failed", finished_at=_utcnow(), error=f"{type(exc).__name__}: {exc}",
                       epochs_completed=history[-1]["epoch"] if history else start_epoch)
            run["data"]["excluded"] = excluded + _failures(failures)
            write_json_atomic(paths["run"], run)
        raise
    finally:
        if tensorboard:
            tensorboard.close()
    if denv.is_main:
        run["data"]["excluded"] = excluded + _failures(failures)

    final = history[-1] if history else None
    completed = final["epoch"] if final else start_epoch
    summary = {
        "output_dir": out, "best_val_acc": best_acc if best_epoch else None, "best_epoch": best_epoch or None,
        "epochs_completed": completed, "stopped_early": stopped_early, "final": final, "history": history,
        "best_checkpoint": paths["best"], "last_checkpoint": paths["last"], "run_json": paths["run"],
        "tensorboard": tensorboard.logdir if tensorboard else None,
    }
    if interrupted is not None:
        summary["interrupted"] = interrupted
        if denv.is_main:
            run.update(status="interrupted", finished_at=_utcnow(), epochs_completed=completed, interrupted=interrupted)
            write_json_atomic(paths["run"], run)
            say(f"archaeo-train: stopped by SIGTERM in epoch {interrupted['epoch']} after batch {interrupted['batches']}: "
                f"last.pt holds that point; continue with the same command and --resume")
        return summary
    if denv.is_main:
        run.update(status="stopped_early" if stopped_early else "completed", finished_at=_utcnow(),
                   epochs_completed=completed, stopped_early=stopped_early, final_metrics=final,
                   best={"epoch": best_epoch, "val_acc": best_acc, "checkpoint": paths["best"]} if best_epoch else None)
        write_json_atomic(paths["run"], run)
        say(f"archaeo-train: done in {_duration(time.time() - started)}: {completed} epoch(s)"
            + (" (stopped early)" if stopped_early else "")
            + (f"; best val acc {best_acc:.3f} at epoch {best_epoch} -> {paths['best']}" if best_epoch else "")
            + (f"; last val acc {final['val_acc']:.3f}" if final else "") + f"; run.json and metrics.jsonl in {out}")
    return summary


def _main(argv: Optional[List[str]]) -> int:
    args = build_parser().parse_args(argv)
    summary = fit(config_from_args(args), argv=list(sys.argv if argv is None else ["archaeo-train", *argv]))
    # 128 + SIGTERM: what a shell reports for a command ended by SIGTERM (the checkpoint is saved).
    return 143 if summary.get("interrupted") else 0


def main(argv: Optional[List[str]] = None) -> int:
    return run_cli("archaeo-train", _main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
