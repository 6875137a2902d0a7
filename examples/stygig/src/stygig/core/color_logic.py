"""Dominant colours of a product image, their names, and how well two colours go together."""

from __future__ import annotations

import colorsys

import numpy as np
from PIL import Image

__all__ = ["NEUTRALS", "PALETTE", "ColorProcessor"]

# Named colours the recommender speaks about (RGB). Catalog images are drawn from the same palette.
PALETTE: dict[str, tuple[int, int, int]] = {
    "black": (25, 25, 25),
    "white": (250, 250, 250),
    "grey": (128, 128, 128),
    "red": (200, 30, 35),
    "orange": (240, 130, 30),
    "yellow": (235, 205, 45),
    "green": (40, 140, 65),
    "blue": (45, 100, 210),
    "navy": (25, 35, 85),
    "purple": (120, 55, 150),
    "pink": (240, 150, 185),
    "beige": (215, 195, 150),
    "brown": (115, 70, 40),
}

# Colours that go with everything.
NEUTRALS = frozenset({"black", "white", "grey", "navy", "beige", "brown"})


def _hue_degrees(rgb: tuple[int, int, int]) -> float:
    r, g, b = (c / 255 for c in rgb)
    return colorsys.rgb_to_hsv(r, g, b)[0] * 360


class ColorProcessor:
    """Finds dominant colours with a small k-means on a downsampled RGB array (numpy only)."""

    def __init__(self, n_colors: int = 3, sample_size: int = 32, background_distance: float = 18.0):
        self.n_colors = n_colors
        self.sample_size = sample_size
        self.background_distance = background_distance
        self._names = list(PALETTE)
        self._palette = np.array([PALETTE[n] for n in self._names], dtype=np.float32)

    def _foreground_pixels(self, image: Image.Image) -> np.ndarray:
        """Pixels as an (n, 3) float array, without those close to the border (background) colour."""
        small = image.convert("RGB").resize((self.sample_size, self.sample_size), Image.BILINEAR)
        grid = np.asarray(small, dtype=np.float32)
        border = np.concatenate([grid[0], grid[-1], grid[:, 0], grid[:, -1]])
        background = np.median(border, axis=0)
        pixels = grid.reshape(-1, 3)
        keep = np.linalg.norm(pixels - background, axis=1) > self.background_distance
        # A plain image (or a close-up) is all "background": then every pixel counts.
        return pixels[keep] if keep.mean() > 0.05 else pixels

    def dominant_colors(self, image: Image.Image) -> list[tuple[tuple[int, int, int], float]]:
        """Up to ``n_colors`` (rgb, share) pairs, largest share first."""
        pixels = self._foreground_pixels(image)
        k = min(self.n_colors, len(np.unique(pixels, axis=0)))
        # Deterministic start: pixels at evenly spaced brightness quantiles.
        order = np.argsort(pixels.sum(axis=1), kind="stable")
        centers = pixels[order[((np.arange(k) + 0.5) * len(pixels) / k).astype(int)]]
        for _ in range(10):
            labels = np.argmin(((pixels[:, None, :] - centers[None]) ** 2).sum(axis=2), axis=1)
            centers = np.array(
                [pixels[labels == i].mean(axis=0) if np.any(labels == i) else centers[i] for i in range(k)]
            )
        shares = np.bincount(labels, minlength=k) / len(pixels)
        ranked = sorted(range(k), key=lambda i: -shares[i])
        return [
            (tuple(round(float(c)) for c in centers[i]), float(shares[i])) for i in ranked if shares[i] > 0
        ]

    def color_name(self, rgb: tuple[int, int, int]) -> str:
        """Nearest palette name."""
        distances = np.linalg.norm(self._palette - np.asarray(rgb, dtype=np.float32), axis=1)
        return self._names[int(np.argmin(distances))]

    def dominant_color(self, image: Image.Image) -> tuple[str, tuple[int, int, int]]:
        """(name, rgb) of the largest colour cluster."""
        rgb = self.dominant_colors(image)[0][0]
        return self.color_name(rgb), rgb

    @staticmethod
    def harmony(a: str, b: str) -> float:
        """How well two named colours go together, in [0, 1]; symmetric.

        Neutrals go with everything; otherwise analogous hues (within 30 degrees) work, complementary
        hues (150 degrees or more apart) are bold but fine, and the rest clash.
        """
        if a in NEUTRALS and b in NEUTRALS:
            return 1.0
        if a in NEUTRALS or b in NEUTRALS:
            return 0.9
        distance = abs(_hue_degrees(PALETTE[a]) - _hue_degrees(PALETTE[b]))
        distance = min(distance, 360 - distance)
        if distance <= 30:
            return 0.8
        if distance >= 150:
            return 0.6
        return 0.3
