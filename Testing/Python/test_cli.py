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
