"""Nothing in the runtime path unpickles a file (or imports torch): scanned with the ast module."""

from __future__ import annotations

import ast
from pathlib import Path

import radfound

RUNTIME_PACKAGES = ("study", "preprocess", "engine", "tasks", "outputs", "pacs", "registry")
UNPICKLERS = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve", "marshal"}
UNSAFE_MODULES = UNPICKLERS | {"torch"}


def unsafe_uses(source: str, modules=UNSAFE_MODULES) -> list[str]:
    """Lines that import an unpickling module or torch, or call anything with allow_pickle=True / torch.load."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"{node.lineno}: import {a.name}" for a in node.names if a.name.split(".")[0] in modules]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in modules:
            found.append(f"{node.lineno}: from {node.module} import ...")
        elif isinstance(node, ast.Call):
            for kw in node.keywords:
                if kw.arg == "allow_pickle" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False):
                    found.append(f"{node.lineno}: allow_pickle={ast.unparse(kw.value)}")
            if ast.unparse(node.func).endswith(("pickle.load", "pickle.loads", "torch.load", "__import__")):
                found.append(f"{node.lineno}: {ast.unparse(node.func)}(...)")
    return found


def test_scanner_catches_unpickling():
    bad = (
        "import pickle\nfrom joblib import load\nimport numpy as np\n"
        "x = np.load('a.npy', allow_pickle=True)\ny = torch.load('w.pt')\nz = __import__('pickle')\n"
    )
    assert [line.split(":")[0] for line in unsafe_uses(bad)] == ["1", "2", "4", "5", "6"]
    assert unsafe_uses("import numpy as np\nx = np.load('a.npy', allow_pickle=False)\nimport json\n") == []


def test_runtime_packages_never_unpickle():
    root = Path(radfound.__file__).parent
    problems = []
    for package in RUNTIME_PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            problems += [f"{path.relative_to(root.parent)}:{u}" for u in unsafe_uses(path.read_text(encoding="utf-8"))]
    # The CLI may import torch lazily for train/export, but never unpickles either.
    for path in sorted((root / "cli").rglob("*.py")):
        problems += [f"{path.relative_to(root.parent)}:{u}" for u in unsafe_uses(path.read_text(encoding="utf-8"), UNPICKLERS)]
    assert problems == []
