"""Assemble a 4-view mammogram set (L-CC, L-MLO, R-CC, R-MLO) from the Slicer scene.

Starting from one selected image, its siblings in the subject hierarchy (the other
series of the same DICOM study, or the other top-level volumes when nothing was
loaded through the DICOM module) are sorted into view codes the way the study reader
does: a per-view user override (node attribute ``RadFound.View``; ``NONE`` takes the
image out of the set) first, then the
DICOM tags (laterality + View Position / View Code Sequence), then the node name
("R MLO", "LCC", "Right MLO"...).
"""

from __future__ import annotations

from radfound.slicer.study_from_scene import NOT_A_VIEW, VIEW_ATTRIBUTE
from radfound.study.model import MAMMO_VIEWS


def _sh(scene):
    import slicer

    return slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)


def _is_single_image(node) -> bool:
    image = node.GetImageData() if node is not None and node.IsA("vtkMRMLScalarVolumeNode") else None
    return image is not None and image.GetDimensions()[2] == 1


def view_override(node) -> str | None:
    """The view code a user gave this image by hand (node attribute ``RadFound.View``), or None."""
    forced = (node.GetAttribute(VIEW_ATTRIBUTE) or "").strip().upper()
    return forced if forced in MAMMO_VIEWS else None


def taken_out(node) -> bool:
    """Whether the user took this image out of the mammogram view set (by choosing "(missing)" for its view)."""
    return (node.GetAttribute(VIEW_ATTRIBUTE) or "").strip().upper() == NOT_A_VIEW


def node_view_code(node) -> str | None:
    """The view code of this node: override, DICOM tags, then name (None when unclear or taken out)."""
    from radfound.study import mammo, mrml

    if taken_out(node):
        return None
    forced = view_override(node)
    if forced:
        return forced
    inst = mrml.source_header(node)
    if inst is not None:
        code = mammo.view_code(inst.laterality, inst.view_position, inst.view_codes)
        if code:
            return code
    return mrml.view_from_name(node.GetName() or "")


def set_view_override(node, code: str | None) -> None:
    """Force (or with None clear) the view code of one image; survives saving the scene."""
    if code is not None and code not in MAMMO_VIEWS:
        raise ValueError(f"{code!r} is not one of {MAMMO_VIEWS}")
    node.SetAttribute(VIEW_ATTRIBUTE, code or "")


def take_out(node) -> None:
    """Keep this image out of the assembled view set, whatever its tags or name say; survives saving the scene.
    Choosing it for a view by hand (``set_view_override``) puts it back."""
    node.SetAttribute(VIEW_ATTRIBUTE, NOT_A_VIEW)


def candidate_images(node) -> list:
    """Single-image volume nodes in the same subject-hierarchy study (or scene level) as ``node``."""
    import vtk

    sh = _sh(node.GetScene())
    item = sh.GetItemByDataNode(node)
    parent = sh.GetItemParent(item) if item else sh.GetSceneItemID()
    ids = vtk.vtkIdList()
    sh.GetItemChildren(parent, ids, True)
    found = [sh.GetItemDataNode(ids.GetId(i)) for i in range(ids.GetNumberOfIds())]
    found = [n for n in found if _is_single_image(n)]
    if node not in found and _is_single_image(node):
        found.insert(0, node)
    return found


def assemble_view_set(node) -> dict[str, object]:
    """{view code: volume node} for the study of ``node``; the selected node wins its own view code."""
    views: dict[str, object] = {}
    own = node_view_code(node)
    if own:
        views[own] = node
    others = candidate_images(node)
    # A view chosen by hand (the node attribute) beats one read from tags or names, whatever the node order.
    forced = [n for n in others if view_override(n)]
    for other in forced + [n for n in others if n not in forced]:
        code = node_view_code(other)
        if code and code not in views:
            views[code] = other
    return {code: views[code] for code in MAMMO_VIEWS if code in views}
