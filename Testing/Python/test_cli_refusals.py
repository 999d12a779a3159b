"""The command line refuses bad input and bad output places with one line naming them, before the model runs,
and says what it noticed: reader warnings, a draft cut off at the token limit."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from radfound.cli.main import main


def run(capsys, *args) -> tuple[int, str, str]:
    rc = main([str(a) for a in args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if "error" in line]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_sr_into_a_folder_or_under_a_file_is_refused_before_the_model_runs(capsys, pydicom_data, tmp_path):
    cxr = pydicom_data("RG1_UNCR.dcm")
    not_a_model = tmp_path / "no-such-model"  # were the model loaded first, this would be the error
    rc, out, err = run(capsys, "report", cxr, "--model", not_a_model, "--sr", tmp_path)
    assert rc == 2 and out == ""
    assert one_error_line(err).endswith(f"{tmp_path}: is a folder; give a file name")

    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    rc, _, err = run(capsys, "report", cxr, "--model", not_a_model, "--sr", a_file / "sr.dcm")
    assert rc == 2 and f"{a_file} is not a folder" in one_error_line(err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_sr_of_a_jpeg_is_refused_before_the_model_runs(capsys, tmp_path):
    from PIL import Image

    jpeg = tmp_path / "cxr.jpg"
    Image.fromarray(np.full((64, 64), 128, np.uint8)).save(jpeg)
    rc, out, err = run(capsys, "report", jpeg, "--model", tmp_path / "no-such-model", "--sr", tmp_path / "sr.dcm")
    assert rc == 2 and out == "" and "a DICOM SR needs DICOM source images" in one_error_line(err)
    assert not (tmp_path / "sr.dcm").exists()


def test_a_model_path_that_is_a_file_says_so(capsys, pydicom_data, tmp_path):
    (tmp_path / "model.onnx").write_bytes(b"not a folder")
    rc, _, err = run(capsys, "report", pydicom_data("RG1_UNCR.dcm"), "--model", tmp_path / "model.onnx")
    assert rc == 2 and "is a file; a model is a folder" in one_error_line(err)


def test_an_image_too_small_to_read_is_refused(capsys, tmp_path):
    from PIL import Image

    dot = tmp_path / "dot.png"
    Image.fromarray(np.zeros((1, 1), np.uint8)).save(dot)
    rc, _, err = run(capsys, "inspect", dot)
    assert rc == 2 and one_error_line(err).endswith(f"{dot}: image is 1x1 pixels, too small to read (at least 32x32)")


def test_truncated_dicom_files_are_called_truncated(capsys, pydicom_data, tmp_path):
    header_only = tmp_path / "ct_header.dcm"
    header_only.write_bytes(pydicom_data("CT_small.dcm").read_bytes()[:2000])
    rc, _, err = run(capsys, "inspect", header_only)
    assert rc == 2 and "truncated DICOM file: a CT Image Storage header but no pixel data" in one_error_line(err)

    cut_in_a_sequence = tmp_path / "mg_cut.dcm"
    cut_in_a_sequence.write_bytes(pydicom_data("JPEG2000.dcm").read_bytes()[:1500])
    rc, _, err = run(capsys, "inspect", cut_in_a_sequence)
    assert rc == 2 and "truncated" in one_error_line(err) and str(cut_in_a_sequence) in err
    assert "UserWarning" not in err  # pydicom's own multi-line warnings stay out of the one line


def test_reader_warnings_and_the_series_choice_reach_report_and_ask(capsys, tiny_model_dir, pydicom_data):
    ct_slice = pydicom_data("CT_small.dcm")
    rc, out, err = run(capsys, "report", ct_slice, "--model", tiny_model_dir, "--max-new-tokens", 4)
    assert rc == 0 and "warning: a single CT slice is read as a 2D image" in err
    rc, out, err = run(capsys, "ask", ct_slice, "Is there a nodule?", "--model", tiny_model_dir, "--json")
    assert rc == 0 and any("single CT slice" in w for w in json.loads(out)["warnings"])

    folder = Path(pydicom_data("CT_small.dcm")).parent / "dicomdirtests" / "77654033" / "CT2"
    for command in (["report", folder], ["ask", folder, "Is there a nodule?"]):  # --series-uid reaches the reader
        rc, _, err = run(capsys, *command, "--series-uid", "1.2.3.4", "--model", tiny_model_dir)
        assert rc == 2 and "no images of series 1.2.3.4 here" in one_error_line(err)


def test_a_draft_cut_off_at_the_token_limit_is_flagged(capsys, tiny_model_dir, pydicom_data):
    cxr = pydicom_data("RG1_UNCR.dcm")  # random weights do not stop within 4 tokens
    rc, out, err = run(capsys, "report", cxr, "--model", tiny_model_dir, "--max-new-tokens", 4, "--json")
    assert rc == 0 and json.loads(out)["truncated"] is True
    rc, out, err = run(capsys, "report", cxr, "--model", tiny_model_dir, "--max-new-tokens", 4)
    assert rc == 0 and "warning: the draft stopped at the token limit (4 tokens) and may be cut off" in err


def test_a_yes_no_question_longer_than_the_context_is_a_model_error(capsys, tiny_model_dir, pydicom_data):
    question = ("Is there a pleural effusion in the left lower lobe? " * 100)[:5000]
    rc, out, err = run(capsys, "ask", pydicom_data("RG1_UNCR.dcm"), question, "--model", tiny_model_dir)
    assert rc == 2 and out == "" and "fills the model's context" in one_error_line(err)


@pytest.mark.parametrize("case", ["empty", "not_dicom"])
def test_batch_over_a_folder_without_dicom_images_fails_and_creates_nothing(capsys, tmp_path, case):
    src = tmp_path / "in"
    src.mkdir()
    if case == "not_dicom":
        (src / "notes.dcm").write_text("not DICOM")
    rc, _, err = run(capsys, "batch", "--input", src, "--out", tmp_path / "out", "--no-progress")
    line = one_error_line(err)
    assert rc == 2 and f"{src}: no DICOM images found" in line
    assert case == "empty" or "notes.dcm: not a DICOM file" in line
    assert not (tmp_path / "out").exists()


def test_batch_input_or_output_that_is_a_file_is_refused(capsys, pydicom_data, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(pydicom_data("CT_small.dcm"), src / "ct.dcm")
    a_file = tmp_path / "file"
    a_file.write_text("x")
    rc, _, err = run(capsys, "batch", "--input", a_file, "--out", tmp_path / "out")
    assert rc == 2 and one_error_line(err).endswith(f"{a_file}: is a file; --input takes a folder of DICOM files")
    rc, _, err = run(capsys, "batch", "--input", src, "--out", a_file)
    assert rc == 2 and one_error_line(err).endswith(f"{a_file}: is a file; --out takes a folder")
    rc, _, err = run(capsys, "batch", "--input", src, "--out", tmp_path / "out", "--workers", 0)
    assert rc == 2 and not (tmp_path / "out").exists()


def test_a_modality_the_shipped_model_never_saw_is_flagged(capsys, pydicom_data):
    """radfound-small was trained on X-ray, CT, MR and (phantom) mammography: an ultrasound gets a warning on
    stderr and in the JSON; a chest CR does not."""
    rc, out, err = run(capsys, "ask", pydicom_data("US1_UNCR.dcm"), "Is this normal?", "--json")
    expected = "radfound-small was not trained on US images (only CR, DX, CT, MR, MG)"
    assert rc == 0 and expected in err and any(expected in w for w in json.loads(out)["warnings"])
    study = json.loads(out)["study"]  # the same block as report --json
    assert study["kind"] == "image" and expected in study["warnings"][-1] and study["sop_instance_uids"]
    rc, out, err = run(capsys, "report", pydicom_data("RG1_UNCR.dcm"), "--json")
    assert rc == 0 and "not trained on" not in err and json.loads(out)["study"]["warnings"] == []


def test_a_free_text_answer_cut_off_at_the_token_limit_is_flagged(capsys, tiny_model_dir, pydicom_data):
    cxr = pydicom_data("RG1_UNCR.dcm")  # random weights do not stop within 3 tokens
    rc, out, err = run(capsys, "ask", cxr, "What is shown?", "--model", tiny_model_dir, "--max-new-tokens", 3, "--json")
    assert rc == 0 and json.loads(out)["truncated"] is True
    rc, out, err = run(capsys, "ask", cxr, "What is shown?", "--model", tiny_model_dir, "--max-new-tokens", 3)
    assert rc == 0 and "warning: the answer stopped at the token limit (3 tokens) and may be cut off" in err
    rc, out, err = run(capsys, "ask", cxr, "Is the heart enlarged?", "--model", tiny_model_dir, "--json")
    assert rc == 0 and json.loads(out)["truncated"] is False  # chosen between Yes and No: nothing to cut


@pytest.mark.parametrize("args", [("eval", "vqa", "--questions", "q.json", "--images", ".", "--limit", "0"),
                                  ("eval", "grounding", "--limit", "-2"),
                                  ("eval", "report", "--set", "ct", "--n", "0")])
def test_eval_counts_below_one_are_refused(capsys, args):
    """--limit 0 evaluated everything, --limit -2 all but two, --n 0 crashed in the metrics: now one line."""
    rc, out, err = run(capsys, *args)
    assert rc == 2 and out == "" and "must be at least 1, not " in one_error_line(err)


def test_eval_report_seed_zero_is_a_seed(capsys, tiny_model_dir):
    rc, out, err = run(capsys, "eval", "report", "--set", "ct", "--n", "1", "--seed", "0", "--model", tiny_model_dir,
                       "--json")
    assert rc == 0, err
    assert json.loads(out)["seed"] == 0


def test_eval_vqa_on_the_whole_train_file_runs_the_model_without_baselines(capsys, shared_data, tiny_model_dir,
                                                                           tmp_path, monkeypatch):
    """Every image of the baselines' train file is evaluated: the model still runs, and the note says why there
    are no baselines (asked for explicitly, that is an error: test_vqa_data). A three-question train file stands
    in for VQA-RAD's, so the model answers three questions, not 3,064."""
    records = json.loads((shared_data / "vqa-rad/train.json").read_text(encoding="utf-8"))[:3]
    (tmp_path / "vqa-rad").mkdir()
    train = tmp_path / "vqa-rad/train.json"
    train.write_text(json.dumps(records), encoding="utf-8")
    monkeypatch.setenv("RADFOUND_DATA", str(tmp_path))
    rc, out, err = run(capsys, "eval", "vqa", "--questions", train, "--images", shared_data / "vqa-rad/images",
                       "--model", tiny_model_dir, "--json")
    assert rc == 0, err
    result = json.loads(out)
    assert result["baselines"] is None and result["model"]["n"] == 3
    assert result["note"].startswith("baselines skipped: no question to fit the baselines on")
