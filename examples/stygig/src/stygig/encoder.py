"""A small convolutional image encoder standing in for CLIP's image tower."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image
from torch import nn

__all__ = ["EMBEDDING_DIM", "IMAGE_SIZE", "ImageEncoder", "build_encoder"]

EMBEDDING_DIM = 128
IMAGE_SIZE = 64


class ImageEncoder(nn.Module):
    """Three conv blocks, grid pooling and a linear projection to an L2-normalised embedding."""

    def __init__(self, embedding_dim: int = EMBEDDING_DIM, image_size: int = IMAGE_SIZE):
        super().__init__()
        self.image_size = image_size
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, kernel_size=3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 64, kernel_size=3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(64, 128, kernel_size=3, stride=2, padding=1),
            nn.ReLU(),
            # A coarse 4x4 grid keeps the silhouette's layout, not just its colours.
            nn.AdaptiveAvgPool2d(4),
            nn.Flatten(),
        )
        self.project = nn.Linear(128 * 4 * 4, embedding_dim)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(self.project(self.features(pixels)), dim=1)

    def preprocess(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """RGB images to a (n, 3, size, size) tensor scaled to [-1, 1]."""
        size = (self.image_size, self.image_size)
        arrays = [np.asarray(im.convert("RGB").resize(size, Image.BILINEAR)) for im in images]
        batch = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float()
        return batch / 127.5 - 1.0

    @torch.inference_mode()
    def encode(self, images: Sequence[Image.Image], batch_size: int = 64) -> np.ndarray:
        """(n, embedding_dim) float32 embeddings, unit length."""
        self.eval()
        chunks = [
            self(self.preprocess(images[i : i + batch_size])).numpy()
            for i in range(0, len(images), batch_size)
        ]
        return np.concatenate(chunks).astype(np.float32)


def build_encoder(seed: int = 0) -> ImageEncoder:
    """A freshly initialised encoder; the same seed gives the same weights."""
    torch.manual_seed(seed)
    return ImageEncoder()
