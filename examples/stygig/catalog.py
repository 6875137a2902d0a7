"""Deterministic product-image catalog for the StyGig sample (no network, no photos).

Draws simple garment silhouettes in palette colours with texture and noise, laid out like the
user's bucket: ``train/<category>/<type>/<category>_<type><number>.png``, numbers from 100.

    python catalog.py OUT_DIR [--per-type N] [--seed S]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))
from stygig.core.color_logic import PALETTE

IMAGE_SIZE = 64
BACKGROUND = (228, 228, 228)
FIRST_NUMBER = 100

# Silhouettes as polygons in unit coordinates, per (category, type).
# fmt: off
SHAPES: dict[tuple[str, str], list[tuple[float, float]]] = {
    ("upperwear", "tshirt"): [
        (0.30, 0.15), (0.42, 0.12), (0.50, 0.18), (0.58, 0.12), (0.70, 0.15), (0.88, 0.32), (0.78, 0.40),
        (0.70, 0.34), (0.70, 0.88), (0.30, 0.88), (0.30, 0.34), (0.22, 0.40), (0.12, 0.32),
    ],
    ("upperwear", "shirt"): [
        (0.32, 0.12), (0.44, 0.10), (0.50, 0.20), (0.56, 0.10), (0.68, 0.12), (0.80, 0.25), (0.90, 0.80),
        (0.80, 0.82), (0.70, 0.40), (0.70, 0.90), (0.30, 0.90), (0.30, 0.40), (0.20, 0.82), (0.10, 0.80),
        (0.20, 0.25),
    ],
    ("outerwear", "jacket"): [
        (0.28, 0.10), (0.42, 0.08), (0.50, 0.30), (0.58, 0.08), (0.72, 0.10), (0.86, 0.24), (0.94, 0.86),
        (0.80, 0.88), (0.74, 0.42), (0.74, 0.92), (0.26, 0.92), (0.26, 0.42), (0.20, 0.88), (0.06, 0.86),
        (0.14, 0.24),
    ],
    ("bottomwear", "jeans"): [
        (0.28, 0.08), (0.72, 0.08), (0.76, 0.92), (0.56, 0.92), (0.50, 0.35), (0.44, 0.92), (0.24, 0.92),
    ],
    ("bottomwear", "shorts"): [
        (0.24, 0.20), (0.76, 0.20), (0.82, 0.66), (0.55, 0.68), (0.50, 0.46), (0.45, 0.68), (0.18, 0.66),
    ],
    ("bottomwear", "skirt"): [(0.36, 0.16), (0.64, 0.16), (0.84, 0.82), (0.16, 0.82)],
    ("footwear", "sneakers"): [
        (0.10, 0.48), (0.38, 0.44), (0.52, 0.30), (0.70, 0.32), (0.90, 0.58), (0.92, 0.76), (0.10, 0.76),
    ],
    ("footwear", "boots"): [
        (0.30, 0.08), (0.58, 0.08), (0.60, 0.56), (0.86, 0.66), (0.88, 0.88), (0.28, 0.88),
    ],
    ("footwear", "heels"): [
        (0.10, 0.36), (0.28, 0.32), (0.56, 0.58), (0.86, 0.58), (0.90, 0.70), (0.56, 0.72), (0.28, 0.54),
        (0.26, 0.86), (0.20, 0.86), (0.16, 0.52),
    ],
    ("dress", "dress"): [
        (0.40, 0.06), (0.60, 0.06), (0.62, 0.34), (0.86, 0.92), (0.14, 0.92), (0.38, 0.34),
    ],
}
# fmt: on
PATTERNS = ("plain", "stripes", "plain", "dots")


def draw_item(
    shape: list[tuple[float, float]], rgb: tuple[int, int, int], pattern: str, rng: np.random.Generator
) -> Image.Image:
    """One product image: the silhouette, jittered in place and size, textured, on a light background."""
    scale = rng.uniform(0.85, 1.0)
    dx, dy = rng.uniform(-0.05, 0.05, size=2)
    points = [
        ((0.5 + (x - 0.5) * scale + dx) * IMAGE_SIZE, (0.5 + (y - 0.5) * scale + dy) * IMAGE_SIZE)
        for x, y in shape
    ]
    mask = Image.new("L", (IMAGE_SIZE, IMAGE_SIZE), 0)
    ImageDraw.Draw(mask).polygon(points, fill=255)

    base = np.clip(np.array(rgb, dtype=np.float32) + rng.normal(0, 6, size=3), 0, 255)
    cloth = np.broadcast_to(base, (IMAGE_SIZE, IMAGE_SIZE, 3)).copy()
    rows, cols = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE]
    if pattern == "stripes":
        cloth[(rows // 3) % 3 == 0] *= 0.75
    elif pattern == "dots":
        cloth[(rows % 8 < 2) & (cols % 8 < 2)] *= 0.6
    cloth += rng.normal(0, 4, size=cloth.shape)

    background = np.array(BACKGROUND, dtype=np.float32) + rng.normal(0, 2, size=(IMAGE_SIZE, IMAGE_SIZE, 3))
    alpha = np.asarray(mask, dtype=np.float32)[..., None] / 255
    pixels = np.clip(alpha * cloth + (1 - alpha) * background, 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels, "RGB")
    outline = tuple(int(c * 0.6) for c in base)
    ImageDraw.Draw(image).polygon(points, outline=outline)
    return image


def generate_catalog(out_dir: Path, per_type: int = 24, seed: int = 7) -> list[Path]:
    """Write ``per_type`` images for every type under ``out_dir/train``; returns their paths."""
    rng = np.random.default_rng(seed)
    colors = list(PALETTE)
    written = []
    for type_index, ((category, item_type), shape) in enumerate(SHAPES.items()):
        folder = out_dir / "train" / category / item_type
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_type):
            color = colors[(i + 3 * type_index) % len(colors)]
            pattern = PATTERNS[(i + type_index) % len(PATTERNS)]
            path = folder / f"{category}_{item_type}{FIRST_NUMBER + i}.png"
            draw_item(shape, PALETTE[color], pattern, rng).save(path, format="PNG")
            written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path, help="catalog root; images go under OUT_DIR/train/")
    parser.add_argument("--per-type", type=int, default=24, help="images per garment type (10 types)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (same seed, same bytes)")
    args = parser.parse_args(argv)
    paths = generate_catalog(args.out_dir, args.per_type, args.seed)
    print(f"wrote {len(paths)} images under {args.out_dir / 'train'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
