"""archaeo-evaluate: accuracy, per-class precision/recall/F1 and a confusion matrix of a trained classifier
on an image folder; writes evaluation.json and confusion_matrix.png.
"""

import argparse
import json
import os
from datetime import datetime, timezone
from typing import Dict, List, Optional, Sequence

from .device import DEVICE_CHOICES
from .errors import ArchaeoError, run_cli


def confusion(true: Sequence[int], predicted: Sequence[int], n_classes: int) -> List[List[int]]:
    """matrix[t][p] = number of images of true class t predicted as p."""
    matrix = [[0] * n_classes for _ in range(n_classes)]
    for t, p in zip(true, predicted):
        matrix[t][p] += 1
    return matrix


def classification_report(matrix: Sequence[Sequence[int]], class_names: Sequence[str]) -> Dict:
    """Accuracy, per-class precision/recall/F1/support, and their macro and support-weighted averages.
    A ratio with a zero denominator (no image predicted / present) is reported as 0.0."""
    n = len(class_names)
    total = sum(sum(row) for row in matrix)
    per_class = {}
    for k, name in enumerate(class_names):
        tp = matrix[k][k]
        predicted = sum(matrix[i][k] for i in range(n))
        support = sum(matrix[k])
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {"precision": precision, "recall": recall, "f1": f1, "support": support}
    present = [v for v in per_class.values() if v["support"]]

    def average(key: str, weighted: bool) -> float:
        if not present:
            return 0.0
        if weighted:
            return sum(v[key] * v["support"] for v in present) / sum(v["support"] for v in present)
        return sum(v[key] for v in present) / len(present)

    return {
        "accuracy": sum(matrix[k][k] for k in range(n)) / total if total else 0.0,
        "n_images": total,
        "per_class": per_class,
        "macro_avg": {k: average(k, False) for k in ("precision", "recall", "f1")},
        "weighted_avg": {k: average(k, True) for k in ("precision", "recall", "f1")},
    }


def validation_files(checkpoint: str) -> List[str]:
    """The validation images of the run that wrote `checkpoint` (run.json's manifest beside it)."""
    run_json = os.path.join(os.path.dirname(os.path.abspath(checkpoint)), "run.json")
    try:
        with open(run_json, encoding="utf-8") as handle:
            manifest = json.load(handle)["data"]["manifest"]
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise ArchaeoError(f"--split val needs the run.json that archaeo-train wrote beside {checkpoint} ({exc})") from None
    return [entry["path"] for entry in manifest if entry["split"] == "val"]


def evaluate(checkpoint: str, data_dir: str, output_dir: Optional[str] = None, batch_size: int = 32,
             workers: int = 0, device: str = "auto", split: str = "all") -> Dict:
    """Runs the classifier in `checkpoint` over DATA_DIR/<class>/<images> (class folders must be among
    the model's classes); split="val" keeps only the training run's validation images (from its
    run.json), which the model never trained on. Writes evaluation.json and confusion_matrix.png to
    `output_dir` (default <checkpoint folder>/evaluation[-val]) and returns the report (with
    "report_json" and "confusion_png")."""
    from torch.utils.data import DataLoader

    from .checkpoint import load_classifier, probabilities
    from .data import ImageListDataset, build_transforms, printable, scan_image_folder
    from .provenance import sha256_and_size, write_json_atomic
    from .viz import confusion_matrix as confusion_figure

    model, meta, dev = load_classifier(checkpoint, device)
    names = list(meta["class_names"])
    scan = scan_image_folder(data_dir, skipped=[])  # empty class folders are not classes of anything
    unknown = [c for c in scan.classes if c not in names]
    if unknown and split != "val":  # a run's validation files are named one by one: other folders do not matter
        raise ArchaeoError(
            f"--data-dir {data_dir}: class folder(s) {', '.join(unknown)} are not classes of this model "
            f"({', '.join(names)}); evaluate on folders named after the model's classes"
        )
    samples = list(scan.samples)
    if split == "val":
        wanted = set(validation_files(checkpoint))
        samples = [(rel, label) for rel, label in samples if printable(rel).replace(os.sep, "/") in wanted and scan.classes[label] in names]
        if len(samples) != len(wanted):
            raise ArchaeoError(f"--split val: {len(wanted) - len(samples)} of the run's {len(wanted)} validation images "
                               f"are missing from --data-dir {data_dir}; pass the --data-dir the model was trained on")
    elif split != "all":
        raise ArchaeoError(f"--split {split}: choose all or val")
    true = [names.index(scan.classes[label]) for _, label in samples]
    dataset = ImageListDataset([os.path.join(scan.root, rel) for rel, _ in samples], true, build_transforms(meta["image_size"], train=False), meta["image_size"])
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers)
    predicted: List[int] = []
    confidence: List[float] = []
    for images, _ in loader:
        top = probabilities(model, images, dev).max(dim=1)
        predicted.extend(top.indices.tolist())
        confidence.extend(top.values.tolist())
    matrix = confusion(true, predicted, len(names))
    report = classification_report(matrix, names)
    default_out = "evaluation" if split == "all" else f"evaluation-{split}"
    out = os.path.abspath(output_dir or os.path.join(os.path.dirname(os.path.abspath(checkpoint)), default_out))
    os.makedirs(out, exist_ok=True)
    ckpt_hash, _ = sha256_and_size(checkpoint)
    report.update({
        "checkpoint": os.path.abspath(checkpoint),
        "checkpoint_sha256": ckpt_hash,
        "model": meta["model"],
        "trained_epochs": meta.get("epoch"),
        "data_dir": scan.root,
        "split": split,
        "class_names": names,
        "confusion_matrix": matrix,
        "misclassified": [
            {"path": rel, "true": names[t], "predicted": names[p], "probability": c}
            for (rel, _), t, p, c in zip(samples, true, predicted, confidence) if t != p
        ],
        "evaluated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "report_json": os.path.join(out, "evaluation.json"),
        "confusion_png": os.path.join(out, "confusion_matrix.png"),
    })
    fig = confusion_figure(matrix, names, title=f"{meta['model']} on {os.path.basename(scan.root)}: "
                                                f"accuracy {report['accuracy']:.3f}")
    fig.savefig(report["confusion_png"], dpi=120)
    write_json_atomic(report["report_json"], report)
    return report


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="archaeo-evaluate",
                                description="Evaluate a trained classifier on DATA_DIR/<class>/<images>.")
    p.add_argument("--checkpoint", required=True, help="best.pt or last.pt written by archaeo-train")
    p.add_argument("--data-dir", required=True, help="folder with one sub-folder per class (ideally images not used in training)")
    p.add_argument("--split", default="all", choices=("all", "val"),
                   help="all images in --data-dir (default), or only the training run's validation images (from its run.json)")
    p.add_argument("--output-dir", help="where evaluation.json and confusion_matrix.png go (default <checkpoint folder>/evaluation)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--workers", type=int, default=0, help="data-loading processes (default 0)")
    p.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    return p


def _main(argv: Optional[List[str]]) -> int:
    import matplotlib

    matplotlib.use("Agg")
    args = build_parser().parse_args(argv)
    report = evaluate(args.checkpoint, args.data_dir, args.output_dir, args.batch_size, args.workers, args.device,
                      args.split)
    print(f"accuracy {report['accuracy']:.3f} on {report['n_images']} images "
          f"(macro F1 {report['macro_avg']['f1']:.3f})", flush=True)
    width = max(len(n) for n in report["class_names"])
    print(f"{'class':<{width}}  precision  recall  f1     support", flush=True)
    for name, m in report["per_class"].items():
        print(f"{name:<{width}}  {m['precision']:9.3f}  {m['recall']:6.3f}  {m['f1']:.3f}  {m['support']:7d}", flush=True)
    print(f"wrote {report['report_json']} and {report['confusion_png']}", flush=True)
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    return run_cli("archaeo-evaluate", _main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
