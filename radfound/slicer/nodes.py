"""Save drafts and conversations into the scene: text, table and markups nodes in the study's folder.

Every saved text carries ``PRELIMINARY_NOTICE`` above it and, below, the model and what
the reader noticed about the input (as the ``.txt`` of ``radfound report`` does); every
node has attributes naming the model, its version and the provider, so a saved scene
(.mrb) always says what produced it. Boxes (pixel coordinates of a view) become
closed-curve markups placed in RAS through the volume's IJK-to-RAS matrix, so they land
on the finding in every slice view; their label starts with "AI" so that no one takes
them for a reader's annotation.
"""

from __future__ import annotations

import re

import numpy as np

from radfound.config import PRELIMINARY_NOTICE
from radfound.outputs.text import conversation_models, conversation_text, footer
from radfound.tasks.results import Answer, Box, Draft

FOLDER_NAME = "RadFound"
AI_LABEL = "AI: {}"  # the name (slice-view label) of a markup the model drew
#: Characters XML 1.0 forbids: a scene file holding one cannot be read back, so they never enter a node.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def xml_safe(text: str) -> str:
    """Text without the control characters an .mrml file cannot store (model output may contain them)."""
    return _NOT_XML.sub("", text)


def _sh(scene):
    import slicer

    return slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)


def results_folder(volume_node) -> int:
    """Subject-hierarchy folder 'RadFound' under the volume's study (or its parent / the scene); created once."""
    sh = _sh(volume_node.GetScene())
    item = sh.GetItemByDataNode(volume_node)
    if not item:
        item = sh.CreateItem(sh.GetSceneItemID(), volume_node)
    parent = sh.GetItemParent(item) or sh.GetSceneItemID()
    existing = sh.GetItemChildWithName(parent, FOLDER_NAME)
    if existing:
        return existing
    return sh.CreateFolderItem(parent, FOLDER_NAME)


def _place(node, folder: int) -> None:
    sh = _sh(node.GetScene())
    item = sh.GetItemByDataNode(node)
    if item:
        sh.SetItemParent(item, folder)
    else:
        sh.CreateItem(folder, node)


def _tag(node, result: Draft | Answer, source) -> None:
    node.SetAttribute("RadFound.Preliminary", "true")
    node.SetAttribute("RadFound.Model", result.model)
    node.SetAttribute("RadFound.ModelVersion", result.model_version)
    node.SetAttribute("RadFound.Provider", result.provider)
    node.SetAttribute("RadFound.SourceVolume", source.GetID())


def add_text_node(volume_node, name: str, text: str):
    """A text node holding ``text`` under the notice, placed in the study's RadFound folder."""
    scene = volume_node.GetScene()
    node = scene.AddNewNodeByClass("vtkMRMLTextNode", scene.GenerateUniqueName(name))
    node.SetText(xml_safe(f"{PRELIMINARY_NOTICE}\n\n{text}"))
    _place(node, results_folder(volume_node))
    return node


def add_findings_table(volume_node, name: str, rows: list[dict]):
    """A table node with one row per structured finding (columns: the union of the rows' keys)."""
    scene = volume_node.GetScene()
    table = scene.AddNewNodeByClass("vtkMRMLTableNode", scene.GenerateUniqueName(name))
    table.SetDescription(PRELIMINARY_NOTICE)
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    columns = columns or ["finding", "location", "present"]
    for column in columns:
        table.AddColumn().SetName(column)
    for row in rows:
        index = table.AddEmptyRow()
        for c, column in enumerate(columns):
            table.SetCellText(index, c, "" if row.get(column) is None else xml_safe(str(row.get(column))))
    _place(table, results_folder(volume_node))
    return table


def box_corners_ras(volume_node, box: Box) -> np.ndarray:
    """The four corners (4, 3) of a box given in the pixels (column x, row y) of a 2D image node, in RAS."""
    import slicer
    import vtk

    m = vtk.vtkMatrix4x4()
    volume_node.GetIJKToRASMatrix(m)
    ijk_to_ras = slicer.util.arrayFromVTKMatrix(m)
    k = 0.0
    # Pixel (x, y) covers [x, x+1): voxel centres are at integer IJK, so shift by half a pixel.
    xs, ys = (box.x0 - 0.5, box.x1 - 0.5), (box.y0 - 0.5, box.y1 - 0.5)
    ijk = np.array([[xs[0], ys[0], k, 1], [xs[1], ys[0], k, 1], [xs[1], ys[1], k, 1], [xs[0], ys[1], k, 1]])
    return (ijk_to_ras @ ijk.T).T[:, :3]


def add_box_markup(volume_node, box: Box, name: str | None = None):
    """A closed-curve markup outlining ``box`` on ``volume_node`` (the node the box's pixels belong to),
    labelled "AI: <label>" in the slice views, the notice in its description."""
    scene = volume_node.GetScene()
    unique = scene.GenerateUniqueName(xml_safe(name or AI_LABEL.format(box.label)))
    curve = scene.AddNewNodeByClass("vtkMRMLMarkupsClosedCurveNode", unique)
    curve.SetCurveTypeToLinear()
    curve.CreateDefaultDisplayNodes()
    curve.GetDisplayNode().SetPointLabelsVisibility(False)  # the corners' labels would hide the "AI:" name
    for corner in box_corners_ras(volume_node, box):
        curve.AddControlPoint(*corner)
    curve.SetDescription(xml_safe(f"{box.label}. {PRELIMINARY_NOTICE}"))
    curve.SetLocked(True)
    _place(curve, results_folder(volume_node))
    return curve


def save_draft(draft: Draft, volume_node, edited_text: str | None = None, view_nodes: list | None = None,
               warnings=()) -> dict:
    """Save a (possibly edited) draft: text node (the reader's ``warnings`` under it), structured-findings
    table, one markup per box."""
    base = volume_node.GetName() or "volume"
    edited = edited_text is not None and edited_text.strip() != draft.text.strip()
    text = edited_text if edited else draft.text
    # An edited text is the user's: the model's cut-off note no longer applies (as in the SR).
    text_node = add_text_node(volume_node, f"RadFound draft - {base}",
                              f"{text}\n\n{footer(draft, warnings, draft.truncated and not edited)}")
    rows = list(draft.structured)
    markups = []
    for box in draft.boxes:
        target = view_nodes[box.view_index] if view_nodes and box.view_index < len(view_nodes) else volume_node
        if target.GetImageData().GetDimensions()[2] > 1:
            # A CT box lies on a slab of the reoriented volume, which the Draft does not describe: list it only.
            rows.append({"finding": box.label, "location": f"slab {box.view_index}: "
                         f"x {box.x0:.0f}-{box.x1:.0f}, y {box.y0:.0f}-{box.y1:.0f} px", "present": True})
            continue
        markups.append(add_box_markup(target, box))
    table = add_findings_table(volume_node, f"RadFound AI findings - {base}", rows)
    for node in [text_node, table, *markups]:
        _tag(node, draft, volume_node)
    text_node.SetAttribute("RadFound.Edited", "true" if edited else "false")
    return {"text": text_node, "table": table, "markups": markups}


def save_conversation(answers: list[Answer], volume_node, warnings=()):
    """Save a conversation as one text node in the study's RadFound folder, the model(s) and the reader's
    ``warnings`` under it."""
    name = f"RadFound conversation - {volume_node.GetName() or 'volume'}"
    models = conversation_models(answers)
    tail = ""
    if answers:
        several = len(models) > 1
        tail = (f"\n\nModels: {', '.join(models)}" if several else "") + \
            f"\n\n{footer(answers[-1], warnings, label='Last model' if several else 'Model')}"
    node = add_text_node(volume_node, name, conversation_text(answers) + tail)
    if answers:
        _tag(node, answers[-1], volume_node)
        node.SetAttribute("RadFound.Models", ", ".join(models))
    return node
