"""Non-DICOM inputs: NRRD and NIfTI volumes (geometry converted to LPS) and PNG/JPEG images.

NRRD/NIfTI carry no modality: a 3D one is read as kind ``ct`` (values taken as
Hounsfield units) with a warning when its value range does not look like HU. A
single-slice NRRD/NIfTI is a 2D ``image``. PNG/JPEG are 2D ``image`` views: their
pixels say nothing reliable about what they show, so ``read_study(..., kind="cxr")``
is how a caller that knows (e.g. from a dataset's labels) says so. A JPEG/TIFF's EXIF
orientation is applied (a phone photo of a film is stored sideways). NaN/inf values
(resampled volumes, float TIFF) and tiny 2D images follow ``radfound.study.checks``.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from radfound.errors import StudyReadError, UnsupportedInputError
from radfound.study.checks import check_min_side, replace_nonfinite
from radfound.study.model import SourceRef, Study, View, Volume
from radfound.study.series import check_volume_size

LPS_FROM_RAS = np.diag([-1.0, -1.0, 1.0])
VOLUME_SUFFIXES = (".nrrd", ".nhdr", ".nii", ".nii.gz")
RASTER_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def suffix_of(path: Path) -> str:
    name = path.name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else path.suffix.lower()


def _study_from_array(array_kji: np.ndarray, matrix: np.ndarray, origin: np.ndarray, path: Path, fmt: str) -> Study:
    """(k, j, i) array + 3x3 LPS matrix whose columns are the i, j, k steps -> Study."""
    spacing_ijk = np.linalg.norm(matrix, axis=0)
    if not np.isfinite(matrix).all() or (spacing_ijk <= 0).any():
        raise StudyReadError("invalid voxel geometry (zero or non-finite spacing)", path)
    direction = matrix / spacing_ijk
    src = SourceRef(path=str(path))
    meta = {"source_format": fmt}
    warnings = []
    if array_kji.shape[0] == 1:
        check_min_side(array_kji.shape[1], array_kji.shape[2], path)
        pixels = np.asarray(array_kji[0], dtype=np.float32)
        warnings += filter(None, [replace_nonfinite(pixels, path)])
        view = View(pixels, (float(spacing_ijk[1]), float(spacing_ijk[0])), source=src)
        return Study("image", views=[view], metadata=meta, sources=[src], warnings=warnings)
    warnings += filter(None, [replace_nonfinite(array_kji, path, "voxel")])
    volume = Volume(array_kji, (float(spacing_ijk[2]), float(spacing_ijk[1]), float(spacing_ijk[0])),
                    tuple(float(v) for v in origin), direction)
    lo, hi = float(array_kji.min()), float(array_kji.max())
    if lo > -500 or hi < 200:
        warnings.append(f"values {lo:g}..{hi:g} do not look like CT Hounsfield units; read as CT anyway")
    meta["modality"] = "CT"
    return Study("ct", volume=volume, metadata=meta, sources=[src], warnings=warnings)


def read_nrrd(path: Path) -> Study:
    import nrrd

    try:
        header = nrrd.read_header(str(path))
        sizes = [int(s) for s in header["sizes"]]
    except (nrrd.NRRDError, OSError, KeyError, ValueError, TypeError, UnicodeError, IndexError) as exc:
        raise StudyReadError(f"not a readable NRRD file ({exc})", path) from None
    if len(sizes) not in (2, 3):
        raise UnsupportedInputError(f"NRRD with {len(sizes)} axes: only 2D or 3D scalar images are read", path)
    sizes3 = sizes + [1] * (3 - len(sizes))
    check_volume_size(sizes3[2], sizes3[1], sizes3[0], path)
    try:
        data, header = nrrd.read(str(path), index_order="C")  # (k, j, i)
    except (nrrd.NRRDError, OSError, ValueError, TypeError, EOFError, IndexError, KeyError, UnicodeError) as exc:
        raise StudyReadError(f"NRRD data cannot be read ({exc})", path) from None
    data = np.asarray(data, dtype=np.float32)
    if data.ndim == 2:
        data = data[None]
    directions = header.get("space directions")
    if directions is not None:
        rows = [np.asarray(d, dtype=float) if d is not None and not np.isnan(np.asarray(d, dtype=float)).all() else None
                for d in directions]
        if any(r is None for r in rows):
            raise UnsupportedInputError("NRRD with a non-spatial axis (vector or colour data) is not supported", path)
        matrix = np.zeros((3, 3))
        for axis, r in enumerate(rows):
            matrix[: len(r), axis] = r
        if len(rows) == 2:
            matrix[2, 2] = 1.0
        origin = np.zeros(3)
        if header.get("space origin") is not None:
            o = np.asarray(header["space origin"], dtype=float)
            origin[: len(o)] = o
        space = str(header.get("space", "left-posterior-superior")).lower()
        if space in ("right-anterior-superior", "ras", "3d-right-handed"):
            matrix, origin = LPS_FROM_RAS @ matrix, LPS_FROM_RAS @ origin
        elif space not in ("left-posterior-superior", "lps", "3d-left-handed"):
            raise UnsupportedInputError(f"NRRD space '{space}' is not a patient space (LPS/RAS)", path)
    else:
        spacings = [float(s) for s in header.get("spacings", [1.0] * len(sizes))] + [1.0] * (3 - len(sizes))
        matrix, origin = np.diag(spacings), np.zeros(3)
    return _study_from_array(data, matrix, origin, path, "nrrd")


def read_nifti(path: Path) -> Study:
    import nibabel as nib

    try:
        img = nib.load(str(path))
        shape = tuple(int(s) for s in img.shape)
    except (nib.filebasedimages.ImageFileError, OSError, ValueError, EOFError) as exc:
        raise StudyReadError(f"not a readable NIfTI file ({exc})", path) from None
    while len(shape) > 3 and shape[-1] == 1:
        shape = shape[:-1]
    if len(shape) not in (2, 3):
        raise UnsupportedInputError(f"NIfTI with shape {shape}: only 2D or 3D scalar images are read", path)
    shape3 = shape + (1,) * (3 - len(shape))
    check_volume_size(shape3[2], shape3[1], shape3[0], path)
    try:
        data = img.get_fdata(dtype=np.float32).reshape(shape3, order="F")  # (i, j, k)
    except (OSError, ValueError, EOFError, TypeError) as exc:
        raise StudyReadError(f"NIfTI data cannot be read ({exc})", path) from None
    affine = np.asarray(img.affine, dtype=float)
    matrix, origin = LPS_FROM_RAS @ affine[:3, :3], LPS_FROM_RAS @ affine[:3, 3]
    return _study_from_array(data.T, matrix, origin, path, "nifti")  # .T of the F-ordered array is C-ordered (k, j, i)


def read_raster(path: Path, warnings: list[str] | None = None) -> View:
    """One PNG/JPEG/BMP/TIFF as a 2D view: grayscale when the channels are equal, else RGB.

    The EXIF orientation is applied, so pixels are as a viewer shows them (and boxes map back to
    those); warnings (rotation, non-finite values replaced) are appended to ``warnings``.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    notes: list[str] = []
    try:
        with Image.open(path) as opened:
            check_volume_size(1, opened.height, opened.width * 3, path)
            opened.load()
            orientation = int(opened.getexif().get(0x0112, 1) or 1)
            im = ImageOps.exif_transpose(opened) if orientation != 1 else opened
            if orientation in range(2, 9):
                notes.append(f"{path.name}: EXIF orientation {orientation} applied (image rotated/flipped "
                             "as a viewer shows it)")
            mode = im.mode
            if mode in ("I;16", "I;16B", "I;16L", "I", "F", "L"):
                pixels = np.array(im, dtype=np.float32)  # a writable copy (non-finite values are replaced in place)
            else:
                rgb = np.asarray(im.convert("RGB"), dtype=np.float32)
                same = np.abs(rgb[..., 0] - rgb[..., 1]).max() <= 1 and np.abs(rgb[..., 0] - rgb[..., 2]).max() <= 1
                pixels = np.ascontiguousarray(rgb[..., 0]) if same else rgb
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, TypeError, KeyError, struct.error,
            Image.DecompressionBombError) as exc:
        raise StudyReadError(f"not a readable image file ({exc})", path) from None
    if pixels.ndim not in (2, 3) or min(pixels.shape[:2]) == 0:
        raise StudyReadError(f"image has unusable shape {pixels.shape}", path)
    check_min_side(pixels.shape[0], pixels.shape[1], path)
    notes += filter(None, [replace_nonfinite(pixels, path)])
    if warnings is not None:
        warnings += notes
    return View(pixels, source=SourceRef(path=str(path)))
