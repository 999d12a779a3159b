"""The extension is packaged completely: every library file is in the CMake lists, modules are
well-formed Slicer scripted modules, the catalog entry follows the Extension Index schema."""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
MODULES = ("RadFoundReport", "RadFoundVQA")


def cmake_list(text: str, name: str) -> list[str]:
    match = re.search(rf"set\({name}\n(.*?)\n\s*\)", text, re.S)
    assert match, f"set({name} ...) not found"
    return [line.strip() for line in match.group(1).splitlines() if line.strip() and not line.strip().startswith("#")]


def tracked(path: str) -> list[str]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    out = subprocess.run(["git", "ls-files", path], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [f for f in out.splitlines() if f]


def test_every_library_file_is_packaged():
    text = (ROOT / "CMakeLists.txt").read_text()
    listed = set(cmake_list(text, "RADFOUND_LIBRARY_SCRIPTS")) | set(cmake_list(text, "RADFOUND_LIBRARY_RESOURCES"))
    missing = sorted(set(tracked("radfound")) - listed)
    assert not missing, ("not packaged; run Testing/Python/slicer_extension/update_cmake_lists.py:\n  "
                         + "\n  ".join(missing))
    absent = sorted(f for f in listed if not (ROOT / f).is_file())
    assert not absent, f"listed in CMakeLists.txt but not on disk (CMake would fail): {absent}"


def test_top_level_cmake_is_a_slicer_extension():
    text = (ROOT / "CMakeLists.txt").read_text()
    assert "project(RadFound)" in text
    for key in ("EXTENSION_HOMEPAGE", "EXTENSION_CATEGORY", "EXTENSION_CONTRIBUTORS", "EXTENSION_DESCRIPTION",
                "EXTENSION_ICONURL", "EXTENSION_SCREENSHOTURLS", "EXTENSION_DEPENDS"):
        assert f"set({key} " in text
    for module in MODULES:
        assert f"add_subdirectory({module})" in text
    assert "include(${Slicer_EXTENSION_CPACK})" in text
    for url in re.findall(r"main/(Resources/\S+?\.png)", text):
        assert (ROOT / url).is_file() or url.startswith("Resources/Screenshots/"), url


@pytest.mark.parametrize("module", MODULES)
def test_module_cmake_lists_its_files(module):
    text = (ROOT / module / "CMakeLists.txt").read_text()
    assert f"set(MODULE_NAME {module})" in text and "WITH_GENERIC_TESTS" in text
    assert "slicerMacroBuildScriptedModule(" in text
    for item in cmake_list(text, "MODULE_PYTHON_SCRIPTS") + cmake_list(text, "MODULE_PYTHON_RESOURCES"):
        assert (ROOT / module / item.replace("${MODULE_NAME}", module)).is_file(), item
    assert (ROOT / module / "Testing" / "Python" / "CMakeLists.txt").is_file()


@pytest.mark.parametrize("module", MODULES)
def test_module_file_is_a_scripted_module_with_light_imports(module):
    tree = ast.parse((ROOT / module / f"{module}.py").read_text())
    classes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}
    assert {module, f"{module}Widget", f"{module}Test"} <= set(classes)
    assert classes[module].bases[0].id == "ScriptedLoadableModule"
    top_imports = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            top_imports |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            top_imports.add(node.module)
    for node in tree.body:  # the checkout fallback: `try: import radfound / except ImportError: sys.path...`
        if isinstance(node, ast.Try):
            top_imports |= {a.name for a in node.body[0].names}
    assert top_imports <= {"os", "sys", "radfound", "slicer", "slicer.ScriptedLoadableModule", "slicer.util",
                           "radfound.slicer.report_logic", "radfound.slicer.vqa_logic"}, top_imports


def test_module_imports_do_not_load_the_runtime():
    """What the module files import at Slicer start-up must not pull ONNX Runtime, torch or Qt."""
    code = ("import sys, radfound.slicer.report_logic, radfound.slicer.vqa_logic; "
            "heavy = [m for m in ('onnxruntime', 'torch', 'tokenizers', 'PySide6', 'pydicom') if m in sys.modules]; "
            "print(heavy); sys.exit(1 if heavy else 0)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_catalog_entry_follows_schema_v1_0_2():
    entry = json.loads((ROOT / "RadFound.json").read_text())
    assert entry["$schema"].endswith("slicer-extension-catalog-entry-schema-v1.0.2.json#")
    allowed = {"$schema", "category", "scm_url", "scm_revision", "scm_type", "build_dependencies",
               "dicom_support_rule", "build_subdirectory", "enabled", "tier"}
    assert {"$schema", "category", "scm_url"} <= set(entry) <= allowed
    assert entry["category"] == "Informatics" and isinstance(entry["build_dependencies"], list)
    assert 1 <= entry["tier"] <= 5
    # The Index's own checks (scripts/check_description_files.py): the repository's name contains "slicer"
    # and the extension's does not start with it.
    repository = entry["scm_url"].rstrip("/").split("/")[-1].removesuffix(".git")
    assert "slicer" in repository.lower() and not "RadFound".lower().startswith("slicer")
    homepage = re.search(r'set\(EXTENSION_HOMEPAGE "([^"]+)"\)', (ROOT / "CMakeLists.txt").read_text()).group(1)
    assert homepage.rstrip("/").split("/")[-1] == repository  # the extension page and the catalog agree


def test_licence_is_apache_2():
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
