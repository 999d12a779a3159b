"""Bad input: every case raises a typed error that names the file; nothing half-loaded comes back."""

from __future__ import annotations


import pydicom
import pytest

from radfound.errors import DecoderMissingError, RadFoundError, StudyReadError, UnsupportedInputError
from radfound.study.reader import read_study


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
