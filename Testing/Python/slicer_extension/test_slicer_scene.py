"""MRML glue with real Slicer (slicer-core): volumes read by Slicer's volumes logic into a Study,
mammogram view sets assembled from the subject hierarchy, drafts saved as text / table / markups
nodes, and the scene written to an .mrb and read back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

slicer = pytest.importorskip("slicer")

from radfound.config import PRELIMINARY_NOTICE  # noqa: E402
from radfound.errors import UnsupportedInputError  # noqa: E402
from radfound.slicer import mammo_views, nodes  # noqa: E402
from radfound.slicer.study_from_scene import KIND_ATTRIBUTE, study_from_view_set, study_from_volume_node  # noqa: E402
from radfound.tasks.results import Answer, Box, Draft  # noqa: E402


def test_chest_radiograph_node_becomes_a_cxr_study(cxr_node, pydicom_data):
    import pydicom

    study = study_from_volume_node(cxr_node)
    assert study.kind == "cxr" and study.present_views == ["PA"]
    assert study.metadata["modality"] == "CR" and study.metadata["body_part"] == "CHEST"
    ds = pydicom.dcmread(pydicom_data("RG1_UNCI.dcm"))
    assert ds.PhotometricInterpretation == "MONOCHROME1"  # Slicer inverts it on reading: higher is brighter
    expected = (2**ds.BitsStored - 1) - ds.pixel_array.astype(np.float32)
    np.testing.assert_array_equal(study.views[0].pixels, expected)  # same pixels, same row/column order
    assert study.sources[0].sop_instance_uid == ds.SOPInstanceUID
    assert "PatientName" not in str(study.summary())


def test_kind_override_and_ct_slice(slicer_core, pydicom_data):
    node = slicer_core.load_volume(pydicom_data("CT_small.dcm"))
    assert study_from_volume_node(node).kind == "image"  # one CT slice: a 2D image
    overridden = study_from_volume_node(node, kind="cxr")  # the Modality box: for this call only
    assert overridden.kind == "cxr" and overridden.warnings == ["kind set to cxr by the user"]
    assert node.GetAttribute(KIND_ATTRIBUTE) is None
    node.SetAttribute(KIND_ATTRIBUTE, "cxr")  # a script forcing it on the node: the reader honours it
    assert study_from_volume_node(node).kind == "cxr"
    with pytest.raises(UnsupportedInputError, match="a 2D image cannot be read as ct"):
        study_from_volume_node(node, kind="ct")
    with pytest.raises(UnsupportedInputError, match="unknown study kind"):
        study_from_volume_node(node, kind="ultrasound")


def test_ct_geometry_is_lps(slicer_core):
    array = np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)
    node = slicer.util.addVolumeFromArray(array, ijkToRAS=np.diag([-0.7, -0.8, 2.5, 1.0]), name="ct")
    study = study_from_volume_node(node, kind="ct")
    assert study.volume.spacing == pytest.approx((2.5, 0.8, 0.7))
    np.testing.assert_allclose(study.volume.ijk_to_lps(), np.diag([0.7, 0.8, 2.5, 1.0]), atol=1e-9)
    np.testing.assert_array_equal(study.volume.array, array)


def test_mammo_view_set_from_tags_names_and_override(slicer_core, shared_data):
    mlo = slicer_core.load_volume(shared_data / "dicom" / "mammo" / "MG1_JPLY.dcm")
    sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(slicer_core.scene)
    others = {}
    for name in ("R CC", "RMLO", "scan 4"):
        others[name] = slicer.util.addVolumeFromArray(np.zeros((1, 40, 30), np.float32), name=name)
        sh.CreateItem(sh.GetSceneItemID(), others[name])
    assert study_from_volume_node(mlo).kind == "mammo"  # Modality RG, body part BREAST
    assert study_from_volume_node(mlo).metadata["modality"] == "MG"  # as read_study says: no "not trained on RG"
    assert mammo_views.node_view_code(mlo) == "L-MLO"  # Laterality L + View Position MLO
    assert mammo_views.assemble_view_set(mlo).keys() == {"L-MLO", "R-CC", "R-MLO"}
    mammo_views.set_view_override(others["scan 4"], "L-CC")
    view_set = mammo_views.assemble_view_set(mlo)
    assert {k: v.GetName() for k, v in view_set.items()} == {
        "L-CC": "scan 4", "L-MLO": "MG1_JPLY", "R-CC": "R CC", "R-MLO": "RMLO"}
    study = study_from_view_set(view_set)
    assert study.present_views == ["L-CC", "L-MLO", "R-CC", "R-MLO"] and study.missing_views == []
    del view_set["R-CC"]
    study = study_from_view_set(view_set)
    assert study.missing_views == ["R-CC"] and any("R-CC" in w for w in study.warnings)
    assert others["scan 4"].GetAttribute("RadFound.View") == "L-CC"  # the choice is kept on the node
    with pytest.raises(ValueError):
        mammo_views.set_view_override(mlo, "SIDEWAYS")
    mammo_views.take_out(others["RMLO"])  # "(missing)" chosen for the view its name gives
    assert mammo_views.assemble_view_set(mlo).keys() == {"L-CC", "L-MLO", "R-CC"}
    assert study_from_volume_node(others["RMLO"], kind="mammo").views[0].view == "R-MLO"  # read alone: its name


def _draft() -> Draft:
    return Draft(
        findings="Opacity in the right upper zone.", impression="Possible right upper lobe pneumonia.",
        model="radfound-small", provider="CPUExecutionProvider",
        boxes=[Box("opacity", 100, 200, 400, 600)],
        structured=[{"finding": "consolidation", "location": "right upper lobe", "present": True},
                    {"finding": "effusion", "location": "", "present": False}],
    )


def test_saved_draft_nodes_survive_an_mrb_round_trip(slicer_core, cxr_node, tmp_path):
    saved = nodes.save_draft(_draft(), cxr_node, edited_text="FINDINGS:\nEdited.\n\nIMPRESSION:\nEdited.")
    sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(slicer_core.scene)
    folder = sh.GetItemParent(sh.GetItemByDataNode(saved["text"]))
    assert sh.GetItemName(folder) == "RadFound"
    assert sh.GetItemParent(folder) == sh.GetItemParent(sh.GetItemByDataNode(cxr_node))
    assert PRELIMINARY_NOTICE in saved["markups"][0].GetDescription()  # shown by the Markups module
    corners = slicer.util.arrayFromMarkupsControlPoints(saved["markups"][0])
    # RG1 has no pixel spacing: Slicer uses 1 mm, LPS->RAS flips x and y.
    np.testing.assert_allclose(corners[0], [-99.5, -199.5, 0.0])
    np.testing.assert_allclose(corners[2], [-399.5, -599.5, 0.0])

    path = slicer_core.write_mrb(tmp_path / "study.mrb")
    slicer_core.scene.Clear(0)
    slicer_core.read_mrb(path)
    text = slicer.util.getNodesByClass("vtkMRMLTextNode")[0]
    assert text.GetText().startswith(PRELIMINARY_NOTICE) and "Edited." in text.GetText()
    assert text.GetAttribute("RadFound.Model") == "radfound-small"
    assert text.GetAttribute("RadFound.Edited") == "true"
    table = slicer.util.getNodesByClass("vtkMRMLTableNode")[0]
    assert table.GetNumberOfRows() == 2 and table.GetCellText(0, 1) == "right upper lobe"
    assert table.GetCellText(1, 2) == "False"
    assert table.GetDescription() == PRELIMINARY_NOTICE and table.GetName().startswith("RadFound AI findings")
    curve = slicer.util.getNodesByClass("vtkMRMLMarkupsClosedCurveNode")[0]
    assert curve.GetNumberOfControlPoints() == 4
    # What the slice views show of the box says it is the model's, not a reader's annotation.
    assert curve.GetName() == "AI: opacity" and curve.GetAttribute("RadFound.Preliminary") == "true"
    volume = slicer.util.getNodesByClass("vtkMRMLScalarVolumeNode")[0]
    assert slicer.util.arrayFromVolume(volume).shape == (1, 1955, 1841)


def test_conversation_is_saved_as_text(cxr_node):
    answers = [Answer("Is there an effusion?", "No.", "m", "CPUExecutionProvider"),
               Answer("Is the heart enlarged?", "No.", "m", "CPUExecutionProvider")]
    node = nodes.save_conversation(answers, cxr_node)
    assert node.GetText().count("Q: ") == 2 and PRELIMINARY_NOTICE in node.GetText()
    assert nodes.results_folder(cxr_node) == nodes.results_folder(cxr_node)  # one folder per study


def test_control_characters_from_a_model_do_not_break_the_scene(slicer_core, cxr_node, tmp_path):
    draft = _draft()
    draft.findings = "Opacity\x06 in the right\x1b upper zone.\x00"
    draft.structured[0]["location"] = "right\x07 upper lobe"
    nodes.save_draft(draft, cxr_node)
    slicer_core.read_mrb(slicer_core.write_mrb(tmp_path / "s.mrb"))
    text = slicer.util.getNodesByClass("vtkMRMLTextNode")[0].GetText()
    assert "Opacity in the right upper zone." in text
    assert slicer.util.getNodesByClass("vtkMRMLTableNode")[0].GetCellText(0, 1) == "right upper lobe"


def test_ct_boxes_are_listed_not_misplaced(slicer_core):
    volume = slicer.util.addVolumeFromArray(np.zeros((6, 20, 20), np.float32), name="ct")
    draft = _draft()
    saved = nodes.save_draft(draft, volume)
    assert saved["markups"] == []
    assert saved["table"].GetNumberOfRows() == 3 and saved["table"].GetCellText(2, 1).startswith("slab 0:")


def test_mammogram_boxes_land_on_their_view(slicer_core):
    from radfound.slicer.report_logic import RadFoundReportLogic

    def image(name, x_offset):
        ijk_to_ras = np.diag([-1.0, -1.0, 1.0, 1.0])
        ijk_to_ras[0, 3] = x_offset
        return slicer.util.addVolumeFromArray(np.zeros((1, 50, 40), np.float32), ijkToRAS=ijk_to_ras, name=name)

    views = {"R-MLO": image("R-MLO", 100.0), "L-CC": image("L-CC", 0.0)}  # not in canonical order on purpose
    draft = _draft()
    draft.boxes = [Box("mass", 1, 2, 3, 4, view_index=1)]  # view 1 of the Study = R-MLO (L-CC comes first)
    saved = RadFoundReportLogic().save(draft, views["L-CC"], view_set=views, log=False)
    sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(slicer_core.scene)
    folder = sh.GetItemParent(sh.GetItemByDataNode(saved["markups"][0]))
    assert sh.GetItemName(folder) == "RadFound" and len(saved["markups"]) == 1
    np.testing.assert_allclose(slicer.util.arrayFromMarkupsControlPoints(saved["markups"][0])[0], [99.5, -1.5, 0])


def test_ct_series_from_slicer_matches_radfound_reader(slicer_core, pydicom_data):
    """A real 5-slice CT series read by Slicer (RAS) gives the same LPS geometry and HU as read_study."""
    from radfound.study.reader import read_study

    folder = pydicom_data("CT_small.dcm").parent / "dicomdirtests" / "98892001" / "CT5N"
    if not folder.is_dir():
        pytest.skip("pydicom's dicomdirtests CT series is not installed")
    node = slicer_core.load_volume(sorted(folder.iterdir())[0])
    ours = study_from_volume_node(node)
    assert ours.kind == "ct"  # 3D: detected from the geometry
    reference = read_study(folder).volume
    assert ours.volume.shape == reference.shape == (5, 16, 16)
    np.testing.assert_allclose(ours.volume.ijk_to_lps(), reference.ijk_to_lps(), atol=1e-4)
    np.testing.assert_array_equal(ours.volume.array, reference.array)
    # Loaded by Add Data, not the DICOM module: every slice is still the evidence an SR references.
    assert sorted(ref.sop_instance_uid for ref in ours.sources) == sorted(ref.sop_instance_uid for ref in
                                                                          read_study(folder).sources)
    assert len(ours.sources) == 5 and all(ref.path and Path(ref.path).parent == folder for ref in ours.sources)


def test_attribute_names_are_the_readers():
    from radfound.slicer import study_from_scene
    from radfound.study import mrml

    assert (study_from_scene.KIND_ATTRIBUTE, study_from_scene.VIEW_ATTRIBUTE, study_from_scene.NOT_A_VIEW,
            study_from_scene.KINDS) == (mrml.KIND_ATTRIBUTE, mrml.VIEW_ATTRIBUTE, mrml.NOT_A_VIEW, mrml.KINDS)
