"""archaeo-train: fine-tune a torchvision classifier on an image folder, on one GPU/CPU or under torchrun (DDP).

Writes to --output-dir: last.pt (every epoch), best.pt (best validation accuracy), metrics.jsonl (one
line per epoch) and run.json (provenance); TensorBoard events to <log dir>/<run name> where tensorboard
is installed. The library entry point is fit(TrainConfig(...)), which the notebooks call.

Randomness: the model starts from --seed; each epoch's shuffling and augmentation are seeded from
(--seed, epoch, rank), so a run resumed from last.pt draws exactly what an uninterrupted run would.
"""

import argparse
import json
import math
import os
import random
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
    amp: bool = False
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
    p.add_argument("--amp", action="store_true", help="mixed precision (float16) on CUDA GPUs; ignored on CPU")
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
    amp = config.amp and device.type == "cuda"
    if config.amp and not amp:
        say("archaeo-train: --amp ignored: mixed precision needs a CUDA GPU (training in float32 on CPU)")
    backend = ddp.init(denv, device.type) if denv.distributed else None
    try:
        return _fit(config, denv, device, backend, amp, mounts, argv, env, say)
    finally:
        ddp.shutdown(denv)


def _fit(config, denv, device, backend, amp, mounts, argv, env, say) -> dict:
    import torch
    import torch.nn as nn
    from torch.utils.data import DataLoader, DistributedSampler

    from . import checkpoint as ckpt
    from . import distributed as ddp
    from .compat import autocast, grad_scaler
    from .data import ImageListDataset, build_transforms, scan_image_folder, stratified_split
    from .models import build_model, freeze_backbone, keep_backbone_norm_frozen
    from .provenance import (add_s3_versions, build_manifest, container_info, git_info, hardware_info,
                             manifest_digest, s3_prefix_for_dir, script_path, software_info, write_json_atomic)

    started = time.time()
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input size: let cuDNN pick the fastest kernels once
    out = config.output_dir
    paths = {k: os.path.join(out, f) for k, f in
             (("last", "last.pt"), ("best", "best.pt"), ("metrics", "metrics.jsonl"), ("run", "run.json"))}
    scan = scan_image_folder(config.data_dir)
    train_idx, val_idx = stratified_split(scan.labels, config.val_fraction, config.seed)
    split_of = {i: "train" for i in train_idx}
    split_of.update({i: "val" for i in val_idx})
    counts = {"train": scan.counts(train_idx), "val": scan.counts(val_idx), "total": scan.counts()}

    resume_state = None
    if config.resume and os.path.exists(paths["last"]):
        resume_state = ckpt.load(paths["last"], flag="--resume")
        mismatched = [f"--{k.replace('_', '-')} {getattr(config, k)} (the run used {resume_state['config'].get(k)})"
                      for k in RESUME_MUST_MATCH if resume_state["config"].get(k) != getattr(config, k)]
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
                                  [split_of[i] for i in range(len(scan.samples))], mounts)
        digest = manifest_digest(manifest)
        if resume_state is not None and resume_state.get("data_digest") != digest:
            raise ArchaeoError(
                f"--resume: the images in --data-dir {config.data_dir} changed since this run started (manifest "
                f"sha256 {digest[:12]}... vs {str(resume_state.get('data_digest'))[:12]}...); start a new run in "
                "another --output-dir so that run.json describes the data each model was trained on"
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
    model.to(device)
    net = model
    if denv.distributed:
        net = nn.parallel.DistributedDataParallel(model, device_ids=[denv.local_rank] if device.type == "cuda" else None)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _cosine(config.epochs))
    scaler = grad_scaler() if amp else None
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
    train_set = ImageListDataset(scan.paths(train_idx), [label_of[i] for i in train_idx],
                                 build_transforms(config.image_size, train=True), config.image_size)
    mine = val_idx[denv.rank::denv.world_size]
    val_set = ImageListDataset(scan.paths(mine), [label_of[i] for i in mine],
                               build_transforms(config.image_size, train=False), config.image_size)
    sampler = DistributedSampler(train_set, num_replicas=denv.world_size, rank=denv.rank, shuffle=True, seed=config.seed)
    loader_args = dict(num_workers=workers, pin_memory=device.type == "cuda", persistent_workers=workers > 0)
    # A last batch of one image breaks BatchNorm in training mode; drop it when it would occur.
    train_loader = DataLoader(train_set, batch_size=config.batch_size, sampler=sampler,
                              drop_last=len(sampler) % config.batch_size == 1 and len(sampler) > 1, **loader_args)
    val_loader = DataLoader(val_set, batch_size=config.batch_size, shuffle=False, **loader_args)

    run = {} if not denv.is_main else {
        "format": "archaeo-run/1",
        "run_name": run_name,
        "status": "running",
        **container_info(env),
        "software": software_info(),
        "hardware": hardware_info(device.type),
        "mixed_precision": "float16" if amp else None,
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
            run["resumed"] = previous.get("resumed", []) + [{"at": _utcnow(), "from_epoch": start_epoch,
                                                              "argv": run["command"]["argv"]}]
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

    def run_epoch(loader, train: bool):
        stats = torch.zeros(3, dtype=torch.float64, device=device)  # loss sum, correct, images
        net.train(train)  # the DDP wrapper and the model it holds
        if train and config.freeze_backbone:
            keep_backbone_norm_frozen(model, config.model)
        with torch.set_grad_enabled(train):
            for images, labels in loader:
                images = images.to(device, non_blocking=True)
                labels = labels.to(device, non_blocking=True)
                with autocast(device.type, amp):
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
        return stats.tolist()

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

    try:
        for epoch in range(start_epoch + 1, config.epochs + 1):
            seed = _epoch_seed(config.seed, epoch, denv.rank)
            _seed_everything(seed)
            sampler.set_epoch(epoch)
            lr = optimizer.param_groups[0]["lr"]
            t0 = time.perf_counter()
            tr_loss, tr_correct, tr_n = ddp.sum_across(denv, run_epoch(train_loader, True), device)
            train_seconds = time.perf_counter() - t0
            va_loss, va_correct, va_n = ddp.sum_across(denv, run_epoch(val_loader, False), device)
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
                ckpt.save(checkpoint_payload(epoch, "last"), paths["last"])
                tensorboard.scalars(epoch, {"loss/train": row["train_loss"], "loss/val": row["val_loss"],
                                            "accuracy/train": row["train_acc"], "accuracy/val": row["val_acc"],
                                            "lr": lr, "throughput/images_per_s": row["images_per_s"]})
                say(f"epoch {epoch}/{config.epochs}  train loss {row['train_loss']:.4f} acc {row['train_acc']:.3f}  "
                    f"val loss {row['val_loss']:.4f} acc {row['val_acc']:.3f}  lr {lr:.2e}  {seconds:.1f}s  "
                    f"{row['images_per_s']:.0f} img/s" + ("  *best" if is_best else ""))
            ddp.barrier(denv, device.type)
            if stopped_early:
                say(f"archaeo-train: early stop: {config.monitor} has not improved for {bad_epochs} epochs "
                    f"(--patience {config.patience})")
                break
    except BaseException as exc:
        if denv.is_main:
            run.update(status="failed", finished_at=_utcnow(), error=f"{type(exc).__name__}: {exc}",
                       epochs_completed=history[-1]["epoch"] if history else start_epoch)
            write_json_atomic(paths["run"], run)
        raise
    finally:
        if tensorboard:
            tensorboard.close()

    final = history[-1] if history else None
    completed = final["epoch"] if final else start_epoch
    summary = {
        "output_dir": out, "best_val_acc": best_acc if best_epoch else None, "best_epoch": best_epoch or None,
        "epochs_completed": completed, "stopped_early": stopped_early, "final": final, "history": history,
        "best_checkpoint": paths["best"], "last_checkpoint": paths["last"], "run_json": paths["run"],
        "tensorboard": tensorboard.logdir if tensorboard else None,
    }
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
    fit(config_from_args(args), argv=list(sys.argv if argv is None else ["archaeo-train", *argv]))
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    return run_cli("archaeo-train", _main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
