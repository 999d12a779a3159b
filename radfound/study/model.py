"""The Study: one normalized object for every input the model consumes.

A Study is either 2D views (chest X-ray, mammogram set, any other image) or one
3D volume (CT). It carries only non-identifying metadata: patient name, ID and
birth date never enter a Study, so they can never reach a prompt or a log. The
source references (UIDs and file paths) are kept so that a DICOM SR can later
reference its evidence and copy the patient/study context from the source files.

Conventions
-----------
- 2D pixels: ``View.pixels`` is float32, shape (rows, cols) for grayscale or
  (rows, cols, 3) for RGB, after the modality LUT (rescale) and with MONOCHROME1
  already inverted, so that higher always means brighter.
- 3D volume: ``Volume.array`` is float32, shape (slices, rows, cols) i.e. (k, j, i)
  like ``slicer.util.arrayFromVolume``; CT values are Hounsfield units.
  ``Volume.spacing`` is (slice, row, col) in mm; ``Volume.origin`` and
  ``Volume.direction`` are in patient LPS (DICOM) coordinates; ``direction``
  columns are the unit vectors of the i, j, k axes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

StudyKind = Literal["cxr", "mammo", "ct", "image"]

#: Canonical mammogram view codes, in the order the model sees them.
MAMMO_VIEWS: tuple[str, ...] = ("L-CC", "L-MLO", "R-CC", "R-MLO")


@dataclass(frozen=True)
class SourceRef:
    """Where one image came from: enough to reference it in a DICOM SR."""

    path: str | None = None
    study_uid: str | None = None
    series_uid: str | None = None
    sop_instance_uid: str | None = None
    sop_class_uid: str | None = None
    frame: int | None = None  # 1-based frame number for multi-frame instances


@dataclass
class View:
    """One 2D image of a study with its physical pixel spacing and a view code."""

    pixels: np.ndarray
    spacing: tuple[float, float] = (1.0, 1.0)  # (row, col) mm; (1, 1) when unknown
    view: str = "UNKNOWN"  # e.g. PA, AP, LAT, L-CC, L-MLO, R-CC, R-MLO, AXIAL
    laterality: str | None = None  # "L", "R" or None
    source: SourceRef | None = None
    window: tuple[float, float] | None = None  # (centre, width) suggested by the file's VOI, if any
    #: DICOM Patient Orientation (0020,0020): the patient directions of the +column and +row axes,
    #: e.g. ("A", "FR"); used to put the mammogram chest wall on one side. Empty when unknown.
    patient_orientation: tuple[str, ...] = ()

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.pixels.shape)


@dataclass
class Volume:
    """A 3D scalar volume with its geometry in patient LPS coordinates."""

    array: np.ndarray  # (slices, rows, cols) float32
    spacing: tuple[float, float, float]  # (slice, row, col) mm
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)  # LPS mm of voxel (0, 0, 0)
    direction: np.ndarray = field(default_factory=lambda: np.eye(3))  # columns: i, j, k unit vectors (LPS)
    window: tuple[float, float] | None = None  # (centre, width) suggested by the source's VOI, if any

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.array.shape)  # type: ignore[return-value]

    def ijk_to_lps(self) -> np.ndarray:
        """4x4 affine mapping (i, j, k, 1) voxel indices to LPS millimetres."""
        s_k, s_j, s_i = self.spacing
        m = np.eye(4)
        m[:3, :3] = np.asarray(self.direction, dtype=float) @ np.diag([s_i, s_j, s_k])
        m[:3, 3] = self.origin
        return m


@dataclass
class Study:
    """Everything the model needs about one study, and nothing that identifies the patient."""

    kind: StudyKind
    views: list[View] = field(default_factory=list)
    volume: Volume | None = None
    metadata: dict[str, str] = field(default_factory=dict)  # modality, body_part, view, laterality, ...
    sources: list[SourceRef] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def add_warning(self, warning: str | None) -> None:
        """Add a warning found after reading (by the model, by a check on its draft) once: a study encoded or
        drafted twice must not list it twice. None adds nothing."""
        if warning and warning not in self.warnings:
            self.warnings.append(warning)

    @property
    def study_uid(self) -> str | None:
        return next((s.study_uid for s in self.sources if s.study_uid), None)

    @property
    def present_views(self) -> list[str]:
        return [v.view for v in self.views]

    @property
    def missing_views(self) -> list[str]:
        """For a mammogram set: which of the four standard views are absent."""
        if self.kind != "mammo":
            return []
        return [v for v in MAMMO_VIEWS if v not in self.present_views]

    def summary(self) -> dict:
        """JSON-ready description (used by ``radfound inspect --json``); no pixel data, no identifiers."""
        vol = None
        if self.volume is not None:
            vol = {
                "shape": list(self.volume.shape),
                "spacing": [round(float(s), 6) for s in self.volume.spacing],
                "origin": [round(float(s), 6) for s in self.volume.origin],
                "direction": np.asarray(self.volume.direction, dtype=float).round(6).tolist(),
            }
        return {
            "kind": self.kind,
            "views": [
                {
                    "view": v.view,
                    "shape": list(v.shape),
                    "spacing": [round(float(s), 6) for s in v.spacing],
                    "laterality": v.laterality,
                }
                for v in self.views
            ],
            "missing_views": self.missing_views,
            "volume": vol,
            "metadata": dict(self.metadata),
            "sources": len(self.sources),
            "warnings": list(self.warnings),
        }
