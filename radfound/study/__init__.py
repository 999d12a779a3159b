"""Reading what a radiologist has (DICOM files and folders, NRRD/NIfTI, PNG/JPEG, MRML nodes) into a Study."""

from radfound.study.model import MAMMO_VIEWS, SourceRef, Study, View, Volume

__all__ = ["MAMMO_VIEWS", "SourceRef", "Study", "View", "Volume", "read_study"]


def read_study(*args, **kwargs):
    """See ``radfound.study.reader.read_study`` (imported lazily to keep ``import radfound.study`` light)."""
    from radfound.study.reader import read_study as _read_study

    return _read_study(*args, **kwargs)
