"""The documented VQA-RAD held-out split: by image, deterministic, no image in both parts.

VQA-RAD ships only train (and an official test split that is measured independently),
so tuning and closed-question evaluation use a held-out part of train. An image is
held out when the first 8 hex digits of sha256(image_name) read as an integer fall
below ``HELDOUT_FRACTION`` of 2**32: stable across machines, Python versions and file
orders, and every question of one image lands on the same side.
"""

from __future__ import annotations

import hashlib
from typing import Iterable, TypeVar

HELDOUT_FRACTION = 0.15
T = TypeVar("T")


def is_heldout(image_name: str, fraction: float = HELDOUT_FRACTION) -> bool:
    """True when this image (by file name, e.g. ``synpic54610.jpg``) belongs to the held-out part."""
    digest = hashlib.sha256(image_name.encode("utf-8")).hexdigest()
    return int(digest[:8], 16) < fraction * 2**32


def split_items(items: Iterable[T], part: str, key=lambda it: it.image.name) -> list[T]:
    """Keep the ``heldout`` or ``train`` part of items (``all`` keeps everything)."""
    if part == "all":
        return list(items)
    if part not in ("heldout", "train"):
        raise ValueError(f"unknown split part {part!r}; use all, train or heldout")
    want = part == "heldout"
    return [it for it in items if is_heldout(key(it)) == want]
