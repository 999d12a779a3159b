"""Many distinct studies from a few real DICOM files, for tests, demos and the PACS benchmark.

``clone_study`` copies real images (pixels untouched, original transfer syntax)
and gives them new, deterministic Study/Series/SOP Instance UIDs, an accession
number, a study date and a made-up patient name and ID, so that one real chest
radiograph can stand for study number 1..N of a night's worklist.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from pathlib import Path

import pydicom

from radfound.outputs.atomic import atomic_path
from radfound.outputs.sr import name_uid

BASE_DATE = datetime.date(2024, 3, 1)


def clone_study(files: Sequence[str | Path], out_dir: str | Path, index: int, *,
                study_date: datetime.date | None = None) -> list[Path]:
    """Write ``files`` (one study) as new study number ``index`` into ``out_dir``; returns the new files."""
    out = Path(out_dir)
    when = study_date or BASE_DATE + datetime.timedelta(days=index % 28)
    study_uid = name_uid("sample-study", str(index))
    written = []
    for n, f in enumerate(files):
        ds = pydicom.dcmread(f)
        series_uid = name_uid("sample-series", str(index), str(ds.SeriesInstanceUID))
        sop_uid = name_uid("sample-instance", str(index), str(ds.SOPInstanceUID))
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = study_uid, series_uid, sop_uid
        ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
        ds.AccessionNumber = f"RF{index:06d}"
        ds.StudyDate = when.strftime("%Y%m%d")
        ds.PatientName = f"Sample^Patient{index:04d}"
        ds.PatientID = f"RFPAT{index:06d}"
        path = out / f"study{index:04d}" / f"{n:04d}.dcm"
        with atomic_path(path) as tmp:
            ds.save_as(tmp, enforce_file_format=True)
        written.append(path)
    return written
