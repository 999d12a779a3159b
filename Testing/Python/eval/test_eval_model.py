"""The harness end to end with a real (random-weight) exported model: runs, numbers well-formed."""

from __future__ import annotations

import json

import pytest

from radfound.cli.main import main


def _in_unit(v):
    return v is None or 0.0 <= v <= 1.0


def test_eval_vqa_with_tiny_model(shared_data, tiny_model_dir, capsys, tmp_path):
    preds = tmp_path / "preds.jsonl"
    rc = main(["eval", "vqa", "--questions", str(shared_data / "slake/validate.json"),
               "--images", str(shared_data / "slake/imgs"), "--model", str(tiny_model_dir),
               "--limit", "12", "--json", "--predictions", str(preds)])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    m = out["model"]
    assert m["n"] == 12 and m["provider"].endswith("ExecutionProvider")
    assert all(_in_unit(m[k]) for k in ("closed_acc", "open_acc", "open_recall", "overall"))
    rows = [json.loads(line) for line in preds.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 12 and all(isinstance(r["prediction"], str) for r in rows)
    # The reported overall accuracy is exactly the share of rows marked correct.
    assert m["overall"] == round(sum(r["correct"] for r in rows) / 12, 4)
    assert out["baselines"]["question_prior"]["n"] == 12
    # English closed questions carry each offered answer's probability; the prediction is the most probable.
    scored = [r for r in rows if "options" in r]
    assert scored and all(r["lang"] == "en" and r["answer_type"] == "CLOSED" for r in scored)
    for r in scored:
        assert sum(r["options"].values()) == pytest.approx(1.0, abs=1e-3)
        assert r["prediction"] == max(r["options"], key=r["options"].get)


def test_eval_vqa_gain_over_prior_is_paired_on_the_same_questions(shared_data, tiny_model_dir, capsys, tmp_path):
    questions = shared_data / "vqa-rad/train.json"
    preds = tmp_path / "preds.jsonl"
    assert main(["eval", "vqa", "--questions", str(questions), "--images", str(shared_data / "vqa-rad/images"),
                 "--split", "heldout", "--limit", "60", "--model", str(tiny_model_dir), "--json",
                 "--predictions", str(preds)]) == 0
    out = json.loads(capsys.readouterr().out)
    m, prior = out["model"], out["baselines"]["question_prior"]
    gain = m["closed_gain_over_prior"]
    assert gain["baseline"] == "question_prior" and gain["n"] == m["n_closed"] == prior["n_closed"]
    assert gain["diff"] == pytest.approx(m["closed_acc"] - prior["closed_acc"], abs=2e-4)
    assert gain["ci95"][0] <= gain["diff"] <= gain["ci95"][1]
    assert m["closed_acc_ci95"][0] <= m["closed_acc"] <= m["closed_acc_ci95"][1]
    # Predictions follow the question file's order (several images interleave there), so a row is
    # found by its position.
    from radfound.eval.splits import split_items
    from radfound.eval.vqa_file import read_vqa_file

    items = split_items(read_vqa_file(questions, shared_data / "vqa-rad/images"), "heldout")[:60]
    rows = [json.loads(line) for line in preds.read_text(encoding="utf-8").splitlines()]
    assert [(r["image"], r["question"]) for r in rows] == [(it.image.name, it.question) for it in items]
    # The plain-text report gives the same figures in one line.
    assert main(["eval", "vqa", "--questions", str(questions), "--images", str(shared_data / "vqa-rad/images"),
                 "--split", "heldout", "--limit", "60", "--model", str(tiny_model_dir)]) == 0
    text = capsys.readouterr().out
    assert f"closed accuracy {100 * m['closed_acc']:.1f}% (95% interval" in text
    assert f"{100 * gain['diff']:.1f} points above the question-only prior" in text


@pytest.fixture(scope="module")
def vqarad_predictions(shared_data, tiny_model_dir, tmp_path_factory):
    """Real predictions of the tiny model on 40 VQA-RAD held-out questions."""
    path = tmp_path_factory.mktemp("ensemble") / "a.jsonl"
    assert main(["eval", "vqa", "--questions", str(shared_data / "vqa-rad/train.json"),
                 "--images", str(shared_data / "vqa-rad/images"), "--split", "heldout", "--limit", "40",
                 "--model", str(tiny_model_dir), "--json", "--predictions", str(path)]) == 0
    return path


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_eval_ensemble_soft_vote_and_agreement(vqarad_predictions, tmp_path, capsys):
    capsys.readouterr()
    rows = [json.loads(line) for line in vqarad_predictions.read_text(encoding="utf-8").splitlines()]
    yes_no = [r for r in rows if set(r.get("options", ())) == {"Yes", "No"}]
    assert len(yes_no) >= 10
    assert {r["model"] for r in rows} == {"radfound-tiny 0.0.0-untrained"}  # every line says whose answer it is
    # A contrarian model: the opposite Yes/No probabilities (other rows unscored, so left out of the vote).
    contrarian = []
    for r in rows:
        r = dict(r)
        if set(r.get("options", ())) == {"Yes", "No"}:
            r["options"] = {a: 1 - p for a, p in r["options"].items()}
            r["prediction"], r["correct"] = ("No" if r["prediction"] == "Yes" else "Yes"), not r["correct"]
        else:
            r.pop("options", None)
        contrarian.append(r)
    b = _write(tmp_path / "b.jsonl", contrarian)
    assert main(["eval", "ensemble", str(vqarad_predictions), str(vqarad_predictions), str(b), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    right = sum(r["correct"] for r in yes_no)
    assert out["n"] == len(yes_no)
    assert [m["correct"] for m in out["models"]] == [right, right, len(yes_no) - right]
    # Two votes against one: the ensemble answers as the first model (no Yes/No tie in real scores).
    assert out["ensemble"]["correct"] == right
    # The contrarian is right exactly where the others are wrong: no question is all right or all wrong.
    assert out["agreement"] == {"all_right": 0, "all_wrong": 0, "split": len(yes_no)}
    # Against the first model on the same questions: itself differs by nothing, the contrarian by
    # (wrong - right) / n, each with a paired interval around it.
    assert out["models"][1]["vs_first"] == {"diff": 0.0, "ci95": [0.0, 0.0]}
    contra = out["models"][2]["vs_first"]
    assert contra["diff"] == pytest.approx((len(yes_no) - 2 * right) / len(yes_no), abs=1e-4)
    assert contra["ci95"][0] <= contra["diff"] <= contra["ci95"][1]
    assert out["ensemble"]["vs_first"]["diff"] == 0.0


def test_eval_ensemble_refuses_files_of_different_questions(vqarad_predictions, tmp_path, capsys):
    rows = [json.loads(line) for line in vqarad_predictions.read_text(encoding="utf-8").splitlines()]
    shorter = _write(tmp_path / "shorter.jsonl", rows[:-1])
    assert main(["eval", "ensemble", str(vqarad_predictions), str(shorter)]) != 0
    err = capsys.readouterr().err.strip()
    assert "shorter.jsonl" in err and "questions differ" in err and len(err.splitlines()) == 1
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps(rows[0]) + "\n{not json\n", encoding="utf-8")
    assert main(["eval", "ensemble", str(vqarad_predictions), str(broken)]) != 0
    err = capsys.readouterr().err
    assert "broken.jsonl" in err and "line 2 is not JSON" in err
    unscored = _write(tmp_path / "unscored.jsonl", [{k: v for k, v in r.items() if k != "correct"} for r in rows])
    assert main(["eval", "ensemble", str(vqarad_predictions), str(unscored)]) != 0
    err = capsys.readouterr().err
    assert "unscored.jsonl" in err and "line 1 is not a prediction row" in err
    free = _write(tmp_path / "free.jsonl", [{k: v for k, v in r.items() if k != "options"} for r in rows])
    assert main(["eval", "ensemble", str(free), str(free)]) != 0
    assert "answered by probability" in capsys.readouterr().err
    assert main(["eval", "ensemble", str(vqarad_predictions), str(free)]) != 0  # names the file without them
    assert capsys.readouterr().err.strip().endswith(f"{free}: no question was answered by probability in every "
                                                    "file; this one has none (rows with 'options' are written by "
                                                    "radfound eval vqa --predictions without --free-text)")
    scored = next(r for r in rows if r.get("options"))
    odd = _write(tmp_path / "odd.jsonl", [{**scored, "options": {"Yes": "high", "No": "low"}}])
    assert main(["eval", "ensemble", str(odd), str(odd)]) != 0
    assert "odd.jsonl: line 1: 'options' must map each offered answer to a probability" in capsys.readouterr().err
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    assert main(["eval", "ensemble", str(empty), str(empty)]) != 0
    assert "empty.jsonl: empty predictions file" in capsys.readouterr().err


def test_eval_report_on_phantoms_with_tiny_model(tiny_model_dir, capsys):
    rc = main(["eval", "report", "--model", str(tiny_model_dir), "--set", "ct", "--n", "2", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n"] == 2 and out["kind"] == "ct"
    for level in ("side", "location"):
        assert _in_unit(out["model"][level]["f1"])
    assert set(out["model"]["text"]) >= {"bleu_1", "bleu_4", "rouge_l", "cider", "meteor"}
    # An all-normal report finds nothing: its recall is 0 whenever the truth has findings.
    base = out["baseline_normal_report"]["side"]
    assert base["tp"] == 0 and (base["fn"] == 0 or base["recall"] == 0.0)


def test_eval_report_with_one_breast_shown_counts_drafts_about_the_other(capsys):
    """--views left: the shipped model is shown the left views alone; the drafts that still describe the
    right breast are counted (0.4.0: every one, as it was trained on 4-view sets only)."""
    rc = main(["eval", "report", "--set", "mammo", "--n", "6", "--views", "left", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["views"] == "left" and out["n"] == 6
    drafts = [e["draft"] for e in out["examples"]]
    assert all("right breast" not in e["reference"].lower() for e in out["examples"])
    named = sum("right breast" in d.lower() for d in drafts)  # 0.4.0: all 3; a model trained on partial sets: fewer
    assert named <= out["unimaged_side_drafts"] <= 6 - (len(drafts) - named)  # examples are the first 3 of 6
    assert main(["eval", "report", "--set", "ct", "--views", "left"]) != 0
    assert "--views left applies to --set mammo only" in capsys.readouterr().err


def test_eval_feedback_summarises_a_log(tmp_path, capsys):
    from radfound.feedback import record

    log = tmp_path / "feedback.jsonl"
    record("FINDINGS: a mass.", "FINDINGS: a small mass.", model="m", rating=4, path=log)
    record("No nodule.", "No nodule.", model="m", rating=5, path=log)
    assert main(["eval", "feedback", "--log", str(log), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["drafts"] == 2


def test_eval_grounding_with_tiny_model(shared_data, tiny_model_dir, capsys):
    rc = main(["eval", "grounding", "--model", str(tiny_model_dir), "--limit", "2", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["images"] == 2 and out["boxes"] >= 2
    assert _in_unit(out["found_iou_0.5"])
    lo, hi = out["found_iou_0.5_ci95"]  # two images: an interval over images exists
    assert lo <= out["found_iou_0.5"] <= hi
