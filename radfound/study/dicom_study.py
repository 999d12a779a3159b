"""DICOM instances (already header-read) to one Study.

Series choice (see docs/study.md): files holding the same SOP Instance UID (one file
copied twice) count once, with a warning. With ``series_uid`` only that series is used.
Otherwise, if any image is a mammogram the study is the mammogram set built from
every mammogram image given. Else the images are grouped: projection radiographs
(CR/DX/...) of one study form one group (a PA and a lateral usually sit in
separate series), cross-sectional slices group by Series Instance UID and orientation
(within ``ORIENTATION_TOL``), and each multi-frame object is its own group. Acquired
images win over secondary ones (Secondary Capture objects, Image Type ``DERIVED\\SECONDARY``:
screenshots, dose sheets, reformats, MIPs), and still images over frames without geometry
(a cine loop); then the group with the most images (frames) wins, ties going to the lower
Series Number; the other groups are named in a warning. Derived objects (SEG, RT Dose...) never compete: they are
refused by ``require_image`` before (skipped with a warning inside a folder).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from radfound.errors import GeometryError, StudyReadError, UnsupportedInputError
from radfound.study import mammo
from radfound.study.checks import check_min_side, replace_nonfinite
from radfound.study.dicom import PARSE_ERRORS, Instance, read_dataset, require_image
from radfound.study.model import Study, View, Volume
from radfound.study.pixels import decode, to_float
from radfound.study.series import ORIENTATION_TOL, check_volume_size, fill_volume, plan_stack

CROSS_SECTIONAL = {"CT", "MR", "PT", "NM", "OT", ""}
#: Single-frame image SOP classes of modalities whose images are slices of a volume: without Image
#: Position/Orientation several of them cannot be stacked, and reading them as 2D views would be wrong.
SLICE_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.2",  # CT Image Storage
    "1.2.840.10008.5.1.4.1.1.4",  # MR Image Storage
    "1.2.840.10008.5.1.4.1.1.128",  # Positron Emission Tomography Image Storage
}
#: Secondary Capture Image Storage, single- and multi-frame: pictures of something (a screen, a page).
SECONDARY_CAPTURE = {"1.2.840.10008.5.1.4.1.1.7", *(f"1.2.840.10008.5.1.4.1.1.7.{n}" for n in range(1, 5))}
MAX_NAMED = 3  # series named in a warning
MAX_FRAME_VIEWS = 8  # a multi-frame 2D object (cine) gives at most this many views, evenly spaced


def _decoded(inst: Instance, frame: int | None = None):
    """(dataset, raw frames (frames, rows, cols[, 3])) after the size check and a shape check.

    With ``frame`` (0-based) only that frame is decoded (one frame of a tomosynthesis object).
    """
    check_volume_size(1 if frame is not None else inst.frames, inst.rows, inst.cols * inst.samples, inst.path)
    ds = read_dataset(inst.path, pixels=True)
    raw = decode(ds, inst.path, frame if inst.frames > 1 else None)
    if inst.frames == 1 or frame is not None or raw.ndim == (3 if inst.samples > 1 else 2):
        raw = raw[None]
    if raw.shape[1:3] != (inst.rows, inst.cols):
        raise StudyReadError(f"decoded pixels are {raw.shape[1:3]}, header says {inst.rows}x{inst.cols}", inst.path)
    return ds, raw


def _to_float(raw: np.ndarray, ds, inst: Instance, index: int):
    """One frame to float32 (see radfound.study.pixels.to_float), with value errors made typed."""
    try:
        return to_float(raw, ds, inst.path, index)
    except StudyReadError:
        raise
    except PARSE_ERRORS as exc:
        raise StudyReadError(f"pixel values cannot be interpreted ({type(exc).__name__}: {exc})", inst.path) from None


def _frame(inst: Instance, index: int) -> tuple[np.ndarray, tuple[float, float] | None]:
    """Decode one frame (0-based) of an instance to a float array and its window."""
    ds, raw = _decoded(inst, index if inst.frames > 1 else None)
    return _to_float(raw[0], ds, inst, index if inst.frames > 1 else 0)


def _view(pixels: np.ndarray, inst: Instance, warnings: list[str], **kwargs) -> View:
    """A View after the checks every 2D image passes (finite values; the size was checked from the header)."""
    warnings += filter(None, [replace_nonfinite(pixels, inst.path)])
    return View(pixels, _spacing(inst), **kwargs)


def _spacing(inst: Instance) -> tuple[float, float]:
    return inst.pixel_spacing or (1.0, 1.0)


def _metadata(inst: Instance, **extra: str) -> dict[str, str]:
    meta = {"modality": inst.modality, "body_part": inst.body_part, "source_format": "dicom"}
    meta.update({k: v for k, v in extra.items() if v})
    return {k: v for k, v in meta.items() if v}


def _is_axial(orientation) -> bool:
    if orientation is None:
        return False
    normal = np.cross(orientation[:3], orientation[3:6])
    return abs(normal[2]) > 0.9


def _unique_instances(instances: Sequence[Instance]) -> tuple[list[Instance], list[str]]:
    """Drop files repeating an earlier file's SOP Instance UID (a file copied twice), with a warning."""
    seen: dict[str, Instance] = {}
    out, dropped = [], []
    for inst in instances:
        first = seen.get(inst.sop_instance_uid) if inst.sop_instance_uid else None
        if first is not None:
            dropped.append(f"{inst.path.name} (same as {first.path.name})")
            continue
        if inst.sop_instance_uid:
            seen[inst.sop_instance_uid] = inst
        out.append(inst)
    if not dropped:
        return out, []
    more = f" and {len(dropped) - MAX_NAMED} more" if len(dropped) > MAX_NAMED else ""
    return out, [f"ignored {len(dropped)} file(s) repeating the SOP Instance UID of another file (copies of one "
                 f"image): {'; '.join(dropped[:MAX_NAMED])}{more}"]


def _is_secondary(inst: Instance) -> bool:
    """A picture of something rather than an acquisition: a Secondary Capture, or Image Type
    DERIVED\\SECONDARY (a reformat, a MIP, a screenshot)."""
    return inst.sop_class_uid in SECONDARY_CAPTURE or tuple(inst.image_type[:2]) == ("DERIVED", "SECONDARY")


def _images(group: Sequence[Instance]) -> int:
    """How many images (frames) a group holds."""
    return sum(i.frames for i in group)


def _rank(group: Sequence[Instance]) -> tuple:
    """Sort key of a group, best first: acquired before secondary, still images before frames without
    geometry (cine), then the most images, then the lower Series Number."""
    first = group[0]
    return (all(_is_secondary(i) for i in group), first.frames > 1 and not first.frame_positions,
            -_images(group), min(i.series_number for i in group))


def _group_key(inst: Instance, stacks: dict[str, list[np.ndarray]]) -> tuple:
    """The group of a header: multi-frame object, (series, orientation) stack, or the study's projections.

    Orientations within ORIENTATION_TOL of a stack's first one join that stack (the same tolerance
    as the volume's consistency check), so scanner round-off never splits a series.
    """
    if inst.frames > 1:
        return ("multiframe", inst.sop_instance_uid or str(inst.path))
    if not inst.is_slice:
        return ("projection", inst.study_uid or "")
    series = inst.series_uid or str(inst.path)
    refs = stacks.setdefault(series, [])
    orientation = np.asarray(inst.orientation, dtype=float)
    for n, ref in enumerate(refs):
        if np.abs(orientation - ref).max() <= ORIENTATION_TOL:
            return ("series", series, n)
    refs.append(orientation)
    return ("series", series, len(refs) - 1)


def study_from_instances(instances: Sequence[Instance], *, series_uid: str | None = None) -> Study:
    """Build the Study from header records of image files (non-images must already be filtered).

    A series holding several orientations (e.g. a 3-plane localizer) is split into one stack
    per orientation; the stacks then compete like series.
    """
    insts = list(instances)
    if series_uid:
        insts = [i for i in insts if i.series_uid == series_uid]
        if not insts:
            found = sorted({i.series_uid for i in instances if i.series_uid})
            raise StudyReadError(f"no images of series {series_uid} here (series found: {', '.join(found) or 'none'})")
    if not insts:
        raise StudyReadError("no DICOM images found")
    insts, dup_warnings = _unique_instances(insts)
    study = _study_from_unique(insts)
    study.warnings[:0] = dup_warnings
    return study


def _study_from_unique(insts: list[Instance]) -> Study:
    """The mammogram set, else the winning group (series choice in the module docstring)."""
    mammos = [i for i in insts if i.is_mammo]
    if mammos:
        study = mammo_study(mammos)
        if len(mammos) < len(insts):
            study.warnings.append(f"ignored {len(insts) - len(mammos)} non-mammogram image(s) beside the mammogram set")
        return study
    groups: dict[tuple, list[Instance]] = defaultdict(list)
    stacks: dict[str, list[np.ndarray]] = {}
    for inst in insts:
        groups[_group_key(inst, stacks)].append(inst)
    ranked = sorted(groups.items(), key=lambda kv: _rank(kv[1]))
    kind, chosen = ranked[0][0][0], ranked[0][1]
    warnings = []
    if len(ranked) > 1:
        ignored = [g for _, g in ranked[1:]]
        names = ", ".join(g[0].series_uid or g[0].path.name for g in ignored[:MAX_NAMED])
        more = f" and {len(ignored) - MAX_NAMED} more" if len(ignored) > MAX_NAMED else ""
        largest = all(_images(chosen) >= _images(g) for g in ignored)
        which = "the largest" if largest else "the largest acquired still series (secondary images and cine rank last)"
        warnings.append(
            f"several series found; used {which}, {chosen[0].series_uid or chosen[0].path.name} "
            f"({_images(chosen)} images); ignored {len(ignored)} other series or stacks "
            f"({sum(len(g) for g in ignored)} files: {names}{more}); choose one with --series-uid"
        )
    if kind == "multiframe":
        study = multiframe_study(chosen[0])
    elif kind == "series" and len(chosen) > 1:
        study = series_study(chosen)
    else:
        study = projection_study(chosen)
    study.warnings[:0] = warnings
    return study


def projection_study(insts: Sequence[Instance]) -> Study:
    """Single-frame 2D images: chest radiographs (kind cxr) or anything else (kind image)."""
    insts = sorted(insts, key=lambda i: (i.series_number, i.instance_number, str(i.path)))
    _refuse_slices_without_geometry(insts)
    is_cxr = all(i.is_cxr for i in insts)
    views, sources = [], []
    warnings: list[str] = []
    for inst in insts:
        require_image(inst)
    for inst in insts:
        ds, raw = _decoded(inst)
        check_min_side(inst.rows, inst.cols, inst.path)  # after decoding: a corrupt tiny file says so first
        picks = np.unique(np.linspace(0, len(raw) - 1, min(len(raw), MAX_FRAME_VIEWS)).round().astype(int))
        if len(picks) < len(raw):
            warnings.append(f"{inst.path.name}: {len(raw)} frames without geometry (e.g. a cine); "
                            f"used {len(picks)} evenly spaced frames as views")
        converted = [_to_float(raw[i], ds, inst, int(i)) for i in picks]
        del raw
        if is_cxr:
            code = inst.cxr_view
        elif inst.frames == 1 and inst.modality in CROSS_SECTIONAL and _is_axial(inst.orientation):
            code = "AXIAL"
        else:
            code = "UNKNOWN"
        for f, (px, win) in zip(picks, converted):
            src = inst.source(int(f) + 1 if inst.frames > 1 else None)
            views.append(_view(px, inst, warnings, view=code, laterality=inst.laterality[:1] or None, source=src,
                               window=win, patient_orientation=inst.patient_orientation))
            sources.append(src)
    first = insts[0]
    meta = _metadata(first, view=views[0].view if views[0].view != "UNKNOWN" else "", laterality=first.laterality)
    study = Study("cxr" if is_cxr else "image", views=views, metadata=meta, sources=sources, warnings=warnings)
    if first.modality == "CT" and len(insts) == 1:
        study.warnings.append("a single CT slice is read as a 2D image (kind image), not a CT volume")
    return study


def _refuse_slices_without_geometry(insts: Sequence[Instance]) -> None:
    """GeometryError for several CT/MR/PET slices without Image Position/Orientation (Patient).

    They are slices of a volume that cannot be stacked (e.g. an anonymiser stripped the tags);
    one 2D view per slice would show the model dozens of unrelated axial images.
    """
    slices = [i for i in insts if i.frames == 1 and not i.is_localizer and i.modality in ("CT", "MR", "PT")
              and (not i.sop_class_uid or i.sop_class_uid in SLICE_SOP_CLASSES)
              and (i.position is None or i.orientation is None)]
    if len(slices) > 1:
        modality = slices[0].modality
        raise GeometryError(
            f"{len(slices)} {modality} slices have no Image Position/Orientation (Patient) "
            f"(e.g. {slices[0].path.name}): they cannot be stacked into a volume (were the tags removed by an "
            "anonymiser?); give the series with its geometry, or a single slice", slices[0].path.parent)


def mammo_study(insts: Sequence[Instance]) -> Study:
    """Up to four mammogram views (see radfound.study.mammo for the mapping and duplicate rules)."""
    candidates, warnings = [], []
    for inst in insts:
        require_image(inst)
        code = mammo.view_code(inst.laterality, inst.view_position, inst.view_codes)
        if code is None:
            warnings.append(
                f"ignored mammogram {inst.path.name}: view not recognised "
                f"(laterality {inst.laterality or '?'}, view position {inst.view_position or '?'})"
            )
            continue
        candidates.append(
            mammo.Candidate(
                inst,
                code,
                inst.path.name,
                for_processing=inst.presentation_intent == "FOR PROCESSING",
                standard=mammo.is_standard_projection(inst.view_position) or not inst.view_position,
                pixels=inst.rows * inst.cols,
                instance_number=inst.instance_number,
                modified=mammo.modifier_text(inst.view_modifiers),
                tomo=inst.is_tomo or inst.frames > 1,
            )
        )
    if not candidates:
        raise StudyReadError(
            "mammogram images found but none has a recognisable laterality and view: " + "; ".join(warnings),
            insts[0].path,
        )
    views, sources, chosen = [], [], []
    for group in mammo.rank_views(candidates):
        cand, index, pixels, window = _first_decodable(group, warnings)
        inst = cand.item
        src = inst.source(index + 1 if inst.frames > 1 else None)
        if inst.presentation_intent == "FOR PROCESSING":
            warnings.append(f"{cand.view}: only a FOR PROCESSING image is available ({inst.path.name})")
        if cand.tomo:
            warnings.append(f"{cand.view}: only a breast tomosynthesis object is available ({inst.path.name}); "
                            f"used its central frame {index + 1} of {inst.frames}, not a 2D mammogram")
        warnings += mammo.duplicate_warnings(cand, group)
        views.append(_view(pixels, inst, warnings, view=cand.view, laterality=cand.view[0], source=src,
                           window=window, patient_orientation=inst.patient_orientation))
        sources.append(src)
        chosen.append(cand)
    warnings += mammo.missing_warnings([c.view for c in chosen])
    meta = _metadata(chosen[0].item)
    meta["modality"] = "MG"
    return Study("mammo", views=views, metadata=meta, sources=sources, warnings=warnings)


def _first_decodable(group: Sequence[mammo.Candidate], warnings: list[str]):
    """Decode the best image of one view, falling back to its next duplicate when it cannot be decoded.

    Returns (candidate, frame index, pixels, window). Only one frame is decoded: the first of a 2D
    image, the central one of a tomosynthesis object (the first lies at the compression paddle).
    """
    for i, cand in enumerate(group):
        inst = cand.item
        try:
            check_min_side(inst.rows, inst.cols, inst.path)
            index = inst.frames // 2 if inst.frames > 1 else 0
            pixels, window = _frame(inst, index)
            return cand, index, pixels, window
        except StudyReadError as exc:
            if i == len(group) - 1:
                raise
            reason = "cannot be used" if isinstance(exc, UnsupportedInputError) else "cannot be decoded"
            warnings.append(f"{cand.view}: {cand.label} {reason} ({exc.problem}); used {group[i + 1].label}")


def _volume_kind(modality: str) -> tuple[str, list[str]]:
    if modality == "CT":
        return "ct", []
    return "image", [f"{modality or 'unknown modality'} volume: the model's volume path is trained on CT (kind image)"]


def series_study(insts: Sequence[Instance]) -> Study:
    """A cross-sectional series (>= 2 single-frame slices) as one Volume."""
    first = insts[0]
    for inst in insts:
        require_image(inst)
    sizes = sorted({(i.rows, i.cols) for i in insts})
    if len(sizes) > 1:
        raise GeometryError(f"series {first.series_uid} mixes image sizes {sizes}", first.path.parent)
    ref = np.asarray(first.orientation)
    for inst in insts[1:]:
        if np.abs(np.asarray(inst.orientation) - ref).max() > ORIENTATION_TOL:
            raise GeometryError(
                f"series {first.series_uid} mixes slice orientations ({inst.path.name} differs from {first.path.name})",
                first.path.parent,
            )
    spacings = {tuple(round(s, 4) for s in _spacing(i)) for i in insts}
    if len(spacings) > 1:
        raise GeometryError(f"series {first.series_uid} mixes pixel spacings {sorted(spacings)}", first.path.parent)
    where = first.path.parent
    plan = plan_stack([i.position for i in insts], first.orientation, _spacing(first), where,
                      fallback_spacing=first.slice_spacing, labels=[i.path.name for i in insts],
                      duplicate_hint=_same_position_hint(insts))
    windows: list = []

    def load(index: int) -> np.ndarray:
        pixels, window = _frame(insts[index], 0)
        windows.append(window)
        if pixels.ndim != 2:
            raise GeometryError("colour images cannot form a volume", insts[index].path)
        return pixels

    array = fill_volume(plan, first.rows, first.cols, load, where)
    value_warnings = list(filter(None, [replace_nonfinite(array, where, "voxel")]))
    window = windows[len(windows) // 2] if windows else None
    volume = Volume(array, plan.spacing, plan.origin, plan.direction, window)
    kind, warnings = _volume_kind(first.modality)
    sources = [insts[int(i)].source() for i in plan.order]
    return Study(kind, volume=volume, metadata=_metadata(first), sources=sources,
                 warnings=plan.warnings + value_warnings + warnings)


def _same_position_hint(insts: Sequence[Instance]) -> str:
    """What to do when slices of one series share positions: --series-uid cannot split a series."""
    what = []
    for label, values in (("acquisition numbers", {i.acquisition_number for i in insts}),
                          ("temporal positions", {i.temporal_position for i in insts})):
        if len(values) > 1:
            what.append(f"{label} {', '.join(sorted(v or '(none)' for v in values)[:MAX_NAMED])}")
    found = f" (it has {' and '.join(what)})" if what else ""
    return (f"series {insts[0].series_uid or '?'} holds several acquisitions, phases or echoes at the same "
            f"positions{found}; --series-uid cannot separate them: give the files of one acquisition or "
            "phase only")


def multiframe_study(inst: Instance) -> Study:
    """An enhanced (or legacy) multi-frame object: a Volume when frames have positions, else 2D views."""
    require_image(inst)
    cross = inst.modality in CROSS_SECTIONAL - {"", "OT"} and inst.samples == 1
    if not cross:
        return projection_study([inst])
    where = inst.path
    warnings: list[str] = []
    if inst.frame_positions and inst.orientation:
        plan = plan_stack(inst.frame_positions, inst.orientation, _spacing(inst), where,
                          labels=[f"frame {k + 1}" for k in range(inst.frames)],
                          duplicate_hint="the object holds several phases, echoes or stacks at the same positions, "
                                         "which do not form one volume")
    else:
        # Legacy multi-frame (or no per-frame positions): frames stacked along the slice normal from the
        # top-level Image Position, Spacing Between Slices (else Slice Thickness) apart.
        step = inst.slice_spacing or 1.0
        orientation = inst.orientation or (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
        normal = np.cross(orientation[:3], orientation[3:6])
        if np.linalg.norm(normal) < 1e-3:
            raise GeometryError("image orientation row and column directions are parallel", where)
        normal = normal / np.linalg.norm(normal)
        origin = np.asarray(inst.position if inst.position is not None else (0.0, 0.0, 0.0), dtype=float)
        positions = [tuple(origin + k * step * normal) for k in range(inst.frames)]
        plan = plan_stack(positions, orientation, _spacing(inst), where)
        warnings.append("multi-frame image without per-frame positions: frames stacked in file order along the "
                        f"slice normal, {step:g} mm apart, orientation "
                        f"{'from the file' if inst.orientation else 'assumed axial'}, first frame at "
                        f"{'the Image Position' if inst.position is not None else 'the origin (no Image Position)'}")
    check_volume_size(len(plan.target), inst.rows, inst.cols, where)
    ds, raw = _decoded(inst)  # stored values (int16 for CT: half the float volume), converted frame by frame
    array = fill_volume(plan, inst.rows, inst.cols, lambda i: _to_float(raw[i], ds, inst, i)[0], where)
    window = _to_float(raw[len(raw) // 2], ds, inst, len(raw) // 2)[1]
    del raw
    warnings += filter(None, [replace_nonfinite(array, where, "voxel")])
    volume = Volume(array, plan.spacing, plan.origin, plan.direction, window)
    kind, kind_warnings = _volume_kind(inst.modality)
    sources = [inst.source(int(i) + 1) for i in plan.order]
    return Study(kind, volume=volume, metadata=_metadata(inst), sources=sources,
                 warnings=plan.warnings + warnings + kind_warnings)
