"""Turn what is loaded in the Slicer scene into a Study: one volume node, or a mammogram view set.

Pixels come from the node (``arrayFromVolume``: (k, j, i)), geometry from its IJK-to-RAS
matrix (converted to the LPS convention of ``radfound.study.model``), and the
non-identifying DICOM context (modality, view, laterality, UIDs) from the node's source
file when it has one: the storage node's file name, or in the Slicer application the
DICOM database entry behind the ``DICOM.instanceUIDs`` attribute. Patient identifiers
are never read into the Study.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from radfound.errors import UnsupportedInputError
from radfound.study.model import MAMMO_VIEWS, SourceRef, Study, View, Volume

#: Node attribute a user (or the module's "Modality" override) sets to force the study kind.
KIND_ATTRIBUTE = "RadFound.Kind"
#: Node attribute holding a user-chosen mammogram view code (overrides DICOM tags).
VIEW_ATTRIBUTE = "RadFound.View"

_KINDS = ("cxr", "mammo", "ct", "image")
_LPS_FROM_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def source_file(node) -> Path | None:
    """The DICOM (or other) file this volume node was read from, if it is still on disk."""
    uids = (node.GetAttribute("DICOM.instanceUIDs") or "").split()
    if uids:
        try:
            import slicer

            db = getattr(slicer, "dicomDatabase", None)
            if db is not None:
                path = db.fileForInstance(uids[0])
                if path and Path(path).is_file():
                    return Path(path)
        except ImportError:
            pass
    storage = node.GetStorageNode()
    if storage is not None and storage.GetFileName():
        path = Path(storage.GetFileName())
        if path.is_file():
            return path
    return None


def dicom_header(node):
    """The DICOM header facts (``radfound.study.dicom.Instance``) of the node's source file, or None."""
    from radfound.errors import StudyReadError
    from radfound.study.dicom import read_header

    path = source_file(node)
    if path is None or path.suffix.lower() in (".nrrd", ".nhdr", ".nii", ".gz", ".mha", ".mhd", ".png", ".jpg"):
        return None
    try:
        return read_header(path)
    except StudyReadError:
        return None


def view_code(inst=None, name: str = "") -> str | None:
    """Mammogram view code (L-CC, L-MLO, R-CC, R-MLO) from DICOM tags, else from a node name like 'R MLO'."""
    from radfound.study.mammo import view_code as from_tags

    if inst is not None:
        code = from_tags(inst.laterality, inst.view_position, inst.view_codes)
        if code:
            return code
    token = "".join(c for c in name.upper() if c.isalnum())
    for code in MAMMO_VIEWS:
        side, position = code.split("-")
        if side + position in token or position + side in token:
            return code
    return None


def detect_kind(node, inst=None) -> str:
    """Study kind for a volume node: user override, else DICOM tags, else the geometry and the node name."""
    forced = (node.GetAttribute(KIND_ATTRIBUTE) or "").lower()
    if forced in _KINDS:
        return forced
    image = node.GetImageData()
    if image is not None and image.GetDimensions()[2] > 1:
        return "ct"
    if inst is not None:
        if inst.is_mammo:
            return "mammo"
        if inst.is_cxr:
            return "cxr"
        return "image"
    return "mammo" if view_code(None, node.GetName() or "") else "image"


def _metadata(inst, kind: str) -> dict[str, str]:
    meta = {"kind": kind}
    if inst is not None:
        for key, value in (("modality", inst.modality), ("body_part", inst.body_part), ("view", inst.view_position)):
            if value:
                meta[key] = value
    return meta


def _view_from_node(node, code: str, inst) -> View:
    import slicer

    array = np.asarray(slicer.util.arrayFromVolume(node), dtype=np.float32)
    if array.ndim == 4:  # (k, j, i, components): colour image
        array = array[..., :3] if array.shape[-1] >= 3 else array[..., 0]
    if array.shape[0] != 1:
        raise UnsupportedInputError(f"expected one 2D image, got {array.shape[0]} slices", node.GetName())
    pixels = array[0]
    # MONOCHROME1 needs no inversion here: Slicer's DICOM reader (GDCM) already stores 2^bits-1 - value.
    sx, sy, _ = node.GetSpacing()
    side = code.split("-")[0] if code[:2] in ("L-", "R-") else None
    return View(pixels=pixels, spacing=(float(sy), float(sx)), view=code, laterality=side, source=inst.source() if inst is not None else None)


def study_from_volume_node(node, kind: str | None = None) -> Study:
    """A Study from one scalar volume node: a 2D view (one slice) or a 3D volume."""
    import slicer
    import vtk

    if node is None or not node.IsA("vtkMRMLScalarVolumeNode") or node.GetImageData() is None:
        raise UnsupportedInputError("select a scalar volume with image data", getattr(node, "GetName", lambda: None)())
    inst = dicom_header(node)
    kind = kind or detect_kind(node, inst)
    if kind not in _KINDS:
        raise UnsupportedInputError(f"unknown study kind {kind!r} (use one of {', '.join(_KINDS)})", node.GetName())
    ref = inst.source() if inst is not None else None
    if kind == "ct":
        array = np.asarray(slicer.util.arrayFromVolume(node), dtype=np.float32)
        if array.ndim != 3:
            raise UnsupportedInputError("a CT study needs a single-component 3D volume", node.GetName())
        m = vtk.vtkMatrix4x4()
        node.GetIJKToRASMatrix(m)
        lps = _LPS_FROM_RAS @ slicer.util.arrayFromVTKMatrix(m)
        sx, sy, sz = node.GetSpacing()
        direction = lps[:3, :3] / np.array([sx, sy, sz])
        volume = Volume(array=array, spacing=(sz, sy, sx), origin=tuple(float(v) for v in lps[:3, 3]), direction=direction)
        return Study(kind="ct", volume=volume, metadata=_metadata(inst, "ct"), sources=[ref] if ref else [])
    if kind == "mammo":
        code = node.GetAttribute(VIEW_ATTRIBUTE) or view_code(inst, node.GetName() or "") or "UNKNOWN"
    else:
        code = inst.cxr_view if inst is not None and kind == "cxr" else "UNKNOWN"
    view = _view_from_node(node, code, inst)
    return Study(kind=kind, views=[view], metadata=_metadata(inst, kind), sources=[ref] if ref else [])


def study_from_view_set(view_set: dict[str, object]) -> Study:
    """A mammogram Study from {view code: volume node}, in the canonical L-CC, L-MLO, R-CC, R-MLO order."""
    unknown = sorted(set(view_set) - set(MAMMO_VIEWS))
    if unknown:
        raise UnsupportedInputError(f"unknown mammogram view code(s) {unknown}; use {list(MAMMO_VIEWS)}")
    views, sources = [], []
    for code in MAMMO_VIEWS:
        node = view_set.get(code)
        if node is None:
            continue
        view = _view_from_node(node, code, dicom_header(node))
        views.append(view)
        if view.source:
            sources.append(view.source)
    if not views:
        raise UnsupportedInputError("the mammogram view set is empty")
    study = Study(kind="mammo", views=views, metadata={"kind": "mammo", "modality": "MG"}, sources=sources)
    if study.missing_views:
        study.warnings.append("missing mammogram views: " + ", ".join(study.missing_views))
    return study
