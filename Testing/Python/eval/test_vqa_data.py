"""The harness on the real question files: formats, the held-out split, baselines and the CLI."""

from __future__ import annotations

import json
import shutil
from collections import Counter

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
    with pytest.raises(ConfigError, match="all 1053 training questions are about images being evaluated"):
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


def _write(tmp_path, records, name="q.json", encoding="utf-8"):
    path = tmp_path / name
    path.write_text(json.dumps(records, ensure_ascii=False), encoding=encoding)
    return path


@pytest.mark.parametrize("records, problem", [
    ([], "the question file has no records"),
    (["a"], "record 0 is not a question record"),
    ([{"image_name": None, "question": "Is it?", "answer": "yes"}], "record 0: 'image_name' must be a non-empty"),
    ([{"image_name": "a.jpg", "question": " ", "answer": "yes"}], "record 0: 'question' must be a non-empty"),
    ([{"image_name": "a.jpg", "question": "Is it?", "answer": ["yes", "no"]}], "record 0: 'answer' must be a string"),
    ([{"image_name": "a.jpg", "question": "Is it?", "answer": None}], "record 0: 'answer' must be a string"),
    ([{"image_name": "a.jpg", "question": "x" * 1001, "answer": "yes"}], "record 0: the question is 1001 characters"),
    ([{"image_name": "../a.jpg", "question": "Is it?", "answer": "yes"}], "record 0: image '../a.jpg' is outside"),
])
def test_bad_records_are_named_when_the_file_is_read(tmp_path, records, problem):
    (tmp_path / "images").mkdir()
    with pytest.raises(ConfigError) as err:
        read_vqa_file(_write(tmp_path, records), tmp_path / "images")
    assert str(err.value).startswith(f"{tmp_path / 'q.json'}: {problem}")


def test_records_are_read_as_the_datasets_mean_them(tmp_path):
    """A byte-order mark is fine; 'CLOSED ' (two real VQA-RAD records) is CLOSED; without answer_type a Chinese
    yes/no is closed; without q_lang a Chinese question is zh; a number answer is text."""
    (tmp_path / "a.jpg").write_bytes(b"")
    path = _write(tmp_path, [
        {"image_name": "a.jpg", "question": "Is this an infectious process?", "answer": "Maybe",
         "answer_type": "CLOSED "},
        {"img_name": "a.jpg", "question": "这是正常的吗？", "answer": "是"},
        {"image_name": "a.jpg", "question": "How many ribs are fractured?", "answer": 2, "answer_type": "OPEN"},
    ], encoding="utf-8-sig")
    items = read_vqa_file(path, tmp_path)
    assert [(it.answer_type, it.lang, it.answer) for it in items] == [
        ("CLOSED", "en", "Maybe"), ("CLOSED", "zh", "是"), ("OPEN", "en", "2")]
    with pytest.raises(ConfigError, match=r"no question has q_lang 'fr' \(the file has: en, zh\)"):
        read_vqa_file(path, tmp_path, lang="fr")


def test_cli_refuses_split_on_slake_and_a_bad_predictions_path_before_running(shared_data, tmp_path, capsys):
    slake = ["--questions", str(shared_data / "slake" / "validate.json"),
             "--images", str(shared_data / "slake" / "imgs")]
    rc = main(["eval", "vqa", *slake, "--split", "heldout", "--baselines-only"])
    assert rc == 2 and "SLAKE has its own train and validate files" in capsys.readouterr().err
    vqarad = ["--questions", str(shared_data / "vqa-rad" / "train.json"),
              "--images", str(shared_data / "vqa-rad" / "images")]
    rc = main(["eval", "vqa", *vqarad, "--model", str(tmp_path / "no-model"),
               "--predictions", str(tmp_path / "no-dir" / "sub" / "p.jsonl"), "--limit", "3"])
    err = capsys.readouterr().err  # refused for the model folder, i.e. after the path check passed: the parent is made
    assert rc == 2 and "no-model" in err
    (tmp_path / "file").write_text("x")
    rc = main(["eval", "vqa", *vqarad, "--model", str(tmp_path / "no-model"),
               "--predictions", str(tmp_path / "file" / "p.jsonl"), "--limit", "3"])
    assert rc == 2 and f"{tmp_path / 'file'} is not a folder" in capsys.readouterr().err


def test_baselines_never_fit_on_a_copy_of_the_evaluated_images(shared_data, tmp_path, capsys):
    """Held-out VQA-RAD questions whose images were copied elsewhere: the prior fitted on train.json must still
    leave out those images' 57 questions (it fitted on all 3,064, answers included, when paths were compared)."""
    rad = read_vqa_file(shared_data / "vqa-rad/train.json", shared_data / "vqa-rad/images")
    held = split_items(rad, "heldout")
    chosen = sorted({it.image.name for it in held})[:5]
    (tmp_path / "images").mkdir()
    for name in chosen:
        shutil.copyfile(shared_data / "vqa-rad/images" / name, tmp_path / "images" / name)
    records = json.loads((shared_data / "vqa-rad/train.json").read_text(encoding="utf-8"))
    questions = _write(tmp_path, [r for r in records if r["image_name"] in chosen])
    assert main(["eval", "vqa", "--questions", str(questions), "--images", str(tmp_path / "images"),
                 "--baselines-only", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    on_chosen = sum(it.image.name in chosen for it in rad)
    assert out["n"] == on_chosen == 57
    assert out["baselines"]["fitted_on"] == len(rad) - on_chosen


def test_cli_evaluating_the_baselines_own_train_file_is_a_typed_error(shared_data, capsys):
    """The whole train file (--split all): every training image is evaluated, so the baselines have nothing to fit
    on; that is a one-line error saying so, not an internal ValueError."""
    rc = main(["eval", "vqa", "--questions", str(shared_data / "vqa-rad/train.json"),
               "--images", str(shared_data / "vqa-rad/images"), "--baselines-only"])
    err = capsys.readouterr().err
    assert rc == 2 and "internal error" not in err
    assert "all 3064 training questions are about images being evaluated" in err and "--baseline-train" in err


def test_chinese_yes_no_answers_are_closed_without_answer_type(shared_data, tmp_path):
    """SLAKE validate without its answer_type field: Chinese yes/no answers are written 是的/不是 (and 有/没有,
    包含/不包含, 可以/不可以), so as many Chinese as English closed questions are recognised, and no open one."""
    records = json.loads((shared_data / "slake/validate.json").read_text(encoding="utf-8"))
    path = _write(tmp_path, [{k: v for k, v in r.items() if k != "answer_type"} for r in records])
    items = read_vqa_file(path, shared_data / "slake/imgs")
    found = Counter((r["q_lang"], r["answer_type"], it.answer_type) for r, it in zip(records, items))
    assert found[("en", "OPEN", "CLOSED")] == found[("zh", "OPEN", "CLOSED")] == 0
    assert found[("en", "CLOSED", "CLOSED")] == 358  # the rest are choice questions ("T1 or T2?")
    assert found[("zh", "CLOSED", "CLOSED")] == 362  # 6 before: only 是 and 否, which SLAKE hardly uses


def test_cli_ensemble_names_a_predictions_file_that_is_not_text(shared_data, tmp_path, capsys):
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes((shared_data / "vqa-rad/images/synpic54610.jpg").read_bytes()[:200])
    assert main(["eval", "ensemble", str(binary), str(binary)]) == 2
    assert capsys.readouterr().err.strip() == (f"radfound eval: error: {binary}: not a predictions file: not UTF-8 "
                                               "text (invalid start byte at byte 0)")
    row = {"image": "a.jpg", "question": "Is it?", "answer": "yes", "correct": True, "options": {"Yes": 0.6, "No": 0.4}}
    bom = tmp_path / "bom.jsonl"
    bom.write_text(json.dumps(row) + "\n", encoding="utf-8-sig")  # as Windows editors save it
    assert main(["eval", "ensemble", str(bom), str(bom), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ensemble"]["correct"] == 1


def test_lang_is_matched_whatever_its_case(shared_data):
    """--lang EN found nothing ("the file has: en, zh") because q_lang is read lower-case."""
    upper = read_vqa_file(shared_data / "slake/validate.json", shared_data / "slake/imgs", lang="EN")
    assert len(upper) == 1053 and {it.lang for it in upper} == {"en"}


def test_a_question_path_that_cannot_be_read_is_named(tmp_path, monkeypatch):
    path = _write(tmp_path, [{"image_name": "x.jpg", "question": "q", "answer": "a"}])

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(type(path), "read_text", refuse)  # root reads any file: a chmod cannot show this
    with pytest.raises(ConfigError, match="cannot read the question file \\(Permission denied\\)") as info:
        read_vqa_file(path, tmp_path)
    assert info.value.path == str(path)
