"""Classifier construction for transfer learning: torchvision backbones, pretrained weights found offline
first (TORCH_HOME, then the image's baked copy), a new head sized to the classes, an optional frozen backbone.

Also the archaeo-fetch-weights command, which puts the exact weight files archaeo-train loads into a
TORCH_HOME (used at image build time to bake weights for offline field workstations).
"""

import argparse
import os
import re
import socket
import sys
from dataclasses import dataclass
from typing import List, Optional, Tuple
from urllib.parse import urlparse

from .errors import ArchaeoError, run_cli
from .provenance import sha256_and_size


@dataclass(frozen=True)
class ModelSpec:
    weights_enum: str  # torchvision.models.<enum> (torchvision >= 0.13)
    head: str  # attribute holding the classifier; its last nn.Linear is replaced


# The builders and head layouts below are torchvision's (models/resnet.py: fc; mobilenetv3.py, efficientnet.py and
# convnext.py: classifier = Sequential(..., Linear); vision_transformer.py: heads = Sequential(head=Linear)),
# the same in torchvision 0.14 and 0.24.
MODELS = {
    # The smallest: 1.5 M parameters (ResNet-18 has 11.7 M), for a first look at a small collection or a CPU.
    "mobilenet_v3_small": ModelSpec("MobileNet_V3_Small_Weights", "classifier"),
    "resnet18": ModelSpec("ResNet18_Weights", "fc"),
    "resnet50": ModelSpec("ResNet50_Weights", "fc"),
    "efficientnet_b0": ModelSpec("EfficientNet_B0_Weights", "classifier"),
    "convnext_tiny": ModelSpec("ConvNeXt_Tiny_Weights", "classifier"),
    "vit_b_16": ModelSpec("ViT_B_16_Weights", "heads"),
}

BAKED_TORCH_HOME_ENV = "ARCHAEO_BAKED_TORCH_HOME"
DEFAULT_BAKED_TORCH_HOME = "/opt/archaeo/torch"
# torch.hub's naming convention for checked files: <name>-<first hex digits of sha256>.<ext>
_HASH_IN_NAME = re.compile(r"-([a-f0-9]+)\.")
_DOWNLOAD_TIMEOUT_S = 60


def _require_model(name: str) -> ModelSpec:
    if name not in MODELS:
        raise ArchaeoError(f"--model {name}: not supported; choose one of {', '.join(MODELS)}")
    return MODELS[name]


def default_weights(name: str):
    """The torchvision weights enum member archaeo uses for `name` (its DEFAULT), or None on torchvision < 0.13."""
    import torchvision.models as tvm

    from .compat import has_weights_api

    spec = _require_model(name)
    if not has_weights_api():
        return None
    return getattr(tvm, spec.weights_enum).DEFAULT


def weights_filename(weights) -> str:
    return os.path.basename(urlparse(weights.url).path)


def torch_home_checkpoints() -> str:
    """Where torch.hub (and so torchvision) caches weight files: $TORCH_HOME/hub/checkpoints
    (TORCH_HOME defaults to ~/.cache/torch; on the workbench that is the persistent home)."""
    import torch.hub

    return os.path.join(torch.hub.get_dir(), "checkpoints")


def baked_checkpoints() -> str:
    return os.path.join(os.environ.get(BAKED_TORCH_HOME_ENV, DEFAULT_BAKED_TORCH_HOME), "hub", "checkpoints")


def find_cached_weights(name: str) -> Optional[str]:
    """The path of `name`'s pretrained weight file in TORCH_HOME or the baked copy, or None."""
    weights = default_weights(name)
    if weights is None:
        return None
    for folder in (torch_home_checkpoints(), baked_checkpoints()):
        path = os.path.join(folder, weights_filename(weights))
        if os.path.isfile(path):
            return path
    return None


def pretrained_available(name: str) -> bool:
    """True when `name`'s pretrained weights can be loaded without a download (the notebooks use this)."""
    return find_cached_weights(name) is not None


def _offline_message(name: str, weights, reason: str) -> str:
    fname = weights_filename(weights)
    return (
        f"the pretrained weights for {name} ({weights!r}, file {fname}) are not in TORCH_HOME "
        f"({torch_home_checkpoints()}) nor in the image's baked weights ({baked_checkpoints()}), and downloading "
        f"them from {weights.url} failed: {reason}. Fix: train from scratch with --no-pretrained; or, on a machine "
        f"with internet, run `archaeo-fetch-weights {name} --torch-home DIR` and copy DIR/hub/checkpoints/{fname} "
        f"into {torch_home_checkpoints()}/; or use an image built with the {name} weights baked in."
    )


def download_weights(name: str, progress: bool = True) -> str:
    """Downloads `name`'s weights into TORCH_HOME (torch.hub checks the sha256 prefix in the file
    name). Raises ArchaeoError with the fix when there is no network."""
    import torch.hub

    weights = default_weights(name)
    if weights is None:
        raise ArchaeoError(f"torchvision {_tv_version()} has no weights enums; archaeo-fetch-weights needs torchvision >= 0.13")
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(_DOWNLOAD_TIMEOUT_S)  # torch.hub's urlopen has no timeout of its own
    try:
        torch.hub.load_state_dict_from_url(weights.url, map_location="cpu", progress=progress, check_hash=True)
    except Exception as exc:  # URLError, HTTPError, socket.timeout, a hash mismatch (RuntimeError), ...
        raise ArchaeoError(_offline_message(name, weights, f"{type(exc).__name__}: {exc}")) from None
    finally:
        socket.setdefaulttimeout(previous)
    return os.path.join(torch_home_checkpoints(), weights_filename(weights))


def _tv_version() -> str:
    import torchvision

    return torchvision.__version__


def matches_published_hash(path: str, digest: str) -> Optional[bool]:
    """Whether a weight file's sha256 starts with the hash in its torch.hub name (resnet18-f37072fd.pth):
    True/False, or None when the name carries no hash."""
    match = _HASH_IN_NAME.search(os.path.basename(path))
    return digest.startswith(match.group(1)) if match else None


def load_pretrained_state(name: str, allow_download: bool = True, progress: bool = True) -> Tuple[dict, dict]:
    """The ImageNet state dict for `name` and a provenance record {weights, url, file, sha256, source}."""
    from .compat import load_checkpoint_file

    weights = default_weights(name)
    if weights is None:
        raise ArchaeoError(f"torchvision {_tv_version()} has no weights enums; build_model loads pretrained=True there")
    path = find_cached_weights(name)
    source = "cache"
    if path is None:
        if not allow_download:
            raise ArchaeoError(_offline_message(name, weights, "downloads are disabled here"))
        path = download_weights(name, progress=progress)
        source = "download"
    elif not path.startswith(torch_home_checkpoints()):
        source = "baked"
    digest, _ = sha256_and_size(path)
    published = matches_published_hash(path, digest)
    if published is False:
        print(f"archaeo-train: warning: {path} is not the published {weights!r} file (its sha256 {digest[:12]}... does "
              "not start with the hash in its name); run.json records its hash. If it is a damaged copy, delete it.",
              file=sys.stderr, flush=True)
    try:
        state = load_checkpoint_file(path)
    except Exception as exc:  # noqa: BLE001 - truncated or foreign file
        raise ArchaeoError(f"cannot read the weight file {path} ({type(exc).__name__}: {exc}); delete it and run "
                           "again (online it is downloaded again), or use --no-pretrained") from None
    return state, {"weights": repr(weights), "url": weights.url, "file": path, "sha256": digest,
                   "matches_published_hash": published, "source": source}


def _builder_kwargs(name: str, image_size: int) -> dict:
    # ViT's positional embeddings are sized at construction (vision_transformer.py: image_size kwarg).
    return {"image_size": image_size} if name == "vit_b_16" else {}


def validate_model_args(name: str, image_size: int, pretrained: bool) -> List[str]:
    """Problems with a model/size/pretrained combination, each naming the flag and the fix."""
    errors = []
    if name not in MODELS:
        errors.append(f"--model {name}: not supported; choose one of {', '.join(MODELS)}")
    if image_size < 16:
        errors.append(f"--image-size {image_size}: must be at least 16 pixels (224 is the pretrained models' size)")
    if name == "vit_b_16":
        if pretrained and image_size != 224:
            errors.append(f"--image-size {image_size}: pretrained vit_b_16 needs 224 (or use --no-pretrained)")
        elif image_size % 16:
            errors.append(f"--image-size {image_size}: vit_b_16 needs a multiple of 16 (its patch size)")
    return errors


def replace_head(model, name: str, num_classes: int) -> None:
    """Swaps the last nn.Linear of the model's classifier for a new one with `num_classes` outputs."""
    import torch.nn as nn

    spec = _require_model(name)
    head = getattr(model, spec.head)
    if isinstance(head, nn.Linear):
        setattr(model, spec.head, nn.Linear(head.in_features, num_classes))
        return
    last = len(head) - 1
    if not isinstance(head[last], nn.Linear):
        raise RuntimeError(f"{name}: expected the last layer of model.{spec.head} to be nn.Linear, found {head[last]}")
    head[last] = nn.Linear(head[last].in_features, num_classes)


def head_prefix(name: str) -> str:
    return _require_model(name).head + "."


def build_model(name: str, num_classes: int, image_size: int = 224, pretrained: bool = False,
                allow_download: bool = True, progress: bool = True):
    """(model, provenance of the pretrained weights or None). Pretrained weights are loaded into the
    ImageNet-shaped model before the head is replaced, so every backbone tensor must match."""
    import torchvision.models as tvm

    from .compat import has_weights_api

    _require_model(name)
    builder = getattr(tvm, name)
    kwargs = _builder_kwargs(name, image_size)
    record = None
    if has_weights_api():
        model = builder(weights=None, **kwargs)
        if pretrained:
            state, record = load_pretrained_state(name, allow_download=allow_download, progress=progress)
            try:
                model.load_state_dict(state)
            except RuntimeError as exc:  # missing/unexpected keys or shapes: not this model's weights
                raise ArchaeoError(f"the weight file {record['file']} does not fit {name} ({str(exc).splitlines()[0]}); "
                                   "delete it and run again, or use --no-pretrained") from None
    else:  # torchvision < 0.13: pretrained=True downloads into TORCH_HOME by itself
        try:
            model = builder(pretrained=pretrained, **kwargs)
        except Exception as exc:  # noqa: BLE001 - any download failure
            raise ArchaeoError(
                f"loading pretrained {name} failed ({type(exc).__name__}: {exc}). Fix: --no-pretrained, or put the "
                f"weight file into {torch_home_checkpoints()}/"
            ) from None
        if pretrained:
            record = {"weights": f"torchvision {_tv_version()} pretrained=True", "url": None, "file": None,
                      "sha256": None, "source": "legacy"}
    replace_head(model, name, num_classes)
    return model, record


def freeze_backbone(model, name: str) -> int:
    """Leaves only the head trainable; returns the number of trainable parameters."""
    prefix = head_prefix(name)
    trainable = 0
    for pname, param in model.named_parameters():
        param.requires_grad = pname.startswith(prefix)
        trainable += param.numel() if param.requires_grad else 0
    return trainable


def keep_backbone_norm_frozen(model, name: str) -> None:
    """After model.train(): puts a frozen backbone's BatchNorm layers back in eval mode, so they keep
    their ImageNet running statistics (the usual practice when only the head is trained)."""
    import torch.nn as nn

    prefix = head_prefix(name)
    for mname, module in model.named_modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and not (mname + ".").startswith(prefix):
            module.eval()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="archaeo-fetch-weights",
        description="Download the pretrained weights archaeo-train uses into a TORCH_HOME (for offline machines "
                    "and for baking into the image), or check that they are there.",
    )
    parser.add_argument("models", nargs="+", choices=list(MODELS), metavar="MODEL",
                        help=f"one or more of {', '.join(MODELS)}")
    parser.add_argument("--torch-home", help="TORCH_HOME to fill (default: $TORCH_HOME or ~/.cache/torch)")
    parser.add_argument("--check", action="store_true", help="only check; exit 1 if any file is missing (no download)")
    return parser


def _fetch_main(argv: Optional[List[str]]) -> int:
    args = build_parser().parse_args(argv)
    if args.torch_home:
        import torch.hub

        torch.hub.set_dir(os.path.join(os.path.abspath(args.torch_home), "hub"))
        os.environ[BAKED_TORCH_HOME_ENV] = os.path.abspath(args.torch_home)  # check only that home
    missing = 0
    for name in args.models:
        weights = default_weights(name)
        if weights is None:
            raise ArchaeoError(f"torchvision {_tv_version()} has no weights enums; archaeo-fetch-weights needs >= 0.13")
        path = os.path.join(torch_home_checkpoints(), weights_filename(weights))
        if not os.path.isfile(path):
            if args.check:
                print(f"{name}: missing {path}", flush=True)
                missing += 1
                continue
            path = download_weights(name, progress=sys.stderr.isatty())
        digest, _ = sha256_and_size(path)
        if matches_published_hash(path, digest) is False:
            print(f"{name}: {path} does not match the published hash in its name (damaged?); delete it and fetch again",
                  flush=True)
            missing += 1
            continue
        print(f"{name}: {weights!r} {path} sha256={digest}", flush=True)
    return 1 if missing else 0


def fetch_weights_main(argv: Optional[List[str]] = None) -> int:
    return run_cli("archaeo-fetch-weights", _fetch_main, argv)


if __name__ == "__main__":
    raise SystemExit(fetch_weights_main())
