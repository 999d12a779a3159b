"""DICOM headers to plain ``Instance`` records, with every parse failure turned into a typed error.

pydicom parses lazily, so a corrupt element can raise when it is first touched.
All header access happens here, inside one translation boundary; the rest of the
study package works on ``Instance`` records and never sees a half-parsed dataset.
Patient name, ID and birth date are never copied out.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from pydicom.errors import BytesLengthException, InvalidDicomError

from radfound.errors import StudyReadError, UnsupportedInputError
from radfound.study.model import SourceRef

#: Exceptions pydicom raises on malformed input (checked by the fuzz test: anything else is a bug).
PARSE_ERRORS: tuple[type[BaseException], ...] = (
    InvalidDicomError,
    BytesLengthException,  # a value whose length does not fit its VR
    RuntimeError,  # other pydicom "cannot parse this" conditions
    ValueError,
    EOFError,
    KeyError,
    IndexError,
    TypeError,
    OverflowError,
    AttributeError,
    NotImplementedError,
    UnicodeError,
    LookupError,
    struct.error,
    MemoryError,
    RecursionError,
    OSError,
)

#: SOP classes of breast tomosynthesis and breast projection X-ray (the DBT source projections): 3D or
#: multi-projection objects, used for a mammogram view only when no 2D image of that view exists.
TOMO_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.13.1.3",
    "1.2.840.10008.5.1.4.1.1.13.1.4",
    "1.2.840.10008.5.1.4.1.1.13.1.5",
}
#: SOP classes of digital mammography (For Presentation / For Processing) and breast tomosynthesis.
MAMMO_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.1.2",
    "1.2.840.10008.5.1.4.1.1.1.2.1",
} | TOMO_SOP_CLASSES
#: Objects that carry pixel data but are derived data, not images to read: segmentations, dose grids,
#: parametric maps. They are refused like non-images (skipped with a warning inside a folder).
DERIVED_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.66.4": "Segmentation",
    "1.2.840.10008.5.1.4.1.1.66.7": "Label Map Segmentation",
    "1.2.840.10008.5.1.4.1.1.66.8": "Height Map Segmentation",
    "1.2.840.10008.5.1.4.1.1.481.2": "RT Dose",
    "1.2.840.10008.5.1.4.1.1.30": "Parametric Map",
}
#: Modalities of non-image or derived objects (whatever their SOP class says).
DERIVED_MODALITIES = {"SEG", "RTDOSE", "RTSTRUCT", "RTPLAN", "RTRECORD", "REG", "RWV", "KO", "PR", "SR", "DOC",
                      "PLAN", "FID"}
PROJECTION_MODALITIES = {"CR", "DX", "RG", "MG", "IO", "PX", "XA", "RF"}
CHEST_BODY_PARTS = {"CHEST", "THORAX", "LUNG", "LUNGS", "CHEST_TO_PELVIS", "TORSO"}
CXR_VIEW_POSITIONS = {"PA": "PA", "AP": "AP", "LL": "LAT", "RL": "LAT", "LAT": "LAT", "LATERAL": "LAT"}


class NotDicomError(StudyReadError):
    """The file is empty or not DICOM at all: inside a folder it is skipped with a warning.

    A file that *is* DICOM but cut short or corrupt raises plain StudyReadError and is never
    skipped: a slice missing from a volume must not go unnoticed.
    """


@dataclass
class Instance:
    """The non-identifying header facts of one DICOM file that reading a Study needs."""

    path: Path
    sop_class_uid: str = ""
    sop_instance_uid: str = ""
    study_uid: str = ""
    series_uid: str = ""
    series_number: int = 0
    instance_number: int = 0
    modality: str = ""
    body_part: str = ""
    view_position: str = ""
    view_codes: list[tuple[str, str]] = field(default_factory=list)  # (code value, meaning)
    #: View Modifier Code Sequence (spot compression, magnification, implant displaced...): (value, meaning)
    view_modifiers: list[tuple[str, str]] = field(default_factory=list)
    laterality: str = ""
    image_type: tuple[str, ...] = ()
    presentation_intent: str = ""
    patient_orientation: tuple[str, ...] = ()
    rows: int = 0
    cols: int = 0
    frames: int = 1
    samples: int = 1
    position: tuple[float, float, float] | None = None
    orientation: tuple[float, ...] | None = None
    pixel_spacing: tuple[float, float] | None = None
    slice_spacing: float | None = None
    frame_positions: list[tuple[float, float, float]] | None = None  # enhanced multi-frame
    has_pixels: bool = False
    acquisition_number: str = ""  # tell acquisitions / phases of one series apart in errors
    temporal_position: str = ""

    def source(self, frame: int | None = None) -> SourceRef:
        return SourceRef(
            path=str(self.path),
            study_uid=self.study_uid or None,
            series_uid=self.series_uid or None,
            sop_instance_uid=self.sop_instance_uid or None,
            sop_class_uid=self.sop_class_uid or None,
            frame=frame,
        )

    @property
    def is_mammo(self) -> bool:
        return (
            self.modality == "MG"
            or self.sop_class_uid in MAMMO_SOP_CLASSES
            or (self.body_part == "BREAST" and self.modality in PROJECTION_MODALITIES | {"OT", ""})
        )

    @property
    def is_slice(self) -> bool:
        """A single-frame cross-sectional image with geometry, i.e. part of a possible volume."""
        return (
            self.frames == 1
            and self.position is not None
            and self.orientation is not None
            and self.modality not in PROJECTION_MODALITIES
            and "LOCALIZER" not in self.image_type
        )

    @property
    def is_tomo(self) -> bool:
        """A breast tomosynthesis (or breast projection) object rather than a 2D mammogram."""
        return self.sop_class_uid in TOMO_SOP_CLASSES

    @property
    def derived_kind(self) -> str | None:
        """'Segmentation', 'RT Dose', ... for derived / non-image objects, else None."""
        if self.sop_class_uid in DERIVED_SOP_CLASSES:
            return DERIVED_SOP_CLASSES[self.sop_class_uid]
        if self.modality in DERIVED_MODALITIES:
            return self.modality
        return None

    @property
    def is_localizer(self) -> bool:
        return "LOCALIZER" in self.image_type

    @property
    def is_cxr(self) -> bool:
        """Modality CR/DX (or RG) of the chest: body part CHEST/THORAX, or no body part and a PA/AP/LAT view."""
        if self.modality not in {"CR", "DX", "RG"} or self.is_mammo:
            return False
        if self.body_part:
            return self.body_part in CHEST_BODY_PARTS
        return self.view_position in CXR_VIEW_POSITIONS

    @property
    def cxr_view(self) -> str:
        if self.view_position in CXR_VIEW_POSITIONS:
            return CXR_VIEW_POSITIONS[self.view_position]
        for _, meaning in self.view_codes:
            m = meaning.lower()
            if "postero-anterior" in m or "posteroanterior" in m or m == "pa":
                return "PA"
            if "antero-posterior" in m or "anteroposterior" in m or m == "ap":
                return "AP"
            if "lateral" in m:
                return "LAT"
        return "UNKNOWN"


def _str(ds, keyword: str) -> str:
    value = ds.get(keyword)
    if value is None:
        return ""
    if isinstance(value, pydicom.multival.MultiValue):
        value = value[0] if len(value) else ""
    return str(value).strip().upper()


def _int(ds, keyword: str, default: int = 0) -> int:
    value = ds.get(keyword)
    try:
        return int(value) if value not in (None, "") else default
    except (TypeError, ValueError):
        return default


def _floats(value, n: int) -> tuple[float, ...] | None:
    if value is None or value == "":
        return None
    try:
        values = tuple(float(v) for v in value)
    except TypeError:
        return None
    if len(values) != n or not all(np.isfinite(values)):
        return None
    return values


def _functional(ds, frame_item, sequence: str, keyword: str):
    """A value from a per-frame functional group, else the shared group, else None."""
    for groups in (frame_item, (ds.get("SharedFunctionalGroupsSequence") or [None])[0]):
        if groups is None:
            continue
        seq = groups.get(sequence)
        if seq:
            value = seq[0].get(keyword)
            if value not in (None, ""):
                return value
    return None


def header_of(ds: pydicom.Dataset, path: Path) -> Instance:
    """Copy the facts we need out of a parsed dataset (raises StudyReadError on malformed values)."""
    try:
        return _header_of(ds, path)
    except StudyReadError:
        raise
    except PARSE_ERRORS as exc:
        raise StudyReadError(f"malformed DICOM header ({type(exc).__name__}: {exc})", path) from None


def _header_of(ds: pydicom.Dataset, path: Path) -> Instance:
    inst = Instance(path=path)
    inst.sop_class_uid = str(ds.get("SOPClassUID", "") or "")
    inst.sop_instance_uid = str(ds.get("SOPInstanceUID", "") or "")
    inst.study_uid = str(ds.get("StudyInstanceUID", "") or "")
    inst.series_uid = str(ds.get("SeriesInstanceUID", "") or "")
    inst.series_number = _int(ds, "SeriesNumber")
    inst.instance_number = _int(ds, "InstanceNumber")
    inst.modality = _str(ds, "Modality")
    inst.body_part = _str(ds, "BodyPartExamined")
    inst.view_position = _str(ds, "ViewPosition")
    # View modifiers sit inside the View Code Sequence item (the standard place) or, in some files, at the top.
    modifier_items = list(ds.get("ViewModifierCodeSequence") or [])
    for item in ds.get("ViewCodeSequence") or []:
        inst.view_codes.append((str(item.get("CodeValue", "") or ""), str(item.get("CodeMeaning", "") or "")))
        modifier_items += list(item.get("ViewModifierCodeSequence") or [])
    for item in modifier_items:
        code = (str(item.get("CodeValue", "") or "").strip(), str(item.get("CodeMeaning", "") or "").strip())
        if any(code) and code not in inst.view_modifiers:
            inst.view_modifiers.append(code)
    inst.laterality = _str(ds, "ImageLaterality") or _str(ds, "Laterality")
    inst.image_type = tuple(str(v).upper() for v in (ds.get("ImageType") or []))
    inst.presentation_intent = _str(ds, "PresentationIntentType")
    inst.acquisition_number = _str(ds, "AcquisitionNumber")
    inst.temporal_position = _str(ds, "TemporalPositionIdentifier")
    inst.patient_orientation = tuple(str(v).upper() for v in (ds.get("PatientOrientation") or []))
    inst.rows, inst.cols = _int(ds, "Rows"), _int(ds, "Columns")
    inst.frames = max(1, _int(ds, "NumberOfFrames", 1))
    inst.samples = max(1, _int(ds, "SamplesPerPixel", 1))
    inst.has_pixels = any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"))
    inst.position = _floats(ds.get("ImagePositionPatient"), 3)  # type: ignore[assignment]
    inst.orientation = _floats(ds.get("ImageOrientationPatient"), 6)
    spacing = _floats(ds.get("PixelSpacing"), 2) or _floats(ds.get("ImagerPixelSpacing"), 2)
    slice_spacing = _floats([ds.get("SpacingBetweenSlices")], 1) or _floats([ds.get("SliceThickness")], 1)
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if inst.frames > 1 and per_frame:
        positions = []
        for item in per_frame:
            pos = _floats(_functional(ds, item, "PlanePositionSequence", "ImagePositionPatient"), 3)
            if pos is None:
                positions = []
                break
            positions.append(pos)
        if len(positions) == inst.frames:
            inst.frame_positions = positions  # type: ignore[assignment]
        inst.orientation = inst.orientation or _floats(
            _functional(ds, per_frame[0], "PlaneOrientationSequence", "ImageOrientationPatient"), 6
        )
        spacing = spacing or _floats(_functional(ds, per_frame[0], "PixelMeasuresSequence", "PixelSpacing"), 2)
        slice_spacing = slice_spacing or _floats(
            [_functional(ds, per_frame[0], "PixelMeasuresSequence", "SpacingBetweenSlices")], 1
        )
    if spacing is not None and min(spacing) > 0:
        inst.pixel_spacing = (spacing[0], spacing[1])
    if slice_spacing is not None and slice_spacing[0] > 0:
        inst.slice_spacing = slice_spacing[0]
    if inst.has_pixels and (inst.rows <= 0 or inst.cols <= 0):
        raise StudyReadError("image has pixel data but no valid Rows/Columns", path)
    return inst


def read_dataset(path: Path, *, pixels: bool) -> pydicom.Dataset:
    """Parse one file (large values deferred unless ``pixels``), translating every pydicom failure into StudyReadError."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise StudyReadError(f"cannot open ({exc.strerror or exc})", path) from None
    if size == 0:
        raise NotDicomError("empty file (0 bytes)", path)
    try:
        ds = pydicom.dcmread(path, defer_size=None if pixels else 4096)
    except InvalidDicomError:
        # Some valid files lack the 128-byte preamble; accept them only if they look like an image.
        try:
            ds = pydicom.dcmread(path, defer_size=None if pixels else 4096, force=True)
            if "SOPClassUID" not in ds or "Rows" not in ds:
                raise InvalidDicomError
        except PARSE_ERRORS:
            raise NotDicomError("not a DICOM file", path) from None
    except PARSE_ERRORS as exc:
        raise StudyReadError(f"corrupt or truncated DICOM file ({type(exc).__name__}: {exc})", path) from None
    if len(ds) == 0:  # pydicom stops at a broken first element (e.g. a file cut short) and only warns
        raise StudyReadError(f"corrupt or truncated DICOM file: no data elements after the file meta header "
                             f"({size} bytes)", path)
    return ds


def read_header(path: Path) -> Instance:
    """Read one file's header into an Instance (no pixel data decoded)."""
    ds = read_dataset(path, pixels=False)
    inst = header_of(ds, path)
    if "DirectoryRecordSequence" in ds:
        raise UnsupportedInputError("a DICOMDIR index, not an image (give its folder instead)", path)
    return inst


def require_image(inst: Instance) -> None:
    """Refuse what is not an image to read: no pixel data (an SR, a plan) or derived data (SEG, RT Dose...).

    An image header without its pixel data is a truncated file (StudyReadError, never skipped);
    the others are UnsupportedInputError (skipped with a warning inside a folder).
    """
    if inst.has_pixels and inst.derived_kind:
        raise UnsupportedInputError(f"{inst.derived_kind} object: derived data, not an image to read", inst.path)
    if not inst.has_pixels:
        name = pydicom.uid.UID(inst.sop_class_uid).name if inst.sop_class_uid else "unknown SOP class"
        if "Image Storage" in name:  # an image's header without its pixels: the file was cut short
            raise StudyReadError(f"truncated DICOM file: a {name} header but no pixel data "
                                 f"({_size(inst.path)} bytes)", inst.path)
        raise UnsupportedInputError(f"no pixel data ({name}): not an image", inst.path)


def _size(path) -> str:
    try:
        return str(Path(path).stat().st_size)
    except OSError:
        return "?"
