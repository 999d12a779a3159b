"""The PACS/SR runtime path never imports torch (only training, export and benchmarks may), nor Ray (an extra)."""

from __future__ import annotations

import os
import subprocess
import sys


def test_pacs_and_outputs_do_not_import_torch():
    code = ("import sys, radfound.pacs.batch, radfound.pacs.dicomweb, radfound.pacs.orthanc, radfound.outputs.sr, "
            "radfound.outputs.text, radfound.cli.batch_cmd; "
            "bad = [m for m in ('torch', 'slicer') if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_ray_stays_optional_for_the_cli_and_the_slicer_modules():
    """Ray is the 'ray' extra: only ``radfound.pacs.ray_batch`` imports it, and only when a Ray batch runs."""
    code = ("import sys, radfound.cli.main, radfound.cli.batch_cmd, radfound.pacs.batch, radfound.pacs.ray_batch, "
            "radfound.slicer.report_logic, radfound.slicer.vqa_logic, radfound.ui.report_panel, radfound.ui.vqa_panel; "
            "bad = [m for m in sys.modules if m == 'ray' or m.startswith('ray.')]; print(bad[:3]); "
            "sys.exit(1 if bad else 0)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert run.returncode == 0, run.stdout + run.stderr
