"""The radfound command's contract: help, version, and one readable line for bad input."""

from __future__ import annotations

import subprocess
import sys


def run(*args):
    return subprocess.run([sys.executable, "-m", "radfound.cli.main", *args], capture_output=True, text=True)


def test_version():
    r = run("--version")
    assert r.returncode == 0 and r.stdout.startswith("radfound ")


def test_no_command_prints_help_and_fails():
    r = run()
    assert r.returncode == 2
    assert "preliminary AI draft" in r.stdout


def test_a_chinese_answer_on_a_console_that_cannot_show_it(pydicom_data):
    """stdout in cp1252 (Windows, output redirected): the answer comes out escaped, never as a crash after
    the model ran; the JSON stays parseable."""
    import json
    import os

    env = {**os.environ, "PYTHONIOENCODING": "cp1252"}
    r = subprocess.run([sys.executable, "-m", "radfound.cli.main", "ask", str(pydicom_data("RG1_UNCR.dcm")),
                        "心脏大小正常吗？", "--json"], capture_output=True, env=env)
    assert r.returncode == 0, r.stderr.decode("cp1252", "replace")
    assert json.loads(r.stdout.decode("cp1252"))["question"] == "心脏大小正常吗？"


def test_a_reader_that_goes_away_is_not_an_error(pydicom_data):
    """`radfound inspect FILE | head -c0`: the pipe is closed before anything is written."""
    import os

    read_end, write_end = os.pipe()
    os.close(read_end)
    with os.fdopen(write_end, "wb") as closed_pipe:
        r = subprocess.run([sys.executable, "-m", "radfound.cli.main", "inspect", str(pydicom_data("RG1_UNCR.dcm"))],
                           stdout=closed_pipe, stderr=subprocess.PIPE, text=True)
    assert r.returncode == 141 and r.stderr == ""


def test_train_without_torch_says_what_to_install(tmp_path):
    """The runtime install (bash ci/demo) has no torch: `radfound train` says so in one line, creates nothing."""
    code = ("import sys; sys.modules['torch'] = None; from radfound.cli.main import main; "
            f"sys.exit(main(['train', '--config', 'tiny', '--out', {str(tmp_path / 'run')!r}]))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "training needs torch (bash ci/setup --train" in r.stderr and not (tmp_path / "run").exists()
