"""Install RadFound's Python dependencies into Slicer on first use, never at import, only with consent.

The decision logic (what is missing, which ONNX Runtime build fits this machine) is
plain Python so it is tested headless; only ``ensure`` touches Slicer, through
``slicer.pydeps.pip_ensure`` (Slicer 5.11+; it asks the user itself), the same
function under ``slicer.packaging`` where a build has it, else
``slicer.util.pip_install`` after our own confirmation callback.

ONNX Runtime: ``onnxruntime-gpu`` where NVIDIA publishes a CUDA build (Linux x86_64,
Windows x64) and an NVIDIA driver is present, ``onnxruntime`` otherwise, and never
both: if either is already installed it is kept (both install the same
``onnxruntime`` package and one would overwrite the other).
"""

from __future__ import annotations

import importlib.metadata
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

from radfound.errors import DependencyError

#: What RadFound needs inside Slicer besides Slicer's own numpy (keep in step with pyproject.toml).
RUNTIME_REQUIREMENTS: tuple[str, ...] = (
    "pydicom>=3.0",
    "pylibjpeg>=2.0",
    "pylibjpeg-libjpeg>=2.1",
    "pylibjpeg-openjpeg>=2.3",
    "pylibjpeg-rle>=2.0",
    "tokenizers>=0.19",
    "pillow>=10",
    "pynrrd>=1.0",
    "nibabel>=5.0",
    "platformdirs>=4",
    "tqdm>=4.66",
    "highdicom>=0.23",
    "dicomweb-client>=0.59",
    "requests>=2.28",
    "gguf>=0.10",
    "onnx>=1.16",
)
ORT_GPU, ORT_CPU = "onnxruntime-gpu", "onnxruntime"
ORT_VERSION = ">=1.20"
#: Every distribution that provides the ``onnxruntime`` import package.
ORT_DISTRIBUTIONS = (ORT_GPU, ORT_CPU, "onnxruntime-directml", "onnxruntime-openvino", "onnxruntime-qnn")


def installed_version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def has_nvidia_driver() -> bool:
    """True when an NVIDIA driver is installed (so a CUDA build of ONNX Runtime can run)."""
    if shutil.which("nvidia-smi") or Path("/proc/driver/nvidia/version").exists():
        return True
    return platform.system() == "Windows" and (Path(r"C:\Windows\System32\nvcuda.dll")).exists()


def cuda_build_exists(system: str, machine: str) -> bool:
    """Whether PyPI has an onnxruntime-gpu wheel for this platform."""
    return (system, machine.lower()) in {("Linux", "x86_64"), ("Windows", "amd64"), ("Windows", "x86_64")}


def onnxruntime_requirement(
    system: str | None = None, machine: str | None = None, nvidia: bool | None = None, installed: dict | None = None
) -> str | None:
    """The ONNX Runtime requirement to install, or None when some build is already installed."""
    installed = installed if installed is not None else {d: installed_version(d) for d in ORT_DISTRIBUTIONS}
    if any(installed.values()):
        return None  # never add a second build next to the first
    system = system or platform.system()
    machine = machine or platform.machine()
    nvidia = has_nvidia_driver() if nvidia is None else nvidia
    name = ORT_GPU if nvidia and cuda_build_exists(system, machine) else ORT_CPU
    return name + ORT_VERSION


def _satisfied(requirement: str) -> bool:
    from packaging.requirements import Requirement

    req = Requirement(requirement)
    version = installed_version(req.name)
    return version is not None and (not req.specifier or req.specifier.contains(version, prereleases=True))


def missing_requirements(**platform_info) -> list[str]:
    """Requirement strings not satisfied in this Python (the ONNX Runtime build chosen for this machine included)."""
    missing = [r for r in RUNTIME_REQUIREMENTS if not _satisfied(r)]
    ort = onnxruntime_requirement(**platform_info)
    if ort:
        missing.append(ort)
    return missing


def _pip_ensure():
    import importlib

    for module in ("slicer.pydeps", "slicer.packaging"):
        try:
            found = getattr(importlib.import_module(module), "pip_ensure", None)
        except ImportError:
            found = None
        if found:
            return found
    return None


def _name(requirement: str) -> str:
    from packaging.requirements import Requirement

    return Requirement(requirement).name.lower()


def loaded_distributions() -> set[str]:
    """Distributions (lower-case names) some of whose modules this Python has already imported: upgrading one
    changes the files on disk, not the code already running (Slicer 5.10 imports its pydicom 2 at start-up)."""
    owners = importlib.metadata.packages_distributions()
    return {dist.lower() for module in list(sys.modules) if "." not in module for dist in owners.get(module, ())}


def _pip_install(requirements: list[str]) -> None:
    import slicer.util

    slicer.util.pip_install(requirements)


def ensure(confirm: Callable[[str], bool]) -> list[str]:
    """Install what is missing (asking first); returns what was installed. Raises DependencyError if declined,
    if pip failed, or if an upgraded package was already loaded (then Slicer must restart before RadFound runs).

    ``confirm(message)`` asks the user (a Yes/No box in the module); it is used only when
    Slicer has no ``pip_ensure``, which asks by itself.
    """
    missing = missing_requirements()
    if not missing:
        return []
    upgrades = [r for r in missing if _name(r) in loaded_distributions()]
    pip_ensure = _pip_ensure()
    try:
        if pip_ensure is not None:
            from packaging.requirements import Requirement

            pip_ensure([Requirement(r) for r in missing], requester="RadFound")
        else:
            replaced = "".join(f"\n  {r} (replaces the version Slicer has loaded)" for r in upgrades)
            message = (
                "RadFound needs these Python packages, which are not installed yet:\n\n  "
                + "\n  ".join(r for r in missing if r not in upgrades) + replaced
                + "\n\nInstall them now? (a few hundred MB"
                + ("; Slicer must restart afterwards, and other modules will use the new versions too)"
                   if upgrades else "; Slicer may need a restart afterwards)")
            )
            if not confirm(message):
                raise DependencyError("installation declined: " + ", ".join(missing))
            _pip_install(missing)
    except RuntimeError as exc:  # pip_ensure raises RuntimeError when the user declines
        raise DependencyError(f"packages not installed ({exc}): " + ", ".join(missing)) from exc
    except (subprocess.CalledProcessError, OSError) as exc:  # pip itself failed (network, permissions...)
        raise DependencyError(f"installing {', '.join(missing)} failed ({type(exc).__name__}); "
                              "pip's messages are in the Python console") from exc
    still = [r for r in missing_requirements() if r in missing and not r.startswith("onnxruntime")]
    if still:
        raise DependencyError("installation did not complete: " + ", ".join(still))
    if upgrades:
        raise DependencyError(f"installed {', '.join(upgrades)}, replacing a version Slicer had already loaded: "
                              "restart Slicer, then try again")
    return missing
