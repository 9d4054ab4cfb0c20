"""A real collection, read once before training: every image decoded and hashed up front, what cannot be
used listed with the reason, duplicates found, and the result cached so a restart re-reads only what changed.

A museum's folders hold truncated JPEGs, zero-byte files, web pages saved as .jpg, 16-bit scans, cut-outs
with transparency and orthomosaics of hundreds of megapixels. Each is judged here, once, in parallel
(decoding and hashing release the GIL), instead of crashing epoch 37: `vet()` returns the usable files
with their sha256 and the excluded ones with why. The cache (JSON, keyed by path with size and mtime)
lives in $ARCHAEO_CACHE_DIR (default ~/.cache/archaeo); an entry is reused only while both still match.
"""

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from .data import printable

CACHE_FORMAT = "archaeo-vet/1"
# Pillow's own decompression-bomb threshold (Image.MAX_IMAGE_PIXELS, 89,478,485 pixels): a larger image is
# refused by default; --max-megapixels raises it.
DEFAULT_MAX_MEGAPIXELS = 89.5


def to_rgb(img):
    """An 8-bit RGB copy of any Pillow image, correct for the modes a collection holds: 16- and 32-bit
    greyscale (scanners, TIFFs, PNGs) scaled by their bit depth rather than clipped to white; transparency
    (cut-outs) composited on white; palette, CMYK, LAB and 1-bit through Pillow's conversions."""
    from PIL import Image

    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        import numpy as np

        a = np.asarray(img)
        if img.mode == "F" or a.dtype.kind == "f":
            lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
            a = (a - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(a)
        else:
            # 16-bit sources (mode I;16*, or I holding values up to 65535) scale by 257; wider ints by their range.
            top = 65535.0 if img.mode.startswith("I;16") or int(a.max(initial=0)) <= 65535 else float(a.max())
            a = a.astype("float64") * (255.0 / top)
        return Image.fromarray(np.clip(a + 0.5, 0, 255).astype("uint8"), "L").convert("RGB")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


@dataclass
class Verdict:
    """One file: usable (with its hash and shape), or excluded with the reason."""

    path: str
    bytes: int
    mtime_ns: int
    sha256: Optional[str] = None
    width: Optional[int] = None
    height: Optional[int] = None
    mode: Optional[str] = None
    reason: Optional[str] = None

    @property
    def ok(self) -> bool:
        return self.reason is None


def _judge(path: str, max_pixels: int) -> Verdict:
    """Reads, hashes and fully decodes one file (draft mode for large JPEGs: every block is still read)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    import stat

    st = os.stat(path)
    v = Verdict(path=path, bytes=st.st_size, mtime_ns=st.st_mtime_ns)
    if not stat.S_ISREG(st.st_mode):
        v.reason = "not a regular file (a pipe, device or socket named like an image)"
        return v
    if st.st_size == 0:
        v.reason = "empty file (0 bytes)"
        return v
    # Hashed by streaming (a multi-gigabyte TIFF is never held whole), then decoded from the file.
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        head = handle.read(64)
        digest.update(head)
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    v.sha256 = digest.hexdigest()

    try:
        with Image.open(path) as img:
            v.width, v.height, v.mode = img.width, img.height, img.mode
            if img.width * img.height > max_pixels:
                v.reason = (f"too large: {img.width}x{img.height} = {img.width * img.height / 1e6:.0f} megapixels, over "
                            f"--max-megapixels {max_pixels / 1e6:g} (tile or downscale it, or raise the limit)")
                return v
            if img.format == "JPEG":
                img.draft("RGB", (1024, 1024))
            img.load()
            rgb = to_rgb(ImageOps.exif_transpose(img))
            rgb.getpixel((0, 0))
    except UnidentifiedImageError:
        head = head.lstrip().lower()
        what = "a web page (HTML)" if head.startswith((b"<!doctype html", b"<html")) else "not an image Pillow recognises"
        v.reason = f"{what}, although named {os.path.splitext(path)[1] or 'without an extension'}"
    except Image.DecompressionBombError as exc:
        v.reason = f"too large for Pillow ({exc}); raise --max-megapixels"
    except (OSError, SyntaxError, ValueError) as exc:
        text = str(exc)
        # Pillow says "image file is truncated (N bytes not processed)" (ImageFile.load) or "Truncated File Read"
        # (a short read of a small file), "broken data stream" or "corrupt" for damaged ones.
        lowered = text.lower()
        v.reason = ("truncated or corrupt: " + text) if any(w in lowered for w in ("truncated", "broken", "corrupt")) \
            else f"cannot be decoded: {type(exc).__name__}: {text}"
    except Exception as exc:  # noqa: BLE001 - a Pillow plugin's own error type: one file, never the run
        v.reason = f"cannot be decoded: {type(exc).__name__}: {exc}"
    return v


@dataclass
class VetResult:
    verdicts: List[Verdict]
    cache_hits: int
    cache_file: Optional[str]
    seconds: float = 0.0
    duplicates: List[List[str]] = field(default_factory=list)


def _cache_file(root: str, env=os.environ) -> str:
    base = env.get("ARCHAEO_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "archaeo")
    key = hashlib.sha256(os.path.abspath(root).encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return os.path.join(base, f"vet-{key}.json")


def _judge_version() -> str:
    """The sha256 of this file: verdicts cached by another version of the judging code are not reused."""
    with open(__file__, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()[:16]


def _load_cache(path: str, max_pixels: int) -> Dict[str, dict]:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return {}
    if data.get("format") != CACHE_FORMAT or data.get("max_pixels") != max_pixels or data.get("judge") != _judge_version():
        return {}
    return data.get("files", {})


def vet(root: str, rel_paths: Sequence[str], max_megapixels: float = DEFAULT_MAX_MEGAPIXELS, threads: int = 8,
        progress: Optional[Callable[[int, int], None]] = None, use_cache: bool = True) -> VetResult:
    """Judges every file once (cached by path, size and mtime); the order of `rel_paths` is kept."""
    import time

    t0 = time.perf_counter()
    max_pixels = int(max_megapixels * 1e6)
    # Pillow refuses images over twice MAX_IMAGE_PIXELS when it opens them (Image._decompression_bomb_check): the
    # limit follows --max-megapixels here and in the DataLoader workers forked after this (the header check above
    # excludes what is over it with the reason).
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = max(max_pixels, 1)
    cache_path = _cache_file(root) if use_cache else None
    cache = _load_cache(cache_path, max_pixels) if cache_path else {}
    hits = 0
    results: List[Optional[Verdict]] = [None] * len(rel_paths)
    todo: List[Tuple[int, str]] = []
    for i, rel in enumerate(rel_paths):
        path = os.path.join(root, rel)
        key = printable(rel)
        entry = cache.get(key)
        try:
            st = os.stat(path)
        except OSError as exc:
            results[i] = Verdict(path=path, bytes=0, mtime_ns=0, reason=f"cannot be read ({exc.strerror})")
            continue
        if entry and entry.get("bytes") == st.st_size and entry.get("mtime_ns") == st.st_mtime_ns:
            results[i] = Verdict(path=path, **{k: entry.get(k) for k in ("bytes", "mtime_ns", "sha256", "width", "height", "mode", "reason")})
            hits += 1
        else:
            todo.append((i, path))

    done = 0

    def work(item: Tuple[int, str]) -> Tuple[int, Verdict]:
        i, path = item
        try:
            return i, _judge(path, max_pixels)
        except OSError as exc:
            return i, Verdict(path=path, bytes=0, mtime_ns=0, reason=f"cannot be read ({exc.strerror or exc})")

    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        for i, verdict in pool.map(work, todo):
            results[i] = verdict
            done += 1
            if progress and (done % 500 == 0 or done == len(todo)):
                progress(done, len(todo))
    verdicts = [v for v in results if v is not None]
    if cache_path:
        files = {printable(rel): {"bytes": v.bytes, "mtime_ns": v.mtime_ns, "sha256": v.sha256, "width": v.width,
                                  "height": v.height, "mode": v.mode, "reason": v.reason}
                 for rel, v in zip(rel_paths, verdicts) if v.mtime_ns}
        try:
            from .provenance import write_json_atomic

            os.makedirs(os.path.dirname(cache_path), exist_ok=True)
            write_json_atomic(cache_path, {"format": CACHE_FORMAT, "judge": _judge_version(), "root": printable(os.path.abspath(root)),
                                           "max_pixels": max_pixels, "files": files})
        except OSError:
            cache_path = None  # a read-only home: no cache, nothing else changes
    by_hash: Dict[str, List[str]] = {}
    for rel, v in zip(rel_paths, verdicts):
        if v.ok and v.sha256:
            by_hash.setdefault(v.sha256, []).append(printable(rel))
    duplicates = [group for group in by_hash.values() if len(group) > 1]
    return VetResult(verdicts=verdicts, cache_hits=hits, cache_file=cache_path, seconds=time.perf_counter() - t0, duplicates=duplicates)
