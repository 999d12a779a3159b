"""The harness end to end with a real (random-weight) exported model: runs, numbers well-formed."""

from __future__ import annotations

import json

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
