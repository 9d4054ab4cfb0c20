"""Artefact image folders: scanning (ImageFolder layout), a stratified split, augmentations, datasets, summaries.

Layout (torchvision ImageFolder's): DATA_DIR/<class name>/**/<image>. Classes are the sorted names of
the non-hidden sub-folders, as ImageFolder's find_classes sorts them. Unlike ImageFolder, hidden files
and folders are skipped: Jupyter's `.ipynb_checkpoints` would otherwise become a class, and macOS
`._photo.jpg` resource forks (common on museum USB drives) are not images.
"""

import os
import random
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from .errors import ArchaeoError

# torchvision.datasets.folder.IMG_EXTENSIONS (0.14 and 0.24), lower case.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")

# torchvision's ImageNet statistics: what every pretrained torchvision classifier expects.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def is_image_file(name: str) -> bool:
    return not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS)


@dataclass(frozen=True)
class ImageFolderScan:
    """What a data folder holds: classes in index order and (relative path, class index) per image."""

    root: str
    classes: Tuple[str, ...]
    samples: Tuple[Tuple[str, int], ...] = field(repr=False)

    @property
    def labels(self) -> List[int]:
        return [label for _, label in self.samples]

    def paths(self, indices: Optional[Sequence[int]] = None) -> List[str]:
        chosen = range(len(self.samples)) if indices is None else indices
        return [os.path.join(self.root, self.samples[i][0]) for i in chosen]

    def counts(self, indices: Optional[Sequence[int]] = None) -> Dict[str, int]:
        chosen = range(len(self.samples)) if indices is None else indices
        out = {name: 0 for name in self.classes}
        for i in chosen:
            out[self.classes[self.samples[i][1]]] += 1
        return out


def _class_dirs(root: str) -> List[str]:
    return sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))


def images_under(folder: str) -> List[str]:
    """Image files under `folder` (recursively, following links), sorted, hidden files and folders skipped."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found.extend(os.path.join(dirpath, f) for f in sorted(filenames) if is_image_file(f))
    return found


def scan_image_folder(data_dir: str, flag: str = "--data-dir") -> ImageFolderScan:
    """Scans DATA_DIR/<class>/**/<image>; raises ArchaeoError naming `flag` when it is not such a folder."""
    root = os.path.abspath(data_dir)
    if not os.path.isdir(root):
        raise ArchaeoError(f"{flag} {data_dir}: no such folder. Point it at a folder with one sub-folder per class.")
    classes = _class_dirs(root)
    if len(classes) < 2:
        raise ArchaeoError(
            f"{flag} {data_dir}: found {len(classes)} class folder(s) ({', '.join(classes) or 'none'}); a classifier "
            "needs at least 2. Expected layout: DATA_DIR/<class name>/<images> (e.g. DATA_DIR/pottery/sherd-001.jpg)."
        )
    samples: List[Tuple[str, int]] = []
    empty = []
    for index, name in enumerate(classes):
        files = images_under(os.path.join(root, name))
        if not files:
            empty.append(name)
        samples.extend((os.path.relpath(p, root), index) for p in files)
    if empty:
        raise ArchaeoError(
            f"{flag} {data_dir}: class folder(s) {', '.join(empty)} hold no images "
            f"({', '.join(IMAGE_EXTENSIONS)}); add images or remove the folder(s)."
        )
    return ImageFolderScan(root=root, classes=tuple(classes), samples=tuple(samples))


def is_image_folder(path: str) -> bool:
    """Cheap check (no recursive walk, so it is safe on a large S3 mount): at least two non-hidden
    sub-folders, each holding an image directly."""
    try:
        classes = _class_dirs(path)
    except OSError:
        return False
    with_images = 0
    for name in classes:
        try:
            with os.scandir(os.path.join(path, name)) as entries:
                if any(e.is_file() and is_image_file(e.name) for e in entries):
                    with_images += 1
        except OSError:
            continue
    return with_images >= 2


def stratified_split(labels: Sequence[int], val_fraction: float, seed: int) -> Tuple[List[int], List[int]]:
    """Per class: shuffle its indices with `seed`, put round(n * val_fraction) in validation (at least
    one and never all, for classes of two or more images). Deterministic for the same labels and seed."""
    if not 0.0 < val_fraction < 1.0:
        raise ArchaeoError(f"--val-fraction {val_fraction}: must be between 0 and 1 (e.g. 0.2 keeps 20% for validation)")
    rng = random.Random(seed)
    by_class: Dict[int, List[int]] = {}
    for index, label in enumerate(labels):
        by_class.setdefault(label, []).append(index)
    train: List[int] = []
    val: List[int] = []
    for label in sorted(by_class):
        indices = by_class[label][:]
        rng.shuffle(indices)
        n_val = int(len(indices) * val_fraction + 0.5)
        if len(indices) >= 2:
            n_val = min(max(n_val, 1), len(indices) - 1)
        else:
            n_val = 0
        val.extend(indices[:n_val])
        train.extend(indices[n_val:])
    return sorted(train), sorted(val)


def build_transforms(image_size: int, train: bool):
    """Training: random resized crop, flips, a small rotation and colour jitter (photographs of sherds,
    tiles and murals vary in framing, orientation and lighting; hue jitter stays small because fabric
    colour can be diagnostic). Evaluation: resize + centre crop. Both: ImageNet normalisation."""
    from torchvision import transforms as T

    normalize = T.Normalize(IMAGENET_MEAN, IMAGENET_STD)
    if train:
        return T.Compose([
            T.RandomResizedCrop(image_size, scale=(0.6, 1.0)),
            T.RandomHorizontalFlip(),
            T.RandomVerticalFlip(p=0.2),
            T.RandomRotation(15),
            T.ColorJitter(brightness=0.25, contrast=0.25, saturation=0.2, hue=0.02),
            T.ToTensor(),
            normalize,
        ])
    return T.Compose([
        T.Resize(int(round(image_size * 256 / 224))),
        T.CenterCrop(image_size),
        T.ToTensor(),
        normalize,
    ])


def load_rgb(path: str, target_size: Optional[int] = None):
    """Opens an image as RGB, honouring the EXIF orientation of camera/phone photos. For JPEGs larger
    than needed, decodes at a reduced scale (PIL draft mode) so 24-megapixel photos load quickly."""
    from PIL import Image, ImageOps

    with Image.open(path) as img:
        if target_size and img.format == "JPEG":
            img.draft("RGB", (target_size * 2, target_size * 2))
        img = ImageOps.exif_transpose(img)
        return img.convert("RGB")


class ImageListDataset:
    """A map-style dataset of (transformed image, label) for torch's DataLoader. A plain module-level
    class (DataLoader needs only __len__/__getitem__) so that worker processes can pickle it under any
    multiprocessing start method."""

    def __init__(self, paths: Sequence[str], labels: Sequence[int], transform, target_size: Optional[int] = None):
        self.paths = list(paths)
        self.labels = list(labels)
        self.transform = transform
        self.target_size = target_size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        return self.transform(load_rgb(self.paths[index], self.target_size)), self.labels[index]


def describe(data_dir: str) -> dict:
    """A summary of an image folder for the notebooks: classes, counts, and per-image size/format
    (read from the file headers only)."""
    from PIL import Image

    scan = scan_image_folder(data_dir, flag="data_dir")
    images = []
    for rel, label in scan.samples:
        path = os.path.join(scan.root, rel)
        entry = {"path": rel, "class": scan.classes[label], "bytes": os.path.getsize(path)}
        try:
            with Image.open(path) as img:
                entry.update(width=img.width, height=img.height, mode=img.mode, format=img.format)
        except OSError as exc:
            entry.update(width=None, height=None, mode=None, format=None, error=str(exc))
        images.append(entry)
    return {
        "root": scan.root,
        "classes": list(scan.classes),
        "counts": scan.counts(),
        "n_images": len(scan.samples),
        "unreadable": [e["path"] for e in images if "error" in e],
        "images": images,
    }


def default_data_dir(shared: str = "/data", example_dir: Optional[str] = None) -> Tuple[str, str]:
    """The folder a starter notebook uses, and why: $ARCHAEO_NOTEBOOK_DATA when set; else `shared`
    (/data) or its first sub-folder laid out as class folders; else the example set (generated once
    into $ARCHAEO_EXAMPLE_DATA, default ~/archaeo-example-data)."""
    chosen = os.environ.get("ARCHAEO_NOTEBOOK_DATA", "").strip()
    if chosen:
        return chosen, "ARCHAEO_NOTEBOOK_DATA"
    if is_image_folder(shared):
        return shared, f"{shared} (shared datasets)"
    try:
        children = sorted(e.path for e in os.scandir(shared) if e.is_dir() and not e.name.startswith("."))
    except OSError:
        children = []
    for child in children:
        if is_image_folder(child):
            return child, f"{child} (first folder of class folders under {shared})"
    from .example_data import generate

    target = example_dir or os.environ.get("ARCHAEO_EXAMPLE_DATA") or os.path.expanduser("~/archaeo-example-data")
    if not is_image_folder(target):
        generate(target, per_class=24, seed=0)
    return target, "the generated example set (no images found under /data)"
