"""The instruction mixture: tasks kept apart, or pooled under one share with "a+b" (how 0.3.0 drew boxes)."""

from __future__ import annotations

import random
from collections import Counter

import pytest

pytest.importorskip("torch")

from radfound.errors import ConfigError  # noqa: E402
from radfound.training.config import CONFIG_DIR, load_train_config  # noqa: E402
from radfound.training.loop import has_boxes, rows_by_study, study_sampler  # noqa: E402
from radfound.training.samples import Pool  # noqa: E402


def _pool() -> Pool:
    pool = Pool()
    pool.add("grounding", "slake:1", "Where is the liver?", "Liver <box>1,2,3,4</box>")
    pool.add("grounding", "slake:2", "Where is the heart?", "Heart <box>5,6,7,8</box>")
    pool.add("phantom_grounding", "phantom:mammo:7", "Where is the mass?", "Mass <box>0:1,1,2,2</box>")
    pool.add("phantom_grounding", "phantom:mammo:7", "Where are the calcifications?", "Calcifications <box>1:3,3,4,4</box>")
    return pool


def test_separate_tasks_keep_their_own_studies():
    by = rows_by_study(_pool(), {"grounding": 0.1, "phantom_grounding": 0.03})
    assert list(by["grounding"]) == ["slake:1", "slake:2"]
    assert list(by["phantom_grounding"]) == ["phantom:mammo:7"] and len(by["phantom_grounding"]["phantom:mammo:7"]) == 2


def test_a_pooled_share_draws_from_both_tasks_in_order():
    by = rows_by_study(_pool(), {"grounding+phantom_grounding": 0.1, "vqa": 0.6})
    assert list(by) == ["grounding+phantom_grounding", "vqa"]
    assert list(by["grounding+phantom_grounding"]) == ["slake:1", "slake:2", "phantom:mammo:7"]
    assert by["grounding+phantom_grounding"]["phantom:mammo:7"][1][1] == "Where are the calcifications?"
    assert not by["vqa"]  # a task with no rows is empty, and train_language leaves it out


def test_an_unknown_task_name_is_a_config_error():
    with pytest.raises(ConfigError, match=r"unknown task\(s\) \['grounding_phantom'\]"):
        rows_by_study(_pool(), {"vqa": 0.6, "grounding+grounding_phantom": 0.1})


def test_every_shipped_config_names_known_tasks():
    for path in sorted(CONFIG_DIR.glob("*.json")):
        cfg = load_train_config(str(path))
        rows_by_study(Pool(), cfg["stages"]["instruct"]["mixture"])  # raises on a typo


@pytest.mark.parametrize("task, boxes", [("grounding", True), ("phantom_grounding", True),
                                         ("grounding+phantom_grounding", True), ("vqa+grounding", True),
                                         ("vqa", False), ("caption+phantom", False)])
def test_any_box_task_in_a_key_keeps_images_unmoved(task, boxes):
    assert has_boxes(task) is boxes


def test_studies_are_drawn_per_study_or_per_row():
    """A study with 4 rows beside one with 20: drawn equally often by default, 1:5 by rows (so each row is
    drawn about equally often, as docs/training.md says of VQA-RAD and SLAKE)."""
    studies = {"vqa-rad image": [("q", "a")] * 4, "slake image": [("q", "a")] * 20}
    for by, share in ((None, 0.5), ("study", 0.5), ("rows", 4 / 24)):
        pick, rng = study_sampler(studies, by), random.Random(0)
        drawn = Counter(pick(rng) for _ in range(6000))
        assert abs(drawn["vqa-rad image"] / 6000 - share) < 0.02, (by, drawn)
    with pytest.raises(ConfigError, match="sample_studies_by"):
        study_sampler(studies, "row")
