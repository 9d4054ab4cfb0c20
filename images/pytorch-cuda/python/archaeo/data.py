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


# Photo formats a collection holds that Pillow (and so torchvision) cannot decode here: reported as
# skipped with the fix, never silently dropped. HEIF/AVIF need plugins; camera RAW needs a RAW developer.
UNSUPPORTED_PHOTO_EXTENSIONS = (".heic", ".heif", ".avif", ".cr2", ".cr3", ".nef", ".arw", ".dng", ".raf", ".orf",
                                ".rw2", ".pef", ".srw", ".psd", ".jp2", ".jxl")


def printable(name: str) -> str:
    """A file name as text that can be printed and written to JSON: bytes that are not UTF-8 (a name from
    a zip made on another OS; Python keeps them as surrogate escapes) become \\xNN."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _class_dirs(root: str) -> List[str]:
    return sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))


def images_under(folder: str, skipped: Optional[List[dict]] = None, root: Optional[str] = None,
                 seen_files: Optional[Dict[Tuple[int, int], str]] = None,
                 seen_dirs: Optional[set] = None, other_classes: Optional[Dict[str, str]] = None) -> List[str]:
    """Image files under `folder` (recursively, following links), sorted, hidden files and folders skipped.
    A link to a folder already walked, or to one of `seen_dirs` (the data folder and every class folder:
    a loop, or a link into another class), is not followed, and a file reached a second time through links
    is listed once; both, and photo formats Pillow cannot read, go to `skipped` as {path, reason} (paths
    relative to `root`). A link whose target lies under another class's folder (`other_classes`: real path ->
    class name) is not followed: its images are that class's, counted there.

    """
    rel = (lambda p: printable(os.path.relpath(p, root or folder)))
    others = other_classes or {}

    def other_class(p: str) -> Optional[str]:
        if not others or not os.path.islink(p):
            return None
        real = os.path.realpath(p)
        return next((name for r, name in others.items() if real == r or real.startswith(r + os.sep)), None)

    found = []
    seen_dirs = set() if seen_dirs is None else seen_dirs
    seen_files = {} if seen_files is None else seen_files
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        try:
            st = os.stat(dirpath)
        except OSError:
            continue
        if dirpath != folder and (st.st_dev, st.st_ino) in seen_dirs:
            dirnames[:] = []
            continue
        seen_dirs.add((st.st_dev, st.st_ino))
        keep = []
        for d in sorted(x for x in dirnames if not x.startswith(".")):
            try:
                ds = os.stat(os.path.join(dirpath, d))
            except OSError as exc:
                if skipped is not None:
                    skipped.append({"path": rel(os.path.join(dirpath, d)), "reason": f"folder not readable ({exc.strerror})"})
                continue
            owner = other_class(os.path.join(dirpath, d))
            if owner is not None:
                if skipped is not None:
                    skipped.append({"path": rel(os.path.join(dirpath, d)), "reason": f"a link into class {printable(owner)}'s folder: not followed (its images count in {printable(owner)})"})
                continue
            if (ds.st_dev, ds.st_ino) in seen_dirs:
                if skipped is not None:
                    skipped.append({"path": rel(os.path.join(dirpath, d)), "reason": "a link to a folder read already, the data folder or another class (a symlink loop): not followed"})
                continue
            keep.append(d)
        dirnames[:] = keep
        for f in sorted(filenames):
            path = os.path.join(dirpath, f)
            if is_image_file(f):
                try:
                    fs = os.stat(path)
                except OSError as exc:
                    if skipped is not None:
                        skipped.append({"path": rel(path), "reason": f"cannot be read ({exc.strerror})"})
                    continue
                owner = other_class(path)
                if owner is not None:
                    if skipped is not None:
                        skipped.append({"path": rel(path), "reason": f"a link to an image of class {printable(owner)}: counted there, not twice under two labels"})
                    continue
                key = (fs.st_dev, fs.st_ino)
                if key in seen_files:
                    if skipped is not None:
                        skipped.append({"path": rel(path), "reason": f"the same file as {seen_files[key]} (reached twice through links): counted once"})
                    continue
                seen_files[key] = rel(path)
                found.append(path)
            elif skipped is not None and not f.startswith(".") and f.lower().endswith(UNSUPPORTED_PHOTO_EXTENSIONS):
                skipped.append({"path": rel(path), "reason": f"{os.path.splitext(f)[1]} photos cannot be decoded by Pillow; convert them to JPEG, PNG or TIFF to include them"})
    return found


@dataclass(frozen=True)
class ClassSelection:
    """Which class folders to use: --exclude-class names, and classes with fewer usable images than --min-images are left out."""

    exclude: Tuple[str, ...] = ()
    min_images: int = 2


def scan_image_folder(data_dir: str, flag: str = "--data-dir", selection: Optional[ClassSelection] = None,
                      skipped: Optional[List[dict]] = None) -> ImageFolderScan:
    """Scans DATA_DIR/<class>/**/<image>; raises ArchaeoError naming `flag` when it is not such a folder.
    Class folders without images, and those --exclude-class names, are left out (recorded in `skipped`
    when given, else an error as before: the notebooks' describe() still wants to hear about them)."""
    root = os.path.abspath(data_dir)
    if not os.path.isdir(root):
        raise ArchaeoError(f"{flag} {data_dir}: no such folder. Point it at a folder with one sub-folder per class.")
    all_classes = _class_dirs(root)
    selection = selection or ClassSelection()
    unknown = [c for c in selection.exclude if c not in all_classes]
    if unknown:
        raise ArchaeoError(f"--exclude-class {', '.join(unknown)}: no such class folder in {data_dir} "
                           f"(its classes: {', '.join(printable(c) for c in all_classes) or 'none'})")
    per_class: List[Tuple[str, List[str]]] = []
    empty = []
    seen_files: Dict[Tuple[int, int], str] = {}
    # The data folder and every class folder: a link into any of them from inside a class is not followed.
    seen_dirs = set()
    for d in [root] + [os.path.join(root, c) for c in all_classes]:
        try:
            ds = os.stat(d)
            seen_dirs.add((ds.st_dev, ds.st_ino))
        except OSError:
            pass
    for name in all_classes:
        if name in selection.exclude:
            if skipped is not None:
                skipped.append({"path": printable(name) + "/", "reason": "class left out with --exclude-class"})
            continue
        others = {os.path.realpath(os.path.join(root, c)): c for c in all_classes if c != name}
        files = images_under(os.path.join(root, name), skipped, root, seen_files, seen_dirs, others)
        if not files:
            empty.append(name)
            if skipped is not None:
                skipped.append({"path": printable(name) + "/", "reason": f"class folder holds no images ({', '.join(IMAGE_EXTENSIONS)}): left out"})
            continue
        per_class.append((name, files))
    if empty and skipped is None:
        raise ArchaeoError(
            f"{flag} {data_dir}: class folder(s) {', '.join(printable(e) for e in empty)} hold no images "
            f"({', '.join(IMAGE_EXTENSIONS)}); add images, or leave them out with --exclude-class."
        )
    classes = [name for name, _ in per_class]
    if len(classes) < 2:
        raise ArchaeoError(
            f"{flag} {data_dir}: found {len(classes)} class folder(s) with images ({', '.join(printable(c) for c in classes) or 'none'}); "
            "a classifier needs at least 2. Expected layout: DATA_DIR/<class name>/<images> (e.g. DATA_DIR/pottery/sherd-001.jpg)."
        )
    samples: List[Tuple[str, int]] = []
    for index, (name, files) in enumerate(per_class):
        samples.extend((os.path.relpath(p, root), index) for p in files)
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
    """Opens an image as 8-bit RGB, honouring the EXIF orientation of camera/phone photos and converting
    16-bit scans and transparent cut-outs correctly (collection.to_rgb). For JPEGs larger than needed,
    decodes at a reduced scale (PIL draft mode) so 24-megapixel photos load quickly."""
    from PIL import Image, ImageOps

    from .collection import to_rgb

    with Image.open(path) as img:
        if target_size and img.format == "JPEG":
            img.draft("RGB", (target_size * 2, target_size * 2))
        return to_rgb(ImageOps.exif_transpose(img))


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """The seed of one sample's augmentation in one epoch: a function of (seed, epoch, index) alone, so the
    same image gets the same crop whichever worker loads it, however many workers there are, and whether
    or not the run was interrupted and resumed."""
    return (seed * 1_000_003 + epoch * 10_007 + index * 7_919) % (2**63)


class EpochTaggedSampler:
    """Yields (index, epoch) from a sampler with set_epoch (DistributedSampler), so the dataset can seed
    each sample from (seed, epoch, index) even in persistent DataLoader workers, which never see the main
    process's later changes to the dataset. `skip` leaves out the first samples of the first epoch drawn
    (a run resumed mid-epoch)."""

    def __init__(self, sampler, skip: int = 0):
        self.sampler = sampler
        self.epoch = 0
        self.skip = skip

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.sampler.set_epoch(epoch)

    def __iter__(self):
        skip, self.skip = self.skip, 0
        for n, index in enumerate(self.sampler):
            if n >= skip:
                yield (index, self.epoch)

    def __len__(self) -> int:
        return len(self.sampler)


class ImageListDataset:
    """A map-style dataset of (transformed image, label) for torch's DataLoader. A plain module-level
    class (DataLoader needs only __len__/__getitem__) so that worker processes can pickle it under any
    multiprocessing start method.

    Given `seed`, items are (index, epoch) pairs (EpochTaggedSampler) and each augmentation draws from a
    generator seeded by sample_seed(seed, epoch, index) inside torch.random.fork_rng, so it neither depends
    on nor disturbs the process's own random state. A file that cannot be read any more (deleted, or
    unreadable on a flaky mount) is replaced by the next readable one and appended to `failures` (a JSON
    lines file) instead of ending the run."""

    def __init__(self, paths: Sequence[str], labels: Sequence[int], transform, target_size: Optional[int] = None,
                 seed: Optional[int] = None, failures: Optional[str] = None):
        self.paths = list(paths)
        self.labels = list(labels)
        self.transform = transform
        self.target_size = target_size
        self.seed = seed
        self.failures = failures

    def __len__(self) -> int:
        return len(self.paths)

    def _record(self, index: int, exc: BaseException) -> None:
        if self.failures:
            import json

            with open(self.failures, "a", encoding="utf-8") as handle:
                handle.write(json.dumps({"path": printable(self.paths[index]), "reason": f"unreadable during the run: {type(exc).__name__}: {exc}"}) + "\n")

    def __getitem__(self, item):
        index, epoch = item if isinstance(item, tuple) else (item, None)
        if self.failures is None:  # evaluation: an unreadable file is an error, never silently replaced
            img, i = load_rgb(self.paths[index], self.target_size), index
        for attempt in range(len(self.paths) if self.failures is not None else 0):
            i = (index + attempt) % len(self.paths)
            try:
                img = load_rgb(self.paths[i], self.target_size)
                break
            except (OSError, ValueError) as exc:
                self._record(i, exc)
        else:
            if self.failures is not None:
                raise ArchaeoError("no image of the training set can be read any more; check --data-dir")
        if self.seed is None or epoch is None:
            return self.transform(img), self.labels[i]
        import torch

        with torch.random.fork_rng(devices=[]):
            # The CPU generator only (torch.manual_seed would reseed every GPU's too, which fork_rng(devices=[]) does not restore).
            torch.default_generator.manual_seed(sample_seed(self.seed, epoch, index))
            return self.transform(img), self.labels[i]


def describe(data_dir: str) -> dict:
    """A summary of an image folder for the notebooks: classes, counts, and per-image size/format
    (read from the file headers only)."""
    from PIL import Image

    skipped: List[dict] = []
    scan = scan_image_folder(data_dir, flag="data_dir", skipped=skipped)
    images = []
    for rel, label in scan.samples:
        path = os.path.join(scan.root, rel)
        entry = {"path": printable(rel), "class": scan.classes[label], "bytes": os.path.getsize(path)}
        try:
            with Image.open(path) as img:
                entry.update(width=img.width, height=img.height, mode=img.mode, format=img.format)
        except (OSError, ValueError) as exc:
            entry.update(width=None, height=None, mode=None, format=None, error=str(exc))
        images.append(entry)
    return {
        "root": scan.root,
        "classes": list(scan.classes),
        "counts": scan.counts(),
        "n_images": len(scan.samples),
        "unreadable": [e["path"] for e in images if "error" in e],
        "skipped": skipped,
        "images": images,
    }


def find_image_folders(shared: str, depth: int = 3) -> List[str]:
    """Folders laid out as class folders (is_image_folder) at most `depth` levels below `shared`, breadth
    first and sorted, so /data/<project>/images/<class>/... is found. A folder that is one is not searched
    further (its class folders are not datasets of their own)."""
    found: List[str] = []
    level = [shared]
    for _ in range(depth + 1):
        following: List[str] = []
        for folder in level:
            if is_image_folder(folder):
                found.append(folder)
                continue
            try:
                following.extend(sorted(e.path for e in os.scandir(folder) if e.is_dir() and not e.name.startswith(".")))
            except OSError:
                continue
        level = following
    return found


def default_data_dir(shared: Optional[str] = None, example_dir: Optional[str] = None) -> Tuple[str, str]:
    """The folder a starter notebook uses, and why: $ARCHAEO_NOTEBOOK_DATA when set; else the first folder of
    class folders found up to three levels below `shared` ($ARCHAEO_SHARED_DATA, default /data: e.g.
    /data/archaeology/images), naming the others found; else the example set (generated once into
    $ARCHAEO_EXAMPLE_DATA, default ~/archaeo-example-data), saying where it looked."""
    chosen = os.environ.get("ARCHAEO_NOTEBOOK_DATA", "").strip()
    if chosen:
        return chosen, "ARCHAEO_NOTEBOOK_DATA"
    shared = shared or os.environ.get("ARCHAEO_SHARED_DATA") or "/data"
    found = find_image_folders(shared)
    if found:
        others = f"; also found {', '.join(printable(f) for f in found[1:])} (set DATA_DIR to use one)" if len(found) > 1 else ""
        return found[0], f"the first folder of class folders under {shared}{others}"
    from .example_data import generate

    target = example_dir or os.environ.get("ARCHAEO_EXAMPLE_DATA") or os.path.expanduser("~/archaeo-example-data")
    if not is_image_folder(target):
        generate(target, per_class=24, seed=0)
    return target, (f"the generated example set: no folder of class folders (DATA_DIR/<class>/<images>) within three levels "
                    f"of {shared}; set DATA_DIR to your images' folder")
