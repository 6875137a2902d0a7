"""Dominant colours of a garment picture and how well two colours go together."""

import logging
from typing import List, Tuple

import numpy as np
from PIL import Image

logger = logging.getLogger(__name__)

PALETTE = {
    "black": (20, 20, 20), "white": (240, 240, 240), "grey": (128, 128, 128), "red": (200, 30, 40),
    "blue": (40, 70, 190), "navy": (20, 30, 90), "green": (40, 150, 60), "yellow": (230, 210, 40),
    "beige": (220, 200, 160), "brown": (120, 80, 40), "pink": (240, 150, 180),
}
NEUTRALS = {"black", "white", "grey", "beige", "navy"}
PAIRS = {frozenset(p) for p in (("blue", "beige"), ("red", "navy"), ("green", "brown"), ("pink", "grey"))}


class ColorProcessor:
    """Names the dominant colours of an image by nearest palette entry over a coarse colour histogram."""

    def __init__(self, n_clusters=3):
        self.n_clusters = n_clusters
        self.names = list(PALETTE)
        self.rgb = np.array([PALETTE[n] for n in self.names], dtype=np.float32)

    def extract_dominant_colors(self, image_path: str) -> List[Tuple[str, float]]:
        img = Image.open(image_path).convert("RGB").resize((32, 32))
        pixels = np.asarray(img, dtype=np.float32).reshape(-1, 3)
        nearest = np.argmin(((pixels[:, None, :] - self.rgb[None, :, :]) ** 2).sum(-1), axis=1)
        counts = np.bincount(nearest, minlength=len(self.names)) / len(nearest)
        order = np.argsort(-counts)[: self.n_clusters]
        return [(self.names[i], float(counts[i])) for i in order if counts[i] > 0]

    def calculate_color_harmony(self, color1: str, color2: str) -> float:
        if color1 == color2:
            return 0.9
        if color1 in NEUTRALS or color2 in NEUTRALS:
            return 0.8
        if frozenset((color1, color2)) in PAIRS:
            return 0.85
        return 0.4
