"""The PACS/SR runtime path never imports torch (only training, export and benchmarks may)."""

from __future__ import annotations

import subprocess
import sys


def test_pacs_and_outputs_do_not_import_torch():
    code = ("import sys, radfound.pacs.batch, radfound.pacs.dicomweb, radfound.pacs.orthanc, radfound.outputs.sr, "
            "radfound.outputs.text, radfound.cli.batch_cmd; "
            "bad = [m for m in ('torch', 'slicer') if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
