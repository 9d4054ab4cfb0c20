"""Bakes torchvision's default pretrained weights into the image (build stage `weights`).

`python bake_weights.py --dest DIR resnet18,resnet50` downloads each model's DEFAULT weights with
torch.hub (which checks the SHA-256 prefix in the file name) into DIR, the layout of
$TORCH_HOME/hub/checkpoints. The entrypoint links them into the researcher's persistent TORCH_HOME,
so `resnet18(weights="DEFAULT")` works offline without copying the files onto the volume.
`--dry-run` prints the URLs and file names without downloading. An empty list bakes nothing.
"""
from __future__ import annotations

import argparse
import os
import sys


def plan(names: list[str]) -> list[tuple[str, str, str]]:
    """(model, url, file name) per model; raises ValueError naming an unknown model."""
    from torchvision.models import get_model_weights, list_models

    known = set(list_models())
    out = []
    for name in names:
        if name not in known:
            raise ValueError(f"unknown torchvision model '{name}' in BAKE_WEIGHTS; e.g. resnet18, resnet50, "
                             "mobilenet_v3_small, efficientnet_b0, convnext_tiny, vit_b_16")
        url = get_model_weights(name).DEFAULT.url
        out.append((name, url, os.path.basename(url)))
    return out


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", help="comma-separated torchvision model names (may be empty)")
    ap.add_argument("--dest", required=True, help="directory to write the checkpoints into")
    ap.add_argument("--dry-run", action="store_true", help="print what would be downloaded")
    a = ap.parse_args(argv)
    names = [n.strip() for n in a.models.split(",") if n.strip()]
    os.makedirs(a.dest, exist_ok=True)
    if not names:
        print("bake_weights: no models listed; nothing baked", flush=True)
        return 0
    try:
        items = plan(names)
    except ValueError as e:
        print(f"bake_weights: {e}", file=sys.stderr)
        return 2
    for name, url, file in items:
        print(f"bake_weights: {name}: {url} -> {os.path.join(a.dest, file)}", flush=True)
        if not a.dry_run:
            from torch.hub import load_state_dict_from_url

            load_state_dict_from_url(url, model_dir=a.dest, progress=False, check_hash=True, map_location="cpu")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
