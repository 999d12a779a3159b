"""CT series -> volume: order, geometry, HU, and the documented rules for gaps, tilt and inconsistency."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest

from radfound.errors import GeometryError, VolumeTooLargeError
from radfound.study.reader import read_study

from study_factories import write_series

DICOMDIR_TESTS = Path(pydicom.__file__).parent / "data" / "test_files" / "dicomdirtests"


def test_shuffled_real_series_is_put_back_in_position_order(tmp_path):
    src = sorted((DICOMDIR_TESTS / "98892001" / "CT5N").iterdir())
    assert len(src) == 5
    names = [f"x{n}.dcm" for n in random.Random(3).sample(range(100), 5)]  # file names carry no order
    for path, name in zip(src, names):
        shutil.copy(path, tmp_path / name)
    study = read_study(tmp_path)
    z = sorted(float(pydicom.dcmread(p).ImagePositionPatient[2]) for p in src)
    vol = study.volume
    assert study.kind == "ct" and vol.shape == (5, 16, 16)
    assert vol.spacing == pytest.approx((2.5, 0.488281, 0.488281))
    np.testing.assert_allclose(vol.origin, (-72.199997, -143.0, z[0]), atol=1e-4)
    np.testing.assert_allclose(vol.direction, np.eye(3))
    for k, zk in enumerate(z):
        ds = next(pydicom.dcmread(p) for p in src if abs(float(pydicom.dcmread(p).ImagePositionPatient[2]) - zk) < 1e-3)
        hu = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        np.testing.assert_array_equal(vol.array[k], hu.astype(np.float32))
    # The source list follows the volume's slice order (needed to reference slices in an SR).
    assert [pydicom.dcmread(s.path).ImagePositionPatient[2] for s in study.sources] == pytest.approx(z)


def test_oblique_series_geometry_matches_known_positions(ct_small, tmp_path):
    row = np.array([1.0, 0.0, 0.0])
    col = np.array([0.0, np.cos(0.3), np.sin(0.3)])
    normal = np.cross(row, col)
    origin = np.array([-20.0, 10.0, 5.0])
    positions = [origin + 1.5 * k * normal for k in range(6)]
    order = [3, 0, 5, 1, 4, 2]
    write_series(ct_small, tmp_path, [positions[k] for k in order], (*row, *col),
                 pixel_fn=lambda n, a: np.full_like(a, order[n] * 10))
    vol = read_study(tmp_path).volume
    assert vol.spacing == pytest.approx((1.5, 0.661468, 0.661468), abs=1e-4)
    np.testing.assert_allclose(vol.origin, origin, atol=1e-3)
    np.testing.assert_allclose(vol.direction, np.column_stack([row, col, normal]), atol=1e-5)
    m = vol.ijk_to_lps()
    for k in range(6):
        np.testing.assert_allclose(m @ [0, 0, k, 1], [*positions[k], 1], atol=1e-3)
        assert vol.array[k].mean() == k * 10 - 1024  # HU from the template's intercept


def test_one_missing_slice_is_interpolated_with_a_warning(ct_small, tmp_path):
    positions = [(0, 0, 2.0 * k) for k in range(8) if k != 4]
    write_series(ct_small, tmp_path, positions, pixel_fn=lambda n, a: np.full_like(a, 100 * n))
    study = read_study(tmp_path)
    vol = study.volume
    assert vol.shape[0] == 8 and vol.spacing[0] == pytest.approx(2.0)
    assert vol.array[4].mean() == pytest.approx((300 + 400) / 2 - 1024)  # halfway between slices 3 and 5
    assert any("1 missing slice" in w for w in study.warnings)


def test_a_large_gap_is_a_geometry_error_naming_the_folder(ct_small, tmp_path):
    write_series(ct_small, tmp_path, [(0, 0, 0), (0, 0, 1), (0, 0, 2), (0, 0, 50)])
    with pytest.raises(GeometryError, match="irregular") as info:
        read_study(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_real_series_with_a_gap_is_refused():
    with pytest.raises(GeometryError, match="gap of 202.50 mm"):
        read_study(DICOMDIR_TESTS / "77654033" / "CT2")


def test_gantry_tilt_keeps_exact_geometry_with_a_sheared_axis(ct_small, tmp_path):
    tilt = np.radians(15)
    positions = [(0, 2.0 * k * np.tan(tilt), 2.0 * k) for k in range(5)]
    write_series(ct_small, tmp_path, positions)
    study = read_study(tmp_path)
    vol = study.volume
    assert any("gantry tilt of 15.0 degrees" in w for w in study.warnings)
    assert vol.spacing[0] == pytest.approx(2.0 / np.cos(tilt), abs=1e-3)
    m = vol.ijk_to_lps()
    for k in range(5):
        np.testing.assert_allclose(m @ [0, 0, k, 1], [*positions[k], 1], atol=1e-3)


def test_mixed_sizes_raise(ct_small, tmp_path):
    write_series(ct_small, tmp_path, [(0, 0, k) for k in range(4)],
                 pixel_fn=lambda n, a: a if n else a[:64, :64].copy())
    with pytest.raises(GeometryError, match="mixes image sizes"):
        read_study(tmp_path)


def test_two_slices_at_one_position_raise(ct_small, tmp_path):
    write_series(ct_small, tmp_path, [(0, 0, 0), (0, 0, 1), (0, 0, 1), (0, 0, 2)])
    with pytest.raises(GeometryError, match="share a position"):
        read_study(tmp_path)


def test_mixed_orientation_series_uses_the_largest_stack_and_warns(ct_small, tmp_path):
    uid = pydicom.uid.generate_uid()
    write_series(ct_small, tmp_path / "ax", [(0, 0, k) for k in range(4)], series_uid=uid)
    write_series(ct_small, tmp_path / "cor", [(0, k, 0) for k in range(2)], (1, 0, 0, 0, 0, -1), series_uid=uid)
    study = read_study(tmp_path)
    assert study.volume.shape[0] == 4
    assert any("another orientation" not in w and "ignored 1 other" in w for w in study.warnings)


def test_largest_series_is_chosen_unless_a_uid_is_given(ct_small, tmp_path):
    small = write_series(ct_small, tmp_path / "a", [(0, 0, k) for k in range(3)])
    write_series(ct_small, tmp_path / "b", [(0, 0, k) for k in range(5)])
    study = read_study(tmp_path)
    assert study.volume.shape[0] == 5 and "several series" in study.warnings[0]
    uid = pydicom.dcmread(small[0]).SeriesInstanceUID
    assert read_study(tmp_path, series_uid=uid).volume.shape[0] == 3
    with pytest.raises(Exception, match="no images of series 1.2.3"):
        read_study(tmp_path, series_uid="1.2.3")


def test_an_acquired_series_wins_over_a_larger_reformat(ct_small, tmp_path):
    acquired = write_series(ct_small, tmp_path / "axial", [(0, 0, k) for k in range(3)])
    for path in write_series(ct_small, tmp_path / "mpr", [(0, 0, k) for k in range(5)]):
        ds = pydicom.dcmread(path)
        ds.ImageType = ["DERIVED", "SECONDARY", "MPR"]
        ds.save_as(path)
    study = read_study(tmp_path)
    assert study.volume.shape[0] == 3 and study.sources[0].series_uid == pydicom.dcmread(acquired[0]).SeriesInstanceUID
    assert "used the largest acquired still series" in study.warnings[0]


def test_a_ct_series_wins_over_a_longer_cine_loop(ct_small, tmp_path):
    write_series(ct_small, tmp_path / "ct", [(0, 0, k) for k in range(3)])
    cine = pydicom.dcmread(ct_small)
    frame = cine.pixel_array
    cine.SOPClassUID = cine.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.3.1"  # US Multi-frame
    cine.SOPInstanceUID = cine.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    cine.SeriesInstanceUID, cine.Modality, cine.NumberOfFrames = pydicom.uid.generate_uid(), "US", 6
    del cine.ImagePositionPatient, cine.ImageOrientationPatient
    cine.PixelData = np.repeat(frame[None], 6, axis=0).tobytes()
    cine.save_as(tmp_path / "cine.dcm", enforce_file_format=True)
    study = read_study(tmp_path)
    assert study.kind == "ct" and study.volume.shape[0] == 3
    assert "cine rank last" in study.warnings[0] and "ignored 1 other" in study.warnings[0]


def test_volume_over_the_limit_is_refused_before_loading(ct_small, tmp_path, monkeypatch):
    write_series(ct_small, tmp_path, [(0, 0, k) for k in range(10)])
    monkeypatch.setenv("RADFOUND_MAX_VOLUME_MB", "0.5")  # 10 x 128 x 128 x 4 B = 0.625 MB
    with pytest.raises(VolumeTooLargeError, match="over the 0 MB limit|over the"):
        read_study(tmp_path)


def test_irregular_span_grid_never_runs_past_the_last_slice(ct_small, tmp_path):
    """Steps 2, 2, 2, 2, 3.2 mm: the 2 mm grid ends at 10 mm (interpolated), never at 12 mm beyond the data."""
    zs = [0, 2, 4, 6, 8, 11.2]
    write_series(ct_small, tmp_path, [(0, 0, z) for z in zs], pixel_fn=lambda n, a: np.full_like(a, 100 * n))
    study = read_study(tmp_path)
    vol = study.volume
    assert vol.shape[0] == 6 and vol.spacing[0] == pytest.approx(2.0)
    # 10 mm lies 2/3.2 of the way from the slice at 8 mm (400) to the one at 11.2 mm (500).
    assert vol.array[5].mean() == pytest.approx(400 + 100 * 2 / 3.2 - 1024, abs=1e-3)
    assert any("irregular slice spacing" in w and "last 1.20 mm past the grid were dropped" in w
               for w in study.warnings)


def test_a_file_copied_twice_counts_once_with_a_warning(ct_small, tmp_path):
    paths = write_series(ct_small, tmp_path, [(0, 0, 2.0 * k) for k in range(5)])
    shutil.copy(paths[2], tmp_path / "slice0002 copy.dcm")
    study = read_study(tmp_path)
    assert study.volume.shape[0] == 5 and len(study.sources) == 5
    assert any("repeating the SOP Instance UID" in w and "slice0002" in w and "copy" in w for w in study.warnings)


def test_two_acquisitions_in_one_series_are_named_without_suggesting_series_uid(ct_small, tmp_path):
    uid = pydicom.uid.generate_uid()
    write_series(ct_small, tmp_path, [(0, 0, 2.0 * k) for k in range(4)], series_uid=uid,
                 names=[f"art{k}.dcm" for k in range(4)])
    write_series(ct_small, tmp_path, [(0, 0, 2.0 * k) for k in range(4)], series_uid=uid,
                 names=[f"ven{k}.dcm" for k in range(4)])
    with pytest.raises(GeometryError, match="share a position") as info:
        read_study(tmp_path)
    message = str(info.value)
    assert "8 slices at 4 position(s)" in message and "art0.dcm and ven0.dcm" in message
    assert "--series-uid cannot separate them" in message and uid in message


def test_ct_slices_without_position_or_orientation_are_refused(ct_small, tmp_path):
    for path in write_series(ct_small, tmp_path, [(0, 0, 2.0 * k) for k in range(6)]):
        ds = pydicom.dcmread(path)
        del ds.ImagePositionPatient, ds.ImageOrientationPatient
        ds.save_as(path)
    with pytest.raises(GeometryError, match="6 CT slices have no Image Position/Orientation") as info:
        read_study(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_orientation_round_off_does_not_split_a_series(ct_small, tmp_path):
    """Cosines 0.000499 and 0.000501 round to different 3rd decimals but agree within the 1e-3 tolerance."""
    uid = pydicom.uid.generate_uid()
    write_series(ct_small, tmp_path, [(0, 0, 4.0 * k) for k in range(3)], (1, 0, 0, 0, 1, 0.000499),
                 series_uid=uid, names=[f"a{k}.dcm" for k in range(3)])
    write_series(ct_small, tmp_path, [(0, 0, 4.0 * k + 2) for k in range(3)], (1, 0, 0, 0, 1, 0.000501),
                 series_uid=uid, names=[f"b{k}.dcm" for k in range(3)])
    study = read_study(tmp_path)
    assert study.volume.shape[0] == 6 and study.volume.spacing[0] == pytest.approx(2.0, abs=1e-3)
    assert not any("several series" in w for w in study.warnings)
