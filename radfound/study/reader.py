"""``read_study``: whatever a radiologist has -> one Study.

Dispatch on what is given (files and/or folders, folders searched recursively):
one NRRD/NIfTI volume; PNG/JPEG images (2D views, kind ``image`` unless ``kind``
says otherwise); or DICOM files (see ``radfound.study.dicom_study`` for the series
choice and kind rules). Inside a folder, files that are not images to read (a
DICOMDIR, an SR, a SEG or RT Dose, a README, an empty file) are skipped with a
warning (SEG / RT Dose even when named beside images); a DICOM file that is
truncated or corrupt is not skipped (a slice silently missing from a volume is
worse than an error) and raises, naming it. A file named explicitly that cannot be
read raises a typed error naming it. Nothing half-loaded is returned.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from radfound.errors import StudyReadError, UnsupportedInputError
from radfound.study.dicom import Instance, NotDicomError, read_header, require_image
from radfound.study.dicom_study import study_from_instances
from radfound.study.files import RASTER_SUFFIXES, VOLUME_SUFFIXES, read_nifti, read_nrrd, read_raster, suffix_of
from radfound.study.model import Study

KINDS = ("cxr", "mammo", "ct", "image")
MAX_SKIP_NAMES = 3


def _expand(paths: Iterable[str | Path]) -> list[tuple[Path, bool]]:
    """(file, named explicitly) pairs, folders expanded recursively in a stable order."""
    out: list[tuple[Path, bool]] = []
    for p in paths:
        path = Path(p).expanduser()
        if path.is_dir():
            found = sorted(f for f in path.rglob("*") if f.is_file() and not f.name.startswith("."))
            if not found:
                raise StudyReadError("folder holds no files", path)
            out.extend((f, False) for f in found)
        elif path.is_file():
            out.append((path, True))
        else:
            raise StudyReadError("no such file or folder", path)
    return out


def read_study(
    paths: str | Path | Iterable[str | Path],
    *,
    series_uid: str | None = None,
    kind: str | None = None,
) -> Study:
    """Read files/folders into one Study. ``series_uid`` picks a DICOM series; ``kind`` overrides
    the detected kind where the files cannot tell (e.g. ``"cxr"`` for a chest radiograph JPEG)."""
    items = [paths] if isinstance(paths, (str, Path)) else list(paths)
    if not items:
        raise StudyReadError("no input given")
    if kind is not None and kind not in KINDS:
        raise UnsupportedInputError(f"unknown study kind '{kind}' (choose from {', '.join(KINDS)})")
    files = _expand(items)
    volumes = [f for f, _ in files if suffix_of(f) in VOLUME_SUFFIXES]
    rasters = [f for f, _ in files if suffix_of(f) in RASTER_SUFFIXES]
    others = [(f, e) for f, e in files if suffix_of(f) not in VOLUME_SUFFIXES + RASTER_SUFFIXES]
    if volumes:
        if len(volumes) > 1 or rasters or any(e for _, e in others):
            raise UnsupportedInputError("give one NRRD/NIfTI volume at a time, without other images", volumes[0])
        path = volumes[0]
        study = read_nifti(path) if suffix_of(path).startswith(".nii") else read_nrrd(path)
    elif rasters and not any(e for _, e in others):
        warnings: list[str] = []
        views = [read_raster(f, warnings) for f in rasters]
        fmt = sorted({suffix_of(f).lstrip(".").replace("jpg", "jpeg") for f in rasters})
        study = Study("image", views=views, metadata={"source_format": "/".join(fmt)},
                      sources=[v.source for v in views if v.source], warnings=warnings)
    else:
        if rasters:
            raise UnsupportedInputError("mixing PNG/JPEG images with DICOM files is not supported", rasters[0])
        study = _read_dicom(others, series_uid)
    if kind is not None and kind != study.kind:
        study = _with_kind(study, kind)
    return study


def _read_dicom(files: list[tuple[Path, bool]], series_uid: str | None) -> Study:
    """Header-read every file, skip what is not an image to read (with a warning), then choose the series.

    Derived objects (SEG, RT Dose...) are skipped even when named explicitly, as long as an image
    remains (a batch passes every file of a study by name); alone they raise.
    """
    instances: list[Instance] = []
    skipped: list[str] = []
    derived: list[StudyReadError] = []
    for path, explicit in files:
        inst = None
        try:
            inst = read_header(path)
            require_image(inst)
        except (UnsupportedInputError, NotDicomError) as exc:
            is_derived = inst is not None and inst.has_pixels and inst.derived_kind is not None
            if explicit and not is_derived:
                raise
            if explicit:
                derived.append(exc)
            skipped.append(f"{path.name} ({exc.problem})")
            continue
        instances.append(inst)
    if not instances:
        if derived:
            raise derived[0]
        where = files[0][0].parent if files else None
        detail = f": {'; '.join(skipped[:MAX_SKIP_NAMES])}" if skipped else ""
        raise StudyReadError(f"no readable DICOM images found{detail}", where)
    study = study_from_instances(instances, series_uid=series_uid)
    if skipped:
        more = f" and {len(skipped) - MAX_SKIP_NAMES} more" if len(skipped) > MAX_SKIP_NAMES else ""
        study.warnings.append(f"skipped {len(skipped)} file(s) that are not images to read: "
                              f"{'; '.join(skipped[:MAX_SKIP_NAMES])}{more}")
    return study


def _with_kind(study: Study, kind: str) -> Study:
    """Apply a caller's kind override where it is consistent with the data."""
    if study.volume is not None and kind not in ("ct", "image"):
        raise UnsupportedInputError(f"a volume cannot be read as kind '{kind}'")
    if study.volume is None and kind == "ct":
        raise UnsupportedInputError("2D images cannot be read as kind 'ct' (a CT needs a volume)")
    study.kind = kind  # type: ignore[assignment]
    if kind == "mammo":
        from radfound.study.model import MAMMO_VIEWS

        unknown = [v.view for v in study.views if v.view not in MAMMO_VIEWS]
        if unknown:
            raise UnsupportedInputError("images read as a mammogram set need L/R CC/MLO view codes")
    return study
