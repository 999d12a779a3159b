"""`radfound models list | import | verify | remove` end to end through the real command."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def radfound(*args, store):
    env = {**os.environ, "RADFOUND_MODELS": str(store)}
    return subprocess.run([sys.executable, "-m", "radfound.cli.main", "models", *args], capture_output=True, text=True, env=env)


def test_import_list_verify_remove(model_folder, tmp_path):
    store = tmp_path / "store"
    r = radfound("import", str(model_folder), "--name", "cli-model", store=store)
    assert r.returncode == 0, r.stderr
    assert "imported cli-model" in r.stdout and "every sha256 verified" in r.stdout

    r = radfound("list", "--json", store=store)
    listed = {e["name"]: e for e in json.loads(r.stdout)}
    assert listed["cli-model"]["source"] == "user" and listed["cli-model"]["family"] == "radfound"

    r = radfound("verify", "cli-model", store=store)
    assert r.returncode == 0 and r.stdout.strip() == "cli-model: verified"

    graph = store / "cli-model" / "onnx" / "decoder_model_merged.onnx"
    data = bytearray(graph.read_bytes())
    data[0] ^= 0x01
    graph.write_bytes(bytes(data))
    r = radfound("verify", "cli-model", store=store)
    assert r.returncode == 1
    assert "decoder_model_merged.onnx: sha256 does not match" in r.stdout

    r = radfound("remove", "cli-model", store=store)
    assert r.returncode == 0 and not (store / "cli-model").exists()


def test_errors_are_one_line(tmp_path):
    store = tmp_path / "store"
    for args, text in (
        (("remove", "ghost"), "no model called 'ghost'"),
        (("import", str(tmp_path / "nowhere")), "no such file or folder"),
    ):
        r = radfound(*args, store=store)
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and text in r.stderr and "Traceback" not in r.stderr
