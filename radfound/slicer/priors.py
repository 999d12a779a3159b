"""Compare with prior in Slicer: find the patient's prior study among the loaded images, and show the two.

A loaded image is a candidate prior of ``node`` when its DICOM source has the same PatientID and Modality, an
earlier StudyDate and another StudyInstanceUID; the latest such study is the prior. PatientID is read only to
match the two studies here: it never reaches a prompt, a log or a draft (radfound.study reads no patient data).
"""

from __future__ import annotations

import pydicom


def _header(node):
    """The DICOM header of the node's first source file (None when the image did not come from DICOM)."""
    from radfound.study import mrml

    try:
        sources = mrml.study_from_volume_node(node).sources
    except Exception:  # noqa: BLE001 - an image RadFound cannot read is simply no prior
        return None
    path = next((s.path for s in sources if s.path and s.sop_instance_uid), None)
    if path is None:
        return None
    try:
        return pydicom.dcmread(path, stop_before_pixels=True, specific_tags=[
            "PatientID", "StudyDate", "Modality", "StudyInstanceUID"])
    except (OSError, pydicom.errors.InvalidDicomError):
        return None


def find_prior(node, candidates):
    """The latest of ``candidates`` (volume nodes) that is a prior study of ``node`` (module docstring), or None."""
    current = _header(node)
    if current is None or not str(current.get("PatientID", "")):
        return None
    best, best_date = None, ""
    for other in candidates:
        if other is node:
            continue
        h = _header(other)
        if h is None:
            continue
        date = str(h.get("StudyDate", ""))
        if (str(h.get("PatientID", "")) == str(current.PatientID) and h.get("Modality") == current.get("Modality")
                and str(h.get("StudyInstanceUID")) != str(current.get("StudyInstanceUID"))
                and date and date < str(current.get("StudyDate", "")) and date > best_date):
            best, best_date = other, date
    return best


def show_side_by_side(current, prior, app=None) -> bool:
    """Slicer's side-by-side layout with the current image on the left and the prior on the right, their views
    linked (pan and zoom together). ``app``: slicer.app (None: take it from slicer; False where there is no
    application, e.g. slicer-core in the tests)."""
    if app is None:
        try:
            import slicer

            app = getattr(slicer, "app", None)
        except ImportError:
            app = None
    manager = app.layoutManager() if app is not None and hasattr(app, "layoutManager") else None
    if manager is None:
        return False
    import slicer

    manager.setLayout(slicer.vtkMRMLLayoutNode.SlicerLayoutSideBySideView)
    for name, node in (("Red", current), ("Yellow", prior)):
        logic = manager.sliceWidget(name).sliceLogic()
        composite = logic.GetSliceCompositeNode()
        composite.SetBackgroundVolumeID(node.GetID())
        composite.SetLinkedControl(True)
        logic.FitSliceToAll()
    return True
