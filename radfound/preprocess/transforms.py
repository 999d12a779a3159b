"""Coordinate mapping between original view pixels and model-input pixels.

Coordinates are continuous pixel coordinates: (0, 0) is the top-left corner of the
top-left pixel and (cols, rows) the bottom-right corner of the image, x to the right,
y down. A box drawn by the model on the S x S input maps back exactly through the
same resize, padding and flip that produced the input.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ImageTransform:
    """original (x, y) -> input (x, y): optional horizontal flip, then scale, then offset (padding)."""

    original_size: tuple[int, int]  # (rows, cols) of the original image (for CT: the reoriented axial slice)
    scale: tuple[float, float]  # (sx, sy) input pixels per original pixel
    offset: tuple[float, float]  # (ox, oy) padding before the image, in input pixels
    flipped: bool = False  # flipped left-right before scaling (mammogram chest wall side)
    slices: tuple[int, int] | None = None  # CT: [first, last) slice indices (reoriented volume) of this slab

    def to_input(self, x: float, y: float) -> tuple[float, float]:
        if self.flipped:
            x = self.original_size[1] - x
        return x * self.scale[0] + self.offset[0], y * self.scale[1] + self.offset[1]

    def to_original(self, x: float, y: float) -> tuple[float, float]:
        ox = (x - self.offset[0]) / self.scale[0]
        oy = (y - self.offset[1]) / self.scale[1]
        if self.flipped:
            ox = self.original_size[1] - ox
        return ox, oy


class Transforms(list):
    """One ImageTransform per model-input image; also maps by index: ``to_original(x, y, index)``."""

    def to_original(self, x: float, y: float, index: int = 0) -> tuple[float, float]:
        return self[index].to_original(x, y)

    def to_input(self, x: float, y: float, index: int = 0) -> tuple[float, float]:
        return self[index].to_input(x, y)
