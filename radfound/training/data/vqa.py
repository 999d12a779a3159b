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


def training_questions(vqarad_part: str = "train", slake_splits=("train",),
                       root: Path | None = None) -> tuple[list[VQAItem], list[VQAItem]]:
    """(VQA-RAD, SLAKE) training questions: ``vqarad_part`` of VQA-RAD's train file and the given SLAKE splits."""
    base = root or data_dir()
    return vqarad(vqarad_part, base), [it for split in slake_splits for it in slake(split, base)]


def images_of(items: list[VQAItem]) -> list[Path]:
    """The distinct images of ``items``, sorted: every image training sees (``training_images``)."""
    return sorted({it.image for it in items})


def training_images(vqarad_part: str = "train", slake_splits=("train",), root: Path | None = None) -> list[Path]:
    """Every image vision pretraining sees: the images of the training questions (``vqarad_part`` of VQA-RAD's
    train file, the given SLAKE splits) and no other. Held-out VQA-RAD images, SLAKE validation images (unless
    trained on) and images in no question file (which may belong to a test split) are never seen, not even their
    pixels, so the numbers measured on them are on images the model has not seen."""
    vqa, slake_items = training_questions(vqarad_part, slake_splits, root)
    return images_of(vqa + slake_items)
