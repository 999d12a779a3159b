"""radfound-base's report targets state labelled facts only, with the side from the lesion box."""

from __future__ import annotations

from pathlib import Path

from radfound.eval.vqa_file import VQAItem
from radfound.training.data.fluent_reports import presence_answers, slake_report
from radfound.training.data.slake_reports import ImageReport


def _cxr(**kw):
    base = dict(image=Path("missing.jpg"), modality="X-ray", region="chest", plane="Coronal Plane")
    return ImageReport(**{**base, **kw})


def test_a_normal_chest_radiograph_gets_the_negatives_its_label_allows():
    findings, impression = slake_report(_cxr(abnormal=False))
    assert findings.startswith("Frontal chest radiograph.") and "No pleural effusion or pneumothorax." in findings
    assert impression == "No acute cardiopulmonary abnormality."


def test_a_lesion_takes_its_side_from_the_location_answer_and_an_unknown_status_gets_no_report():
    rep = _cxr(abnormal=True, diseases=["Noudle"], abnormality_location="Left Lung, Upper Right")
    findings, impression = slake_report(rep)
    assert "pulmonary nodule in the left lung" in findings and impression == "Left lung nodule."
    assert slake_report(_cxr(abnormal=None)) is None


def test_the_box_beats_the_location_answer(tmp_path):
    from PIL import Image

    path = tmp_path / "source.jpg"
    Image.new("L", (1000, 800)).save(path)
    rep = _cxr(image=path, abnormal=True, diseases=["Pneumothorax", "Cardiomegaly"],
               boxes=[("Pneumothorax", 100.0, 50.0, 200.0, 100.0), ("Cardiomegaly", 400.0, 400.0, 200.0, 200.0)])
    findings, impression = slake_report(rep)
    assert "right pneumothorax" in findings and "The heart is enlarged." in findings  # image left = patient right
    assert impression == "Right pneumothorax. Cardiomegaly."


def test_vqarad_presence_answers_are_read_per_thing_asked_about():
    def item(q, a, t="CLOSED"):
        return VQAItem(dataset="vqa-rad", image=Path("synpic1.jpg"), question=q, answer=a, answer_type=t, lang="en",
                       meta={"image_organ": "CHEST"})

    out = presence_answers([item("Is there a pleural effusion?", "No"), item("Is/Are there cardiomegaly?", "yes"),
                            item("Is there a pleural effusion present?", "no"),
                            item("What is abnormal in this image?", "enlarged heart", "OPEN")])
    assert out == {Path("synpic1.jpg"): {"pleural effusion": [False, False], "cardiomegaly": [True]}}


def test_vqarad_answers_become_chest_disease_facts_and_contradictions_are_dropped():
    from radfound.training.pretrained.pool import vqarad_disease_facts

    def item(q, a):
        return VQAItem(dataset="vqa-rad", image=Path("synpic2.jpg"), question=q, answer=a, answer_type="CLOSED",
                       lang="en", meta={"image_organ": "CHEST"})

    facts = vqarad_disease_facts([item("Is there a pleural effusion on the right?", "No"),  # the left is not asked
                                  item("Is there a pleural effusion?", "No"), item("Is there a mass in the right lung?",
                                                                                 "Yes"),
                                  item("Is there a pneumothorax?", "Yes"), item("Is there a pneumothorax?", "No"),
                                  item("Is there free air?", "No")])
    assert facts == {"synpic2.jpg": {"disease:pleural effusion": 0.0, "disease:mass": 1.0}}
