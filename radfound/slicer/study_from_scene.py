"""What the modules read from the scene: one volume node, or a mammogram view set, as a Study.

The conversion itself is the study reader's (``radfound.study.mrml``: pixels, IJK-to-RAS ->
LPS, DICOM context from the source file and the subject hierarchy, no patient
identifiers). This module adds what the modules need on top: the study kind the user
chose in the Modality box (an override for this call, not written to the node), and a
view set whose per-view choices are stored on the nodes (attribute ``RadFound.View``)
so that they survive saving the scene.
"""

from __future__ import annotations

import dataclasses

from radfound.errors import UnsupportedInputError
from radfound.study.model import MAMMO_VIEWS, Study

# The same names as radfound.study.mrml, which is imported only when used: it needs pydicom, which
# the first-use installer may still have to bring up to date when Slicer loads the modules.
KIND_ATTRIBUTE = "RadFound.Kind"  # node attribute forcing the kind (scripts; the reader honours it)
VIEW_ATTRIBUTE = "RadFound.View"  # node attribute holding a user-chosen mammogram view code
NOT_A_VIEW = "NONE"  # VIEW_ATTRIBUTE of an image the user took out of the mammogram view set
KINDS = ("cxr", "mammo", "ct", "image")
KEY_ATTRIBUTE = "RadFound.Key"  # node attribute: a random key that tells one image from a later one with its ID


def node_key(node, *, create: bool = True) -> str | None:
    """Who this image is, for what RadFound remembers about it (a conversation, an encoding).

    Node IDs are reused: after *Close scene* the next patient's image is ``vtkMRMLScalarVolumeNode1``
    again, so an ID alone would hand one patient's conversation to another. The key is the ID plus a
    random token stored on the node the first time it is needed (``create``); None when it has none yet.
    """
    token = node.GetAttribute(KEY_ATTRIBUTE)
    if not token:
        if not create:
            return None
        import uuid

        token = uuid.uuid4().hex
        node.SetAttribute(KEY_ATTRIBUTE, token)
    return f"{node.GetID()}:{token}"


def detect_kind(node) -> str:
    """The kind the study reader gives this node (DICOM header and geometry only: no pixels are copied)."""
    from radfound.study import mrml

    image = node.GetImageData()
    slices = image.GetDimensions()[2] if image is not None else 1
    return mrml._kind(node, mrml.source_header(node), slices)  # noqa: SLF001 - the reader's own rule, one source


def study_from_volume_node(node, kind: str | None = None) -> Study:
    """A Study from one volume node; ``kind`` (the Modality box) overrides the detected kind."""
    from radfound.study import mrml

    study = mrml.study_from_volume_node(node)
    if not kind or kind == study.kind:
        return study
    if kind not in KINDS:
        raise UnsupportedInputError(f"unknown study kind {kind!r} (use one of {', '.join(KINDS)})", node.GetName())
    allowed = ("ct", "image") if study.volume is not None else ("cxr", "mammo", "image")
    if kind not in allowed:
        shape = "a 3D volume" if study.volume is not None else "a 2D image"
        raise UnsupportedInputError(f"{shape} cannot be read as {kind} (choose {' or '.join(allowed)})", node.GetName())
    return dataclasses.replace(study, kind=kind, warnings=[*study.warnings, f"kind set to {kind} by the user"])


def study_from_view_set(view_set: dict[str, object]) -> Study:
    """A mammogram Study from {view code: volume node}; each choice is stored on its node first."""
    unknown = sorted(set(view_set) - set(MAMMO_VIEWS))
    if unknown:
        raise UnsupportedInputError(f"unknown mammogram view code(s) {unknown}; use {list(MAMMO_VIEWS)}")
    chosen = [(code, view_set[code]) for code in MAMMO_VIEWS if view_set.get(code) is not None]
    if not chosen:
        raise UnsupportedInputError("the mammogram view set is empty")
    if len({node.GetID() for _, node in chosen}) < len(chosen):
        raise UnsupportedInputError("one image is assigned to two mammogram views")
    for code, node in chosen:
        if node.GetAttribute(VIEW_ATTRIBUTE) != code:
            node.SetAttribute(VIEW_ATTRIBUTE, code)
    from radfound.study import mrml

    nodes = [node for _, node in chosen]
    study = mrml.study_from_volume_nodes(nodes) if len(nodes) > 1 else study_from_volume_node(nodes[0], kind="mammo")
    if study.missing_views and not any("missing" in w for w in study.warnings):
        study.warnings.append("missing mammogram views: " + ", ".join(study.missing_views))
    return study

