"""The VQA training and tuning sets, from ``radfound.config.data_dir()``.

- VQA-RAD ``train.json`` split by image into ``train`` (85%) and ``heldout`` (15%),
  see :mod:`radfound.eval.splits`.
- SLAKE ``train.json`` and ``validate.json`` (English and Chinese).
"""

from __future__ import annotations

from pathlib import Path

from radfound.config import data_dir
from radfound.eval.splits import split_items
from radfound.eval.vqa_file import VQAItem, read_vqa_file


def vqarad(part: str = "train", root: Path | None = None) -> list[VQAItem]:
    """VQA-RAD train questions: ``train`` (minus held-out images), ``heldout`` or ``all``."""
    base = (root or data_dir()) / "vqa-rad"
    return split_items(read_vqa_file(base / "train.json", base / "images"), part)


def slake(split: str = "train", root: Path | None = None, lang: str | None = None) -> list[VQAItem]:
    """SLAKE ``train`` or ``validate`` questions (both languages unless ``lang`` is given)."""
    if split not in ("train", "validate"):
        raise ValueError("SLAKE questions exist here for train and validate only")
    base = (root or data_dir()) / "slake"
    return read_vqa_file(base / f"{split}.json", base / "imgs", lang=lang)


def all_images(root: Path | None = None) -> list[Path]:
    """Every image used for vision pretraining: all VQA-RAD images and the SLAKE train and validation
    images. SLAKE test images are left out on purpose so that no test pixel is seen in training."""
    base = root or data_dir()
    slake_imgs = {it.image for split in ("train", "validate") for it in slake(split, base)}
    return sorted((base / "vqa-rad" / "images").glob("*.jpg")) + sorted(slake_imgs)
