"""Naming diseases in drafts: the term table, negations, and the chest X-ray findings metric."""

from __future__ import annotations

from pathlib import Path

import pytest

from radfound.eval.disease_terms import canonical, named_in
from radfound.eval.findings_eval import labelled_chest_xrays, score
from radfound.eval.vqa_file import VQAItem


def test_slake_spellings_map_to_one_disease():
    assert canonical("Noudle") == canonical("Pulmonary Nodule") == "nodule"
    assert canonical("Cardiomegal") == "cardiomegaly" and canonical("Effusion") == "pleural effusion"
    assert canonical("Liver") is None


@pytest.mark.parametrize("text, expected", [
    ("FINDINGS: The heart is enlarged. IMPRESSION: Cardiomegaly.", {"cardiomegaly"}),
    ("The lungs are clear. No pleural effusion or pneumothorax.", set()),
    ("There is a right pneumothorax. No pleural effusion.", {"pneumothorax"}),
    ("There is a pulmonary nodule in the left lung.", {"nodule"}),
    ("Without evidence of mass. Atelectasis at the left base.", {"atelectasis"}),
])
def test_named_in_counts_positive_mentions_only(text, expected):
    assert named_in(text) == expected


def _item(image, question, answer, answer_type="OPEN"):
    return VQAItem(dataset="slake", image=Path(image), question=question, answer=answer, answer_type=answer_type,
                   lang="en", meta={"modality": "X-Ray", "location": "Lung"})


def test_records_and_scores_of_labelled_chest_xrays():
    items = [_item("a/source.jpg", "What diseases are included in the picture?", "Noudle"),
             _item("b/source.jpg", "What diseases are included in the picture?", "Cardiomegaly, Pneumothorax"),
             _item("c/source.jpg", "Is this image normal?", "Yes", "CLOSED"),
             _item("d/source.jpg", "What modality is used to take this image?", "X-Ray")]  # no label: left out
    records = labelled_chest_xrays(items)
    assert [(r["image"].parent.name, r["diseases"], r["normal"]) for r in records] == [
        ("a", ["nodule"], False), ("b", ["cardiomegaly", "pneumothorax"], False), ("c", [], True)]
    drafts = ["There is a pulmonary nodule in the right lung.", "The heart is enlarged. There is a mass.",
              "The lungs are clear. No pneumothorax."]
    result = score(records, drafts, ["Noudle", "Cardiomegaly", None])  # exact: the label as SLAKE spells it
    assert result["label_recall"]["value"] == round(2 / 3, 4)
    assert result["disease_question_exact"]["correct"] == 1 and result["disease_question_exact"]["n"] == 2
    assert result["normal_clear"]["value"] == 1.0
    assert result["false_mentions_per_abnormal_image"]["value"] == 0.5  # the mass on image b
    assert result["distinct_drafts"] == 3
