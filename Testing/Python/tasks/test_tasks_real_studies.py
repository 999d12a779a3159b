"""Report drafting and VQA end to end on real DICOM: read_study -> preprocess -> encode once -> generate."""

from __future__ import annotations

import math

import numpy as np
import pytest

from radfound.config import PRELIMINARY_NOTICE
from radfound.engine import EncodedStudy, load_model
from radfound.study.reader import read_study
from radfound.tasks.boxes import boxes_from_text
from radfound.tasks.report import draft_report
from radfound.tasks.results import Answer, Draft
from radfound.tasks.prompts import strip_boxes, vqa_prompt
from radfound.tasks.vqa import (YES_NO, answer_question, closed_options, is_yes_no_question, locate,
                                option_probabilities)


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    return load_model(tiny_model_dir, device="cpu")


@pytest.fixture(scope="module")
def cxr(pydicom_data):
    return read_study(pydicom_data("RG1_UNCR.dcm"))


def test_draft_report_on_a_real_chest_radiograph(model, cxr):
    streamed: list[str] = []
    draft = draft_report(model, cxr, max_new_tokens=12, on_text=streamed.append)
    assert isinstance(draft, Draft)
    assert draft.model == "radfound-tiny" and draft.provider == "CPUExecutionProvider"
    assert draft.notice == PRELIMINARY_NOTICE
    assert draft.timings.encode_ms > 0 and draft.timings.new_tokens > 0
    assert "".join(streamed).strip()  # random weights: some text, no sections expected
    record = draft.to_json()
    assert {"report", "model", "provider", "timings"} <= set(record)


def test_one_encoding_serves_many_questions(model, cxr):
    enc = model.encode(cxr)
    assert isinstance(enc, EncodedStudy) and enc.inputs.pixel_values.shape[0] == 1
    before = enc.image_features.copy()
    answers = [answer_question(model, enc, q, max_new_tokens=8)
               for q in ("Is there a pleural effusion?", "心脏大小正常吗？", "Is there a pleural effusion?")]
    assert all(isinstance(a, Answer) for a in answers)
    assert answers[0].answer == answers[2].answer  # deterministic greedy on the same encoding
    assert all(a.timings.encode_ms == enc.encode_ms for a in answers)  # nobody re-encoded
    np.testing.assert_array_equal(enc.image_features, before)


def test_ct_series_and_mammogram_encode_to_k_tokens(model, pydicom_data, shared_data):
    ct = read_study(pydicom_data("eCT_Supplemental.dcm"))
    mammo = read_study(shared_data / "dicom" / "mammo" / "MG1_J2KI.dcm")
    for study, n_images in ((ct, None), (mammo, 1)):
        enc = model.encode(study)
        assert enc.image_features.shape[0] == model.num_image_tokens
        if n_images:
            assert enc.inputs.pixel_values.shape[0] == n_images
    assert locate(model, ct, "thyroid", max_new_tokens=4).question == "Where is the thyroid?"


def test_boxes_in_model_input_coordinates_map_back_to_the_original_view(model, cxr):
    enc = model.encode(cxr)
    rows, cols = cxr.views[0].shape[:2]
    size = enc.inputs.pixel_values.shape[-1]
    t = enc.inputs.transforms
    # a box around the original image's central quarter, written the way the model writes boxes
    corners = [t.to_input(cols * 0.25, rows * 0.25, 0), t.to_input(cols * 0.75, rows * 0.75, 0)]
    norm = [round(v / size * 1000) for xy in corners for v in xy]
    text = f"right lower lobe opacity <box>{norm[0]},{norm[1]},{norm[2]},{norm[3]}</box>"
    (box,) = boxes_from_text(text, enc.inputs)
    assert box.label == "right lower lobe opacity" and box.view_index == 0
    tol = max(rows, cols) / size  # one model-input pixel, in original pixels (rounding to 0..1000)
    assert box.x0 == pytest.approx(cols * 0.25, abs=tol) and box.x1 == pytest.approx(cols * 0.75, abs=tol)
    assert box.y0 == pytest.approx(rows * 0.25, abs=tol) and box.y1 == pytest.approx(rows * 0.75, abs=tol)
    assert boxes_from_text("lesion <box>3:1,2,3,4</box>", enc.inputs) == []  # no view 3 in a 1-view study


def test_yes_no_question_gets_the_more_probable_of_yes_and_no(model, cxr):
    enc = model.encode(cxr)
    q = "Is there a pleural effusion?"
    streamed: list[str] = []
    answer = answer_question(model, enc, q, on_text=streamed.append)
    spellings = [s for forms in YES_NO.values() for s in forms]
    scores = dict(zip(spellings, model.score(enc, vqa_prompt(q, model.num_image_tokens), spellings)))
    expected = max(YES_NO, key=lambda a: max(scores[s] for s in YES_NO[a]))
    assert answer.answer == expected and streamed == [expected]
    assert answer.boxes == [] and answer.timings.total_ms > 0
    # Each option's probability, normalised over Yes and No from the same scores, rides along.
    best = {a: max(scores[s] for s in YES_NO[a]) for a in YES_NO}
    p_yes = 1 / (1 + math.exp(best["No"] - best["Yes"]))
    assert answer.options == pytest.approx({"Yes": p_yes, "No": 1 - p_yes}, abs=1e-4)
    assert max(answer.options, key=answer.options.get) == expected
    assert answer.to_json()["options"] == answer.options


def test_option_probabilities_are_a_softmax_over_the_offered_answers():
    assert option_probabilities({"Yes": math.log(0.2), "No": math.log(0.6)}) == {"Yes": 0.25, "No": 0.75}
    # Very unlikely answers (log-probabilities far below zero) still normalise without underflow.
    assert option_probabilities({"Left": -900.0, "Right": -900.0 - math.log(3)}) == {"Left": 0.75, "Right": 0.25}


def test_free_text_and_chinese_questions_are_generated(model, cxr):
    enc = model.encode(cxr)
    for q, closed in (("Is there a pleural effusion?", False), ("心脏大小正常吗？", True), ("What organ is this?", True)):
        free = model.generate(enc, vqa_prompt(q, model.num_image_tokens), max_new_tokens=8).text
        answer = answer_question(model, enc, q, closed=closed, max_new_tokens=8)
        assert answer.answer == (strip_boxes(free) or free.strip()) and answer.options == {}


@pytest.mark.parametrize("question, yes_no", [
    ("Is the heart enlarged?", True),
    ("are the lungs clear?", True),
    ("Does the liver look normal?", True),
    ("Was contrast given?", True),
    ("Is the lesion on the left or right?", False),
    ("Is this a CT or an MRI?", False),
    ("Which organ is abnormal, heart or lung?", False),
    ("What modality is this?", False),
    ("Island of tissue present?", False),
    ("心脏大小正常吗？", False),
])
def test_which_questions_count_as_yes_no(question, yes_no):
    assert is_yes_no_question(question) is yes_no


@pytest.mark.parametrize("question, options", [
    ("Is the heart enlarged?", ["Yes", "No"]),
    ("Is the abnormality focal or diffuse?", ["Focal", "Diffuse"]),
    ("Is this a CT or an MRI?", ["CT", "MRI"]),  # articles skipped, acronyms not lower-cased
    ("Are the calcifications superior or inferior to the diaphragm?", ["Superior", "Inferior"]),
    ("Is the mass more or less dense than the brain?", ["More", "Less", "Less dense", "More dense"]),
    ("Was this image taken with or without contrast?", ["With", "Without", "Without contrast", "With contrast"]),
    ("Is this a T1 weighted or T2 weighted MRI image?", ["T1", "T2", "T1 weighted", "T2 weighted"]),
    ("Is there a mass, or an effusion?", ["Mass", "Effusion"]),
    ("What is denser, the mass or the tissue?", None),  # not auxiliary-first: answered freely
    ("Is it this or that or the other?", None),  # more than one "or"
    ("Or is it?", None),
    ("心脏大小正常吗？", None),
])
def test_closed_options_are_what_the_question_offers(question, options):
    found = closed_options(question)
    assert (None if found is None else list(found)) == options


def test_choice_question_gets_the_most_probable_offered_option(model, cxr):
    enc = model.encode(cxr)
    q = "Is the opacity on the left or right side?"
    options = closed_options(q)
    assert set(options) == {"Left", "Right", "Right side", "Left side"}
    spellings = [s for forms in options.values() for s in forms]
    scores = dict(zip(spellings, model.score(enc, vqa_prompt(q, model.num_image_tokens), spellings)))
    expected = max(options, key=lambda a: max(scores[s] for s in options[a]))
    answer = answer_question(model, enc, q)
    assert answer.answer == expected and answer.answer in options
