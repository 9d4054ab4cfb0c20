"""Checkpoint files (last.pt, best.pt): atomic writes, loading them, and running the classifier they hold.

Everything saved is plain data (tensors, dicts, lists, tuples, str, int, float, bool, None) so that
torch.load(weights_only=True), torch 2.6+'s default, reads it without allow-listing any class.
"""

import os
from typing import Any, Dict

from .errors import ArchaeoError

FORMAT = "archaeo-checkpoint/1"


def save(obj: Dict[str, Any], path: str) -> None:
    """torch.save through a temporary file and a rename: a crash mid-write never leaves a torn last.pt."""
    import torch

    from .provenance import write_atomic

    write_atomic(path, lambda tmp: torch.save(obj, tmp))


def load(path: str, flag: str = "--checkpoint") -> Dict[str, Any]:
    from .compat import load_checkpoint_file

    if not os.path.isfile(path):
        raise ArchaeoError(f"{flag} {path}: no such file (archaeo-train writes best.pt and last.pt in its --output-dir)")
    try:
        data = load_checkpoint_file(path)
    except Exception as exc:  # noqa: BLE001 - torn or foreign file
        raise ArchaeoError(f"{flag} {path}: not a readable checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ArchaeoError(f"{flag} {path}: not an archaeo-train checkpoint (no format {FORMAT!r})")
    return data


def load_classifier(path: str, device: str = "auto"):
    """(model in eval mode, checkpoint metadata, the torch.device the model is on) from best.pt/last.pt;
    `device` is a --device choice (auto, cpu, cuda)."""
    from .device import pick_device
    from .models import build_model

    dev = pick_device(device)
    data = load(path)
    model, _ = build_model(data["model"], len(data["class_names"]), image_size=data["image_size"], pretrained=False)
    model.load_state_dict(data["state_dict"])
    model.to(dev).eval()
    return model, data, dev


def probabilities(model, images, device):
    """Softmax class probabilities (float32, one row per image) of a batch, computed without gradients."""
    import torch

    with torch.no_grad():
        return torch.softmax(model(images.to(device)).float(), dim=1)
