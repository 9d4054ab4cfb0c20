"""Feature detection over the torch/torchvision versions archaeo runs on (Debian's 1.13/0.14, the image's 2.9/0.24).

Nothing here pins a version: each helper probes for the API it needs and falls back to the older one.
"""

import contextlib
import functools
import inspect
import io
from typing import Any, Optional

import torch


def autocast(device_type: str, enabled: bool, dtype: Optional[Any] = None):
    """Mixed-precision context for the forward pass: autocast on CUDA in `dtype` (float16 unless given), a
    no-op otherwise.

    torch.autocast(device_type=..., dtype=...) exists from torch 1.10 and is torch.amp.autocast in 2.x;
    the torch.cuda.amp.autocast spelling is deprecated in 2.4+, so it is never used here.
    """
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device_type, dtype=dtype or torch.float16)


def amp_dtype(device) -> Optional[Any]:
    """The mixed-precision type for this device: bfloat16 where the GPU supports it (Ampere and later: no
    loss scaling needed), float16 on older GPUs (T4), None on CPU."""
    if getattr(device, "type", device) != "cuda":
        return None
    supported = getattr(torch.cuda, "is_bf16_supported", None)
    return torch.bfloat16 if supported is not None and supported() else torch.float16


def grad_scaler() -> Any:
    """A CUDA gradient scaler: torch.amp.GradScaler("cuda") where it exists (torch >= 2.3; the
    torch.cuda.amp spelling warns FutureWarning from 2.4), torch.cuda.amp.GradScaler() before that."""
    amp = getattr(torch, "amp", None)
    if amp is not None and hasattr(amp, "GradScaler"):
        return amp.GradScaler("cuda")
    return torch.cuda.amp.GradScaler()


def _load_kwargs() -> dict:
    return {"weights_only": False} if "weights_only" in inspect.signature(torch.load).parameters else {}


@functools.lru_cache(maxsize=None)
def weights_only_loads_checkpoints() -> bool:
    """True when torch.load(weights_only=True) can read archaeo's checkpoints (tensors, dicts, lists,
    tuples, str, int, float, bool, None). torch 2.6+ makes weights_only=True the default; torch 1.13
    has the flag but its restricted unpickler rejects floats (pickle opcode BINFLOAT), so it is probed."""
    if "weights_only" not in inspect.signature(torch.load).parameters:
        return False
    buf = io.BytesIO()
    torch.save({"f": 0.5, "t": (None, True, "s", 1), "l": [torch.zeros(1)]}, buf)
    buf.seek(0)
    try:
        torch.load(buf, map_location="cpu", weights_only=True)
        return True
    except Exception:  # noqa: BLE001 - any refusal means "not supported here"
        return False


def load_checkpoint_file(path: str, map_location: Optional[str] = "cpu") -> Any:
    """torch.load restricted to plain data (weights_only=True) wherever this torch can read our files
    with it; older torch falls back to the full unpickler (archaeo's files hold plain data only)."""
    if weights_only_loads_checkpoints():
        return torch.load(path, map_location=map_location, weights_only=True)
    return torch.load(path, map_location=map_location, **_load_kwargs())


def has_weights_api() -> bool:
    """torchvision >= 0.13 builds models with `weights=` enums; older ones only know `pretrained=True`."""
    import torchvision.models as models

    return hasattr(models, "ResNet18_Weights")
