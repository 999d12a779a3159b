"""`radfound inspect` as a user runs it: the .venv command on real files, JSON keys, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pydicom

DICOMDIR_TESTS = Path(pydicom.__file__).parent / "data" / "test_files" / "dicomdirtests"


def inspect(*args):
    return subprocess.run([sys.executable, "-m", "radfound.cli.main", "inspect", *map(str, args)],
                          capture_output=True, text=True)


def test_human_readable_ct_series():
    r = inspect(DICOMDIR_TESTS / "98892001" / "CT5N")
    assert r.returncode == 0, r.stderr
    assert "kind: ct" in r.stdout
    assert "volume: 5 x 16 x 16" in r.stdout and "spacing 2.5 x 0.4883 x 0.4883 mm" in r.stdout


def test_json_keys_for_a_chest_radiograph(pydicom_data):
    r = inspect(pydicom_data("RG1_J2KR.dcm"), "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert {"kind", "views", "volume", "warnings"} <= set(summary)
    assert summary["kind"] == "cxr" and summary["volume"] is None
    assert summary["views"] == [{"view": "PA", "shape": [1955, 1841], "spacing": [1.0, 1.0], "laterality": None}]
    assert "CompressedSamples" not in r.stdout  # the patient's name never appears


def test_json_for_a_volume_and_series_choice(tmp_path):
    import shutil

    shutil.copytree(DICOMDIR_TESTS / "98892001", tmp_path / "study")
    uid = pydicom.dcmread(next((tmp_path / "study" / "CT2N").iterdir())).SeriesInstanceUID
    summary = json.loads(inspect(tmp_path / "study", "--json").stdout)
    assert summary["volume"]["shape"] == [5, 16, 16] and summary["views"] == []
    assert any("several series" in w for w in summary["warnings"])
    r = inspect(tmp_path / "study", "--series-uid", uid, "--json")
    # CT2N: two single 16x16 slices of different orientations, read as 2D images: under the 32-pixel minimum.
    assert r.returncode == 2 and "CT2N" in r.stderr and "too small to read" in r.stderr


def test_jpeg_with_kind(shared_data):
    path = sorted((shared_data / "vqa-rad" / "images").glob("*.jpg"))[0]
    r = inspect(path, "--kind", "cxr")
    assert r.returncode == 0 and "kind: cxr" in r.stdout


def test_bad_input_is_one_line_without_traceback(tmp_path):
    empty = tmp_path / "empty.dcm"
    empty.write_bytes(b"")
    for args in ([empty], [tmp_path / "missing"], [DICOMDIR_TESTS / "77654033" / "CT2"]):
        r = inspect(*args)
        assert r.returncode != 0
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in r.stderr
        assert lines[0].startswith("radfound inspect: error: ") and str(args[0]) in lines[0]
