"""Assemble a 4-view mammogram set (L-CC, L-MLO, R-CC, R-MLO) from the Slicer scene.

Starting from one selected image, its siblings in the subject hierarchy (the other
series of the same DICOM study, or the other top-level volumes when nothing was
loaded through the DICOM module) are sorted into view codes: a per-view user
override (node attribute ``RadFound.View``) first, then the DICOM tags
ImageLaterality / ViewPosition, then the node name ("R MLO", "LCC"...).
"""

from __future__ import annotations

from radfound.slicer.study_from_scene import VIEW_ATTRIBUTE, dicom_header, view_code
from radfound.study.model import MAMMO_VIEWS


def _sh(scene):
    import slicer

    return slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)


def _is_single_image(node) -> bool:
    image = node.GetImageData() if node is not None and node.IsA("vtkMRMLScalarVolumeNode") else None
    return image is not None and image.GetDimensions()[2] == 1


def node_view_code(node) -> str | None:
    """The view code RadFound uses for this node (override, DICOM tags, then name)."""
    forced = node.GetAttribute(VIEW_ATTRIBUTE)
    if forced in MAMMO_VIEWS:
        return forced
    return view_code(dicom_header(node), node.GetName() or "")


def set_view_override(node, code: str | None) -> None:
    """Force (or with None clear) the view code of one image; survives saving the scene."""
    if code is not None and code not in MAMMO_VIEWS:
        raise ValueError(f"{code!r} is not one of {MAMMO_VIEWS}")
    node.SetAttribute(VIEW_ATTRIBUTE, code or "")


def candidate_images(node) -> list:
    """Single-image volume nodes in the same subject-hierarchy study (or scene level) as ``node``."""
    scene = node.GetScene()
    sh = _sh(scene)
    item = sh.GetItemByDataNode(node)
    parent = sh.GetItemParent(item) if item else sh.GetSceneItemID()
    children = []
    ids = __import__("vtk").vtkIdList()
    sh.GetItemChildren(parent, ids, True)
    for i in range(ids.GetNumberOfIds()):
        data = sh.GetItemDataNode(ids.GetId(i))
        if _is_single_image(data):
            children.append(data)
    if node not in children and _is_single_image(node):
        children.insert(0, node)
    return children


def assemble_view_set(node) -> dict[str, object]:
    """{view code: volume node} for the study of ``node``; the selected node wins its own view code."""
    views: dict[str, object] = {}
    own = node_view_code(node)
    if own:
        views[own] = node
    for other in candidate_images(node):
        code = node_view_code(other)
        if code and code not in views:
            views[code] = other
    return {code: views[code] for code in MAMMO_VIEWS if code in views}
