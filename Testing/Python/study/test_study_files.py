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

    data = np.arange(40 * 33, dtype=np.int16).reshape(40, 33, 1)  # i, j, k
    path = tmp_path / "one.nrrd"
    nrrd.write(str(path), data, {"space": "left-posterior-superior",
                                  "space directions": np.diag([0.5, 0.25, 3.0]), "space origin": [0, 0, 0]})
    study = read_study(path)
    assert study.kind == "image" and study.views[0].shape == (33, 40)
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


def test_non_finite_voxels_are_replaced_with_a_warning_and_the_hu_check_still_runs(tmp_path):
    import nibabel as nib
    import nrrd

    data = np.full((40, 36, 4), 20.0, np.float32)  # i, j, k: water, no air: values do not look like HU
    data[:5] = np.nan  # outside the field of view after registration
    data[5, 0, 0] = np.inf
    path = tmp_path / "reg.nii.gz"
    nib.save(nib.Nifti1Image(data, np.eye(4)), str(path))
    study = read_study(path)
    assert np.isfinite(study.volume.array).all() and study.volume.array.min() == 20.0
    assert any("reg.nii.gz: 721 non-finite voxel value(s)" in w and "smallest finite value 20" in w
               for w in study.warnings)
    assert any("do not look like CT Hounsfield units" in w for w in study.warnings)
    empty = tmp_path / "nan.nrrd"
    nrrd.write(str(empty), np.full((40, 36, 3), np.nan), {"space": "left-posterior-superior",
                                                           "space directions": np.eye(3)})
    with pytest.raises(StudyReadError, match="no finite voxel values") as info:
        read_study(empty)
    assert str(empty) in str(info.value)


def test_float_tiff_with_nan_is_cleaned_with_a_warning(tmp_path):
    from PIL import Image

    arr = np.linspace(0, 1, 64 * 48, dtype=np.float32).reshape(64, 48)
    arr[:4] = np.nan
    path = tmp_path / "map.tif"
    Image.fromarray(arr, "F").save(path)
    study = read_study(path)
    assert np.isfinite(study.views[0].pixels).all() and study.views[0].pixels[0, 0] == pytest.approx(arr[4, 0])
    assert any("map.tif: 192 non-finite pixel value(s)" in w for w in study.warnings)


def test_jpeg_exif_orientation_is_applied(tmp_path):
    """A phone photo of a film: stored landscape with EXIF Orientation 6 (display rotated 90 degrees clockwise)."""
    from PIL import Image

    stored = np.zeros((60, 90), np.uint8)
    stored[:, :10] = 255  # a bright band on the stored left edge: the top edge once displayed
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "photo.jpg"
    Image.fromarray(stored).save(path, exif=exif, quality=95)
    study = read_study(path)
    view = study.views[0]
    assert view.shape == (90, 60)
    assert view.pixels[:10].mean() > 200 and view.pixels[20:].mean() < 30
    assert any("photo.jpg: EXIF orientation 6 applied" in w for w in study.warnings)
