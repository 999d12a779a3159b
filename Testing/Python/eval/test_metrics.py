"""Metric functions on hand-checked examples: each assertion fails if the metric is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from radfound.eval.baselines import MajorityBaseline, QuestionPrior
from radfound.eval.findings import extract_findings, finding_scores
from radfound.eval.normalize import normalize_answer
from radfound.eval.text_metrics import caption_metrics, java_available, tokenize
from radfound.eval.uncertainty import bootstrap_ci, paired_difference
from radfound.eval.vqa_file import VQAItem
from radfound.eval.vqa_metrics import score_one, summarize, summarize_by_language, token_recall


@pytest.mark.parametrize("raw, norm", [
    ("The Left Lung.", "left lung"),
    ("Transverse  Plane", "transverse plane"),
    ("Two", "2"),
    ("an X-Ray", "x ray"),
    ("肝脏。", "肝脏"),
    ("左 肺", "左肺"),
    ("3.4 cm.", "3.4 cm"),  # a decimal point is not punctuation; a full stop is
    ("1.5 x 1.8 cm", "1.5 x 1.8 cm"),  # a real VQA-RAD answer
    ("L2-3", "l2 3"),
])
def test_normalize_answer(raw, norm):
    assert normalize_answer(raw) == norm


def test_decimal_numbers_are_not_other_numbers():
    """"3.4 cm" is neither a 3-4 cm range nor 3/4: the standard VQA evaluation keeps the decimal point too."""
    assert not score_one("3-4 cm", "3.4 cm", "OPEN").exact
    assert not score_one("3/4", "3.4", "OPEN").exact
    assert not score_one("L2.3", "L2-3", "OPEN").exact
    assert score_one("3.4 cm.", "3.4 CM", "OPEN").exact
    assert token_recall("a 3.4 cm mass", "3.4 cm") == 1.0 and token_recall("3 4 cm", "3.4 cm") == 0.5


def test_token_recall_counts_reference_tokens_once():
    assert token_recall("left lung", "right lung") == 0.5
    assert token_recall("lung lung", "lung") == 1.0
    assert token_recall("liver", "left lung, right lung") == 0.0
    assert token_recall("右肺", "左肺") == 0.5  # CJK: characters


def test_summary_on_hand_made_answers():
    scored = [
        score_one("Yes", "yes", "CLOSED"),
        score_one("no", "yes", "CLOSED"),
        score_one("the liver", "Liver", "OPEN"),
        score_one("left lung", "right lung", "OPEN"),
    ]
    m = summarize(scored)
    assert m["closed_acc"] == 0.5
    assert m["open_acc"] == 0.5
    assert m["open_recall"] == 0.75
    assert m["overall"] == 0.5
    assert (m["n"], m["n_closed"], m["n_open"]) == (4, 2, 2)


def test_per_language_figures_are_separate():
    scored = [score_one("是", "是", "CLOSED", "zh"), score_one("no", "yes", "CLOSED", "en")]
    m = summarize_by_language(scored)
    assert m["by_lang"]["zh"]["overall"] == 1.0
    assert m["by_lang"]["en"]["overall"] == 0.0
    assert m["overall"] == 0.5


def test_intervals_resample_whole_images():
    # 10 images, 10 questions each; a model right about all of 5 images and wrong about all of 5.
    values = [1.0] * 50 + [0.0] * 50
    images = [f"img{i // 10}" for i in range(100)]
    by_image, by_question = bootstrap_ci(values, images), bootstrap_ci(values)
    assert by_image[0] < 0.5 < by_image[1] and by_question[0] < 0.5 < by_question[1]
    # Answers within an image move together: 10 independent facts, not 100, so a much wider interval.
    assert (by_image[1] - by_image[0]) > 2.5 * (by_question[1] - by_question[0])
    # The interval depends on the answers, not on the order of the rows.
    order = list(range(100))
    order.reverse()
    assert bootstrap_ci([values[i] for i in order], [images[i] for i in order]) == by_image
    assert bootstrap_ci([1.0] * 8, list("aabbccdd")) == [1.0, 1.0]
    assert bootstrap_ci([1.0, 0.0], ["a", "a"]) is None  # one image: nothing to resample


def test_paired_difference_against_a_baseline():
    model = [1.0, 1.0, 1.0, 0.0, 1.0, 0.0]
    prior = [1.0, 0.0, 1.0, 0.0, 0.0, 0.0]
    out = paired_difference(model, prior, list("aabbcc"))
    assert out["diff"] == pytest.approx(2 / 6, abs=1e-4)
    assert 0.0 <= out["ci95"][0] <= out["diff"] <= out["ci95"][1] <= 0.5 + 1e-9  # never worse on any image
    assert paired_difference(prior, prior, list("aabbcc")) == {"diff": 0.0, "ci95": [0.0, 0.0]}
    with pytest.raises(ValueError):
        paired_difference(model, prior[:3])


def test_summary_by_question_type():
    scored = [score_one("yes", "yes", "CLOSED", question_type="SIZE"),
              score_one("no", "yes", "CLOSED", question_type="SIZE"),
              score_one("liver", "liver", "OPEN", question_type="ORGAN"),
              score_one("ct", "mri", "OPEN")]
    by_type = summarize_by_language(scored)["by_type"]
    assert set(by_type) == {"SIZE", "ORGAN", "unlabelled"}
    assert (by_type["SIZE"]["closed_acc"], by_type["SIZE"]["n"]) == (0.5, 2)
    assert by_type["ORGAN"]["open_acc"] == 1.0 and by_type["unlabelled"]["open_acc"] == 0.0
    assert "by_type" not in summarize_by_language(scored[:2])  # one type: nothing to break down


def test_summary_carries_image_level_intervals():
    scored = [score_one(p, "yes", "CLOSED", group=g) for p, g in
              [("yes", "a"), ("yes", "a"), ("no", "b"), ("yes", "c"), ("no", "c")]]
    m = summarize(scored)
    assert m["closed_acc"] == 0.6
    lo, hi = m["closed_acc_ci95"]
    assert 0.0 <= lo < 0.6 < hi <= 1.0
    assert m["overall_ci95"] == m["closed_acc_ci95"]


def _item(q, a, t="OPEN", image="a.jpg"):
    return VQAItem(image=Path(image), question=q, answer=a, answer_type=t)


def test_baselines_use_answer_frequencies():
    train = [_item("Is it normal?", "Yes", "CLOSED"), _item("Is it normal?", "Yes", "CLOSED"),
             _item("Is the liver abnormal?", "No", "CLOSED"),
             _item("What modality is this?", "CT"), _item("What modality is this?", "CT"),
             _item("What organ is shown?", "Liver"), _item("What organ is shown?", "Liver"),
             _item("What organ is shown?", "Liver"), _item("What modality is used here?", "MRI")]
    majority = MajorityBaseline(train)
    assert majority.predict(_item("Anything?", "", "CLOSED")) == "yes"
    assert majority.predict(_item("Which?", "")) == "liver"
    prior = QuestionPrior(train)
    assert prior.predict(_item("Is the liver abnormal?", "", "CLOSED")) == "no"  # same question
    assert prior.predict(_item("What modality is this?", "")) == "ct"
    assert prior.predict(_item("What modality is shown here?", "")) == "ct"  # same 3-word question type
    assert prior.predict(_item("Where is it?", "")) == "liver"  # falls back to the majority


def test_caption_metrics_hand_checked():
    m = caption_metrics(["the liver is normal", "a mass in the left lung"],
                        [["the liver is normal"], ["mass in the right lung"]], meteor=False)
    # 8 of 10 hypothesis unigrams match (clipped), hypothesis longer than references -> no brevity penalty.
    assert m["bleu_1"] == pytest.approx(0.8, abs=1e-4)
    assert m["bleu_4"] < m["bleu_1"]
    assert 0 < m["rouge_l"] < 1
    assert m["meteor"] is None and "Java" in m["notes"][0]
    same = caption_metrics(["a mass in the left lung"], ["a mass in the left lung"], meteor=False)
    assert same["bleu_4"] == pytest.approx(1.0) and same["rouge_l"] == pytest.approx(1.0)


def test_caption_tokens_keep_every_letter():
    # Accented letters are letters (PTB keeps them): "Sjögren" is one word, not "sj" and "gren".
    assert tokenize("Sjögren syndrome; café-au-lait spots. 肝脏，正常") == "sjögren syndrome café-au-lait spots 肝 脏 正 常"
    m = caption_metrics(["sjögren syndrome"], ["sjöberg syndrome"], meteor=False)
    assert m["bleu_1"] == pytest.approx(0.5, abs=1e-4)  # 1 of 2 words; 2 of 3 when the letters were dropped
    with pytest.raises(ValueError, match="prediction 1 has no reference"):
        caption_metrics(["a", "b"], [["a"], []], meteor=False)


@pytest.mark.skipif(not java_available(), reason="METEOR 1.5 needs a Java runtime")
def test_meteor_runs_with_java():
    good = caption_metrics(["the liver is normal"], ["the liver is normal"])["meteor"]
    bad = caption_metrics(["a kidney cyst"], ["the liver is normal"])["meteor"]
    assert good > 0.9 and bad < 0.2


def test_finding_extraction_and_scores():
    draft = ("FINDINGS: Scattered fibroglandular tissue. Right breast: no mass or suspicious calcifications. "
             "Left breast: a 9 mm mass in the upper outer quadrant.\nIMPRESSION: Left breast mass.")
    got = extract_findings(draft, "mammo")
    assert got == {("mass", "left", "upper outer")}
    truth = [{("mass", "left", "upper outer"), ("calcifications", "right", "lower inner")}]
    s = finding_scores([got], truth)
    assert s["side"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(0.6667, abs=1e-4),
                         "tp": 1, "fp": 0, "fn": 1, "f1_ci95": None}  # one study: no interval
    ct = extract_findings("FINDINGS: A 9 mm hypodense nodule in the lower pole of the left thyroid lobe. "
                          "The right thyroid lobe is unremarkable.", "ct")
    assert ct == {("thyroid nodule", "left", "lower pole")}
    wrong_pole = finding_scores([{("thyroid nodule", "left", "upper pole")}], [ct])
    assert wrong_pole["side"]["f1"] == 1.0 and wrong_pole["location"]["f1"] == 0.0


def test_finding_f1_interval_resamples_studies():
    mass = ("mass", "left", "upper outer")
    # 20 studies: 10 found, 5 missed, 5 normal with an empty draft: F1 = 2*10 / (2*10 + 5) = 0.8.
    truth = [{mass}] * 15 + [set()] * 5
    drafts = [{mass}] * 10 + [set()] * 10
    side = finding_scores(drafts, truth)["side"]
    assert side["f1"] == 0.8
    lo, hi = side["f1_ci95"]
    assert 0.5 < lo < 0.8 < hi < 1.0
    perfect = finding_scores(truth, truth)["side"]
    assert perfect["f1"] == 1.0 and perfect["f1_ci95"] == [1.0, 1.0]
    # Only normal studies, nothing claimed: every resample is agreement, as in the point figure.
    assert finding_scores([set()] * 4, [set()] * 4)["side"]["f1_ci95"] == [1.0, 1.0]


def test_iou_hand_checked():
    from radfound.eval.grounding_eval import iou

    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0
