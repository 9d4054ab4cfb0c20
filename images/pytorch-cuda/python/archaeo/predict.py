"""archaeo-predict: classify every image in a folder (recursively) with a trained classifier; top-k classes
with probabilities, one CSV row per image (unreadable images get a row with the error).
"""

import argparse
import csv
import os
from typing import Dict, List, Optional

from .device import DEVICE_CHOICES
from .errors import ArchaeoError, run_cli


def list_images(path: str) -> List[str]:
    """Image files under `path` (or `path` itself), sorted, hidden files and folders skipped."""
    from .data import images_under

    if os.path.isfile(path):
        return [os.path.abspath(path)]
    if not os.path.isdir(path):
        raise ArchaeoError(f"--input {path}: no such file or folder")
    found = images_under(path)
    if not found:
        raise ArchaeoError(f"--input {path}: no images found (looked for .jpg, .jpeg, .png, .tif, .tiff, .bmp, .webp, ...)")
    return [os.path.abspath(p) for p in found]


class _SafeImages:
    """(tensor, index, error) per image; an unreadable file yields a blank tensor and its error text."""

    def __init__(self, paths: List[str], transform, size: int):
        self.paths, self.transform, self.size = paths, transform, size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        import torch

        from .data import load_rgb

        try:
            return self.transform(load_rgb(self.paths[index], self.size)), index, ""
        except Exception as exc:  # noqa: BLE001 - a truncated or non-image file must not stop the batch
            return torch.zeros(3, self.size, self.size), index, f"{type(exc).__name__}: {exc}"


def predict(checkpoint: str, input_path: str, top_k: int = 3, batch_size: int = 32, workers: int = 0,
            device: str = "auto") -> List[Dict]:
    """One dict per image: {path, predictions: [(class, probability), ...] best first, error}."""
    from torch.utils.data import DataLoader

    from .checkpoint import load_classifier, probabilities
    from .data import build_transforms, printable

    if top_k < 1:
        raise ArchaeoError(f"--top-k {top_k}: must be at least 1")
    model, meta, dev = load_classifier(checkpoint, device)
    names = list(meta["class_names"])
    k = min(top_k, len(names))
    paths = list_images(input_path)
    root = input_path if os.path.isdir(input_path) else os.path.dirname(os.path.abspath(input_path))
    dataset = _SafeImages(paths, build_transforms(meta["image_size"], train=False), meta["image_size"])
    rows: List[Dict] = []
    for images, indices, errors in DataLoader(dataset, batch_size=batch_size, num_workers=workers):
        top = probabilities(model, images, dev).topk(k, dim=1)
        for j, index in enumerate(indices.tolist()):
            rows.append({
                "path": printable(os.path.relpath(paths[index], root)),  # a non-UTF-8 name as \\xNN: printable, CSV-safe
                "predictions": [] if errors[j] else [(names[c], p) for c, p in
                                                     zip(top.indices[j].tolist(), top.values[j].tolist())],
                "error": errors[j],
            })
    return rows


def write_csv(rows: List[Dict], path: str, top_k: int) -> None:
    """Columns: path, class_1, probability_1, ..., class_k, probability_k, error."""
    header = ["path"] + [f"{kind}_{i}" for i in range(1, top_k + 1) for kind in ("class", "probability")] + ["error"]
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for row in rows:
            cells = [row["path"]]
            for i in range(top_k):
                if i < len(row["predictions"]):
                    name, prob = row["predictions"][i]
                    cells += [name, f"{prob:.4f}"]
                else:
                    cells += ["", ""]
            writer.writerow(cells + [row["error"]])


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="archaeo-predict",
                                description="Classify every image in a folder and write the top-k classes to CSV.")
    p.add_argument("--checkpoint", required=True, help="best.pt or last.pt written by archaeo-train")
    p.add_argument("--input", required=True, help="an image or a folder of images (searched recursively)")
    p.add_argument("--output", required=True, help="CSV file to write (e.g. predictions.csv)")
    p.add_argument("--top-k", type=int, default=3, help="classes per image, most probable first (default 3)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--workers", type=int, default=0, help="data-loading processes (default 0)")
    p.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    return p


def _main(argv: Optional[List[str]]) -> int:
    args = build_parser().parse_args(argv)
    rows = predict(args.checkpoint, args.input, args.top_k, args.batch_size, args.workers, args.device)
    k = min(args.top_k, max(len(r["predictions"]) for r in rows) or 1)
    write_csv(rows, args.output, k)
    failed = sum(1 for r in rows if r["error"])
    print(f"wrote {len(rows)} predictions to {args.output}" + (f" ({failed} unreadable images, see the error column)"
                                                               if failed else ""), flush=True)
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    return run_cli("archaeo-predict", _main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
