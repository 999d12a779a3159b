"""Flag a mammogram draft that describes a breast with no view behind it.

The model was trained on 4-view phantom sets only, so given the left views alone it still writes a
"Right breast: ..." sentence, copying the left breast's findings onto it (0.4.0: every draft of 100
left-only phantom sets; ``radfound eval report --set mammo --views left``). The text is
not changed: the radiologist sees a warning naming the side, on every surface a study warning reaches
(CLI, text footer, JSON, Slicer panel, DICOM SR).
"""

from __future__ import annotations

import re

from radfound.study.model import MAMMO_VIEWS, Study

_SIDES = (("R", "right"), ("L", "left"))


def imaged_breasts(study: Study) -> tuple[str, ...]:
    """The breasts ("right", "left", in that order) with at least one standard mammogram view in ``study``."""
    letters = {v.view[0] for v in study.views if v.view in MAMMO_VIEWS}
    return tuple(side for letter, side in _SIDES if letter in letters)


def unimaged_sides(study: Study | None, text: str) -> list[str]:
    """The breasts ("right", "left") that ``text`` names although no view of that side is in ``study``."""
    if study is None or study.kind != "mammo":
        return []
    imaged = imaged_breasts(study)
    return [side for _, side in _SIDES
            if side not in imaged and re.search(rf"\b{side}\s+breast", text, re.IGNORECASE)]


def unimaged_side_warning(study: Study | None, text: str) -> str | None:
    """One warning line for :func:`unimaged_sides`, or None when the draft stays on the imaged sides."""
    sides = unimaged_sides(study, text)
    if not sides:
        return None
    named = " and ".join(sides)
    return (f"the draft describes the {named} breast, but no {named} view was given: that text has no "
            f"image behind it (the model was trained on 4-view sets); delete it or load the {named} views")
