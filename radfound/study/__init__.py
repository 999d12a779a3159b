"""Reading what a radiologist has (DICOM files and folders, NRRD/NIfTI, PNG/JPEG, MRML nodes) into a Study."""

from radfound.study.model import MAMMO_VIEWS, SourceRef, Study, View, Volume

__all__ = ["MAMMO_VIEWS", "SourceRef", "Study", "View", "Volume"]
