"""Rewrite the RADFOUND_LIBRARY_SCRIPTS / _RESOURCES lists of CMakeLists.txt from `git ls-files radfound`.

Run after adding a file to the library: ``.venv/bin/python Testing/Python/slicer_extension/update_cmake_lists.py``.
Files outside radfound/ already in the lists (the batch script, Resources, LICENSE) are kept.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def update(extra: list[str] = ()) -> None:
    cmake = ROOT / "CMakeLists.txt"
    text = cmake.read_text()
    files = subprocess.run(["git", "ls-files", "radfound"], cwd=ROOT, capture_output=True, text=True, check=True)
    library = sorted(set(files.stdout.split()) | set(extra))
    for name, keep in (("RADFOUND_LIBRARY_SCRIPTS", lambda f: f.endswith(".py")),
                       ("RADFOUND_LIBRARY_RESOURCES", lambda f: not f.endswith(".py"))):
        block = re.search(rf"set\({name}\n(.*?)\n  \)", text, re.S)
        others = [line.strip() for line in block.group(1).splitlines() if not line.strip().startswith("radfound/")]
        items = [f for f in library if keep(f)] + others
        text = text[: block.start(1)] + "\n".join(f"  {item}" for item in items) + text[block.end(1):]
    cmake.write_text(text)


if __name__ == "__main__":
    update(sys.argv[1:])
