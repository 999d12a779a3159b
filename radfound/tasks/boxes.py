"""Boxes in generated text -> :class:`Box` in the pixels of the original views.

The model writes corners in 0..1000 of the model-input image (see
``radfound.tasks.prompts``); the preprocessor's per-image transforms map model-input
pixels back to the original view's pixels.
"""

from __future__ import annotations

from radfound.tasks.prompts import BOX_SCALE, parse_boxes
from radfound.tasks.results import Box


def _to_original(transforms, x: float, y: float, index: int) -> tuple[float, float]:
    if transforms is None:
        return x, y
    if hasattr(transforms, "to_original"):  # one object mapping every image: to_original(x, y, index)
        return transforms.to_original(x, y, index)
    return transforms[index].to_original(x, y)  # a list with one transform per image


def boxes_from_text(text: str, inputs=None, image_size: int | None = None) -> list[Box]:
    """Every ``<box>`` in ``text`` as a Box in original view pixels (model-input pixels without ``inputs``)."""
    size = float(image_size or (inputs.pixel_values.shape[-1] if inputs is not None else BOX_SCALE))
    transforms = getattr(inputs, "transforms", None)
    n_views = inputs.pixel_values.shape[0] if inputs is not None else 1
    boxes = []
    for label, view, x0, y0, x1, y1 in parse_boxes(text):
        if view >= n_views:
            continue  # the model named a view the study does not have
        s = size / BOX_SCALE
        ax, ay = _to_original(transforms, x0 * s, y0 * s, view)
        bx, by = _to_original(transforms, x1 * s, y1 * s, view)
        boxes.append(Box(label, min(ax, bx), min(ay, by), max(ax, bx), max(ay, by), view_index=view))
    return boxes
