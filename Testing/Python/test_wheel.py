"""A wheel (what `pip install .` builds, not the editable checkout) carries the shipped model and drafts with it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_wheel_drafts_with_its_own_copy_of_the_shipped_model(tmp_path):
    had_build_dir = (ROOT / "build").exists()
    try:
        build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                                "-w", str(tmp_path / "dist"), str(ROOT)], capture_output=True, text=True)
    finally:
        if not had_build_dir:  # setuptools builds in the checkout; a stale build/lib would leak into later wheels
            shutil.rmtree(ROOT / "build", ignore_errors=True)
    assert build.returncode == 0, build.stderr[-2000:]
    wheel = next((tmp_path / "dist").glob("radfound-*.whl"))
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    assert (site / "radfound/_resources/models/radfound-small/manifest.json").is_file()
    assert not (site / "Resources").exists()  # nothing outside the package: site-packages has no Resources/
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import radfound.config as c; "
            "assert c.PACKAGE_DIR.parent == __import__('pathlib').Path(sys.argv[1]), c.PACKAGE_DIR; "
            "from radfound.cli.main import main; sys.exit(main(['report', sys.argv[2], '--json']))")
    sample = site / "radfound/_resources/Samples/chest_xray_pa.jpg"
    run = subprocess.run([sys.executable, "-c", code, str(site), str(sample)], cwd=tmp_path, capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stderr
    assert '"model": "radfound-small"' in run.stdout and '"notice": "PRELIMINARY AI DRAFT' in run.stdout
