"""``eval vqa --image blank|other``: the model answers without the right image, so the drop shows how much of
its accuracy comes from the pixels rather than from question wording it learnt."""

from __future__ import annotations

import json

import numpy as np

from radfound.cli.main import main
from radfound.eval.image_ablation import blanked, other_images
from radfound.study.reader import read_study


def test_blank_keeps_the_study_but_not_its_pixels(shared_data):
    study = read_study(shared_data / "vqa-rad/images/synpic54610.jpg")
    blank = blanked(study)
    assert blank.kind == study.kind and blank.views[0].shape == study.views[0].shape
    assert not blank.views[0].pixels.any() and study.views[0].pixels.any()  # the original is untouched


def test_other_images_never_give_an_image_its_own(shared_data):
    images = sorted((shared_data / "vqa-rad/images").glob("*.jpg"))[:7]
    swap = other_images(images + images[:2])  # repeated images (several questions each) count once
    assert set(swap) == set(swap.values()) == set(images) and all(swap[i] != i for i in images)


def test_the_model_answers_the_same_questions_with_each_image(shared_data, tiny_model_dir, tmp_path, capsys):
    """The same questions, three ways; each run says which image the model saw; with a blank image the
    random-weight model's answers are still answers (nothing fails on an image with no contrast)."""
    results = {}
    for choice in ("own", "blank", "other"):
        predictions = tmp_path / f"{choice}.jsonl"
        assert main(["eval", "vqa", "--questions", str(shared_data / "vqa-rad/train.json"), "--images",
                     str(shared_data / "vqa-rad/images"), "--split", "heldout", "--limit", "12", "--model",
                     str(tiny_model_dir), "--image", choice, "--predictions", str(predictions), "--json"]) == 0
        results[choice] = json.loads(capsys.readouterr().out)
        rows = [json.loads(line) for line in predictions.read_text(encoding="utf-8").splitlines()]
        assert len(rows) == 12 and all(r["prediction"] for r in rows if r["answer_type"] == "CLOSED")
    assert [results[c]["model"]["image"] for c in results] == ["own", "blank", "other"]
    assert len({json.dumps(results[c]["baselines"]) for c in results}) == 1  # baselines never see an image
    options = {c: [json.loads(x).get("options") for x in (tmp_path / f"{c}.jsonl").read_text().splitlines()]
               for c in results}
    assert options["own"] != options["blank"] and options["own"] != options["other"]  # the pixels changed
    assert np.isfinite([p for row in options["blank"] if row for p in row.values()]).all()
