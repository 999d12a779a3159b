"""DICOM instances (already header-read) to one Study.

Series choice (see docs/study.md): with ``series_uid`` only that series is used.
Otherwise, if any image is a mammogram the study is the mammogram set built from
every mammogram image given. Else the images are grouped: projection radiographs
(CR/DX/...) of one study form one group (a PA and a lateral usually sit in
separate series), cross-sectional slices group by Series Instance UID, and each
multi-frame object is its own group. The group with the most images (frames) wins,
ties going to the lower Series Number; the other groups are named in a warning.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from radfound.errors import GeometryError, StudyReadError
from radfound.study import mammo
from radfound.study.dicom import PARSE_ERRORS, Instance, read_dataset, require_image
from radfound.study.model import Study, View, Volume
from radfound.study.pixels import decode, to_float
from radfound.study.series import check_volume_size, fill_volume, plan_stack

CROSS_SECTIONAL = {"CT", "MR", "PT", "NM", "OT", ""}
MAX_NAMED = 3  # series named in a warning
MAX_FRAME_VIEWS = 8  # a multi-frame 2D object (cine) gives at most this many views, evenly spaced


def _decoded(inst: Instance):
    """(dataset, raw frames (frames, rows, cols[, 3])) after the size check and a shape check."""
    check_volume_size(inst.frames, inst.rows, inst.cols * inst.samples, inst.path)
    ds = read_dataset(inst.path, pixels=True)
    raw = decode(ds, inst.path)
    if inst.frames == 1 or raw.ndim == (3 if inst.samples > 1 else 2):
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


def _frames(inst: Instance) -> tuple[list[np.ndarray], list[tuple[float, float] | None]]:
    """Decode all frames of a 2D instance to float arrays (brighter is higher) and their windows."""
    ds, raw = _decoded(inst)
    out = [_to_float(raw[i], ds, inst, i) for i in range(len(raw))]
    return [a for a, _ in out], [w for _, w in out]


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
    mammos = [i for i in insts if i.is_mammo]
    if mammos:
        study = mammo_study(mammos)
        if len(mammos) < len(insts):
            study.warnings.append(f"ignored {len(insts) - len(mammos)} non-mammogram image(s) beside the mammogram set")
        return study
    groups: dict[tuple, list[Instance]] = defaultdict(list)
    for inst in insts:
        if inst.frames > 1:
            groups[("multiframe", inst.sop_instance_uid or str(inst.path))].append(inst)
        elif inst.is_slice:
            orientation = tuple(round(v, 3) for v in inst.orientation or ())
            groups[("series", inst.series_uid or str(inst.path), orientation)].append(inst)
        else:
            groups[("projection", inst.study_uid or "")].append(inst)
    ranked = sorted(
        groups.items(),
        key=lambda kv: (-sum(i.frames for i in kv[1]), min(i.series_number for i in kv[1])),
    )
    kind, chosen = ranked[0][0][0], ranked[0][1]
    warnings = []
    if len(ranked) > 1:
        ignored = [g for _, g in ranked[1:]]
        names = ", ".join(g[0].series_uid or g[0].path.name for g in ignored[:MAX_NAMED])
        more = f" and {len(ignored) - MAX_NAMED} more" if len(ignored) > MAX_NAMED else ""
        warnings.append(
            f"several series found; used the largest, {chosen[0].series_uid or chosen[0].path.name} "
            f"({sum(i.frames for i in chosen)} images); ignored {len(ignored)} other series or stacks "
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
    is_cxr = all(i.is_cxr for i in insts)
    views, sources = [], []
    warnings = []
    for inst in insts:
        require_image(inst)
        ds, raw = _decoded(inst)
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
            views.append(
                View(px, _spacing(inst), code, inst.laterality[:1] or None, src, win, inst.patient_orientation)
            )
            sources.append(src)
    first = insts[0]
    meta = _metadata(first, view=views[0].view if views[0].view != "UNKNOWN" else "", laterality=first.laterality)
    study = Study("cxr" if is_cxr else "image", views=views, metadata=meta, sources=sources, warnings=warnings)
    if first.modality == "CT" and len(insts) == 1:
        study.warnings.append("a single CT slice is read as a 2D image (kind image), not a CT volume")
    return study


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
            )
        )
    if not candidates:
        raise StudyReadError(
            "mammogram images found but none has a recognisable laterality and view: " + "; ".join(warnings),
            insts[0].path,
        )
    views, sources, chosen = [], [], []
    for group in mammo.rank_views(candidates):
        cand, pixels, windows = _first_decodable(group, warnings)
        inst = cand.item
        src = inst.source()
        if inst.presentation_intent == "FOR PROCESSING":
            warnings.append(f"{cand.view}: only a FOR PROCESSING image is available ({inst.path.name})")
        warnings += mammo.duplicate_warnings(cand, group)
        views.append(View(pixels[0], _spacing(inst), cand.view, cand.view[0], src, windows[0], inst.patient_orientation))
        sources.append(src)
        chosen.append(cand)
    warnings += mammo.missing_warnings([c.view for c in chosen])
    meta = _metadata(chosen[0].item)
    meta["modality"] = "MG"
    return Study("mammo", views=views, metadata=meta, sources=sources, warnings=warnings)


def _first_decodable(group: Sequence[mammo.Candidate], warnings: list[str]):
    """Decode the best image of one view, falling back to its next duplicate when it cannot be decoded."""
    for i, cand in enumerate(group):
        try:
            pixels, windows = _frames(cand.item)
            return cand, pixels, windows
        except StudyReadError as exc:
            if i == len(group) - 1:
                raise
            warnings.append(f"{cand.view}: {cand.label} cannot be decoded ({exc.problem}); used {group[i + 1].label}")


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
        if np.abs(np.asarray(inst.orientation) - ref).max() > 1e-3:
            raise GeometryError(
                f"series {first.series_uid} mixes slice orientations ({inst.path.name} differs from {first.path.name})",
                first.path.parent,
            )
    spacings = {tuple(round(s, 4) for s in _spacing(i)) for i in insts}
    if len(spacings) > 1:
        raise GeometryError(f"series {first.series_uid} mixes pixel spacings {sorted(spacings)}", first.path.parent)
    where = first.path.parent
    plan = plan_stack([i.position for i in insts], first.orientation, _spacing(first), where,
                      fallback_spacing=first.slice_spacing)
    windows: list = []

    def load(index: int) -> np.ndarray:
        pixels, wins = _frames(insts[index])
        windows.append(wins[0])
        if pixels[0].ndim != 2:
            raise GeometryError("colour images cannot form a volume", insts[index].path)
        return pixels[0]

    array = fill_volume(plan, first.rows, first.cols, load, where)
    window = windows[len(windows) // 2] if windows else None
    volume = Volume(array, plan.spacing, plan.origin, plan.direction, window)
    kind, warnings = _volume_kind(first.modality)
    sources = [insts[int(i)].source() for i in plan.order]
    return Study(kind, volume=volume, metadata=_metadata(first), sources=sources, warnings=plan.warnings + warnings)


def multiframe_study(inst: Instance) -> Study:
    """An enhanced (or legacy) multi-frame object: a Volume when frames have positions, else 2D views."""
    require_image(inst)
    cross = inst.modality in CROSS_SECTIONAL - {"", "OT"} and inst.samples == 1
    if not cross:
        return projection_study([inst])
    where = inst.path
    warnings: list[str] = []
    if inst.frame_positions and inst.orientation:
        plan = plan_stack(inst.frame_positions, inst.orientation, _spacing(inst), where)
    else:
        step = inst.slice_spacing or 1.0
        positions = [(0.0, 0.0, k * step) for k in range(inst.frames)]
        plan = plan_stack(positions, inst.orientation or (1, 0, 0, 0, 1, 0), _spacing(inst), where)
        warnings.append("multi-frame image without per-frame positions: frames stacked in file order, "
                        f"{step:g} mm apart, orientation {'from the file' if inst.orientation else 'assumed axial'}")
    check_volume_size(len(plan.target), inst.rows, inst.cols, where)
    ds, raw = _decoded(inst)  # stored values (int16 for CT: half the float volume), converted frame by frame
    array = fill_volume(plan, inst.rows, inst.cols, lambda i: _to_float(raw[i], ds, inst, i)[0], where)
    window = _to_float(raw[len(raw) // 2], ds, inst, len(raw) // 2)[1]
    del raw
    volume = Volume(array, plan.spacing, plan.origin, plan.direction, window)
    kind, kind_warnings = _volume_kind(inst.modality)
    sources = [inst.source(int(i) + 1) for i in plan.order]
    return Study(kind, volume=volume, metadata=_metadata(inst), sources=sources,
                 warnings=plan.warnings + warnings + kind_warnings)
