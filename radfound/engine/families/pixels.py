"""Image operations shared by the family adapters, done the way transformers' PIL image processors do them.

Resizing happens on 8-bit images with Pillow (as the processors' PIL backend does), then
rescale and normalise in float32, channels first.
"""

from __future__ import annotations

import numpy as np
from PIL import Image


def resize(image: np.ndarray, height: int, width: int, resample: int) -> np.ndarray:
    """(H, W, 3) uint8 -> (height, width, 3) uint8 with a Pillow filter code (2 bilinear, 1 Lanczos...)."""
    if image.shape[:2] == (height, width):
        return image
    return np.asarray(Image.fromarray(image).resize((width, height), resample=Image.Resampling(resample)))


def normalise(image: np.ndarray, pre: dict) -> np.ndarray:
    """(H, W, 3) uint8 -> (3, H, W) float32 with the processor's rescale factor, mean and std."""
    arr = image.astype(np.float32)
    if pre.get("do_rescale", True):
        arr = arr * np.float32(pre.get("rescale_factor", 1 / 255))
    if pre.get("do_normalize", True):
        mean = np.asarray(pre.get("image_mean", [0.5, 0.5, 0.5]), dtype=np.float32)
        std = np.asarray(pre.get("image_std", [0.5, 0.5, 0.5]), dtype=np.float32)
        arr = (arr - mean) / std
    return np.ascontiguousarray(arr.transpose(2, 0, 1), dtype=np.float32)
