"""``radfound batch --index``: every drafted study joins the similar-case index once, with its draft as report."""

from __future__ import annotations

import os
import subprocess
import sys

import pydicom

from pacs.pacs_helpers import chest_studies
from radfound.similar.index import CaseIndex


def test_batch_indexes_each_study_once_even_when_run_again(tmp_path):
    studies = chest_studies(tmp_path / "src", 3)
    uids = sorted(str(pydicom.dcmread(s[0], stop_before_pixels=True).StudyInstanceUID) for s in studies)
    env_args = ["--input", str(tmp_path / "src"), "--index", "--no-progress", "--max-new-tokens", "12"]
    for out in ("out1", "out2"):  # the second run drafts everything again into a new folder
        r = subprocess.run([sys.executable, "-m", "radfound.cli.main", "batch", *env_args, "--out", str(tmp_path / out)],
                           capture_output=True, text=True, env={**os.environ, "RADFOUND_SIMILAR_DIR": str(tmp_path / "idx")})
        assert r.returncode == 0, r.stderr
    (folder,) = (tmp_path / "idx").iterdir()
    index = CaseIndex.read(folder)
    assert index.model == "radfound-small 0.4.0"
    assert sorted(c.key for c in index.cases) == uids  # keyed by StudyInstanceUID, no duplicates
    assert all(c.report.startswith("FINDINGS: ") and "IMPRESSION: " in c.report and not c.edited
               for c in index.cases)
    assert all(c.kind == "cxr" and c.thumb for c in index.cases)
