"""First-use dependency decisions: ONNX Runtime build per platform, never two builds, list matches pyproject."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from radfound.errors import DependencyError
from radfound.slicer import dependencies as deps

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("system", "machine", "nvidia", "expected"),
    [
        ("Linux", "x86_64", True, "onnxruntime-gpu>=1.20"),
        ("Windows", "AMD64", True, "onnxruntime-gpu>=1.20"),
        ("Linux", "x86_64", False, "onnxruntime>=1.20"),
        ("Linux", "aarch64", True, "onnxruntime>=1.20"),
        ("Darwin", "arm64", False, "onnxruntime>=1.20"),
    ],
)
def test_onnxruntime_build_choice(system, machine, nvidia, expected):
    assert deps.onnxruntime_requirement(system, machine, nvidia, installed={}) == expected


@pytest.mark.parametrize("present", ["onnxruntime-gpu", "onnxruntime"])
def test_never_a_second_onnxruntime(present):
    installed = {d: None for d in deps.ORT_DISTRIBUTIONS} | {present: "1.22.0"}
    assert deps.onnxruntime_requirement("Linux", "x86_64", True, installed=installed) is None


def test_this_environment_is_complete():
    """The project venv has everything (onnxruntime-gpu installed, so no second build is proposed)."""
    assert deps.missing_requirements() == []


def test_requirements_match_pyproject():
    text = (ROOT / "pyproject.toml").read_text()
    block = text[text.index("dependencies = [") : text.index("]", text.index("dependencies = ["))]
    names = {re.split(r"[<>=;\[ ]", s)[0].lower() for s in re.findall(r'"([^"]+)"', block)}
    ours = {re.split(r"[<>=;\[ ]", r)[0].lower() for r in deps.RUNTIME_REQUIREMENTS}
    # Slicer ships numpy (never reinstall it); ONNX Runtime is chosen per machine by onnxruntime_requirement.
    assert ours == names - {"numpy", "onnxruntime", "onnxruntime-gpu"}


def test_ensure_without_slicer_app_reports_nothing_to_do():
    assert deps.ensure(confirm=lambda message: pytest.fail("nothing is missing: no question")) == []


def test_missing_package_is_asked_for_and_decline_installs_nothing(monkeypatch):
    monkeypatch.setattr(deps, "RUNTIME_REQUIREMENTS", (*deps.RUNTIME_REQUIREMENTS, "radfound-not-a-package>=1"))
    assert deps.missing_requirements() == ["radfound-not-a-package>=1"]
    questions = []
    with pytest.raises(DependencyError, match="declined: radfound-not-a-package>=1"):
        deps.ensure(confirm=lambda message: questions.append(message) or False)
    assert len(questions) == 1 and "radfound-not-a-package>=1" in questions[0]
    assert deps.installed_version("radfound-not-a-package") is None


def test_a_failed_pip_is_one_message_not_a_traceback(monkeypatch):
    """slicer.util.pip_install raises CalledProcessError when pip fails (no network): the panel shows a message."""
    import subprocess

    monkeypatch.setattr(deps, "RUNTIME_REQUIREMENTS", (*deps.RUNTIME_REQUIREMENTS, "radfound-not-a-package>=1"))
    monkeypatch.setattr(deps, "_pip_ensure", lambda: None)  # Slicer 5.10: our own question, then pip_install

    def failing_pip(requirements):
        raise subprocess.CalledProcessError(1, ["pip", "install", *requirements])

    monkeypatch.setattr(deps, "_pip_install", failing_pip)
    with pytest.raises(DependencyError, match=r"installing radfound-not-a-package>=1 failed \(CalledProcessError\)"):
        deps.ensure(confirm=lambda message: True)


def test_upgrading_a_package_slicer_has_loaded_asks_for_a_restart(monkeypatch):
    """Slicer 5.10 imports its own pydicom 2 at start-up; RadFound needs pydicom 3. The question says the new
    version replaces the loaded one, and after pip, RadFound does not run on the old code: restart first."""
    import pydicom

    assert "pydicom" in deps.loaded_distributions()
    needed = f"pydicom>{pydicom.__version__}"  # as if this Python had an older pydicom than RadFound needs
    monkeypatch.setattr(deps, "RUNTIME_REQUIREMENTS", (needed,))
    monkeypatch.setattr(deps, "onnxruntime_requirement", lambda **_: None)
    monkeypatch.setattr(deps, "_pip_ensure", lambda: None)
    real_version = deps.installed_version
    installed = []

    def pip_install(requirements):  # what pip does on disk: a newer pydicom, while the old one stays loaded
        installed.extend(requirements)
        monkeypatch.setattr(deps, "installed_version",
                            lambda name: "99.0" if name == "pydicom" else real_version(name))

    monkeypatch.setattr(deps, "_pip_install", pip_install)
    questions = []
    with pytest.raises(DependencyError, match="replacing a version Slicer had already loaded: restart Slicer"):
        deps.ensure(confirm=lambda message: questions.append(message) or True)
    assert installed == [needed]
    assert "replaces the version Slicer has loaded" in questions[0] and "must restart" in questions[0]
