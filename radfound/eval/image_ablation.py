"""How much the model reads the image: answer every question with a blank image, or with another image of
the same file, instead of its own (``radfound eval vqa --image blank|other``).

Why: a model can score well on VQA-RAD by recognising question wording it was trained on. Accuracy that
barely drops without the right image is learnt from the text, not the pixels (docs/evaluation.md). The
baselines are untouched: they never see images.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from radfound.study.model import Study

#: The ``--image`` choices: the question's own image, a blank one, or another image of the file.
IMAGE_CHOICES = ("own", "blank", "other")


def blanked(study: Study) -> Study:
    """The study with every pixel (and voxel) set to 0: same size, kind and metadata, nothing to see."""
    views = [dataclasses.replace(v, pixels=np.zeros_like(v.pixels)) for v in study.views]
    volume = study.volume and dataclasses.replace(study.volume, array=np.zeros_like(study.volume.array))
    return dataclasses.replace(study, views=views, volume=volume, warnings=list(study.warnings))


def other_images(images: Sequence[Path]) -> dict[Path, Path]:
    """Each image mapped to the one halfway round the sorted list of distinct images: never itself (given two
    or more), the same for every run, and each image used exactly once."""
    order = sorted(set(images))
    half = len(order) // 2
    return {image: order[(i + half) % len(order)] for i, image in enumerate(order)}


def image_loader(read_study: Callable[[Path], Study], choice: str, images: Sequence[Path]) -> Callable:
    """``read_study`` for ``--image own``; a loader giving the blank or the other image for the rest."""
    if choice == "own":
        return read_study
    if choice == "blank":
        return lambda image: blanked(read_study(image))
    if choice == "other":
        swap = other_images(images)
        return lambda image: read_study(swap[image])
    raise ValueError(f"--image must be one of {', '.join(IMAGE_CHOICES)}, not {choice!r}")
