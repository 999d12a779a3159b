"""Bad input: every case raises a typed error that names the file; nothing half-loaded comes back."""

from __future__ import annotations


import shutil

import numpy as np
import pydicom
import pytest

from radfound.errors import DecoderMissingError, RadFoundError, StudyReadError, UnsupportedInputError
from radfound.study.reader import read_study

from study_factories import write_series


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.dcm"
    path.write_bytes(b"")
    with pytest.raises(StudyReadError, match="empty file") as info:
        read_study(path)
    assert str(path) in str(info.value)


def test_non_dicom_file(tmp_path):
    path = tmp_path / "notes.dcm"
    path.write_text("not an image at all\n" * 20)
    with pytest.raises(StudyReadError, match="not a DICOM file"):
        read_study(path)


@pytest.mark.parametrize("keep", [300, 0.5, 0.9, -200])  # CT_small.dcm ends with 138 bytes of trailing padding
def test_truncated_real_file(pydicom_data, tmp_path, keep):
    data = pydicom_data("CT_small.dcm").read_bytes()
    path = tmp_path / "cut.dcm"
    path.write_bytes(data[: int(len(data) * keep) if isinstance(keep, float) else keep])
    with pytest.raises(StudyReadError) as info:
        read_study(path)
    assert str(path) in str(info.value)


def test_missing_pixel_data(pydicom_data):
    path = pydicom_data("rtplan.dcm")
    with pytest.raises(UnsupportedInputError, match="no pixel data"):
        read_study(path)


def test_dicomdir_named_explicitly():
    path = pydicom.data.get_testdata_file("DICOMDIR")
    with pytest.raises(UnsupportedInputError, match="DICOMDIR"):
        read_study(path)


def test_transfer_syntax_without_decoder(pydicom_data, tmp_path):
    ds = pydicom.dcmread(pydicom_data("JPEG2000.dcm"))
    ds.file_meta.TransferSyntaxUID = pydicom.uid.MPEG2MPML  # encapsulated, no decoder in pydicom
    path = tmp_path / "mpeg.dcm"
    ds.save_as(path)
    with pytest.raises(DecoderMissingError, match="MPEG2") as info:
        read_study(path)
    assert str(path) in str(info.value)


def test_folder_skips_non_images_but_explicit_file_does_not(pydicom_data, tmp_path):
    import shutil

    shutil.copy(pydicom_data("CT_small.dcm"), tmp_path / "ct.dcm")
    shutil.copy(pydicom_data("rtplan.dcm"), tmp_path / "plan.dcm")
    (tmp_path / "README.txt").write_text("hello")
    study = read_study(tmp_path)
    assert len(study.views) == 1
    assert any("skipped 2 file(s)" in w for w in study.warnings)


def test_folder_without_images(tmp_path):
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(StudyReadError, match="no readable DICOM images"):
        read_study(tmp_path)


def test_missing_path_and_bad_kind(tmp_path):
    with pytest.raises(StudyReadError, match="no such file"):
        read_study(tmp_path / "nope.dcm")
    with pytest.raises(UnsupportedInputError, match="unknown study kind"):
        read_study(tmp_path, kind="xray")


def test_corrupt_jpeg(tmp_path):
    path = tmp_path / "broken.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 50)
    with pytest.raises(RadFoundError) as info:
        read_study(path)
    assert str(path) in str(info.value)


def test_truncated_slice_in_a_folder_fails_the_study_naming_it(ct_small, tmp_path):
    """A slice cut short by an interrupted transfer is not skipped: the volume would silently lose it."""
    paths = write_series(ct_small, tmp_path, [(0, 0, 2.0 * k) for k in range(6)])
    paths[5].write_bytes(paths[5].read_bytes()[:3000])  # the last slice: no gap would reveal it
    with pytest.raises(StudyReadError, match="truncated DICOM file") as info:
        read_study(tmp_path)
    assert str(paths[5]) in str(info.value)


def test_empty_file_in_a_folder_is_still_skipped_with_a_warning(ct_small, tmp_path):
    write_series(ct_small, tmp_path, [(0, 0, 2.0 * k) for k in range(3)])
    (tmp_path / "LOCK").write_bytes(b"")
    study = read_study(tmp_path)
    assert study.volume.shape[0] == 3
    assert any("LOCK (empty file" in w for w in study.warnings)


def test_file_without_file_meta_header_decodes(pydicom_data, tmp_path):
    """No preamble, no File Meta: pixels decode with the encoding the dataset was parsed with."""
    face = read_study(pydicom_data("OT-PAL-8-face.dcm"))  # real implicit-VR palette file without File Meta
    assert face.views[0].shape == (480, 640, 3) and face.views[0].pixels.std() > 0
    from pydicom.filebase import DicomFileLike
    from pydicom.filewriter import write_dataset

    ref_path = pydicom_data("CT_small.dcm")
    ds = pydicom.dcmread(ref_path)
    for name, implicit in (("implicit.dcm", True), ("explicit.dcm", False)):
        path = tmp_path / name
        with open(path, "wb") as fh:
            fp = DicomFileLike(fh)
            fp.is_little_endian, fp.is_implicit_VR = True, implicit
            write_dataset(fp, ds)
        np.testing.assert_array_equal(read_study(path).views[0].pixels, read_study(ref_path).views[0].pixels)


def test_segmentation_and_dose_beside_a_ct_are_skipped_not_chosen(pydicom_data, ct_small, tmp_path):
    slices = write_series(ct_small, tmp_path, [(0, 0, 2.5 * k) for k in range(2)])
    shutil.copy(pydicom_data("liver.dcm"), tmp_path / "SEG.dcm")  # 3 frames: would outnumber the 2 slices
    shutil.copy(pydicom_data("rtdose.dcm"), tmp_path / "RD.dcm")  # 15 frames
    study = read_study(tmp_path)
    assert study.kind == "ct" and study.volume.shape[0] == 2
    (skip,) = [w for w in study.warnings if w.startswith("skipped")]
    assert "SEG.dcm (Segmentation object" in skip and "RD.dcm (RT Dose object" in skip
    # Named explicitly beside the slices (as a batch passes a study's files): skipped all the same.
    named = read_study([*slices, tmp_path / "SEG.dcm"])
    assert named.volume.shape[0] == 2 and any("SEG.dcm (Segmentation object" in w for w in named.warnings)
    with pytest.raises(UnsupportedInputError, match="Segmentation object: derived data") as info:
        read_study(tmp_path / "SEG.dcm")  # alone: nothing to read
    assert str(tmp_path / "SEG.dcm") in str(info.value)


def test_tiny_dicom_images_are_refused_like_tiny_pngs(pydicom_data):
    from radfound.study.pixels import decode

    path = pydicom_data("JPEGLSNearLossless_16.dcm")  # a real 10x50 JPEG-LS near-lossless image
    assert decode(pydicom.dcmread(path), path).shape == (50, 10)  # it decodes...
    with pytest.raises(UnsupportedInputError, match="10x50 pixels, too small to read") as info:
        read_study(path)  # ...but is not sent to the model
    assert str(path) in str(info.value)
    with pytest.raises(UnsupportedInputError, match="3x3 pixels"):
        read_study(pydicom_data("SC_rgb_small_odd.dcm"))


@pytest.mark.filterwarnings("ignore:Invalid value for VR DS")
def test_non_finite_rescale_is_an_error_and_non_finite_window_is_ignored(pydicom_data, tmp_path):
    ds = pydicom.dcmread(pydicom_data("CT_small.dcm"))
    ds.WindowCenter, ds.WindowWidth = "nan", "400"
    path = tmp_path / "window.dcm"
    ds.save_as(path)
    assert read_study(path).views[0].window is None  # not (nan, 400): that would blank the image
    ds.RescaleSlope = "nan"
    path = tmp_path / "slope.dcm"
    ds.save_as(path)
    with pytest.raises(StudyReadError, match="rescale slope nan / intercept -1024 is not a finite number") as info:
        read_study(path)
    assert str(path) in str(info.value)
