"""archaeo-example-data: a small, learnable, artefact-like image set generated locally (no download).

Each class has its own shape, surface pattern and palette, drawn with random size, position,
rotation, lighting and sensor noise, so a classifier has something real to learn and the explore
notebook has varied sizes and formats to show:
  pottery    terracotta sherds (irregular polygons) with incised bands, on a light table
  roof_tile  ridged/scalloped tile surfaces in fired-clay or slate colours
  mural      painted plaster: coloured pigment patches and brush strokes on off-white
  coin       round metal discs with a rim and relief dots, on dark cloth
"""

import argparse
import math
import os
from typing import Callable, Dict, List, Optional

from .errors import ArchaeoError, run_cli

CLASSES = ("pottery", "roof_tile", "mural", "coin")
DEFAULT_CLASSES = ("pottery", "roof_tile", "mural")


def _jitter(rng, rgb, amount=18):
    return tuple(int(max(0, min(255, c + rng.integers(-amount, amount + 1)))) for c in rgb)


def _polygon(rng, cx, cy, radius, vertices):
    start = rng.uniform(0, 2 * math.pi)
    points = []
    for k in range(vertices):
        angle = start + 2 * math.pi * k / vertices + rng.uniform(-0.25, 0.25)
        r = radius * rng.uniform(0.7, 1.0)
        points.append((cx + r * math.cos(angle), cy + r * math.sin(angle)))
    return points


def _pottery(rng, w, h, Image, ImageDraw):
    img = Image.new("RGB", (w, h), _jitter(rng, (205, 198, 185)))
    body = _jitter(rng, (176, 92, 55), 22)
    mask = Image.new("L", (w, h), 0)
    ImageDraw.Draw(mask).polygon(_polygon(rng, w / 2, h / 2, 0.42 * min(w, h), int(rng.integers(5, 9))), fill=255)
    sherd = Image.new("RGB", (w, h), body)
    draw = ImageDraw.Draw(sherd)
    bands = int(rng.integers(2, 5))
    for k in range(bands):
        y = h * (0.25 + 0.5 * k / max(1, bands - 1)) + rng.uniform(-2, 2)
        draw.line([(0, y), (w, y + rng.uniform(-3, 3))], fill=_jitter(rng, (95, 45, 25)), width=max(1, min(w, h) // 24))
    img.paste(sherd, (0, 0), mask)
    return img.rotate(float(rng.uniform(0, 360)), fillcolor=img.getpixel((0, 0)))


def _roof_tile(rng, w, h, Image, ImageDraw):
    base = _jitter(rng, (150, 78, 60) if rng.random() < 0.5 else (92, 96, 104), 15)
    dark = tuple(max(0, c - 55) for c in base)
    big = Image.new("RGB", (2 * w, 2 * h), base)
    draw = ImageDraw.Draw(big)
    period = max(4, int(min(w, h) / rng.uniform(5, 8)))
    if rng.random() < 0.5:  # parallel ridges
        for x in range(0, 2 * w, period):
            draw.rectangle([x, 0, x + period // 3, 2 * h], fill=dark)
    else:  # fish-scale rows
        for row, y in enumerate(range(0, 2 * h, period)):
            offset = (period // 2) * (row % 2)
            for x in range(-period, 2 * w, period):
                draw.arc([x + offset, y, x + offset + period, y + period], 0, 180, fill=dark, width=max(1, period // 4))
    big = big.rotate(float(rng.uniform(-20, 20)))
    return big.crop((w // 2, h // 2, w // 2 + w, h // 2 + h))


def _mural(rng, w, h, Image, ImageDraw):
    img = Image.new("RGB", (w, h), _jitter(rng, (236, 229, 212), 10))
    draw = ImageDraw.Draw(img)
    pigments = [(38, 76, 150), (52, 122, 74), (190, 140, 40), (165, 42, 38), (20, 20, 24)]
    for _ in range(int(rng.integers(4, 9))):
        colour = _jitter(rng, pigments[int(rng.integers(0, len(pigments)))], 20)
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        rx, ry = rng.uniform(0.08, 0.25) * w, rng.uniform(0.08, 0.25) * h
        draw.ellipse([x - rx, y - ry, x + rx, y + ry], fill=colour)
    for _ in range(int(rng.integers(1, 4))):
        colour = _jitter(rng, pigments[int(rng.integers(0, len(pigments)))], 20)
        draw.line([(rng.uniform(0, w), rng.uniform(0, h)) for _ in range(3)], fill=colour, width=max(2, min(w, h) // 14))
    return img


def _coin(rng, w, h, Image, ImageDraw):
    img = Image.new("RGB", (w, h), _jitter(rng, (42, 40, 48), 12))
    draw = ImageDraw.Draw(img)
    metal = _jitter(rng, (176, 141, 70) if rng.random() < 0.6 else (96, 140, 112), 18)
    r = 0.38 * min(w, h) * rng.uniform(0.85, 1.05)
    cx, cy = w / 2 + rng.uniform(-0.08, 0.08) * w, h / 2 + rng.uniform(-0.08, 0.08) * h
    draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=metal, outline=tuple(c // 2 for c in metal), width=max(1, int(r / 7)))
    for _ in range(int(rng.integers(3, 7))):
        a, d = rng.uniform(0, 2 * math.pi), rng.uniform(0, 0.55) * r
        dot = max(1.0, r / 9)
        px, py = cx + d * math.cos(a), cy + d * math.sin(a)
        draw.ellipse([px - dot, py - dot, px + dot, py + dot], fill=tuple(min(255, c + 45) for c in metal))
    return img


_DRAWERS: Dict[str, Callable] = {"pottery": _pottery, "roof_tile": _roof_tile, "mural": _mural, "coin": _coin}


def _finish(rng, img, np, Image):
    """Photographic variation: exposure and sensor noise."""
    pixels = np.asarray(img, dtype=np.float32) * rng.uniform(0.85, 1.15)
    pixels += rng.normal(0.0, 7.0, pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def generate(output: str, per_class: int = 20, seed: int = 0, size: int = 64,
             classes: Optional[List[str]] = None) -> dict:
    """Writes OUTPUT/<class>/<class>-NNN.{jpg,png} (every third image a PNG), image sides between
    0.75x and 1.5x `size`. Returns {"root", "classes", "counts"}. Deterministic for the same seed."""
    import numpy as np
    from PIL import Image, ImageDraw

    chosen = list(classes or DEFAULT_CLASSES)
    unknown = [c for c in chosen if c not in _DRAWERS]
    if unknown or len(chosen) < 2:
        raise ArchaeoError(f"--classes {','.join(chosen)}: pick two or more of {', '.join(CLASSES)}")
    if per_class < 1:
        raise ArchaeoError(f"--per-class {per_class}: must be at least 1")
    if size < 16:
        raise ArchaeoError(f"--size {size}: must be at least 16 pixels")
    rng = np.random.default_rng(seed)
    counts = {}
    for name in chosen:
        folder = os.path.join(output, name)
        os.makedirs(folder, exist_ok=True)
        for i in range(per_class):
            w = int(size * rng.uniform(0.75, 1.5))
            h = int(size * rng.uniform(0.75, 1.5))
            img = _finish(rng, _DRAWERS[name](rng, w, h, Image, ImageDraw), np, Image)
            if i % 3 == 0:
                img.save(os.path.join(folder, f"{name}-{i:03d}.png"))
            else:
                img.save(os.path.join(folder, f"{name}-{i:03d}.jpg"), quality=90)
        counts[name] = per_class
    return {"root": os.path.abspath(output), "classes": chosen, "counts": counts}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="archaeo-example-data",
        description="Generate a small artefact-like image set (one folder per class) without downloading anything.",
    )
    parser.add_argument("--output", required=True, help="folder to create (DIR/<class>/<images>)")
    parser.add_argument("--per-class", type=int, default=20, help="images per class (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same images")
    parser.add_argument("--size", type=int, default=64, help="typical image side in pixels (default 64)")
    parser.add_argument("--classes", default=",".join(DEFAULT_CLASSES),
                        help=f"comma-separated subset of {','.join(CLASSES)} (default {','.join(DEFAULT_CLASSES)})")
    return parser


def _main(argv: Optional[List[str]]) -> int:
    args = build_parser().parse_args(argv)
    result = generate(args.output, args.per_class, args.seed, args.size,
                      [c.strip() for c in args.classes.split(",") if c.strip()])
    counts = ", ".join(f"{k} {v}" for k, v in result["counts"].items())
    print(f"wrote {sum(result['counts'].values())} images to {result['root']} ({counts})", flush=True)
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    return run_cli("archaeo-example-data", _main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
