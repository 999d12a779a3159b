"""`radfound report --model DIR` refuses a model whose file does not match its manifest, naming the file."""

from __future__ import annotations

import shutil
import subprocess
import sys


def report(model_dir, image):
    return subprocess.run([sys.executable, "-m", "radfound.cli.main", "report", str(image), "--model", str(model_dir),
                           "--device", "cpu", "--max-new-tokens", "4"], capture_output=True, text=True)


def test_tampered_decoder_refused_by_report_cli(tiny_model_dir, pydicom_data, tmp_path):
    image = pydicom_data("RG1_UNCR.dcm")
    intact = report(tiny_model_dir, image)
    assert intact.returncode == 0, intact.stderr  # the same command works on the intact model

    model = tmp_path / "tampered"
    shutil.copytree(tiny_model_dir, model)
    graph = model / "onnx" / "decoder_model_merged.onnx"
    data = bytearray(graph.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit, same size
    graph.write_bytes(bytes(data))
    r = report(model, image)
    assert r.returncode != 0 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert f"{graph}: sha256 does not match" in r.stderr
