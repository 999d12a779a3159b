"""preprocess(study, config) -> ModelInputs on real studies: contract, intensity, geometry, mapping back."""

from __future__ import annotations

import copy
import json

import numpy as np
import pydicom
import pytest

from radfound.errors import ConfigError
from radfound.preprocess import VIEW_IDS, ModelInputs, PreprocessConfig, preprocess
from radfound.preprocess.views import unit_intensity
from radfound.study.model import Study, View, Volume
from radfound.study.reader import read_study

S = 224


@pytest.fixture(scope="module")
def cxr(pydicom_data) -> Study:
    return read_study(pydicom_data("RG1_UNCR.dcm"))


@pytest.fixture(scope="module")
def mammo_view(shared_data) -> View:
    """The real left MLO mammogram, 4x smaller (kept real pixels, fewer of them)."""
    view = read_study(shared_data / "dicom" / "mammo" / "MG1_J2KI.dcm").views[0]
    return View(np.ascontiguousarray(view.pixels[::4, ::4]), view.spacing, view.view, view.laterality,
                view.source, view.window, view.patient_orientation)


@pytest.fixture(scope="module")
def ct_volume(pydicom_data) -> Volume:
    """40 slices built from the real CT_small slice, slice k shifted by 10*k HU, 2 mm apart."""
    ds = pydicom.dcmread(pydicom_data("CT_small.dcm"))
    hu = ds.pixel_array.astype(np.float32) - 1024
    array = np.stack([hu + 10 * k for k in range(40)])
    return Volume(array, (2.0, 0.66, 0.66))


def test_contract_for_a_chest_radiograph(cxr):
    mi = preprocess(cxr, PreprocessConfig())
    assert isinstance(mi, ModelInputs)
    assert mi.pixel_values.shape == (1, 1, S, S) and mi.pixel_values.dtype == np.float32
    assert mi.view_ids.dtype == np.int64 and mi.view_ids.tolist() == [VIEW_IDS["PA"]]
    assert mi.positions.dtype == np.int64 and mi.positions.tolist() == [0]
    assert mi.kind == "cxr" and mi.view_codes == ["PA"]
    assert mi.pixel_values.min() >= -1.0 and mi.pixel_values.max() <= 1.0  # [0, 1] normalised with 0.5 / 0.5


def test_deterministic(cxr):
    a, b = preprocess(cxr), preprocess(cxr)
    np.testing.assert_array_equal(a.pixel_values, b.pixel_values)


def test_cxr_keeps_aspect_and_pads_centred(cxr):
    mi = preprocess(cxr)
    img = mi.pixel_values[0, 0]
    width = round(1841 * S / 1955)  # 211 columns of image, the rest black padding
    pad = (S - width) // 2
    assert (img[:, :pad] == -1.0).all() and (img[:, pad + width :] == -1.0).all()
    assert img[:, pad : pad + width].std() > 0.1
    t = mi.transforms[0]
    assert t.to_input(0, 0) == pytest.approx((pad, 0))
    assert t.to_input(1841, 1955) == pytest.approx((pad + width, S))


def test_box_maps_back_to_original_pixels(cxr):
    study = copy.deepcopy(cxr)
    px = study.views[0].pixels
    px[:] = 0
    px[1200:1300, 400:500] = 40000  # a bright square at a known place (above the file window)
    mi = preprocess(study)
    img = mi.pixel_values[0, 0]
    ys, xs = np.nonzero(img > 0.5)
    x0, y0 = mi.transforms.to_original(xs.min(), ys.min(), 0)
    x1, y1 = mi.transforms.to_original(xs.max() + 1, ys.max() + 1, 0)
    assert (x0, y0) == pytest.approx((400, 1200), abs=12)  # within one input pixel (~8.7 original pixels)
    assert (x1, y1) == pytest.approx((500, 1300), abs=12)
    for point in [(0.0, 0.0), (123.4, 987.6), (1841.0, 1955.0)]:
        assert mi.transforms[0].to_original(*mi.transforms[0].to_input(*point)) == pytest.approx(point)


def test_file_window_then_percentiles(cxr):
    view = cxr.views[0]
    lo, hi = view.window[0] - view.window[1] / 2, view.window[0] + view.window[1] / 2
    unit = unit_intensity(view, PreprocessConfig())
    np.testing.assert_allclose(unit, np.clip((view.pixels - lo) / (hi - lo), 0, 1), atol=1e-6)
    unit = unit_intensity(view, PreprocessConfig(use_file_window=False))
    assert (unit == 0).mean() == pytest.approx(0.005, abs=0.003)
    assert (unit == 1).mean() == pytest.approx(0.005, abs=0.003)


def test_mammogram_chest_wall_goes_left(mammo_view):
    study = Study("mammo", views=[mammo_view])
    reference = preprocess(study)
    assert reference.transforms[0].flipped is False  # Patient Orientation A\F: chest wall already left
    img = reference.pixel_values[0, 0]
    assert img[:, :10].mean() > img[:, -30:].mean()
    # The same breast stored mirrored (Patient Orientation P\F) comes out identical.
    mirrored = View(np.ascontiguousarray(mammo_view.pixels[:, ::-1]), mammo_view.spacing, "R-MLO", "R",
                    window=mammo_view.window, patient_orientation=("P", "F"))
    mi = preprocess(Study("mammo", views=[mirrored]))
    assert mi.transforms[0].flipped is True
    np.testing.assert_array_equal(mi.pixel_values, reference.pixel_values)
    # Without Patient Orientation the intensity heuristic reaches the same decision.
    mirrored.patient_orientation = ()
    assert preprocess(Study("mammo", views=[mirrored])).transforms[0].flipped is True
    # Mapping back through the flip lands on the mirrored column.
    t = mi.transforms[0]
    cols = mirrored.pixels.shape[1]
    assert t.to_original(*reference.transforms[0].to_input(100.0, 50.0)) == pytest.approx((cols - 100.0, 50.0))


def test_mammo_set_order_and_view_ids(mammo_view):
    views = [View(mammo_view.pixels, view=code, window=mammo_view.window, patient_orientation=("A", "F"))
             for code in ("L-CC", "L-MLO", "R-MLO")]
    mi = preprocess(Study("mammo", views=views))
    assert mi.view_codes == ["L-CC", "L-MLO", "R-MLO"]
    assert mi.view_ids.tolist() == [4, 5, 7]
    assert mi.positions.tolist() == [0, 1, 2]


def test_ct_slabs_window_and_positions(ct_volume):
    mi = preprocess(Study("ct", volume=ct_volume))
    assert mi.pixel_values.shape == (16, 1, S, S)
    assert mi.view_ids.tolist() == [8] * 16 and mi.positions.tolist() == list(range(16))
    assert [t.slices for t in mi.transforms][:3] == [(0, 2), (2, 5), (5, 8)]  # 40 slices in 16 slabs
    # Soft tissue window 40/400: -160..240 HU. Slab 15 (slices 38, 39) is 385 HU brighter than slab 0.
    centre = ct_volume.array[0, 64, 64]
    first, last = mi.pixel_values[0, 0, 112, 112], mi.pixel_values[15, 0, 112, 112]
    expected_first = np.clip((centre + 5 - (-160)) / 400, 0, 1) * 2 - 1
    assert last >= first and abs(first - expected_first) < 0.15
    cfg = PreprocessConfig(ct_window="thyroid", ct_slabs=8, ct_slab_mode="center")
    mi = preprocess(Study("ct", volume=ct_volume), cfg)
    assert mi.pixel_values.shape == (8, 1, S, S) and mi.transforms[0].slices == (0, 5)


def test_short_ct_repeats_slices_to_the_fixed_count(ct_volume):
    short = Volume(ct_volume.array[:5], ct_volume.spacing)
    mi = preprocess(Study("ct", volume=short))
    assert mi.pixel_values.shape[0] == 16
    assert [t.slices[0] for t in mi.transforms] == sorted(t.slices[0] for t in mi.transforms)


def test_ct_reorientation_makes_ras_and_sagittal_storage_equivalent(ct_volume):
    reference = preprocess(Study("ct", volume=ct_volume)).pixel_values
    # The same voxels stored like a NIfTI in RAS order: i and j reversed, direction flipped.
    ras = Volume(ct_volume.array[:, ::-1, ::-1], ct_volume.spacing, direction=np.diag([-1.0, -1.0, 1.0]))
    np.testing.assert_allclose(preprocess(Study("ct", volume=ras)).pixel_values, reference, atol=1e-6)
    # Stored with the slice axis last: array (i, j, k) order with matching direction columns.
    swapped = Volume(np.ascontiguousarray(ct_volume.array.transpose(2, 1, 0)), ct_volume.spacing[::-1],
                     direction=np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]], dtype=float))
    np.testing.assert_allclose(preprocess(Study("ct", volume=swapped)).pixel_values, reference, atol=1e-6)


def test_real_enhanced_ct_and_dicom_series(pydicom_data):
    mi = preprocess(read_study(pydicom_data("eCT_Supplemental.dcm")))
    assert mi.kind == "ct" and mi.pixel_values.shape == (16, 1, S, S)
    assert np.isfinite(mi.pixel_values).all()


def test_shared_jpeg(shared_data):
    path = sorted((shared_data / "vqa-rad" / "images").glob("*.jpg"))[0]
    mi = preprocess(read_study(path, kind="cxr"), PreprocessConfig(image_size=64))
    assert mi.pixel_values.shape == (1, 1, 64, 64) and mi.view_codes == ["UNKNOWN"]


def test_config_round_trip_and_model_overrides(tmp_path):
    cfg = PreprocessConfig(image_size=128, ct_window="thyroid", ct_windows={"thyroid": (70.0, 350.0)} | {
        k: v for k, v in PreprocessConfig().ct_windows.items() if k != "thyroid"})
    path = tmp_path / "preprocessor_config.json"
    path.write_text(json.dumps(cfg.to_dict()))
    assert PreprocessConfig.from_dict(json.loads(path.read_text())) == cfg
    # A model folder overrides some keys, keeps the rest default, ignores keys it does not know.
    model = {"image_size": 96, "ct_windows": {"thyroid": [60, 250]}, "image_mean": [0.4, 0.4, 0.4], "do_resize": True}
    cfg = PreprocessConfig.from_dict(model)
    assert cfg.image_size == 96 and cfg.mean == pytest.approx(0.4) and cfg.std == 0.5
    assert cfg.ct_windows["thyroid"] == (60.0, 250.0) and cfg.ct_windows["soft_tissue"] == (40.0, 400.0)
    assert PreprocessConfig.from_dict({"size": {"height": 256, "width": 256}}).image_size == 256


@pytest.mark.parametrize("bad", [{"image_size": 0}, {"std": 0}, {"ct_window": "abdomen"}, {"ct_slabs": "x"},
                                 {"percentiles": [99, 1]}, {"mammo_chest_wall": "top"},
                                 # NaN / Infinity as json.loads reads them: every pixel would be NaN
                                 {"std": float("nan")}, {"image_mean": [float("nan")]}, {"mean": float("inf")},
                                 {"ct_windows": {"thyroid": [float("nan"), 250]}}])
def test_bad_config_values_raise(bad):
    with pytest.raises(ConfigError):
        PreprocessConfig.from_dict(bad)


def test_non_finite_values_never_reach_the_model(ct_volume, cxr):
    """Percentiles ignore NaN/inf and NaN maps to 0 (background), for studies built outside read_study too."""
    from radfound.preprocess.imaging import robust_range, scale_unit

    values = np.array([np.nan, np.inf, -np.inf, 0.0, 1.0, 2.0, 3.0, 4.0], np.float32)
    assert robust_range(values, (0, 100)) == (0.0, 4.0)
    assert robust_range(np.full(4, np.nan, np.float32), (0.5, 99.5)) == (0.0, 0.0)
    np.testing.assert_array_equal(scale_unit(values, 0.0, 4.0), [0, 1, 0, 0, 0.25, 0.5, 0.75, 1])
    array = ct_volume.array.copy()
    array[:, :20] = np.nan
    mi = preprocess(Study("image", volume=Volume(array, ct_volume.spacing)))  # percentile window
    assert np.isfinite(mi.pixel_values).all() and mi.pixel_values.std() > 0.1
    view = copy.deepcopy(cxr.views[0])
    view.pixels[:100] = np.nan
    view.window = None
    mi = preprocess(Study("image", views=[view]))
    assert np.isfinite(mi.pixel_values).all() and mi.pixel_values.std() > 0.1
