"""Real-file factories for the study tests: CT series with known geometry, mammogram view sets.

Series are written from pydicom's real ``CT_small.dcm`` header and pixels with positions,
orientation and UIDs changed; mammogram sets from the real left MLO mammogram
``MG1_J2KI.dcm`` downsampled 8x (so the 4664x3064 pixels are decoded once per session)
with laterality / view tags changed.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian, generate_uid


def write_series(
    template: Path,
    folder: Path,
    positions,
    orientation=(1, 0, 0, 0, 1, 0),
    *,
    series_uid: str | None = None,
    pixel_fn=None,
    names=None,
) -> list[Path]:
    """Write one file per position from a real single-slice template; returns the paths in position order."""
    folder.mkdir(parents=True, exist_ok=True)
    base = pydicom.dcmread(template)
    series_uid = series_uid or generate_uid()
    paths = []
    for n, pos in enumerate(positions):
        ds = copy.deepcopy(base)
        ds.SeriesInstanceUID = series_uid
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.ImagePositionPatient = [f"{v:.4f}" for v in pos]
        ds.ImageOrientationPatient = [f"{v:.6f}" for v in orientation]
        ds.InstanceNumber = n + 1
        if pixel_fn is not None:
            arr = pixel_fn(n, base.pixel_array)
            ds.PixelData = arr.astype(base.pixel_array.dtype).tobytes()
            ds.Rows, ds.Columns = arr.shape
        path = folder / (names[n] if names else f"slice{n:04d}.dcm")
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


@pytest.fixture(scope="session")
def ct_small(pydicom_data) -> Path:
    return pydicom_data("CT_small.dcm")


@pytest.fixture(scope="session")
def mammo_template(shared_data, tmp_path_factory) -> Path:
    """The real left MLO mammogram, decoded once and stored 8x smaller, uncompressed."""
    src = shared_data / "dicom" / "mammo" / "MG1_J2KI.dcm"
    if not src.exists():
        pytest.skip(f"{src} not found")
    ds = pydicom.dcmread(src)
    small = np.ascontiguousarray(ds.pixel_array[::8, ::8])
    ds.set_pixel_data(small, "MONOCHROME2", 12)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    path = tmp_path_factory.mktemp("mammo") / "template.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.fixture()
def write_mammo(mammo_template):
    """write_mammo(folder, name, laterality, view_position, **tags) -> Path: a copy of the real mammogram."""

    def write(folder: Path, name: str, laterality: str | None, view_position: str | None, **tags) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        ds = pydicom.dcmread(mammo_template)
        for keyword in ("Laterality", "ImageLaterality", "ViewPosition"):
            if keyword in ds:
                del ds[keyword]
        if laterality is not None:
            ds.ImageLaterality = laterality
        if view_position is not None:
            ds.ViewPosition = view_position
        for keyword, value in tags.items():
            setattr(ds, keyword, value)
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        path = folder / name
        ds.save_as(path, enforce_file_format=True)
        return path

    return write
