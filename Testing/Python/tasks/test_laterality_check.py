"""A mammogram draft naming a breast with no view behind it is flagged, on text and on the shipped model."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from radfound.study.model import Study, View
from radfound.tasks.laterality_check import unimaged_side_warning, unimaged_sides


def _mammo(*codes: str) -> Study:
    return Study(kind="mammo", views=[View(pixels=np.zeros((8, 8), np.float32), view=c, laterality=c[0])
                                      for c in codes])


DRAFT = "Scattered fibroglandular tissue. Right breast: a 14 mm mass. Left breast: no mass."


def test_a_side_without_views_is_named():
    assert unimaged_sides(_mammo("L-CC", "L-MLO"), DRAFT) == ["right"]
    assert unimaged_sides(_mammo("R-MLO"), DRAFT) == ["left"]
    assert unimaged_sides(_mammo("R-MLO"), "RIGHT  BREAST mass. left breast normal.") == ["left"]
    warning = unimaged_side_warning(_mammo("L-MLO"), DRAFT)
    assert warning is not None and "right breast" in warning and "no right view" in warning


def test_no_warning_when_the_draft_stays_on_imaged_sides():
    assert unimaged_side_warning(_mammo("L-CC", "L-MLO", "R-CC", "R-MLO"), DRAFT) is None
    assert unimaged_side_warning(_mammo("L-CC", "L-MLO"), "Left breast: grouped calcifications.") is None
    assert unimaged_side_warning(_mammo("R-CC"), "Upright positioning.") is None  # a word, not a side
    chest = Study(kind="cxr", views=[View(pixels=np.zeros((8, 8), np.float32), view="PA")])
    assert unimaged_side_warning(chest, "Right breast shadow.") is None
    assert unimaged_side_warning(None, DRAFT) is None


@pytest.fixture(scope="module")
def shipped():
    from radfound.engine import load_model

    return load_model(None, device="cpu")


def test_the_shipped_model_on_a_left_only_phantom_set_is_flagged(shipped):
    """The shipped model writes a "Right breast" sentence for left views alone; the study then carries
    the warning that every output shows. The full set of the same phantom carries none."""
    from radfound.tasks.report import draft_report
    from radfound.training.phantoms import make_phantoms

    phantom = make_phantoms("mammo", 1, 9001)[0]
    left = dataclasses.replace(phantom.study, views=[v for v in phantom.study.views if v.view.startswith("L")],
                               warnings=[])
    draft = draft_report(shipped, left)
    names_right = "right breast" in draft.text.lower()
    flagged = any("no right view was given" in w for w in left.warnings)
    assert names_right, draft.text  # 0.4.0 always writes both sides; a model that stops needs this test revisited
    assert flagged == names_right, (draft.text, left.warnings)
    draft_report(shipped, left)  # drafted again: the warning is listed once
    assert sum("no right view was given" in w for w in left.warnings) == 1, left.warnings
    full = dataclasses.replace(phantom.study, warnings=[])
    draft_report(shipped, full)
    assert not any("view was given" in w for w in full.warnings), full.warnings
