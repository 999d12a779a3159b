"""Slicer volume nodes (vtkMRMLScalarVolumeNode) -> Study.

slicer-core is imported only inside these functions, so the rest of RadFound (and the
CLI) runs without it.

- Pixels: ``slicer.util.arrayFromVolume`` (k, j, i), copied to float32. Slicer's DICOM
  reader has already applied the rescale and inverted MONOCHROME1, so the values follow
  the View/Volume convention as they are.
- Geometry: the node's IJK-to-RAS matrix, converted to LPS (x and y negated).
- DICOM context: Study/Series UIDs from the subject hierarchy (item UID "DICOM" of the
  series item and of its parent study item), SOP Instance UIDs from the node attribute
  ``DICOM.instanceUIDs`` (their files from the application's DICOM database, where there is
  one), modality from the item attribute ``DICOM.Modality``; when the node was read from a
  DICOM file (its storage node's file name), that file's header gives modality, body part,
  view and laterality. Patient identifiers are never read.
- Kind: node attribute ``RadFound.Kind`` if set; else from the DICOM header (mammogram,
  chest radiograph); else a one-slice node is a 2D ``image`` and a multi-slice node a
  ``ct`` volume (``image`` when the modality is known and not CT).
- Mammogram view code: node attribute ``RadFound.View``, else the DICOM header, else the
  node name ("L CC", "R_MLO", "LMLO", "Right MLO" ...).
- Window: the display node's window/level when the user set it (auto window/level off).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from radfound.errors import RadFoundError, StudyReadError, UnsupportedInputError
from radfound.study import mammo
from radfound.study.dicom import Instance, read_header
from radfound.study.model import MAMMO_VIEWS, SourceRef, Study, View, Volume

KIND_ATTRIBUTE = "RadFound.Kind"
VIEW_ATTRIBUTE = "RadFound.View"
NOT_A_VIEW = "NONE"  # VIEW_ATTRIBUTE of an image the user took out of the mammogram view set
KINDS = ("cxr", "mammo", "ct", "image")
LPS_FROM_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def _name(node) -> str:
    return node.GetName() or node.GetID() or "volume node"


def _check(node) -> None:
    if node is None or not hasattr(node, "IsA") or not node.IsA("vtkMRMLScalarVolumeNode"):
        raise UnsupportedInputError("not a scalar volume node")
    if node.GetImageData() is None:
        raise UnsupportedInputError("the volume node has no image data", _name(node))


def source_header(node) -> Instance | None:
    """Header of the DICOM file the node was read from, or None (not DICOM, or the file is gone)."""
    storage = node.GetStorageNode()
    path = Path(storage.GetFileName()) if storage is not None and storage.GetFileName() else None
    if path is None or not path.is_file():
        return None
    try:
        return read_header(path)
    except StudyReadError:
        return None


def series_files(node, inst: Instance) -> list[Instance]:
    """Headers of the files the node's storage node read (a series loaded by Add Data lists them all), those of
    ``inst``'s series only, once per SOP instance; files that are gone or not DICOM are left out."""
    storage = node.GetStorageNode()
    if storage is None:
        return [inst]
    names = [storage.GetFileName()] + [storage.GetNthFileName(i) for i in range(storage.GetNumberOfFileNames())]
    found: dict[str, Instance] = {}
    for name in dict.fromkeys(n for n in names if n):
        try:
            header = inst if Path(name) == inst.path else read_header(Path(name))
        except (RadFoundError, OSError):
            continue
        if header.series_uid == inst.series_uid and header.sop_instance_uid:
            found.setdefault(header.sop_instance_uid, header)
    return list(found.values()) or [inst]


def dicom_refs(node, inst: Instance | None) -> list[SourceRef]:
    """SourceRefs for the node: one per SOP Instance UID in ``DICOM.instanceUIDs``, with series/study UIDs."""
    import slicer

    series_uid = study_uid = None
    scene = node.GetScene()
    sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene) if scene is not None else None
    if sh is not None:
        item = sh.GetItemByDataNode(node)
        if item:
            series_uid = sh.GetItemUID(item, "DICOM") or None
            parent = sh.GetItemParent(item)
            if parent:
                study_uid = sh.GetItemUID(parent, "DICOM") or None
    if inst is not None:
        series_uid = series_uid or inst.series_uid or None
        study_uid = study_uid or inst.study_uid or None
    uids = (node.GetAttribute("DICOM.instanceUIDs") or "").split()
    if not uids and inst is not None:
        # Loaded with Add Data (the volumes logic), not the DICOM module: the storage node lists the series' files.
        series = series_files(node, inst)
        if len(series) > 1:
            return [SourceRef(path=str(h.path), study_uid=study_uid, series_uid=series_uid,
                              sop_instance_uid=h.sop_instance_uid, sop_class_uid=h.sop_class_uid) for h in series]
    if not uids and inst is not None and inst.sop_instance_uid:
        uids = [inst.sop_instance_uid]
    path = str(inst.path) if inst is not None else None
    sop_class = inst.sop_class_uid if inst is not None else None
    if not uids:
        return [SourceRef(path=path, study_uid=study_uid, series_uid=series_uid)] if (study_uid or series_uid) else []
    # A series the DICOM module loaded keeps only its UIDs on the node; the application's database knows the files.
    database = getattr(slicer, "dicomDatabase", None)

    def file_of(uid: str) -> str | None:
        if len(uids) == 1 and path:
            return path
        return (database.fileForInstance(uid) or None) if database is not None else None

    return [SourceRef(path=file_of(uid), study_uid=study_uid, series_uid=series_uid,
                      sop_instance_uid=uid, sop_class_uid=sop_class) for uid in uids]


def _modality(node, inst: Instance | None) -> str:
    import slicer

    if inst is not None and inst.modality:
        return inst.modality
    scene = node.GetScene()
    sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene) if scene is not None else None
    item = sh.GetItemByDataNode(node) if sh is not None else 0
    return (sh.GetItemAttribute(item, "DICOM.Modality") or "").upper() if item else ""


def view_from_name(name: str) -> str | None:
    """'L-CC' etc. from a node name such as 'L CC', 'R_MLO', 'LMLO', 'Right MLO'; None if unclear."""
    text = re.sub(r"[^A-Z]+", " ", name.upper())
    text = re.sub(r"\bLEFT\b", "L", re.sub(r"\bRIGHT\b", "R", text))
    tokens = text.split()
    for token in tokens:  # compact forms: LCC, RMLO, CCL, MLOR
        for side in "LR":
            for fam in ("CC", "MLO"):
                if token in (side + fam, fam + side):
                    return f"{side}-{fam}"
    sides = [t for t in tokens if t in ("L", "R")]
    families = {mammo.view_family(t) for t in tokens} - {None}
    if len(set(sides)) == 1 and len(families) == 1:
        return f"{sides[0]}-{families.pop()}"
    return None


def _window(node) -> tuple[float, float] | None:
    display = node.GetDisplayNode()
    if display is None or not hasattr(display, "GetAutoWindowLevel") or display.GetAutoWindowLevel():
        return None
    width = float(display.GetWindow())
    return (float(display.GetLevel()), width) if width > 0 else None


def _geometry(node) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
    import vtk

    m = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(m)
    ras = np.array([[m.GetElement(r, c) for c in range(4)] for r in range(4)])
    lps = LPS_FROM_RAS @ ras
    spacing_ijk = np.linalg.norm(lps[:3, :3], axis=0)
    if (spacing_ijk <= 0).any():
        raise UnsupportedInputError("the volume node has zero spacing", _name(node))
    return lps[:3, :3] / spacing_ijk, lps[:3, 3], tuple(float(s) for s in spacing_ijk)  # type: ignore[return-value]


def _pixels(node) -> np.ndarray:
    import slicer

    array = slicer.util.arrayFromVolume(node)
    if array.ndim == 4:  # (k, j, i, components)
        if array.shape[-1] < 3:
            raise UnsupportedInputError(f"{array.shape[-1]}-component volumes are not supported", _name(node))
        array = array[..., :3]
    return np.array(array, dtype=np.float32)  # a copy: the Study must not change when the node does


def _kind(node, inst: Instance | None, slices: int) -> str:
    forced = (node.GetAttribute(KIND_ATTRIBUTE) or "").strip().lower()
    if forced:
        if forced not in KINDS:
            raise UnsupportedInputError(f"node attribute {KIND_ATTRIBUTE}={forced!r} is not one of {KINDS}", _name(node))
        return forced
    if slices > 1:
        modality = _modality(node, inst)
        return "ct" if modality in ("CT", "") else "image"
    if inst is not None and inst.is_mammo:
        return "mammo"
    if inst is not None and inst.is_cxr:
        return "cxr"
    if node.GetAttribute(VIEW_ATTRIBUTE) or view_from_name(_name(node)):
        return "mammo"
    return "image"


def _view_code(node, inst: Instance | None, kind: str) -> str:
    attr = (node.GetAttribute(VIEW_ATTRIBUTE) or "").strip().upper()
    if attr and attr != NOT_A_VIEW:
        return attr
    if kind == "mammo":
        code = mammo.view_code(inst.laterality, inst.view_position, inst.view_codes) if inst is not None else None
        return code or view_from_name(_name(node)) or "UNKNOWN"
    if kind == "cxr" and inst is not None:
        return inst.cxr_view
    return "UNKNOWN"


def _metadata(node, inst: Instance | None) -> dict[str, str]:
    meta = {"source_format": "mrml", "modality": _modality(node, inst)}
    if inst is not None:
        meta.update(body_part=inst.body_part, laterality=inst.laterality)
    return {k: v for k, v in meta.items() if v}


def _view(node, inst: Instance | None, kind: str, array: np.ndarray) -> View:
    if array.shape[0] != 1:
        raise UnsupportedInputError(f"expected a 2D image (one slice), got {array.shape[0]} slices", _name(node))
    _, _, (si, sj, _) = _geometry(node)
    code = _view_code(node, inst, kind)
    side = code[0] if code in MAMMO_VIEWS else ((inst.laterality[:1] or None) if inst is not None else None)
    refs = dicom_refs(node, inst)
    return View(array[0], (sj, si), code, side, refs[0] if refs else None, _window(node),
                inst.patient_orientation if inst is not None else ())


def study_from_volume_node(node) -> Study:
    """One volume node -> Study: a 3D volume (kind ct, or image for non-CT) or one 2D view."""
    _check(node)
    inst = source_header(node)
    array = _pixels(node)
    kind = _kind(node, inst, array.shape[0])
    if array.shape[0] > 1:
        if array.ndim != 3:
            raise UnsupportedInputError("a colour volume cannot be a CT study", _name(node))
        direction, origin, (si, sj, sk) = _geometry(node)
        volume = Volume(array, (sk, sj, si), tuple(float(v) for v in origin), direction, _window(node))
        warnings = [] if kind == "ct" else [f"{_modality(node, inst) or 'non-CT'} volume read as kind {kind}"]
        if kind not in ("ct", "image"):
            raise UnsupportedInputError(f"a {array.shape[0]}-slice volume cannot be kind {kind}", _name(node))
        return Study(kind, volume=volume, metadata=_metadata(node, inst), sources=dicom_refs(node, inst),
                     warnings=warnings)
    view = _view(node, inst, kind, array)
    study = Study(kind, views=[view], metadata=_metadata(node, inst), sources=dicom_refs(node, inst))
    if kind == "mammo" and view.view not in MAMMO_VIEWS:
        raise UnsupportedInputError("mammogram view unknown: set the node attribute RadFound.View "
                                    "(L-CC, L-MLO, R-CC or R-MLO) or name the node e.g. 'L CC'", _name(node))
    if kind == "mammo":
        study.metadata["modality"] = "MG"  # as the file reader says of a mammogram stored as RG/DX
        study.warnings.append(f"mammogram set is missing {', '.join(study.missing_views)}")
    return study


def study_from_volume_nodes(nodes: Sequence) -> Study:
    """Several 2D nodes -> one Study: a mammogram set when every node has a mammogram view code
    (duplicate rule of radfound.study.mammo), else the views in the given order (e.g. PA + LAT)."""
    nodes = [n for n in nodes if n is not None]
    if not nodes:
        raise UnsupportedInputError("no volume nodes given")
    if len(nodes) == 1:
        return study_from_volume_node(nodes[0])
    for node in nodes:
        _check(node)
    headers = [source_header(n) for n in nodes]
    arrays = [_pixels(n) for n in nodes]
    if any(a.shape[0] != 1 for a in arrays):
        raise UnsupportedInputError("several nodes make a study only when each is one 2D image "
                                    "(select one node for a CT volume)")
    kinds = [_kind(n, h, 1) for n, h in zip(nodes, headers)]
    codes = [_view_code(n, h, "mammo") for n, h in zip(nodes, headers)]
    if all(c in MAMMO_VIEWS for c in codes):
        candidates = [
            mammo.Candidate((n, h, a), c, _name(n),
                            for_processing=h is not None and h.presentation_intent == "FOR PROCESSING",
                            standard=h is None or not h.view_position or mammo.is_standard_projection(h.view_position),
                            pixels=a.shape[1] * a.shape[2], instance_number=h.instance_number if h else 0,
                            modified=mammo.modifier_text(h.view_modifiers) if h is not None else "",
                            tomo=h is not None and h.is_tomo)  # the file reader's rule: 2D and unmodified first
            for n, h, a, c in zip(nodes, headers, arrays, codes)
        ]
        chosen, warnings = mammo.choose_views(candidates)
        views = [_view(n, h, "mammo", a) for n, h, a in (c.item for c in chosen)]
        for view, cand in zip(views, chosen):
            view.view, view.laterality = cand.view, cand.view[0]
        sources = [ref for n, h, _ in (c.item for c in chosen) for ref in dicom_refs(n, h)]
        meta = {"source_format": "mrml", "modality": "MG"}
        return Study("mammo", views=views, metadata=meta, sources=sources, warnings=warnings)
    kind = kinds[0] if len(set(kinds)) == 1 and kinds[0] != "mammo" else "image"
    views = [_view(n, h, kind, a) for n, h, a in zip(nodes, headers, arrays)]
    sources = [ref for n, h in zip(nodes, headers) for ref in dicom_refs(n, h)]
    return Study(kind, views=views, metadata=_metadata(nodes[0], headers[0]), sources=sources)
