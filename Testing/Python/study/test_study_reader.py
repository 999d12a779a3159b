"""read_study on real DICOM files: kinds, pixel handling, compressed syntaxes, enhanced objects."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.pixels import apply_modality_lut

from radfound.study.reader import read_study


def test_real_cr_chest_is_cxr_pa_with_monochrome1_inverted(pydicom_data):
    path = pydicom_data("RG1_UNCR.dcm")
    study = read_study(path)
    raw = pydicom.dcmread(path).pixel_array.astype(np.float32)
    assert study.kind == "cxr"
    (view,) = study.views
    assert view.view == "PA" and view.shape == (1955, 1841)
    # MONOCHROME1, 15 bits stored: brighter-is-higher means 32767 - stored value.
    np.testing.assert_array_equal(view.pixels, 32767 - raw)
    assert view.window == (32767 - 15000, 30000)
    assert study.metadata["modality"] == "CR" and study.metadata["body_part"] == "CHEST"
    assert study.sources[0].sop_instance_uid == pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID
    assert "patient" not in str(study.summary()).lower()


def test_jpeg2000_lossless_cr_equals_uncompressed(pydicom_data):
    a = read_study(pydicom_data("RG1_UNCR.dcm")).views[0].pixels
    b = read_study(pydicom_data("RG1_J2KR.dcm")).views[0].pixels
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "reference, compressed",
    [
        ("MR_small.dcm", "MR_small_RLE.dcm"),
        ("MR_small.dcm", "MR_small_jp2klossless.dcm"),
        ("MR_small.dcm", "MR_small_jpeg_ls_lossless.dcm"),
        ("MR_small.dcm", "MR_small_bigendian.dcm"),
        ("emri_small.dcm", "emri_small_RLE.dcm"),
        ("emri_small.dcm", "emri_small_jpeg_2k_lossless.dcm"),
        ("emri_small.dcm", "emri_small_jpeg_ls_lossless.dcm"),
        ("SC_rgb.dcm", "SC_rgb_rle.dcm"),
        ("SC_rgb.dcm", "SC_ybr_full_uncompressed.dcm"),
    ],
)
def test_lossless_syntaxes_decode_to_the_same_values(pydicom_data, reference, compressed):
    a, b = read_study(pydicom_data(reference)), read_study(pydicom_data(compressed))
    pa = a.volume.array if a.volume is not None else a.views[0].pixels
    pb = b.volume.array if b.volume is not None else b.views[0].pixels
    assert pa.shape == pb.shape
    # YBR_FULL -> RGB is a lossy 8-bit colour-space round trip: a few grey levels apart.
    np.testing.assert_allclose(pa, pb, atol=8 if "ybr" in compressed else 0)


@pytest.mark.parametrize(
    "name, shape",
    [
        ("SC_rgb_jpeg_dcmtk.dcm", (100, 100, 3)),  # JPEG baseline, YBR_FULL
        ("JPGExtended.dcm", (1024, 256)),  # JPEG extended 12-bit
        ("JPGLosslessP14SV1_1s_1f_8b.dcm", None),  # JPEG lossless
        ("RG1_J2KI.dcm", (1955, 1841)),  # JPEG 2000 lossy
        ("SC_rgb_jls_lossy_line.dcm", None),
    ],
)
def test_compressed_syntaxes_decode(pydicom_data, name, shape):
    study = read_study(pydicom_data(name))
    view = study.views[0]
    assert view.pixels.dtype == np.float32 and np.isfinite(view.pixels).all()
    assert view.pixels.std() > 0
    if shape:
        assert view.shape == shape


def test_lossy_jpeg_rgb_is_close_to_the_original(pydicom_data):
    ref = read_study(pydicom_data("SC_rgb.dcm")).views[0].pixels
    jpeg = read_study(pydicom_data("SC_rgb_jpeg_dcmtk.dcm")).views[0].pixels
    assert np.abs(ref - jpeg).mean() < 5


def test_single_ct_slice_is_a_2d_image_in_hounsfield_units(pydicom_data):
    path = pydicom_data("CT_small.dcm")
    study = read_study(path)
    ds = pydicom.dcmread(path)
    assert study.kind == "image" and study.views[0].view == "AXIAL"
    assert ds.PixelRepresentation == 1  # signed pixels
    np.testing.assert_array_equal(study.views[0].pixels, ds.pixel_array.astype(np.float32) - 1024)
    assert study.views[0].spacing == pytest.approx((0.661468, 0.661468))
    assert any("single CT slice" in w for w in study.warnings)


def test_modality_lut_sequence_is_applied(pydicom_data):
    path = pydicom_data("mlut_18.dcm")
    ds = pydicom.dcmread(path)
    expected = apply_modality_lut(ds.pixel_array, ds).astype(np.float32)
    np.testing.assert_array_equal(read_study(path).views[0].pixels, expected)


def test_voi_lut_sequence_gives_a_window(pydicom_data):
    view = read_study(pydicom_data("vlut_04.dcm")).views[0]
    assert view.window is not None and view.window[1] > 0


def test_palette_colour_becomes_rgb(pydicom_data):
    view = read_study(pydicom_data("examples_palette.dcm")).views[0]
    assert view.pixels.ndim == 3 and view.pixels.shape[2] == 3


def test_enhanced_ct_is_a_volume_with_functional_group_geometry(pydicom_data):
    path = pydicom_data("eCT_Supplemental.dcm")
    study = read_study(path)
    ds = pydicom.dcmread(path)
    assert study.kind == "ct"
    vol = study.volume
    assert vol.shape == (2, 512, 512)
    assert vol.spacing == pytest.approx((10.0, 0.388672, 0.388672))
    assert vol.window == (49.0, 102.0)
    # Rescale intercept -1024 from the shared Pixel Value Transformation Sequence.
    raw = ds.pixel_array.astype(np.float32)
    positions = [np.array(f.PlanePositionSequence[0].ImagePositionPatient, float) for f in ds.PerFrameFunctionalGroupsSequence]
    normal = np.cross([-1, 0, 0], [0, 1, 0])
    first = int(np.argmin([p @ normal for p in positions]))
    np.testing.assert_array_equal(vol.array[0], raw[first] - 1024)
    np.testing.assert_allclose(vol.origin, positions[first])
    np.testing.assert_allclose(vol.ijk_to_lps()[:3, 3] + vol.ijk_to_lps()[:3, 2], positions[1 - first], atol=1e-4)
    assert [s.frame for s in study.sources] == [first + 1, 2 - first]


def test_enhanced_mr_without_positions_is_a_volume_with_a_warning(pydicom_data):
    study = read_study(pydicom_data("emri_small.dcm"))
    assert study.kind == "image" and study.volume.shape == (10, 64, 64)
    assert any("without per-frame positions" in w for w in study.warnings)


def test_real_mammogram_is_a_left_mlo_with_missing_views_reported(shared_data):
    study = read_study(shared_data / "dicom" / "mammo" / "MG1_J2KI.dcm")
    assert study.kind == "mammo"
    assert study.present_views == ["L-MLO"]
    assert study.missing_views == ["L-CC", "R-CC", "R-MLO"]
    assert study.views[0].shape == (4664, 3064)
    assert study.views[0].patient_orientation == ("A", "F")
    assert any("missing" in w for w in study.warnings)


def test_shared_jpegs_read_as_2d_images(shared_data):
    jpegs = sorted((shared_data / "vqa-rad" / "images").glob("*.jp*g"))[:3]
    jpegs += sorted((shared_data / "slake" / "imgs").glob("*/source.jpg"))[:3]
    assert len(jpegs) == 6
    for path in jpegs:
        study = read_study(path)
        assert study.kind == "image" and len(study.views) == 1
        assert study.views[0].pixels.ndim in (2, 3) and study.views[0].pixels.max() > 0
    assert read_study(jpegs[0], kind="cxr").kind == "cxr"


def test_folder_of_jpegs_gives_one_view_each(shared_data, tmp_path):
    import shutil

    for path in sorted((shared_data / "vqa-rad" / "images").glob("*.jpg"))[:2]:
        shutil.copy(path, tmp_path / path.name)
    assert len(read_study(tmp_path).views) == 2


def _dx_copy(src, folder, name, **tags):
    """The real CR chest as a DX image (pixels downsampled 4x) with view tags changed."""
    ds = pydicom.dcmread(src)
    ds.set_pixel_data(np.ascontiguousarray(ds.pixel_array[::4, ::4]), "MONOCHROME1", 15)
    ds.Modality = "DX"
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.SeriesInstanceUID = pydicom.uid.generate_uid()  # each view in its own series, as modalities do
    for keyword, value in tags.items():
        setattr(ds, keyword, value)
    path = folder / name
    ds.save_as(path, enforce_file_format=True)
    return path


def test_dx_pa_and_lateral_in_separate_series_form_one_cxr_study(pydicom_data, tmp_path):
    src = pydicom_data("RG1_UNCR.dcm")
    _dx_copy(src, tmp_path, "pa.dcm", ViewPosition="PA", SeriesNumber=1)
    _dx_copy(src, tmp_path, "lat.dcm", ViewPosition="LL", SeriesNumber=2)
    study = read_study(tmp_path)
    assert study.kind == "cxr" and study.present_views == ["PA", "LAT"]
    assert study.warnings == []


def test_dx_without_body_part_uses_view_position_and_other_parts_are_images(pydicom_data, tmp_path):
    src = pydicom_data("RG1_UNCR.dcm")
    ap = _dx_copy(src, tmp_path, "ap.dcm", ViewPosition="AP", BodyPartExamined="")
    assert read_study(ap).kind == "cxr" and read_study(ap).views[0].view == "AP"
    hand = _dx_copy(src, tmp_path, "hand.dcm", ViewPosition="PA", BodyPartExamined="HAND")
    assert read_study(hand).kind == "image"


def test_cine_frames_are_capped_and_evenly_spaced(pydicom_data):
    path = pydicom_data("examples_ybr_color.dcm")  # real ultrasound cine, 30 frames
    study = read_study(path)
    assert len(study.views) == 8
    assert [s.frame for s in study.sources] == [1, 5, 9, 13, 18, 22, 26, 30]
    assert any("30 frames" in w for w in study.warnings)
    assert read_study(pydicom_data("SC_rgb_2frame.dcm")).sources[1].frame == 2


def test_legacy_multiframe_is_stacked_along_the_slice_normal_from_its_image_position(pydicom_data, tmp_path):
    """Legacy multi-frame CT (no functional groups) acquired coronally: frames step along the normal (+P)."""
    ds = pydicom.dcmread(pydicom_data("CT_small.dcm"))
    frames = np.stack([ds.pixel_array + 10 * k for k in range(4)]).astype(np.int16)
    ds.set_pixel_data(frames, "MONOCHROME2", 16)
    ds.ImageOrientationPatient = [1, 0, 0, 0, 0, -1]
    ds.ImagePositionPatient = [-100, 20, 80]
    ds.SpacingBetweenSlices = 3
    path = tmp_path / "legacy_mf.dcm"
    ds.save_as(path, enforce_file_format=True)
    study = read_study(path)
    vol = study.volume
    assert study.kind == "ct" and vol.shape == (4, 128, 128) and vol.spacing[0] == pytest.approx(3.0)
    m = vol.ijk_to_lps()
    for k in range(4):
        np.testing.assert_allclose(m @ [0, 0, k, 1], [-100, 20 + 3 * k, 80, 1], atol=1e-6)
        assert vol.array[k].mean() == pytest.approx(frames[k].mean() - 1024)
    np.testing.assert_allclose(m @ [1, 1, 0, 1], [-100 + 0.661468, 20, 80 - 0.661468, 1], atol=1e-5)
    assert any("along the slice normal" in w and "first frame at the Image Position" in w for w in study.warnings)
