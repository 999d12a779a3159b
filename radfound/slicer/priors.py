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


def database_prior(db, node):
    """(series UID, StudyDate) of the patient's latest earlier image series of the same modality in Slicer's
    DICOM database ``db`` (a ctkDICOMDatabase: patients, studiesForPatient, seriesForStudy, fieldFor*), not
    necessarily loaded; None when there is none or ``node`` did not come from DICOM."""
    current = _header(node)
    if db is None or current is None or not str(current.get("PatientID", "")):
        return None
    date, modality = str(current.get("StudyDate", "")), str(current.get("Modality", ""))
    best = None
    for patient in db.patients():
        if str(db.fieldForPatient("PatientID", patient)) != str(current.PatientID):
            continue
        for study in db.studiesForPatient(patient):
            when = str(db.fieldForStudy("StudyDate", study))
            if study == str(current.get("StudyInstanceUID")) or not when or not when < date:
                continue
            for series in db.seriesForStudy(study):
                if str(db.fieldForSeries("Modality", series)) == modality and (best is None or when > best[1]):
                    best = (str(series), when)
    return best


def database_reports(db, study_uid: str | None) -> list:
    """Headers of the SRs of study ``study_uid`` in Slicer's DICOM database (a compared prior's reports, which the
    new SR references as Predecessor Documents); [] without a database or a study."""
    if db is None or not study_uid:
        return []
    found = []
    for series in db.seriesForStudy(study_uid):
        if str(db.fieldForSeries("Modality", series)) != "SR":
            continue
        for path in db.filesForSeries(series):
            try:
                found.append(pydicom.dcmread(path, stop_before_pixels=True))
            except (OSError, pydicom.errors.InvalidDicomError):
                continue
    return found


def app_database():
    """The Slicer application's DICOM database (None outside the application)."""
    try:
        import slicer
    except ImportError:
        return None
    return getattr(slicer, "dicomDatabase", None)


def load_series(series_uid: str):
    """Load a series of Slicer's DICOM database into the scene (the application's DICOM plugins); its volume."""
    import slicer
    from DICOMLib import DICOMUtils

    node_ids = DICOMUtils.loadSeriesByUID([series_uid])
    return slicer.mrmlScene.GetNodeByID(node_ids[0]) if node_ids else None


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
