"""DICOM pixel data to float32 arrays where higher always means brighter.

Steps, in DICOM order: decode (pydicom's pixel handlers with the pylibjpeg
plugins for JPEG baseline/extended/lossless, JPEG-LS, JPEG 2000 and RLE; YBR is
converted to RGB by pydicom), palette colour to RGB, modality LUT (rescale
slope/intercept or a Modality LUT Sequence), then MONOCHROME1 inversion. The VOI
(window centre/width, or a VOI LUT Sequence summarised as its input range) is
*not* burnt into the pixels: it is returned as the suggested display window so
preprocessing can use it and a viewer can show it.

A file without a File Meta header (no Transfer Syntax UID: old ACR-NEMA-style exports)
is decoded with the encoding it was actually parsed with (implicit/explicit VR, little or
big endian); pydicom 3 no longer assumes implicit little endian for the pixels.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pydicom
from pydicom.errors import BytesLengthException
from pydicom.pixels import apply_color_lut, apply_modality_lut, pixel_array

from radfound.errors import DecoderMissingError, StudyReadError, UnsupportedInputError

Window = tuple[float, float]  # (centre, width)

#: What pydicom and its decoder plugins raise on corrupt or inconsistent pixel data.
DECODE_ERRORS: tuple[type[BaseException], ...] = (
    ValueError, RuntimeError, AttributeError, KeyError, TypeError, IndexError, OverflowError, EOFError,
    NotImplementedError, MemoryError, ZeroDivisionError, StopIteration, struct.error, BytesLengthException,
)


def check_decoder(ds: pydicom.Dataset, path: str | Path) -> None:
    """Raise DecoderMissingError when the transfer syntax cannot be decoded here."""
    from pydicom.pixels import get_decoder

    ts = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    if ts is None:
        raise StudyReadError("no transfer syntax: the file has no File Meta header", path)
    ts = pydicom.uid.UID(str(ts))
    try:
        decoder = get_decoder(ts)
    except NotImplementedError:
        raise DecoderMissingError(f"no decoder for transfer syntax {ts.name} ({ts})", path) from None
    if not decoder.is_available:
        missing = "; ".join(f"{k}: {', '.join(v)}" for k, v in decoder.missing_dependencies.items()) if hasattr(decoder, "missing_dependencies") else ""
        raise DecoderMissingError(
            f"transfer syntax {ts.name} ({ts}) needs a decoder plugin that is not installed"
            + (f" ({missing})" if missing else " (pip install pylibjpeg pylibjpeg-libjpeg pylibjpeg-openjpeg pylibjpeg-rle)"),
            path,
        )


def set_missing_transfer_syntax(ds: pydicom.Dataset, path: str | Path) -> None:
    """Give a dataset read without a File Meta header the transfer syntax it was parsed with.

    Only native (uncompressed) pixel data can be stored that way: encapsulated pixel data
    without a transfer syntax cannot be decoded (which codec?) and raises StudyReadError.
    """
    meta = getattr(ds, "file_meta", None)
    if meta is not None and meta.get("TransferSyntaxUID") is not None:
        return
    implicit, little = getattr(ds, "original_encoding", None) or (None, None)
    if implicit is None or little is None:
        implicit, little = True, True  # DICOM's default transfer syntax
    if not little:
        ts = pydicom.uid.ExplicitVRBigEndian
    else:
        ts = pydicom.uid.ImplicitVRLittleEndian if implicit else pydicom.uid.ExplicitVRLittleEndian
    if "PixelData" in ds and ds["PixelData"].is_undefined_length:
        raise StudyReadError("compressed (encapsulated) pixel data but no File Meta header saying how it is "
                             "compressed", path)
    if meta is None:
        ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ts


def value_range(ds: pydicom.Dataset) -> tuple[float, float]:
    """The stored value range implied by Bits Stored and Pixel Representation."""
    bits = int(ds.get("BitsStored") or ds.get("BitsAllocated") or 16)
    if int(ds.get("PixelRepresentation") or 0) == 1:
        return float(-(2 ** (bits - 1))), float(2 ** (bits - 1) - 1)
    return 0.0, float(2**bits - 1)


def frame_groups(ds: pydicom.Dataset, index: int | None, sequence: str) -> list[pydicom.Dataset]:
    """The items of a functional group macro for one frame: per-frame first, then shared (enhanced objects)."""
    found = []
    per_frame = ds.get("PerFrameFunctionalGroupsSequence") or []
    groups = ([per_frame[index]] if index is not None and index < len(per_frame) else [])
    groups += list(ds.get("SharedFunctionalGroupsSequence") or [])[:1]
    for group in groups:
        seq = group.get(sequence)
        if seq:
            found.append(seq[0])
    return found


def _rescale(ds: pydicom.Dataset, frame: int | None, path: str | Path) -> tuple[float, float] | None:
    """(slope, intercept) from the frame's Pixel Value Transformation, else the top level, else None."""
    for item in frame_groups(ds, frame, "PixelValueTransformationSequence") + [ds]:
        if item is None:
            continue
        if "RescaleSlope" in item or "RescaleIntercept" in item:
            slope, intercept = float(item.get("RescaleSlope", 1) or 1), float(item.get("RescaleIntercept", 0) or 0)
            if not (np.isfinite(slope) and np.isfinite(intercept)):
                raise StudyReadError(f"rescale slope {slope:g} / intercept {intercept:g} is not a finite number", path)
            return slope, intercept
    return None


def _first_number(value) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, (list, tuple, pydicom.multival.MultiValue)):
        value = value[0] if len(value) else None
    return None if value is None else float(value)


def file_window(ds: pydicom.Dataset, frame: int | None = None) -> Window | None:
    """The first suggested window (centre, width) in modality units, if the file has one."""
    for item in frame_groups(ds, frame, "FrameVOILUTSequence") + [ds]:
        c, w = _first_number(item.get("WindowCenter")), _first_number(item.get("WindowWidth"))
        if c is not None and w is not None and np.isfinite(c) and np.isfinite(w) and w > 0:
            return c, w
        seq = item.get("VOILUTSequence")
        if seq:
            desc = seq[0].get("LUTDescriptor")
            if desc and len(desc) >= 2:
                entries = int(desc[0]) or 65536
                first = float(desc[1])
                return first + entries / 2.0, float(entries)
    return None


def to_float(
    raw: np.ndarray,
    ds: pydicom.Dataset,
    path: str | Path,
    frame: int | None = None,
) -> tuple[np.ndarray, Window | None]:
    """One decoded frame (rows, cols[, 3]) -> float32 modality values, brighter-is-higher, and its window.

    ``frame`` (0-based) selects the per-frame functional groups of an enhanced multi-frame object.
    """
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    window = file_window(ds, frame)
    if photometric == "PALETTE COLOR":
        return apply_color_lut(raw, ds).astype(np.float32), None
    if raw.ndim == 3:  # RGB (pydicom already converted YBR_* to RGB)
        return raw.astype(np.float32, copy=False), None
    rescale = _rescale(ds, frame, path)
    if rescale is not None:
        slope, intercept = rescale
        out = raw.astype(np.float32)
        if slope != 1.0:
            out *= np.float32(slope)
        if intercept != 0.0:
            out += np.float32(intercept)
        lo, hi = (v * slope + intercept for v in value_range(ds))
    elif "ModalityLUTSequence" in ds:
        out = np.asarray(apply_modality_lut(raw, ds), dtype=np.float32)
        lut = np.asarray(ds.ModalityLUTSequence[0].LUTData, dtype=np.float32)
        lo, hi = float(lut.min()), float(lut.max())
    else:
        out = raw.astype(np.float32)
        lo, hi = value_range(ds)
    if photometric == "MONOCHROME1":
        # Invert within the value range so that the window centre inverts with the pixels.
        np.subtract(np.float32(lo + hi), out, out=out)
        if window is not None:
            window = (lo + hi - window[0], window[1])
    elif photometric not in ("MONOCHROME2", "") and not photometric.startswith(("RGB", "YBR")):
        raise UnsupportedInputError(f"photometric interpretation {photometric} is not supported", path)
    return out, window


def decode(ds: pydicom.Dataset, path: str | Path, index: int | None = None) -> np.ndarray:
    """All frames of a dataset as pydicom decodes them: (rows, cols[, 3]) or (frames, rows, cols[, 3]);
    with ``index`` only that (0-based) frame is decoded, (rows, cols[, 3])."""
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        raise UnsupportedInputError(
            f"no pixel data (SOP class {pydicom.uid.UID(str(ds.get('SOPClassUID', '?'))).name})", path
        )
    set_missing_transfer_syntax(ds, path)
    check_decoder(ds, path)
    try:
        if index is not None:
            return pixel_array(ds, index=index)
        return ds.pixel_array
    except DECODE_ERRORS as exc:
        # pydicom reports truncated / inconsistent pixel data with these; keep its message.
        raise StudyReadError(f"pixel data cannot be decoded: {exc}", path) from None
    except BaseException as exc:
        # The Rust decoders (pylibjpeg-rle) panic on some corrupt streams with pyo3's PanicException,
        # a BaseException: it is still bad input, not a reason to bring the application down.
        if type(exc).__name__ == "PanicException":
            raise StudyReadError(f"pixel data decoder failed on corrupt data: {exc}", path) from None
        raise
