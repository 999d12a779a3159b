"""``radfound train --config tiny``: the whole staged recipe runs on real data and exports a loadable model."""

from __future__ import annotations

import json

import pytest

from radfound.cli.main import main


@pytest.mark.slow
def test_tiny_training_exports_a_model_the_engine_loads(shared_data, tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "run"
    assert main(["train", "--config", "tiny", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["pool"]["vqa"] > 0 and summary["pool"]["phantom"] == 8 and summary["pool"]["grounding"] > 0
    # phantom mammogram boxes are their own task, so they cannot crowd SLAKE's boxes out of "grounding"
    assert 0 < summary["pool"]["phantom_grounding"] <= 2 * 4
    # real images whose pixels the run saw (the model card reads it): tiny keeps the first and last 24
    # images of the training questions' images
    assert summary["real_images"] == 2 * 24
    assert summary["instruct"]["ema_decay"] == 0.9  # the instruction stage ends on its weight average
    # The tiny config bounds every stage by steps (2, 2, 3), so the run is short and its step counts exact.
    assert [summary[s]["steps"] for s in ("pretrain", "align", "instruct")] == [2, 2, 3]
    # tiny turns on augmentation and concept supervision: the phantoms and SLAKE images carry concepts
    assert summary["concepts"]["names"] > 0 and summary["concepts"]["studies"] >= 8
    assert summary["concepts_stage"]["steps"] == 2 and summary["instruct"]["final_concept_loss"] > 0
    assert (out / "checkpoint.pt").is_file() and (out / "train_log.txt").is_file()

    from radfound.engine import load_model
    from radfound.study.reader import read_study
    from radfound.tasks.vqa import answer_question

    model = load_model(out / "model")
    manifest = json.loads((out / "model" / "manifest.json").read_text(encoding="utf-8"))
    assert "SLAKE" in manifest["licence"] and manifest["provenance"]["training_data"]["vqa-rad"]
    answer = answer_question(model, model.encode(read_study(shared_data / "slake/imgs/xmlab1/source.jpg")),
                             "What modality is used to take this image?", max_new_tokens=4)
    assert isinstance(answer.answer, str)


def test_unknown_config_is_a_one_line_error(capsys):
    assert main(["train", "--config", "nope", "--out", "/nonexistent/x"]) != 0
    err = capsys.readouterr().err
    assert "no training config 'nope'" in err and "small" in err
