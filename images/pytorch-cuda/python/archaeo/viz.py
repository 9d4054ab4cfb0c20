"""Figures for the notebooks and reports: image grids, class counts, image sizes, training curves, confusion matrix.

Every function returns a matplotlib Figure built without pyplot (no global figure state, nothing shown
behind the caller's back): a notebook displays it as a cell's value (after `%matplotlib inline`), a
script saves it with fig.savefig(path). Works on any backend, including Agg on a headless server.
"""

import json
import os
import random
from typing import Dict, List, Optional, Sequence, Union


# Fonts with CJK glyphs, in order of preference (the image installs fonts-wqy-microhei; Noto CJK where present).
# Matplotlib >= 3.6 falls back glyph by glyph along font.family's list, so Latin text stays in DejaVu Sans
# and a class named 陶器 or 瓦当 renders instead of empty boxes.
CJK_FONTS = ("Noto Sans CJK JP", "Noto Sans CJK SC", "Source Han Sans", "WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "Droid Sans Fallback")


def use_fonts() -> List[str]:
    """Puts the installed CJK fonts behind DejaVu Sans in matplotlib's font.family; returns the families set."""
    import matplotlib
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    family = ["DejaVu Sans", *[name for name in CJK_FONTS if name in installed]]
    matplotlib.rcParams["font.family"] = family
    return family


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    use_fonts()
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def grid(data_dir: str, per_class: int = 6, classes: Optional[Sequence[str]] = None, seed: int = 0,
         cell: float = 1.6):
    """A grid of example images: one row per class, `per_class` random images each (seeded)."""
    from .data import load_rgb, scan_image_folder

    scan = scan_image_folder(data_dir, flag="data_dir", skipped=[])
    chosen = list(classes) if classes else list(scan.classes)
    rng = random.Random(seed)
    fig = _figure(cell * per_class, cell * len(chosen) + 0.3)
    axes = fig.subplots(len(chosen), per_class, squeeze=False)
    for row, name in enumerate(chosen):
        label = scan.classes.index(name)
        paths = [os.path.join(scan.root, rel) for rel, lab in scan.samples if lab == label]
        picks = rng.sample(paths, min(per_class, len(paths)))
        for col in range(per_class):
            ax = axes[row][col]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if col < len(picks):
                try:
                    ax.imshow(load_rgb(picks[col]))
                except (OSError, ValueError):  # a broken file shows as such; the grid goes on
                    ax.text(0.5, 0.5, "unreadable:\n" + os.path.basename(picks[col])[:18], ha="center", va="center", fontsize=7, transform=ax.transAxes)
            if col == 0:
                ax.set_ylabel(name, fontsize=10)
    fig.suptitle(f"Examples from {scan.root}", fontsize=10)
    fig.tight_layout()
    return fig


def class_counts(summary: Dict):
    """Bar chart of images per class, from archaeo.data.describe(...)."""
    counts = summary["counts"]
    fig = _figure(max(4.0, 0.8 * len(counts) + 2), 3.2)
    ax = fig.subplots()
    bars = ax.bar(list(counts), list(counts.values()), color="#8c5a3c")
    for bar, value in zip(bars, counts.values()):
        ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height(), str(value), ha="center", va="bottom", fontsize=9)
    ax.set_ylabel("images")
    ax.set_title(f"Images per class ({summary['n_images']} in total)")
    fig.tight_layout()
    return fig


def size_distribution(summary: Dict):
    """Image sizes: width x height per image (coloured by class) and a histogram of aspect ratios."""
    images = [e for e in summary["images"] if e.get("width")]
    fig = _figure(9.0, 3.6)
    left, right = fig.subplots(1, 2)
    for name in summary["classes"]:
        mine = [e for e in images if e["class"] == name]
        left.scatter([e["width"] for e in mine], [e["height"] for e in mine], s=14, alpha=0.7, label=name)
    left.set_xlabel("width (pixels)")
    left.set_ylabel("height (pixels)")
    left.set_title("Image sizes")
    left.legend(fontsize=8)
    right.hist([e["width"] / e["height"] for e in images], bins=20, color="#5a7d8c")
    right.set_xlabel("aspect ratio (width / height)")
    right.set_ylabel("images")
    right.set_title("Aspect ratios")
    fig.tight_layout()
    return fig


def training_curves(history: Union[str, List[Dict]]):
    """Loss and accuracy per epoch, from fit()'s history or a run's metrics.jsonl / output folder."""
    if isinstance(history, str):
        path = os.path.join(history, "metrics.jsonl") if os.path.isdir(history) else history
        with open(path, encoding="utf-8") as handle:
            history = [json.loads(line) for line in handle if line.strip()]
    epochs = [h["epoch"] for h in history]
    fig = _figure(9.0, 3.4)
    loss_ax, acc_ax = fig.subplots(1, 2)
    for split, style in (("train", "-o"), ("val", "-s")):
        loss_ax.plot(epochs, [h[f"{split}_loss"] for h in history], style, label=split)
        acc_ax.plot(epochs, [h[f"{split}_acc"] for h in history], style, label=split)
    loss_ax.set_title("Loss (lower is better)")
    acc_ax.set_title("Accuracy (higher is better)")
    acc_ax.set_ylim(0, 1.05)
    from matplotlib.ticker import MaxNLocator

    for ax in (loss_ax, acc_ax):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def confusion_matrix(matrix: Sequence[Sequence[int]], class_names: Sequence[str], title: str = "Confusion matrix"):
    """Rows: true class; columns: predicted class; each cell the image count (shaded by row share)."""
    import numpy as np

    m = np.asarray(matrix, dtype=float)
    share = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    n = len(class_names)
    fig = _figure(1.1 * n + 2.6, 1.0 * n + 1.8)
    ax = fig.subplots()
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    ax.set_xticklabels(class_names, rotation=35, ha="right")
    ax.set_yticklabels(class_names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(int(m[i, j])), ha="center", va="center",
                    color="white" if share[i, j] > 0.5 else "black", fontsize=10)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def misclassified(report: Dict, limit: int = 12, cell: float = 1.8):
    """The images an evaluation got wrong, each titled "true -> predicted (probability)"."""
    from .data import load_rgb

    wrong = report.get("misclassified", [])[:limit]
    cols = max(1, min(6, len(wrong)))
    rows = max(1, (len(wrong) + cols - 1) // cols)
    fig = _figure(cell * cols, cell * rows + 0.4)
    axes = fig.subplots(rows, cols, squeeze=False)
    for k, ax in enumerate(a for row in axes for a in row):
        ax.axis("off")
        if k < len(wrong):
            e = wrong[k]
            ax.imshow(load_rgb(os.path.join(report["data_dir"], e["path"])))
            ax.set_title(f"{e['true']} -> {e['predicted']} ({e['probability']:.2f})", fontsize=7)
    fig.suptitle("Misclassified images" if wrong else "No misclassified images", fontsize=10)
    fig.tight_layout()
    return fig
