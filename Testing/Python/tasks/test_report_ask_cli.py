"""``radfound report`` / ``radfound ask`` as a user runs them, on a real chest radiograph."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from radfound.config import PRELIMINARY_NOTICE


def radfound(*args):
    return subprocess.run([sys.executable, "-m", "radfound.cli.main", *map(str, args)], capture_output=True,
                          text=True)


@pytest.fixture(scope="module")
def cxr_path(pydicom_data):
    return pydicom_data("RG1_UNCR.dcm")


def test_report_json(tiny_model_dir, cxr_path):
    r = radfound("report", cxr_path, "--model", tiny_model_dir, "--device", "cpu", "--json", "--max-new-tokens", 8)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["model"] == "radfound-tiny" and out["provider"] == "CPUExecutionProvider"
    assert out["report"].startswith("FINDINGS:") and out["notice"] == PRELIMINARY_NOTICE
    assert {"ttft_ms", "decode_ms_per_token", "tokens_per_s", "encode_ms"} <= set(out["timings"])
    assert out["study"]["kind"] == "cxr"


def test_report_human_readable_streams_with_the_notice(tiny_model_dir, cxr_path):
    r = radfound("report", cxr_path, "--model", tiny_model_dir, "--stream", "--max-new-tokens", 6)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(PRELIMINARY_NOTICE)
    assert "Model: radfound-tiny" in r.stdout


def test_report_human_readable_names_the_model_once(tiny_model_dir, cxr_path):
    r = radfound("report", cxr_path, "--model", tiny_model_dir, "--max-new-tokens", 6)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(PRELIMINARY_NOTICE)
    assert r.stdout.count("Model: radfound-tiny") == 1
    assert "Timings: encode" in r.stdout and "first token" in r.stdout


def test_report_writes_a_dicom_sr(tiny_model_dir, cxr_path, tmp_path):
    pydicom = pytest.importorskip("pydicom")
    sr = tmp_path / "draft.dcm"
    r = radfound("report", cxr_path, "--model", tiny_model_dir, "--json", "--max-new-tokens", 6, "--sr", sr)
    assert r.returncode == 0, r.stderr
    ds = pydicom.dcmread(sr)
    assert ds.Modality == "SR" and json.loads(r.stdout)["sr_sop_instance_uid"] == ds.SOPInstanceUID


def test_ask_json_in_chinese(tiny_model_dir, cxr_path):
    r = radfound("ask", cxr_path, "心脏大小正常吗？", "--model", tiny_model_dir, "--json",
                 "--max-new-tokens", 6)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["question"] == "心脏大小正常吗？" and "answer" in out
    assert out["model"] == "radfound-tiny" and out["provider"] and out["timings"]["new_tokens"] >= 0


def test_ask_human_readable_has_the_notice(tiny_model_dir, cxr_path):
    r = radfound("ask", cxr_path, "Is there a pneumothorax?", "--model", tiny_model_dir, "--max-new-tokens", 4)
    assert r.returncode == 0, r.stderr
    assert PRELIMINARY_NOTICE in r.stdout and "Q: Is there a pneumothorax?" in r.stdout
    # a yes/no question is answered by probability: the shares follow the answer
    assert re.search(r"A: (Yes|No) \(model's preference: (Yes|No) .*%; not a calibrated probability\)", r.stdout)


def test_ask_yes_no_gets_yes_or_no_unless_free_text(tiny_model_dir, cxr_path):
    q = "Is there a pneumothorax?"
    closed = json.loads(radfound("ask", cxr_path, q, "--model", tiny_model_dir, "--json").stdout)
    free = radfound("ask", cxr_path, q, "--model", tiny_model_dir, "--json", "--free-text", "--max-new-tokens", 4)
    assert free.returncode == 0, free.stderr
    assert closed["answer"] in ("Yes", "No")
    assert json.loads(free.stdout)["timings"]["new_tokens"] == 4  # random weights: generation ran to the limit


def test_missing_model_folder_is_one_clear_line(cxr_path, tmp_path):
    r = radfound("ask", cxr_path, "Is there a pneumothorax?", "--model", tmp_path / "no-such-model")
    assert r.returncode == 2
    assert "model folder not found" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_bad_input_file_is_one_clear_line(tiny_model_dir, tmp_path):
    bad = tmp_path / "not_an_image.dcm"
    bad.write_bytes(b"nonsense")
    r = radfound("report", bad, "--model", tiny_model_dir)
    assert r.returncode != 0 and str(bad) in r.stderr and "Traceback" not in r.stderr
