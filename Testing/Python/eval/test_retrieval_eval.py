"""``radfound eval retrieval``: recall@k and its chance level, by hand on a toy case, then on SLAKE validation."""

from __future__ import annotations

import json
import subprocess
import sys
from math import comb

import numpy as np
import pytest

from radfound.eval.retrieval_eval import recall_at_k


def test_recall_and_chance_match_a_hand_count():
    # 4 images on a line: 0 and 1 close together (label a), 2 (a) far away, 3 (b) next to 2
    emb = np.array([[1, 0.0], [0.99, 0.14], [0, 1.0], [0.14, 0.99]])
    labels = [{"a"}, {"a"}, {"a"}, {"b"}]
    r = recall_at_k(emb, labels, 1, centre=False)
    # nearest of 0 is 1 (hit), of 1 is 0 (hit), of 2 is 3 (miss), of 3 is 2 (miss)
    assert r["recall"] == 0.5 and r["n"] == 4
    # chance with k=1: 2/3 for each "a" (two of the three others share it), 0 for "b"
    assert r["chance"] == pytest.approx((3 * 2 / 3 + 0) / 4, abs=1e-4)
    r2 = recall_at_k(emb, labels, 2, centre=False)
    assert r2["chance"] == pytest.approx((3 * (1 - comb(1, 2) / comb(3, 2)) + 0) / 4, abs=1e-4)


def test_images_without_that_label_are_left_out():
    emb = np.eye(3)
    r = recall_at_k(emb, [{"a"}, set(), set()], 5, centre=False)
    assert r == {"n": 1, "recall": None, "chance": None, "ci95": None}


@pytest.mark.data
def test_radfound_small_retrieves_same_region_and_modality_far_above_chance(shared_data):
    out = subprocess.run([sys.executable, "-m", "radfound.cli.main", "eval", "retrieval", "--json"],
                         capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    assert result["images"] == 96 and result["k"] == 5  # SLAKE validation's images with English questions
    for kind in ("region", "modality"):
        m = result[kind]["search"]
        assert m["n"] == 96 and m["recall"] >= m["chance"] + 0.1 and m["ci95"][0] > m["chance"]
    assert result["disease"]["search"]["n"] >= 20
