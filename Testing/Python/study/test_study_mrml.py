"""Slicer volume nodes -> Study with real MRML (slicer-core): geometry, pixels, UIDs, mammogram node sets."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("slicer", reason="slicer-core is not installed")

from slicer_app import slicer_core  # noqa: E402,F401  (fixture)
from study_factories import write_series  # noqa: E402

from radfound.errors import UnsupportedInputError  # noqa: E402
from radfound.study.mrml import study_from_volume_node, study_from_volume_nodes, view_from_name  # noqa: E402
from radfound.study.reader import read_study  # noqa: E402


def assert_same_volume(a, b):
    np.testing.assert_allclose(a.spacing, b.spacing, atol=1e-4)
    np.testing.assert_allclose(a.origin, b.origin, atol=1e-3)
    np.testing.assert_allclose(a.direction, b.direction, atol=1e-5)
    np.testing.assert_allclose(a.array, b.array)


def test_dicom_series_node_keeps_geometry(slicer_core, ct_small, tmp_path):
    row, col = np.array([1.0, 0, 0]), np.array([0, np.cos(0.2), np.sin(0.2)])
    normal = np.cross(row, col)
    paths = write_series(ct_small, tmp_path, [np.array([5.0, -3.0, 7.0]) + 2.5 * k * normal for k in range(6)],
                         (*row, *col))
    node = slicer_core.load_volume(paths[0])
    study = study_from_volume_node(node)
    assert study.kind == "ct" and study.volume.shape == (6, 128, 128)
    assert_same_volume(study.volume, read_study(tmp_path).volume)


def test_nrrd_in_ras_space_agrees_with_our_reader(slicer_core, tmp_path):
    import nrrd

    rng = np.random.default_rng(0)
    data = rng.normal(0, 300, size=(20, 18, 7)).astype(np.float32)  # nrrd axes i, j, k
    directions = np.array([[0.9, 0.1, 0.0], [-0.1, 0.9, 0.0], [0.0, 0.0, 3.0]])
    path = tmp_path / "ras.nrrd"
    nrrd.write(str(path), data, {"space": "right-anterior-superior", "space directions": directions,
                                  "space origin": [10.0, -20.0, 30.0], "kinds": ["domain"] * 3})
    ours = read_study(path)
    node = slicer_core.load_volume(path)
    assert_same_volume(study_from_volume_node(node).volume, ours.volume)
    assert ours.volume.origin == pytest.approx((-10.0, 20.0, 30.0))  # RAS -> LPS
    assert ours.volume.spacing == pytest.approx((3.0, np.hypot(0.1, 0.9), np.hypot(0.9, 0.1)))


def test_nifti_agrees_with_slicer(slicer_core, tmp_path):
    import nibabel as nib

    rng = np.random.default_rng(1)
    data = rng.normal(0, 300, size=(16, 12, 5)).astype(np.float32)
    # A right-handed affine (ITK flips the k axis of left-handed NIfTI, which changes the array order).
    affine = np.array([[-0.8, 0, 0, 40.0], [0, -0.8, 0, -30.0], [0, 0, 2.0, 12.0], [0, 0, 0, 1]])
    path = tmp_path / "vol.nii.gz"
    nib.save(nib.Nifti1Image(data, affine), str(path))
    ours = read_study(path)
    np.testing.assert_array_equal(ours.volume.array[2], data[:, :, 2].T)  # (k, j, i)
    node = slicer_core.load_volume(path)
    assert_same_volume(study_from_volume_node(node).volume, ours.volume)


def test_real_cr_node_matches_reading_the_file(slicer_core, pydicom_data):
    path = pydicom_data("RG1_UNCR.dcm")
    study = study_from_volume_node(slicer_core.load_volume(path))
    direct = read_study(path)
    assert study.kind == "cxr" and study.views[0].view == "PA"
    np.testing.assert_array_equal(study.views[0].pixels, direct.views[0].pixels)  # same MONOCHROME1 handling
    assert study.sources[0].sop_instance_uid == direct.sources[0].sop_instance_uid


def test_uids_from_subject_hierarchy_and_node_attributes(slicer_core):
    import slicer

    node = slicer.util.addVolumeFromArray(np.zeros((3, 8, 8), dtype=np.int16), name="ct")
    sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(slicer_core.scene)
    study_item = sh.CreateStudyItem(sh.GetSceneItemID(), "study")
    sh.SetItemUID(study_item, "DICOM", "1.2.3.4")
    series_item = sh.CreateItem(study_item, node)
    sh.SetItemUID(series_item, "DICOM", "1.2.3.4.5")
    node.SetAttribute("DICOM.instanceUIDs", "1.2.3.4.5.1 1.2.3.4.5.2 1.2.3.4.5.3")
    study = study_from_volume_node(node)
    assert study.study_uid == "1.2.3.4"
    assert [s.sop_instance_uid for s in study.sources] == ["1.2.3.4.5.1", "1.2.3.4.5.2", "1.2.3.4.5.3"]
    assert {s.series_uid for s in study.sources} == {"1.2.3.4.5"}


def test_mammogram_nodes_from_files_and_from_names(slicer_core, write_mammo, tmp_path):
    import slicer

    nodes = [slicer_core.load_volume(write_mammo(tmp_path, f"{s}{v}.dcm", s, v)) for s in "RL" for v in ("MLO", "CC")]
    study = study_from_volume_nodes(nodes)
    assert study.kind == "mammo" and study.present_views == ["L-CC", "L-MLO", "R-CC", "R-MLO"]
    assert study.views[0].shape == (583, 383)
    named = [slicer.util.addVolumeFromArray(np.ones((1, 20, 10), np.float32), name=n) for n in ("R CC", "Left MLO")]
    study = study_from_volume_nodes(named)
    assert study.present_views == ["L-MLO", "R-CC"] and study.missing_views == ["L-CC", "R-MLO"]
    named[0].SetAttribute("RadFound.View", "R-MLO")
    assert study_from_volume_nodes(named).present_views == ["L-MLO", "R-MLO"]


def test_bad_nodes(slicer_core):
    import slicer

    with pytest.raises(UnsupportedInputError):
        study_from_volume_node(None)
    node = slicer.util.addVolumeFromArray(np.ones((1, 4, 4), np.float32), name="x")
    node.SetAttribute("RadFound.Kind", "mammo")
    with pytest.raises(UnsupportedInputError, match="RadFound.View"):
        study_from_volume_node(node)


@pytest.mark.parametrize("name, code", [("L CC", "L-CC"), ("RMLO", "R-MLO"), ("img_R_MLO_2", "R-MLO"),
                                        ("Right XCCL", "R-CC"), ("chest PA", None), ("L R CC", None)])
def test_view_from_name(name, code):
    assert view_from_name(name) == code
