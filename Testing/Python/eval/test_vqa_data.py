"""The harness on the real question files: formats, the held-out split, baselines and the CLI."""

from __future__ import annotations

import json

import pytest

from radfound.cli.main import main
from radfound.errors import ConfigError
from radfound.eval.splits import is_heldout, split_items
from radfound.eval.vqa_eval import evaluate_baselines
from radfound.eval.vqa_file import read_vqa_file


def test_reads_both_formats(shared_data):
    rad = read_vqa_file(shared_data / "vqa-rad/train.json", shared_data / "vqa-rad/images")
    sl = read_vqa_file(shared_data / "slake/validate.json", shared_data / "slake/imgs")
    assert len(rad) == 3064 and {it.dataset for it in rad} == {"vqa-rad"}
    assert len(sl) == 2103 and {it.lang for it in sl} == {"en", "zh"}
    assert {it.answer_type for it in rad + sl} == {"CLOSED", "OPEN"}
    assert all(it.image.is_file() for it in sl[:50])
    assert len(read_vqa_file(shared_data / "slake/validate.json", shared_data / "slake/imgs", lang="en")) == 1053


def test_question_types_as_the_datasets_label_them(shared_data):
    rad = read_vqa_file(shared_data / "vqa-rad/train.json", shared_data / "vqa-rad/images")
    records = json.loads((shared_data / "vqa-rad/train.json").read_text(encoding="utf-8"))
    # "PRES, POS" keeps its first type; "Other" and "OTHER" are one type.
    assert [it.question_type for it in rad] == [r["question_type"].split(",")[0].strip().upper() for r in records]
    assert {"PRES", "SIZE", "ABN", "OTHER"} <= {it.question_type for it in rad}
    assert not any("," in it.question_type or it.question_type == "Other" for it in rad)
    sl = read_vqa_file(shared_data / "slake/validate.json", shared_data / "slake/imgs", lang="en")
    assert {"Organ", "Size", "KG"} <= {it.question_type for it in sl}
    assert "" in {it.question_type for it in sl}  # a third of SLAKE's records have no content_type


def test_cli_prints_accuracy_by_question_type(shared_data, capsys):
    args = ["eval", "vqa", "--questions", str(shared_data / "vqa-rad/train.json"),
            "--images", str(shared_data / "vqa-rad/images"), "--split", "heldout", "--baselines-only"]
    assert main([*args, "--json"]) == 0
    prior = json.loads(capsys.readouterr().out)["baselines"]["question_prior"]
    by_type = prior["by_type"]
    assert sum(t["n"] for t in by_type.values()) == prior["n"] == 472
    assert sum(t["n_closed"] for t in by_type.values()) == 303
    assert main([*args, "--by-type"]) == 0
    text = capsys.readouterr().out
    size = by_type["SIZE"]
    assert f"SIZE{'':<12}{size['n_closed']:>9}{'-':>8}{size['closed_acc']:>8.3f}" in text


def test_heldout_split_is_by_image_and_stable(shared_data):
    rad = read_vqa_file(shared_data / "vqa-rad/train.json", shared_data / "vqa-rad/images")
    held, train = split_items(rad, "heldout"), split_items(rad, "train")
    assert len(held) + len(train) == len(rad)
    assert not ({it.image for it in held} & {it.image for it in train})
    # The documented numbers (docs/evaluation.md): 47 of 314 images, 472 questions (303 closed).
    assert len({it.image for it in held}) == 47 and len(held) == 472
    assert sum(it.answer_type == "CLOSED" for it in held) == 303
    assert is_heldout("synpic54610.jpg") == (rad[0].image.name in {it.image.name for it in held})


def test_baselines_never_fit_on_evaluated_images(shared_data):
    val = read_vqa_file(shared_data / "slake/validate.json", shared_data / "slake/imgs", lang="en")
    # Fitting on the evaluated file itself must exclude every evaluated image: nothing left to fit on.
    with pytest.raises(ValueError):
        evaluate_baselines(val, val)
    train = read_vqa_file(shared_data / "slake/train.json", shared_data / "slake/imgs")
    res = evaluate_baselines(val, train)
    prior, majority = res["question_prior"], res["majority"]
    assert prior["n"] == 1053
    assert 0 <= majority["overall"] < prior["overall"] <= 1  # the prior uses the question, so it is stronger


def test_cli_baselines_json_on_a_slake_subset(shared_data, capsys):
    rc = main(["eval", "vqa", "--questions", str(shared_data / "slake/validate.json"),
               "--images", str(shared_data / "slake/imgs"), "--limit", "60", "--baselines-only", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n"] == 60
    assert set(out["baselines"]["majority"]["by_lang"]) <= {"en", "zh"}
    for key in ("closed_acc", "open_acc", "open_recall", "overall"):
        v = out["baselines"]["question_prior"][key]
        assert v is None or 0.0 <= v <= 1.0


def test_cli_names_a_bad_question_file(tmp_path, capsys):
    bad = tmp_path / "q.json"
    bad.write_text('[{"question": "x", "answer": "y"}]', encoding="utf-8")
    rc = main(["eval", "vqa", "--questions", str(bad), "--images", str(tmp_path), "--baselines-only"])
    err = capsys.readouterr().err
    assert rc != 0 and str(bad) in err and "image_name" in err and "Traceback" not in err


def test_read_vqa_file_rejects_non_list(tmp_path):
    bad = tmp_path / "q.json"
    bad.write_text("{}", encoding="utf-8")
    with pytest.raises(ConfigError, match="JSON list"):
        read_vqa_file(bad, tmp_path)
