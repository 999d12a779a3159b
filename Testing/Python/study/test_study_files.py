"""NRRD / NIfTI / PNG edge cases, and the runtime import rule (no torch, no slicer-core)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from radfound.errors import StudyReadError, UnsupportedInputError, VolumeTooLargeError
from radfound.study.reader import read_study


def test_single_slice_nrrd_is_a_2d_image(tmp_path):
    import nrrd

    data = np.arange(12 * 7, dtype=np.int16).reshape(12, 7, 1)  # i, j, k
    path = tmp_path / "one.nrrd"
    nrrd.write(str(path), data, {"space": "left-posterior-superior",
                                  "space directions": np.diag([0.5, 0.25, 3.0]), "space origin": [0, 0, 0]})
    study = read_study(path)
    assert study.kind == "image" and study.views[0].shape == (7, 12)
    assert study.views[0].spacing == (0.25, 0.5)
    np.testing.assert_array_equal(study.views[0].pixels, data[:, :, 0].T)


def test_4d_nifti_is_refused_and_garbage_is_a_read_error(tmp_path):
    import nibabel as nib

    path = tmp_path / "dwi.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((4, 4, 4, 3), np.float32), np.eye(4)), str(path))
    with pytest.raises(UnsupportedInputError, match="only 2D or 3D"):
        read_study(path)
    bad = tmp_path / "bad.nrrd"
    bad.write_text("NRRD0004\ntype: nonsense\n\n")
    with pytest.raises(StudyReadError) as info:
        read_study(bad)
    assert str(bad) in str(info.value)


def test_nifti_over_the_size_limit_is_refused_before_reading(tmp_path, monkeypatch):
    import nibabel as nib

    path = tmp_path / "big.nii"
    nib.save(nib.Nifti1Image(np.zeros((64, 64, 64), np.float32), np.eye(4)), str(path))
    monkeypatch.setenv("RADFOUND_MAX_VOLUME_MB", "0.5")
    with pytest.raises(VolumeTooLargeError):
        read_study(path)


def test_16_bit_png_and_mixed_inputs(tmp_path, pydicom_data):
    from PIL import Image

    arr = (np.arange(40 * 36, dtype=np.uint16).reshape(40, 36) * 45)
    path = tmp_path / "a.png"
    Image.fromarray(arr).save(path)
    view = read_study(path).views[0]
    np.testing.assert_array_equal(view.pixels, arr.astype(np.float32))
    with pytest.raises(UnsupportedInputError, match="mixing"):
        read_study([path, pydicom_data("CT_small.dcm")])


def test_reading_and_preprocessing_import_neither_torch_nor_slicer():
    code = ("import sys, radfound.study.reader, radfound.preprocess, radfound.cli.inspect_cmd; "
            "print(sorted(m for m in ('torch', 'slicer', 'vtk') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
