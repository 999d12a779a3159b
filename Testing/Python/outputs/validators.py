"""Run the real DICOM validators on an SR file: dciodvfy (dicom3tools) and dsrdump (dcmtk).

Tests call :func:`validate_sr`, which skips the test with a clear reason when a
tool is not installed (``ci/setup --test`` installs both) and fails it on any
dciodvfy error or dsrdump failure. Warnings are returned for the test to review.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

#: dciodvfy warnings that come from the source images' own headers (copied verbatim
#: into the SR's patient/study context), not from anything the SR writer decides.
SOURCE_HEADER_WARNINGS = ("Referring Physician's Name",)


@dataclass
class SrValidation:
    errors: list[str]
    warnings: list[str]
    dump: str  # dsrdump's rendering of the document


def _tool(name: str) -> str:
    path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    if path is None:
        pytest.skip(f"{name} not installed (Debian package {'dicom3tools' if name == 'dciodvfy' else 'dcmtk'}; "
                    "`ci/setup --test` installs it)")
    return path


def validate_sr(path: str | Path) -> SrValidation:
    """Validate ``path`` with dciodvfy and dsrdump; fail the calling test on any error."""
    dciodvfy, dsrdump = _tool("dciodvfy"), _tool("dsrdump")
    run = subprocess.run([dciodvfy, str(path)], capture_output=True, text=True, timeout=120)
    lines = (run.stdout + run.stderr).splitlines()
    errors = [line for line in lines if line.startswith("Error")]
    warnings = [line for line in lines if line.startswith("Warning")]
    assert not errors and run.returncode == 0, f"dciodvfy found errors in {path}:\n" + "\n".join(errors or lines)
    dump = subprocess.run([dsrdump, "+Pl", str(path)], capture_output=True, text=True, timeout=120)
    assert dump.returncode == 0 and "E: " not in dump.stderr, f"dsrdump could not read {path}:\n{dump.stderr}"
    return SrValidation(errors, warnings, dump.stdout)


def unexpected_warnings(result: SrValidation) -> list[str]:
    """dciodvfy warnings not explained by the source images' own headers."""
    return [w for w in result.warnings if not any(s in w for s in SOURCE_HEADER_WARNINGS)]
