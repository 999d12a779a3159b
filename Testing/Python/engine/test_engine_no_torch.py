"""The runtime path (engine, tasks, report/ask CLI) must never import torch."""

from __future__ import annotations

import subprocess
import sys


def test_runtime_modules_do_not_import_torch(tiny_model_dir):
    code = (
        "import sys, numpy as np\n"
        "import radfound.engine, radfound.tasks.report, radfound.tasks.vqa, radfound.cli.report_cmd, "
        "radfound.cli.ask_cmd\n"
        f"m = radfound.engine.load_model({str(tiny_model_dir)!r}, device='cpu')\n"
        "s = m.config['vision_config']['image_size']\n"
        "enc = m.encode_inputs(np.zeros((1, 1, s, s), np.float32), [1], [0])\n"
        "radfound.tasks.vqa.answer_question(m, enc, 'Is it normal?', max_new_tokens=2)\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "print('ok')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
