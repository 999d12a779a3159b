"""VQA-RAD rows shaped so that the image matters: repeats dropped, region questions added (real train part)."""

from __future__ import annotations

from collections import Counter

import pytest

from radfound.errors import ConfigError
from radfound.eval.normalize import normalize_answer
from radfound.training.data.vqa import vqarad
from radfound.training.data.vqarad_rows import vqarad_rows


def test_default_rows_are_the_file_as_it_is(shared_data):
    items = vqarad("train", shared_data)
    assert [(q, a) for _, q, a in vqarad_rows(items)] == [(it.question, it.answer) for it in items]


def test_unique_drops_the_403_repeated_rows(shared_data):
    items = vqarad("train", shared_data)
    rows = vqarad_rows(items, {"unique": True})
    assert len(items) - len(rows) == 403  # same image, question and answer after normalisation
    keys = Counter((it.image, normalize_answer(q), normalize_answer(a)) for it, q, a in rows)
    assert max(keys.values()) == 1


def test_region_questions_need_the_image(shared_data):
    items = vqarad("train", shared_data)
    added = vqarad_rows(items, {"organ_questions": True})[len(items):]
    assert len(added) == 3 * 267  # three regions for each training image
    by_image = {}
    for it, question, answer in added:
        by_image.setdefault(it.image, {})[question] = answer
    assert all(sorted(a.values()) == ["No", "No", "Yes"] for a in by_image.values())
    label = {it.image: it.meta["image_organ"] for it in items}
    chest = {image for image, organ in label.items() if organ == "CHEST"}
    assert {image for image, a in by_image.items() if a["Is this an image of the chest?"] == "Yes"} == chest
    assert Counter(a["Is this an image of the head?"] for a in by_image.values())["Yes"] == 89


def test_an_unknown_option_is_named():
    with pytest.raises(ConfigError, match="unknown option"):
        vqarad_rows([], {"dedupe": True})
